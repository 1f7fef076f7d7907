//! The read-only server: `GET /payload/{hash}`, `GET /status`, `GET /metrics`,
//! `GET /checkpoint` and, on a validator, `GET /checkpoint/{w}`, `GET /updates?from={w}` and
//! whatever else it adds (its dashboard).
//!
//! It serves only what the loop put on the [`Shelf`] (a miner puts its payload there once the
//! commit deadline is finalized, never before) or what its archive holds, at most `max_in_flight` requests at once (503
//! beyond), each within `request_timeout` (503 after). Started on port 0 it reports the port it
//! bound; dropping the [`ServerHandle`] stops it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::{oneshot, Semaphore};

use crate::window::Window;

/// Payload bytes by hash, each with its window.
type Items = BTreeMap<[u8; 32], (Window, Arc<[u8]>)>;

/// Payloads this peer may serve, by hash, with the window each belongs to (for retention).
#[derive(Clone, Default)]
pub struct Shelf {
    items: Arc<RwLock<Items>>,
}

impl Shelf {
    /// An empty shelf.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `bytes` servable under `hash` (the caller has checked that they hash to it).
    pub fn put(&self, window: Window, hash: [u8; 32], bytes: Arc<[u8]>) {
        self.items.write().expect("shelf lock").insert(hash, (window, bytes));
    }

    /// The bytes under `hash`, if held.
    pub fn get(&self, hash: &[u8; 32]) -> Option<Arc<[u8]>> {
        self.items.read().expect("shelf lock").get(hash).map(|(_, b)| b.clone())
    }

    /// Whether `hash` is held.
    pub fn contains(&self, hash: &[u8; 32]) -> bool {
        self.items.read().expect("shelf lock").contains_key(hash)
    }

    /// Drops everything of windows before `keep_from`; returns how many payloads went.
    pub fn retain(&self, keep_from: Window) -> usize {
        let mut items = self.items.write().expect("shelf lock");
        let before = items.len();
        items.retain(|_, (w, _)| *w >= keep_from);
        before - items.len()
    }

    /// Payloads held.
    pub fn len(&self) -> usize {
        self.items.read().expect("shelf lock").len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A status document, rebuilt on every `GET /status`.
pub type StatusFn = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;
/// The Prometheus text exposition, rebuilt on every `GET /metrics`.
pub type MetricsFn = Arc<dyn Fn() -> String + Send + Sync>;
/// Called with the size of every payload served (for a bytes-served counter).
pub type ServedFn = Arc<dyn Fn(usize) + Send + Sync>;
/// The checkpoint this peer offers on `GET /checkpoint`, if any.
pub type CheckpointFn = Arc<dyn Fn() -> Option<Arc<[u8]>> + Send + Sync>;
/// A payload not on the shelf, by hash, from an archive (read from disk, so called off the
/// async workers).
pub type ArchivedPayloadFn = Arc<dyn Fn(&[u8; 32]) -> Option<Vec<u8>> + Send + Sync>;
/// The checkpoint of a window (`GET /checkpoint/{w}`), if held.
pub type ArchivedCheckpointFn = Arc<dyn Fn(u64) -> Option<Vec<u8>> + Send + Sync>;
/// The update log from a window (`GET /updates?from={w}`), as JSON; `None`: no log here.
pub type UpdatesFn = Arc<dyn Fn(u64) -> Option<serde_json::Value> + Send + Sync>;

/// What the server listens on and how it bounds work.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to bind; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Requests handled at once; more get 503.
    pub max_in_flight: usize,
    /// Longest a request may take; slower ones get 503.
    pub request_timeout: Duration,
    /// `GET /status`.
    pub status: StatusFn,
    /// `GET /metrics`.
    pub metrics: MetricsFn,
    /// Sees every payload served.
    pub on_served: ServedFn,
    /// `GET /checkpoint`.
    pub checkpoint: CheckpointFn,
    /// `GET /payload/{hash}` for what is not on the shelf.
    pub archived_payload: ArchivedPayloadFn,
    /// `GET /checkpoint/{w}`.
    pub archived_checkpoint: ArchivedCheckpointFn,
    /// `GET /updates?from={w}`.
    pub updates: UpdatesFn,
    /// More routes (a validator's dashboard), under the same bounds.
    pub extra: Router,
}

impl ServerConfig {
    /// The protocol's bounds (16 in flight, 10 s), an empty status and no metrics.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            max_in_flight: 16,
            request_timeout: Duration::from_secs(10),
            status: Arc::new(|| serde_json::json!({})),
            metrics: Arc::new(String::new),
            on_served: Arc::new(|_| {}),
            checkpoint: Arc::new(|| None),
            archived_payload: Arc::new(|_| None),
            archived_checkpoint: Arc::new(|_| None),
            updates: Arc::new(|_| None),
            extra: Router::new(),
        }
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address is taken or not ours.
    #[error("cannot listen on {addr}: {source}{hint}", hint = if source.kind() == std::io::ErrorKind::AddrInUse { " (is another peer running? pick another --port)" } else { "" })]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS's reason.
        source: std::io::Error,
    },
}

/// A running server; dropping it stops it.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ServerHandle {
    /// The address actually bound (the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[derive(Clone)]
struct App {
    shelf: Shelf,
    cfg: ServerConfig,
    slots: Arc<Semaphore>,
}

/// Binds `cfg.addr` and serves `shelf` until the handle is dropped or shut down. Must be
/// called within a tokio runtime.
pub async fn serve(cfg: ServerConfig, shelf: Shelf) -> Result<ServerHandle, ServeError> {
    let listener = tokio::net::TcpListener::bind(cfg.addr)
        .await
        .map_err(|source| ServeError::Bind { addr: cfg.addr, source })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: cfg.addr, source })?;
    let extra = cfg.extra.clone();
    let app = App { shelf, slots: Arc::new(Semaphore::new(cfg.max_in_flight)), cfg };
    let router = Router::new()
        .route("/payload/{hash}", get(payload))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/checkpoint", get(checkpoint))
        .route("/checkpoint/{window}", get(archived_checkpoint))
        .route("/updates", get(updates))
        .with_state(app.clone())
        .merge(extra)
        .layer(middleware::from_fn_with_state(app, bounded));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = server.await {
            tracing::warn!(%addr, "http server ended: {e}");
        }
    });
    tracing::debug!(%addr, "http server listening");
    Ok(ServerHandle { addr, stop: Some(stop), task: Some(task) })
}

fn busy(what: &'static str) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], what).into_response()
}

/// At most `max_in_flight` requests, each within `request_timeout`.
async fn bounded(State(app): State<App>, request: Request, next: Next) -> Response {
    let Ok(_slot) = app.slots.clone().try_acquire_owned() else {
        return busy("too many requests in flight\n");
    };
    match tokio::time::timeout(app.cfg.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => busy("request timed out\n"),
    }
}

/// Parses exactly 64 lowercase hex digits.
pub fn parse_hash(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

async fn payload(State(app): State<App>, Path(hash): Path<String>) -> Response {
    let Some(hash) = parse_hash(&hash) else {
        return (StatusCode::BAD_REQUEST, "a payload hash is 64 lowercase hex digits\n").into_response();
    };
    let bytes = match app.shelf.get(&hash) {
        Some(bytes) => bytes,
        None => {
            let f = app.cfg.archived_payload.clone();
            match build(move || f(&hash)).await.flatten() {
                Some(bytes) => bytes.into(),
                None => return (StatusCode::NOT_FOUND, "not held here\n").into_response(),
            }
        }
    };
    (app.cfg.on_served)(bytes.len());
    ([(header::CONTENT_TYPE, "application/octet-stream")], axum::body::Bytes::from_owner(bytes))
        .into_response()
}

/// Runs a document builder off the async workers: it may take a lock or a while, and a
/// blocked worker would stall the requests queued behind it.
async fn build<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

async fn status(State(app): State<App>) -> Response {
    let f = app.cfg.status.clone();
    match build(move || f()).await {
        Some(doc) => axum::Json(doc).into_response(),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "status failed\n").into_response(),
    }
}

async fn metrics(State(app): State<App>) -> Response {
    let f = app.cfg.metrics.clone();
    match build(move || f()).await {
        Some(text) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
        }
        None => (StatusCode::INTERNAL_SERVER_ERROR, "metrics failed\n").into_response(),
    }
}

async fn checkpoint(State(app): State<App>) -> Response {
    match (app.cfg.checkpoint)() {
        Some(bytes) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], axum::body::Bytes::from_owner(bytes))
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "no checkpoint here\n").into_response(),
    }
}

async fn archived_checkpoint(State(app): State<App>, Path(window): Path<String>) -> Response {
    let Ok(window) = window.parse::<u64>() else {
        return (StatusCode::BAD_REQUEST, "a window is a decimal number\n").into_response();
    };
    let f = app.cfg.archived_checkpoint.clone();
    match build(move || f(window)).await.flatten() {
        Some(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        None => (StatusCode::NOT_FOUND, "no checkpoint of that window here\n").into_response(),
    }
}

async fn updates(State(app): State<App>, Query(query): Query<BTreeMap<String, String>>) -> Response {
    let Some(from) = query.get("from").and_then(|f| f.parse::<u64>().ok()) else {
        return (StatusCode::BAD_REQUEST, "ask for /updates?from={window}\n").into_response();
    };
    let f = app.cfg.updates.clone();
    match build(move || f(from)).await.flatten() {
        Some(doc) => axum::Json(doc).into_response(),
        None => (StatusCode::NOT_FOUND, "no update log here\n").into_response(),
    }
}
