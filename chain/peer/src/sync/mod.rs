//! The model side of the protocol (feature `model`): the run configuration in the model's
//! types ([`run`]), the shared model `S_w` with its consensus state on disk ([`global`]), and
//! one sync step `S_w -> S_{w+1}` from the update the chain settled ([`step`]), and the
//! checkpoint a peer that is too far behind joins from ([`checkpoint`]). The miner and
//! the validator both hold `S_w` this way.

pub mod checkpoint;
pub mod global;
pub mod run;
pub mod step;

pub use global::{Global, UpdatePayload};
pub use run::Run;
pub use step::{step, Step, SyncError};
