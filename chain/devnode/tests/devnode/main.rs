//! The dev-node harness's integration tests, in one binary.

mod dev_node;
mod metadata;
