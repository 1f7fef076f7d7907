//! The validator's tests, one binary: the command line (`cli`), the loop on the in-memory
//! chain with honest and cheating miners (`memory`), and the real binaries on a real dev node
//! (`dev_node`); the cheats both use are in `cheats`.

mod cheats;
mod cli;
mod dev_node;
mod memory;
