//! A stream of finalized blocks that survives reconnections.

use std::time::Duration;

use futures::{Stream, StreamExt};

use crate::client::{BlockHash, Chain, Config};
use crate::error::{ChainError, Result};

/// A finalized block's number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinalizedBlock {
    pub number: u64,
    pub hash: BlockHash,
}

struct State {
    chain: Chain,
    inner: Option<subxt::client::Blocks<Config>>,
    last: Option<u64>,
    failures: u32,
}

impl Chain {
    /// Finalized blocks in increasing order, starting with the latest one. When the subscription
    /// breaks it is re-established with backoff and resumes at the then-latest finalized block:
    /// blocks are never repeated, but numbers can jump after a break (callers keyed by window
    /// compute from the number, not from the count). The stream yields an error and ends only
    /// after `attempts` failed resubscriptions in a row.
    pub fn finalized_blocks(&self) -> impl Stream<Item = Result<FinalizedBlock>> + Send + Unpin + 'static {
        let state = State { chain: self.clone(), inner: None, last: None, failures: 0 };
        Box::pin(futures::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            loop {
                if state.inner.is_none() {
                    match state.chain.api().stream_blocks().await {
                        Ok(blocks) => state.inner = Some(blocks),
                        Err(e) => {
                            if let Some(error) = state.failed(e.to_string()).await {
                                return Some((Err(error), None));
                            }
                            continue;
                        }
                    }
                }
                let next = state.inner.as_mut().expect("subscribed above").next().await;
                match next {
                    Some(Ok(block)) => {
                        let number = block.number();
                        if state.last.is_some_and(|last| number <= last) {
                            continue;
                        }
                        state.failures = 0;
                        state.last = Some(number);
                        let item = FinalizedBlock { number, hash: block.hash() };
                        return Some((Ok(item), Some(state)));
                    }
                    Some(Err(e)) => {
                        state.inner = None;
                        if let Some(error) = state.failed(e.to_string()).await {
                            return Some((Err(error), None));
                        }
                    }
                    None => {
                        state.inner = None;
                        if let Some(error) = state.failed("subscription closed".into()).await {
                            return Some((Err(error), None));
                        }
                    }
                }
            }
        }))
    }

    /// Waits until the finalized head reaches `number`; returns that head.
    pub async fn wait_for_finalized(&self, number: u64) -> Result<FinalizedBlock> {
        let mut blocks = self.finalized_blocks();
        while let Some(block) = blocks.next().await {
            let block = block?;
            if block.number >= number {
                return Ok(block);
            }
        }
        Err(ChainError::StreamEnded("finalized block stream closed".into()))
    }
}

impl State {
    /// Counts a failure and waits before the next try; `Some(error)` once we should give up.
    async fn failed(&mut self, reason: String) -> Option<ChainError> {
        self.failures += 1;
        let options = self.chain.options();
        if self.failures >= options.attempts {
            return Some(ChainError::StreamEnded(format!("{reason} (after {} attempts)", self.failures)));
        }
        tracing::warn!(reason, attempt = self.failures, "finalized block stream broke; resubscribing");
        let delay = options.first_delay.saturating_mul(1 << self.failures.min(16)).min(options.max_delay);
        tokio::time::sleep(delay.max(Duration::from_millis(1))).await;
        None
    }
}
