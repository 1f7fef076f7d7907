//! The validator's tests, one binary: the command line (`cli`) and the loop on the in-memory
//! chain with honest and cheating miners (`memory`).

mod cli;
mod memory;
