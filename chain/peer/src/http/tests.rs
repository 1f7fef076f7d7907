//! The server and the fetcher against each other, and the fetcher against servers that
//! misbehave in every way the protocol names: oversized, truncated, wrong bytes, slow.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;

use super::*;
use crate::window::Window;

const LOCAL: &str = "127.0.0.1:0";

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn hash(b: &[u8]) -> [u8; 32] {
    sp_crypto_hashing::blake2_256(b)
}

fn quick() -> Fetcher {
    Fetcher::new(FetcherConfig {
        timeout: Duration::from_millis(400),
        rounds: 2,
        backoff: Duration::from_millis(20),
    })
}

/// A server that answers every `/payload/{hash}` with `body` (as a stream if `stream`, after
/// `delay`).
async fn misbehaving(
    body: Vec<u8>,
    stream: bool,
    delay: Duration,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let router = Router::new().route(
        "/payload/{hash}",
        get(move || {
            let body = body.clone();
            async move {
                tokio::time::sleep(delay).await;
                if stream {
                    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                        body.chunks(1000).map(|c| Ok(c.to_vec())).collect();
                    Body::from_stream(futures::stream::iter(chunks))
                } else {
                    Body::from(body)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(LOCAL).await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, tokio::spawn(async move { axum::serve(listener, router).await.unwrap() }))
}

#[tokio::test]
async fn serves_what_is_on_the_shelf_and_nothing_else() {
    let shelf = Shelf::new();
    let served = Arc::new(AtomicUsize::new(0));
    let mut cfg = ServerConfig::new(LOCAL.parse().unwrap());
    cfg.status = Arc::new(|| serde_json::json!({"role": "miner", "window": 7}));
    cfg.metrics = Arc::new(|| "# TYPE x counter\nx_total 1\n".into());
    let counter = served.clone();
    cfg.on_served = Arc::new(move |n| {
        counter.fetch_add(n, Ordering::SeqCst);
    });
    cfg.checkpoint = Arc::new(|| Some(vec![9u8; 3000].into()));
    let server = serve(cfg, shelf.clone()).await.unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0, "the real port is reported");
    // A checkpoint is capped like a payload: over the limit it is refused unread.
    assert_eq!(quick().checkpoint(addr, 3000).await.unwrap().len(), 3000);
    assert_eq!(quick().checkpoint(addr, 2999).await, Err(FetchError::TooLarge { limit: 2999 }));

    let payload = bytes(5000, 1);
    let h = hash(&payload);
    let f = quick();
    // Not on the shelf yet (a miner before its deadline is finalized): 404, and no retry helps.
    assert!(matches!(f.once(addr, &h, payload.len()).await, Err(FetchError::Status(404))));
    shelf.put(Window(3), h, payload.clone().into());
    assert_eq!(f.payload(&[addr], &h, payload.len()).await.unwrap(), payload);
    assert_eq!(served.load(Ordering::SeqCst), payload.len());
    // The fetcher's size is exact: a smaller expectation is refused before reading on.
    assert_eq!(f.once(addr, &h, 4999).await, Err(FetchError::TooLarge { limit: 4999 }));
    assert_eq!(f.once(addr, &h, 5001).await, Err(FetchError::Truncated { got: 5000, want: 5001 }));

    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("http://{addr}{path}")).send();
    assert_eq!(get("/payload/XYZ").await.unwrap().status(), 400);
    assert_eq!(get(&format!("/payload/{}", hex::encode(h).to_uppercase())).await.unwrap().status(), 400);
    assert_eq!(get("/nothing").await.unwrap().status(), 404);
    let status: serde_json::Value =
        serde_json::from_slice(&get("/status").await.unwrap().bytes().await.unwrap()).unwrap();
    assert_eq!(status["window"], 7);
    assert!(get("/metrics").await.unwrap().text().await.unwrap().contains("x_total 1"));

    // Retention drops old windows.
    assert_eq!(shelf.retain(Window(4)), 1);
    assert!(matches!(f.once(addr, &h, payload.len()).await, Err(FetchError::Status(404))));

    server.shutdown().await;
    let none = serve(ServerConfig::new(LOCAL.parse().unwrap()), Shelf::new()).await.unwrap();
    assert_eq!(quick().checkpoint(none.local_addr(), 10).await, Err(FetchError::Status(404)));
    assert!(matches!(f.once(addr, &h, payload.len()).await, Err(FetchError::Connect(_))));
}

#[tokio::test]
async fn a_port_in_use_is_named() {
    let first = serve(ServerConfig::new(LOCAL.parse().unwrap()), Shelf::new()).await.unwrap();
    let err = match serve(ServerConfig::new(first.local_addr()), Shelf::new()).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("bound a port in use"),
    };
    assert!(err.contains(&first.local_addr().to_string()) && err.contains("another --port"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_limit_get_503() {
    let mut cfg = ServerConfig::new(LOCAL.parse().unwrap());
    cfg.max_in_flight = 1;
    // A status that holds the only slot until the test lets it go (at most 10 s).
    let (entered, release) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (e, r) = (entered.clone(), release.clone());
    cfg.status = Arc::new(move || {
        e.store(true, Ordering::SeqCst);
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while !r.load(Ordering::SeqCst) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        serde_json::json!({})
    });
    let server = serve(cfg, Shelf::new()).await.unwrap();
    let addr = server.local_addr();
    let slow = tokio::spawn(reqwest::get(format!("http://{addr}/status")));
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !entered.load(Ordering::SeqCst) {
        assert!(std::time::Instant::now() < until, "the slow request never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let busy = reqwest::get(format!("http://{addr}/metrics")).await.unwrap();
    assert_eq!(busy.status(), 503);
    release.store(true, Ordering::SeqCst);
    assert_eq!(slow.await.unwrap().unwrap().status(), 200);
    assert_eq!(reqwest::get(format!("http://{addr}/metrics")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn every_bad_holder_is_refused_and_a_good_one_still_serves() {
    let payload = bytes(4096, 7);
    let h = hash(&payload);
    let n = payload.len();
    let mut longer = payload.clone();
    longer.extend([0; 10]);
    let mut wrong = payload.clone();
    wrong[100] ^= 1;
    let cases: Vec<(&str, Vec<u8>, bool, Duration, FetchError)> = vec![
        ("oversized, declared", longer.clone(), false, Duration::ZERO, FetchError::TooLarge { limit: n }),
        ("oversized, streamed", bytes(1 << 20, 3), true, Duration::ZERO, FetchError::TooLarge { limit: n }),
        (
            "truncated",
            payload[..n - 1].to_vec(),
            true,
            Duration::ZERO,
            FetchError::Truncated { got: n - 1, want: n },
        ),
        (
            "wrong bytes",
            wrong.clone(),
            false,
            Duration::ZERO,
            FetchError::WrongHash { expected: hex::encode(h), actual: hex::encode(hash(&wrong)) },
        ),
        (
            "slow",
            payload.clone(),
            false,
            Duration::from_secs(3),
            FetchError::Timeout(Duration::from_millis(400)),
        ),
    ];
    let f = quick();
    let good = Shelf::new();
    good.put(Window(1), h, payload.clone().into());
    let good_server = serve(ServerConfig::new(LOCAL.parse().unwrap()), good).await.unwrap();
    for (what, body, stream, delay, want) in cases {
        let (bad, task) = misbehaving(body, stream, delay).await;
        assert_eq!(f.once(bad, &h, n).await, Err(want), "{what}");
        // Alone, the bad holder exhausts the fetch with its reason...
        match f.payload(&[bad], &h, n).await {
            Err(FetchError::Exhausted { last, .. }) => assert_eq!(last.len(), 1, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
        // ...and the good holder behind it is still reached.
        assert_eq!(f.payload(&[bad, good_server.local_addr()], &h, n).await.unwrap(), payload, "{what}");
        task.abort();
    }
    // A closed port and no holders at all.
    let closed = {
        let l = std::net::TcpListener::bind(LOCAL).unwrap();
        l.local_addr().unwrap()
    };
    assert!(matches!(f.once(closed, &h, n).await, Err(FetchError::Connect(_))));
    assert_eq!(f.payload(&[], &h, n).await, Err(FetchError::NoHolder));
}

#[tokio::test]
async fn an_archive_serves_what_left_the_shelf_and_its_log_and_checkpoints() {
    let old = bytes(3000, 9);
    let h = hash(&old);
    let mut cfg = ServerConfig::new(LOCAL.parse().unwrap());
    let archived = old.clone();
    cfg.archived_payload = Arc::new(move |asked| (*asked == h).then(|| archived.clone()));
    cfg.archived_checkpoint = Arc::new(|w| (w == 10).then(|| b"checkpoint of 10".to_vec()));
    cfg.updates = Arc::new(|from| Some(serde_json::json!({ "from": from })));
    let server = serve(cfg, Shelf::new()).await.unwrap();
    let addr = server.local_addr();
    let f = quick();
    assert_eq!(f.payload(&[addr], &h, old.len()).await.unwrap(), old);
    assert_eq!(f.once(addr, &[7; 32], old.len()).await, Err(FetchError::Status(404)));
    assert_eq!(f.checkpoint_of(addr, 10, 100).await.unwrap(), b"checkpoint of 10");
    assert_eq!(f.checkpoint_of(addr, 11, 100).await, Err(FetchError::Status(404)));
    assert_eq!(f.checkpoint_of(addr, 10, 4).await, Err(FetchError::TooLarge { limit: 4 }));
    assert_eq!(f.updates(addr, 5, 100).await.unwrap(), br#"{"from":5}"#);
    // Without an archive, nothing of it.
    let plain = serve(ServerConfig::new(LOCAL.parse().unwrap()), Shelf::new()).await.unwrap();
    assert_eq!(f.updates(plain.local_addr(), 5, 100).await, Err(FetchError::Status(404)));
    assert_eq!(f.checkpoint_of(plain.local_addr(), 10, 100).await, Err(FetchError::Status(404)));
}
