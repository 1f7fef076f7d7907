//! The runtime's integration tests, in one binary: its wiring, and its compatibility with
//! subtensor's metadata.

mod runtime_wiring;
mod subtensor_compat;
