//! Scripted cheating miners, over any chain seam (the in-memory chain or a dev node): each
//! commits something every window and serves something on its own HTTP server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use model::codec::{payload_hash, Codec, Header};
use serde_json::Value;
use subnet_peer::http::{serve, ServerConfig, Shelf};
use subnet_peer::{ChainSeam, Phase, Window};
use validator::Run;

/// How a scripted miner cheats.
#[derive(Clone, Copy, Debug)]
pub enum Cheat {
    /// Commits and serves a payload of zeros.
    Freeloader,
    /// Takes an honest miner's payload once its commitment has landed (before the deadline),
    /// puts its own hotkey in the header and commits that.
    Copycat,
    /// Commits one payload's hash and serves other bytes.
    Liar,
    /// Commits and serves bytes of the right size that are no payload.
    Garbage,
    /// Serves more bytes than a payload has.
    Oversized,
}

/// Runs a cheating miner for `peer`'s hotkey until aborted. `base` gives the validator's
/// model window and fingerprint (the base a payload of that window must name); the copycat
/// copies from the honest miner's state directory `honest`.
pub fn cheat<C: ChainSeam + 'static>(
    peer: C,
    run: Run,
    how: Cheat,
    base: impl Fn() -> (u64, String) + Send + 'static,
    honest: PathBuf,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let me = peer.hotkey();
        let netuid = run.netuid();
        let shelf = Shelf::new();
        let server = serve(ServerConfig::new(([127, 0, 0, 1], 0).into()), shelf.clone()).await.unwrap();
        peer.serve_axon(netuid, server.local_addr()).await.unwrap();
        let codec: &Codec = &run.codec;
        let s = run.schedule;
        let mut last = None;
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let Ok(head) = peer.best_number().await else { continue };
            let w = s.window_of(head);
            // A copycat may wait into the commit phase for its original; D_w is the limit.
            let late = match how {
                Cheat::Copycat => head + 1 >= s.commit_deadline(w).unwrap(),
                _ => s.phase(head) == Phase::Commit,
            };
            if last >= Some(w) || late {
                continue;
            }
            let (model_window, fingerprint) = base();
            if model_window != w.0 {
                continue;
            }
            let header = Header {
                netuid,
                window: w.0,
                hotkey: me,
                base: hex::decode(fingerprint).unwrap().try_into().unwrap(),
                run_id: run.id.0,
                codec: *codec.params(),
            };
            let zeros: Vec<Vec<f32>> = codec.layouts().iter().map(|l| vec![0.0; l.numel()]).collect();
            let empty = codec.encode(&header, codec.compress(&zeros).unwrap());
            let (committed, served) = match how {
                Cheat::Freeloader => (empty.clone(), empty),
                Cheat::Liar => {
                    let mut other = empty.clone();
                    let end = other.len() - 1;
                    other[end] ^= 0xFF;
                    (empty, other)
                }
                Cheat::Garbage => {
                    let garbage: Vec<u8> = (0..empty.len()).map(|i| (i * 31 + w.0 as usize) as u8).collect();
                    (garbage.clone(), garbage)
                }
                Cheat::Oversized => {
                    let mut long = empty.clone();
                    long.extend_from_slice(&[0u8; 4096]);
                    (empty, long)
                }
                Cheat::Copycat => match committed_payload(&honest, w, head) {
                    Some(bytes) => {
                        let mut p = codec.decode(&bytes).unwrap();
                        p.header.hotkey = me;
                        let b = codec.encode(&p.header, p.tensors);
                        (b.clone(), b)
                    }
                    None => continue,
                },
            };
            let hash = payload_hash(&committed);
            if peer.commit(netuid, w.0, hash).await.is_ok() {
                shelf.put(w, hash, served.into());
            }
            last = Some(w);
        }
    })
}

/// The payload an honest miner committed for `w`, once its commitment landed before `head`.
fn committed_payload(state: &Path, w: Window, head: u64) -> Option<Vec<u8>> {
    let record: Value =
        serde_json::from_slice(&std::fs::read(state.join(format!("windows/{}.json", w.0))).ok()?).ok()?;
    if record["status"] != "committed" || record["block"].as_u64()? >= head {
        return None;
    }
    let hash = record["hash"].as_str()?;
    std::fs::read(state.join(format!("payloads/{}/{hash}.bin", w.0))).ok()
}

/// The validator's report lines.
pub fn reports(state: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(state.join("reports.jsonl")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The row of `uid` in a report line.
pub fn row(report: &Value, uid: u16) -> Option<Value> {
    report["rows"].as_array()?.iter().find(|x| x["uid"] == uid).cloned()
}
