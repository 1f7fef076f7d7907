//! The model side of the protocol (feature `model`): the run configuration in the model's
//! types ([`run`]), the shared model `S_w` with its consensus state on disk ([`global`]), one
//! sync step `S_w -> S_{w+1}` from the update the chain settled ([`step`]), the checkpoint a
//! peer that is too far behind joins from ([`checkpoint`]), a validator's checkpoints and
//! update log ([`archive`]), the next model predicted before it settles ([`predict`]), following the run window after
//! window ([`follow`]), the run's dataset ([`data`]), and what a running peer's start-up and
//! handle share ([`peer`]). The miner and the validator both hold `S_w` this way.

pub mod archive;
pub mod checkpoint;
pub mod data;
pub mod follow;
pub mod global;
pub mod peer;
pub mod predict;
pub mod run;
pub mod step;

pub use archive::{Archive, LoggedPayload, LoggedUpdate, UpdateLog};
pub use data::{open_dataset, DatasetError};
pub use follow::{short, Follower, Progress};
pub use global::{Global, UpdatePayload};
pub use peer::{load_or_genesis, server_config, PeerHandle, Retries};
pub use predict::{predict, PredictError, Prediction};
pub use run::Run;
pub use step::{step, Step, SyncError};
