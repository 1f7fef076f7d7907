//! Typed operations on the subnet chain, one module per concern.

pub mod commitments;
pub mod metagraph;
pub mod queries;
pub mod registration;
pub mod staking;
pub mod weights;
