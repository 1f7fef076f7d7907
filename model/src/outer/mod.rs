//! The outer step of DiLoCo-style training: a miner's pseudo-gradient goes through error
//! feedback into the codec ([`feedback`]); everyone decodes the window's payloads and averages
//! them the same way ([`aggregate`](mod@aggregate)); the average moves the shared model ([`optimizer`]).
//!
//! Everything here is bitwise deterministic: peers are taken in uid order, every sum runs in a
//! fixed order, and parallel work is split so no thread count changes an operation's order.

pub mod aggregate;
pub mod clip;
pub mod feedback;
pub mod optimizer;

pub use aggregate::{aggregate, mean_dense, Aggregate, Expected, PeerStat};
pub use clip::{ClipHistory, ClipRule, CLIP_WINDOWS};
pub use feedback::{pseudo_gradient, ErrorFeedback};
pub use optimizer::{OuterConfig, OuterOptimizer};
