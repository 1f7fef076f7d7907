//! Scripted cheating miners, over any chain seam (a real chain or the in-memory one): each
//! commits something every window and serves something on its own HTTP server, so a tester
//! (`localnet --with-bad-miners`) and the validator's tests see the incentive mechanism refuse
//! them. They read the model's window and fingerprint (the base a payload must name) from a
//! `base` function, for instance a validator's `/status`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use model::codec::{payload_hash, Codec, Header};
use serde_json::Value;
use subnet_peer::http::{serve, ServerConfig, Shelf};
use subnet_peer::sync::Run;
use subnet_peer::{ChainSeam, Phase, Window};

/// How a scripted miner cheats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
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

/// The model window and fingerprint (hex) a payload must be based on, if known.
pub type BaseFn = Arc<dyn Fn() -> Option<(u64, String)> + Send + Sync>;

/// Starts a cheating miner for `peer`'s hotkey: serves on `listen` (port 0: any), announces
/// that as its axon, and runs until the task is aborted. The copycat copies from the honest
/// miner's state directory `honest`.
pub async fn spawn<C: ChainSeam + 'static>(
    peer: C,
    run: Run,
    how: Cheat,
    base: BaseFn,
    honest: PathBuf,
    listen: SocketAddr,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let shelf = Shelf::new();
    let server = serve(ServerConfig::new(listen), shelf.clone()).await?;
    let addr = server.local_addr();
    peer.serve_axon(run.netuid(), addr).await.context("announcing the axon")?;
    let task = tokio::spawn(async move {
        let _server = server;
        let mut last = None;
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Some(w) = once(&peer, &run, how, &base, &honest, &shelf, last).await {
                last = Some(w);
            }
        }
    });
    Ok((addr, task))
}

/// One look at the chain: commits this window's cheat if it is time. Returns the window it
/// committed (or gave up on) once done with it.
async fn once<C: ChainSeam>(
    peer: &C,
    run: &Run,
    how: Cheat,
    base: &BaseFn,
    honest: &Path,
    shelf: &Shelf,
    last: Option<Window>,
) -> Option<Window> {
    let (me, netuid, s) = (peer.hotkey(), run.netuid(), run.schedule);
    let codec: &Codec = &run.codec;
    let head = peer.best_number().await.ok()?;
    let w = s.window_of(head);
    // A copycat may wait into the commit phase for its original; D_w is the limit.
    let late = match how {
        Cheat::Copycat => head + 1 >= s.commit_deadline(w)?,
        _ => s.phase(head) == Phase::Commit,
    };
    if last >= Some(w) || late {
        return None;
    }
    let (model_window, fingerprint) = base()?;
    if model_window != w.0 {
        return None;
    }
    let header = Header {
        netuid,
        window: w.0,
        hotkey: me,
        base: hex::decode(fingerprint).ok()?.try_into().ok()?,
        run_id: run.id.0,
        codec: *codec.params(),
    };
    let zeros: Vec<Vec<f32>> = codec.layouts().iter().map(|l| vec![0.0; l.numel()]).collect();
    let empty = codec.encode(&header, codec.compress(&zeros).ok()?);
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
        Cheat::Copycat => {
            let bytes = committed_payload(honest, w, head)?;
            let mut p = codec.decode(&bytes).ok()?;
            p.header.hotkey = me;
            let b = codec.encode(&p.header, p.tensors);
            (b.clone(), b)
        }
    };
    let hash = payload_hash(&committed);
    match peer.commit(netuid, w.0, hash).await {
        Ok(block) => {
            eprintln!("{w}: {how:?} committed {} in block {block}", hex::encode(&hash[..6]));
            shelf.put(w, hash, served.into());
        }
        Err(e) => eprintln!("{w}: {how:?} could not commit: {e}"),
    }
    Some(w)
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

/// A [`BaseFn`] that polls `status_url` (a validator's `/status`) every 500 ms in the
/// background for its model window and fingerprint.
pub fn base_from_status(status_url: String) -> BaseFn {
    let latest: Arc<std::sync::Mutex<Option<(u64, String)>>> = Arc::default();
    let slot = latest.clone();
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(&status_url).timeout(Duration::from_secs(2)).send().await {
                if let Ok(body) = r.bytes().await {
                    if let Ok(s) = serde_json::from_slice::<Value>(&body) {
                        if let (Some(w), Some(fp)) = (s["model_window"].as_u64(), s["fingerprint"].as_str()) {
                            *slot.lock().expect("base lock") = Some((w, fp.to_string()));
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    Arc::new(move || latest.lock().expect("base lock").clone())
}
