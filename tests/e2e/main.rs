//! End-to-end: the whole subnet as `scripts/localnet.sh` runs it (the `subnet-localnet`
//! library): two authority nodes, two staked validators and honest miners as real processes on
//! loopback, the `tiny` model, a bounded number of windows.

mod subnet;
