//! The `localnet` binary: its command line (`cli`).

mod cli;
