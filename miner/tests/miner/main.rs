//! The miner's tests, one binary: the command line (`cli`), the window loop on the in-memory
//! chain (`memory`), and the real `miner` binary on a real dev node (`dev_node`).

mod cli;
mod common;
mod dev_node;
mod memory;
