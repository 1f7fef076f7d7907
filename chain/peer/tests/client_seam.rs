//! The chain seam over the real client, on a dev node: two miners commit for a window, a
//! validator approves both, and every peer reads the same ranked candidates and update off
//! finalized blocks.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use subnet_client::testing::{key, start, TAO};
use subnet_peer::client::ClientSeam;
use subnet_peer::quorum::bitmap;
use subnet_peer::seam::{ChainSeam, SeamError};
use subnet_peer::update::{candidates, decide, UpdateError};
use subnet_peer::{Schedule, Window};

/// Waits until block `number` is finalized.
async fn finalized_past(seam: &ClientSeam, number: u64) {
    let limit = std::time::Instant::now() + Duration::from_secs(120);
    while seam.finalized().await.unwrap().number < number {
        assert!(std::time::Instant::now() < limit, "block {number} not finalized within 120 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_from_commits_to_the_update_on_a_dev_node() {
    let net = start().await;
    let netuid = net.loop_subnet().await;
    let chain = &net.chain;
    let parts =
        [("//Bob", "//Bob//validator"), ("//Charlie", "//Charlie//miner"), ("//Dave", "//Dave//miner")];
    let mut seams = Vec::new();
    for (cold, hot) in parts {
        let (cold, hot) = (key(cold), key(hot));
        net.fund(&hot, 10).await;
        chain.register(&cold, &hot.account_id(), netuid, 2 * TAO).await.unwrap();
        if seams.is_empty() {
            chain.add_stake(&cold, &hot.account_id(), netuid, 500 * TAO).await.unwrap();
        }
        seams.push(ClientSeam::new(chain.clone(), hot));
    }
    let (validator, miners) = (&seams[0], &seams[1..]);

    // Axons show up in the neuron table at the next finalized block.
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 18091));
    miners[0].serve_axon(netuid, addr).await.unwrap();
    let head = miners[0].finalized().await.unwrap();
    let neurons = miners[0].neurons_at(netuid, head).await.unwrap();
    let me = neurons.iter().find(|n| n.hotkey == miners[0].hotkey()).unwrap();
    assert_eq!(me.axon, Some(addr));
    assert!(me.registered_at > 0 && me.registered_at <= head.number);

    // A window that starts after the validator's permit (an epoch after its stake).
    let schedule = Schedule::new(20, 8, 2).unwrap();
    finalized_past(validator, head.number + 8).await;
    let w = schedule.window_of(validator.finalized().await.unwrap().number).next();
    finalized_past(validator, schedule.start(w).unwrap()).await;
    let hashes = [[0x11; 32], [0x22; 32]];
    for (m, h) in miners.iter().zip(hashes) {
        let block = m.commit(netuid, w.0, h).await.unwrap();
        assert!(schedule.in_commit_range(w, block), "commit landed at {block}, outside {w}");
    }
    // Before D_w is finalized nothing can be decided.
    assert!(matches!(
        candidates(validator, netuid, &schedule, 12, w).await,
        Err(UpdateError::Chain(SeamError::NotFinalized(_)))
    ));
    finalized_past(validator, schedule.commit_deadline(w).unwrap()).await;
    let ranked = candidates(validator, netuid, &schedule, 12, w).await.unwrap();
    let mut got: Vec<[u8; 32]> = ranked.candidates.iter().map(|c| c.hash).collect();
    got.sort();
    assert_eq!(got, hashes.to_vec());

    let base = [0x99; 32];
    let block = validator.approve(netuid, w.0, bitmap(2, [0, 1]), base).await.unwrap();
    assert!(block > schedule.commit_deadline(w).unwrap() && block <= schedule.approval_deadline(w).unwrap());
    finalized_past(validator, schedule.approval_deadline(w).unwrap()).await;
    let decision = decide(validator, netuid, &schedule, &ranked, 8).await.unwrap();
    assert_eq!(decision.base, Some(base));
    assert!(decision.active_stake >= 500 * TAO as u128, "{decision:?}");
    assert_eq!(decision.update, vec![0, 1], "{decision:?}");
    // A miner reading the same chain computes the same.
    let theirs = candidates(&miners[1], netuid, &schedule, 12, w).await.unwrap();
    assert_eq!(theirs, ranked);
    assert_eq!(decide(&miners[1], netuid, &schedule, &theirs, 8).await.unwrap(), decision);

    // An unregistered hotkey cannot commit; the error says so.
    let stranger = ClientSeam::new(chain.clone(), key("//Eve//miner"));
    net.fund(&key("//Eve//miner"), 1).await;
    let e = stranger.commit(netuid, Window(w.0 + 1).0, [1; 32]).await.unwrap_err();
    assert!(matches!(e, SeamError::NotRegistered(_)), "{e}");
}
