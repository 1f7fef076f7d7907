//! The validator's dashboard: a live page on its HTTP port (`GET /`), the snapshot it draws
//! (`GET /dashboard.json`), the loss chart (`GET /loss.svg`, also written to a file after
//! every scored window) and the same table in a terminal (`validator status`).
//!
//! - [`board`]: what the page shows, as data, and how the loop and the watcher feed it;
//! - `watch`: the task that reads the chain and the peers' `/status` every few seconds;
//! - [`plot`]: the loss chart as SVG;
//! - `page`: the routes and the page itself (`page.html`);
//! - [`table`]: the snapshot as a terminal table.

pub mod board;
mod page;
pub mod plot;
pub mod table;
mod watch;

pub use board::{Board, Point, Snapshot, UidRow};
pub(crate) use page::routes;
pub(crate) use watch::watch;
