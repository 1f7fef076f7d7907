//! Getting a payload by hash from whoever holds it.
//!
//! Every attempt caps the body at the payload's exact size before reading it (a declared
//! `Content-Length` above it is refused unread; a body that runs over is cut off), times out,
//! and checks `blake2_256` of the bytes against the commitment. A round tries each holder in
//! order; failed rounds are retried after a doubling backoff.

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;

/// Why one fetch attempt (or all of them) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No connection, or it broke.
    #[error("{0}")]
    Connect(String),
    /// The attempt took longer than the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The holder answered with another status than 200.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body is larger than the payload can be.
    #[error("body is larger than the payload's {limit} bytes")]
    TooLarge {
        /// The exact payload size.
        limit: usize,
    },
    /// The body ended before the payload's size.
    #[error("body has {got} bytes, the payload has {want}")]
    Truncated {
        /// Bytes received.
        got: usize,
        /// The exact payload size.
        want: usize,
    },
    /// The bytes are not the committed ones.
    #[error("bytes hash to {actual}, the commitment says {expected}")]
    WrongHash {
        /// The committed hash, hex.
        expected: String,
        /// What the bytes hash to, hex.
        actual: String,
    },
    /// Nobody to ask.
    #[error("no holder known")]
    NoHolder,
    /// Every attempt failed; the last failure of each holder.
    #[error("payload {hash} not fetched after {rounds} rounds: {}", .last.iter().map(|(a, e)| format!("{a}: {e}")).collect::<Vec<_>>().join("; "))]
    Exhausted {
        /// The payload hash, hex.
        hash: String,
        /// Rounds tried.
        rounds: u32,
        /// Each holder's last failure.
        last: Vec<(SocketAddr, FetchError)>,
    },
}

impl FetchError {
    /// The short label metrics count rejections by.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Connect(_) => "connect",
            Self::Timeout(_) => "timeout",
            Self::Status(_) => "status",
            Self::TooLarge { .. } => "too_large",
            Self::Truncated { .. } => "truncated",
            Self::WrongHash { .. } => "wrong_hash",
            Self::NoHolder => "no_holder",
            Self::Exhausted { .. } => "exhausted",
        }
    }

    /// Whether asking again could help (a wrong or oversized body from one holder may still
    /// be right at another, so only the holder is skipped, not the payload).
    fn retryable(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::Timeout(_) | Self::Status(_) | Self::Truncated { .. })
    }
}

/// How hard to try.
#[derive(Clone, Copy, Debug)]
pub struct FetcherConfig {
    /// Per attempt: connect, headers and the whole body.
    pub timeout: Duration,
    /// Rounds over all holders.
    pub rounds: u32,
    /// Pause after the first failed round; doubles after each.
    pub backoff: Duration,
}

impl Default for FetcherConfig {
    /// The protocol's: 10 s per attempt, 3 rounds, 250 ms then 500 ms between them.
    fn default() -> Self {
        Self { timeout: Duration::from_secs(10), rounds: 3, backoff: Duration::from_millis(250) }
    }
}

/// A reusable HTTP client for payloads (plain HTTP; peers talk on their axons).
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    cfg: FetcherConfig,
}

impl Fetcher {
    /// A client with `cfg`'s bounds.
    pub fn new(cfg: FetcherConfig) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.timeout)
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("a plain HTTP client builds");
        Self { client, cfg }
    }

    /// The payload `hash` of exactly `size` bytes from any of `holders`, tried in order.
    pub async fn payload(
        &self,
        holders: &[SocketAddr],
        hash: &[u8; 32],
        size: usize,
    ) -> Result<Vec<u8>, FetchError> {
        if holders.is_empty() {
            return Err(FetchError::NoHolder);
        }
        let mut last: Vec<(SocketAddr, FetchError)> = Vec::new();
        let mut skip = vec![false; holders.len()];
        let mut pause = self.cfg.backoff;
        let rounds = self.cfg.rounds.max(1);
        for round in 0..rounds {
            if round > 0 {
                tokio::time::sleep(pause).await;
                pause = pause.saturating_mul(2);
            }
            for (i, addr) in holders.iter().enumerate() {
                if skip[i] {
                    continue;
                }
                match self.once(*addr, hash, size).await {
                    Ok(bytes) => return Ok(bytes),
                    Err(e) => {
                        tracing::debug!(%addr, hash = %hex::encode(hash), "fetch failed: {e}");
                        skip[i] = !e.retryable();
                        last.retain(|(a, _)| a != addr);
                        last.push((*addr, e));
                    }
                }
            }
            if skip.iter().all(|s| *s) {
                return Err(FetchError::Exhausted { hash: hex::encode(hash), rounds: round + 1, last });
            }
        }
        Err(FetchError::Exhausted { hash: hex::encode(hash), rounds, last })
    }

    /// A body of at most `limit` bytes from `url`, refused before reading when it declares
    /// more and cut off when it sends more; within the timeout.
    async fn body(&self, url: &str, limit: usize) -> Result<Vec<u8>, FetchError> {
        let attempt = async {
            let response = self.client.get(url).send().await.map_err(|e| self.classify(e))?;
            if response.status() != reqwest::StatusCode::OK {
                return Err(FetchError::Status(response.status().as_u16()));
            }
            if response.content_length().is_some_and(|n| n > limit as u64) {
                return Err(FetchError::TooLarge { limit });
            }
            let declared = response.content_length().unwrap_or(0).min(limit as u64) as usize;
            let mut body = Vec::with_capacity(declared);
            let mut chunks = response.bytes_stream();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| self.classify(e))?;
                if body.len() + chunk.len() > limit {
                    return Err(FetchError::TooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        // reqwest's timeout covers the body too; this one also bounds a stalled stream.
        tokio::time::timeout(self.cfg.timeout, attempt)
            .await
            .unwrap_or(Err(FetchError::Timeout(self.cfg.timeout)))
    }

    /// A peer's checkpoint (`GET /checkpoint`), at most `limit` bytes. Unverified: the caller
    /// checks what it holds.
    pub async fn checkpoint(&self, addr: SocketAddr, limit: usize) -> Result<Vec<u8>, FetchError> {
        self.body(&format!("http://{addr}/checkpoint"), limit).await
    }

    /// A validator's checkpoint of window `w` (`GET /checkpoint/{w}`), at most `limit` bytes.
    /// Unverified, like [`Self::checkpoint`].
    pub async fn checkpoint_of(&self, addr: SocketAddr, w: u64, limit: usize) -> Result<Vec<u8>, FetchError> {
        self.body(&format!("http://{addr}/checkpoint/{w}"), limit).await
    }

    /// A validator's update log from window `from` (`GET /updates?from={from}`), at most
    /// `limit` bytes of JSON. Unverified: the caller checks every update it replays.
    pub async fn updates(&self, addr: SocketAddr, from: u64, limit: usize) -> Result<Vec<u8>, FetchError> {
        self.body(&format!("http://{addr}/updates?from={from}"), limit).await
    }

    /// Any `GET` of a peer's server (`url` in full), at most `limit` bytes; 200 only.
    pub async fn get(&self, url: &str, limit: usize) -> Result<Vec<u8>, FetchError> {
        self.body(url, limit).await
    }

    /// A peer's `GET /status` document, at most `limit` bytes of JSON. Unverified: what a
    /// peer says of itself.
    pub async fn status(&self, addr: SocketAddr, limit: usize) -> Result<Vec<u8>, FetchError> {
        self.body(&format!("http://{addr}/status"), limit).await
    }

    /// One attempt at one holder.
    pub async fn once(&self, addr: SocketAddr, hash: &[u8; 32], size: usize) -> Result<Vec<u8>, FetchError> {
        let body = self.body(&format!("http://{addr}/payload/{}", hex::encode(hash)), size).await?;
        if body.len() != size {
            return Err(FetchError::Truncated { got: body.len(), want: size });
        }
        let actual = sp_crypto_hashing::blake2_256(&body);
        if &actual != hash {
            return Err(FetchError::WrongHash { expected: hex::encode(hash), actual: hex::encode(actual) });
        }
        Ok(body)
    }

    fn classify(&self, e: reqwest::Error) -> FetchError {
        if e.is_timeout() {
            FetchError::Timeout(self.cfg.timeout)
        } else {
            // The chain of causes, once ("error sending request: connection refused").
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            FetchError::Connect(text)
        }
    }
}
