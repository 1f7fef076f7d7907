//! What both test modules use: a synthetic dataset, a shrunk `tiny` run, a test validator.

use std::time::Duration;

use miner::Run;
use model::codec::Codec;
use subnet_peer::http::{Fetcher, FetcherConfig};
use subnet_peer::quorum::bitmap;
use subnet_peer::update::candidates;
use subnet_peer::{ChainSeam, Window};

pub use subnet_peer::testing::NET;
pub const VALIDATOR: [u8; 32] = [0xAA; 32];

pub use subnet_peer::testing::{dataset, run_config};

/// A validator that approves, from window `from` to `until`, every candidate whose payload it can fetch from the author's
/// axon, with the base the payloads name, once each window's deadline is finalized.
pub fn approve_everything<C: ChainSeam + 'static>(
    v: C,
    codec_run: Run,
    from: u64,
    until: u64,
) -> tokio::task::JoinHandle<Vec<(u64, usize)>> {
    tokio::spawn(async move {
        let s = codec_run.schedule;
        let codec: &Codec = &codec_run.codec;
        let fetcher = Fetcher::new(FetcherConfig::default());
        let mut approved = Vec::new();
        let mut w = Window(from);
        while w.0 < until {
            let netuid = codec_run.netuid();
            let ranked = match candidates(&v, netuid, &s, 12, w).await {
                Ok(r) => r,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let neurons = v.neurons_at(netuid, ranked.deadline).await.unwrap();
            let mut ok = Vec::new();
            let mut base = [0; 32];
            for (i, c) in ranked.candidates.iter().enumerate() {
                let Some(axon) = neurons.iter().find(|n| n.hotkey == c.hotkey).and_then(|n| n.axon) else {
                    continue;
                };
                let bytes = loop {
                    // The author reveals once it sees D_w finalized: give it a moment.
                    match fetcher.once(axon, &c.hash, codec.payload_bytes()).await {
                        Ok(b) => break Some(b),
                        Err(subnet_peer::http::FetchError::Status(404)) => {
                            if v.best_number().await.unwrap() >= s.approval_deadline(w).unwrap() - 1 {
                                break None;
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Err(_) => break None,
                    }
                };
                if let Some(p) = bytes.and_then(|b| codec.decode(&b).ok()) {
                    base = p.header.base;
                    ok.push(i);
                }
            }
            v.approve(netuid, w.0, bitmap(ranked.candidates.len(), ok.iter().copied()), base).await.unwrap();
            approved.push((w.0, ok.len()));
            w = w.next();
        }
        approved
    })
}
