//! The validator's tests, one binary: the command line (`cli`), the loop on the in-memory
//! chain with honest and cheating miners (`memory`), and the real binaries on a real dev node
//! (`dev_node`), the scoring rules on hand-built windows (`scoring`); the cheats are in `cheats`; `timing` measures scoring speed (ignored).

mod cheats;
mod cli;
mod dev_node;
mod memory;
mod scoring;
mod timing;
