//! The client against a real dev node: a subnet from registration to payouts.

use std::net::{IpAddr, Ipv4Addr};

use futures::StreamExt;
use subnet_client::api::chain::runtime_types::pallet_admin_utils::pallet::Call as AdminCall;
use subnet_client::testing::{key, start, TAO};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subnet_from_registration_to_payouts() {
    let net = start().await;
    let chain = &net.chain;
    let netuid = net
        .subnet(|netuid| {
            vec![
                AdminCall::sudo_set_tempo { netuid, tempo: 6 },
                AdminCall::sudo_set_weights_set_rate_limit { netuid, weights_set_rate_limit: 0 },
                AdminCall::sudo_set_min_burn { netuid, min_burn: TAO / 1000 },
                AdminCall::sudo_set_serving_rate_limit { netuid, serving_rate_limit: 0 },
                AdminCall::sudo_set_allow_loopback_axons { netuid, allowed: true },
            ]
        })
        .await;
    let params = chain.hyperparameters(netuid).await.unwrap();
    assert_eq!((params.tempo, params.weights_rate_limit, params.serving_rate_limit), (6, 0, 0));
    assert!(params.allow_loopback_axons);

    // Two hotkeys, each registered by its own coldkey, each funded to pay its own fees.
    let (validator_cold, validator) = (key("//Bob"), key("//Bob//validator"));
    let (miner_cold, miner) = (key("//Charlie"), key("//Charlie//miner"));
    net.fund(&validator, 10).await;
    net.fund(&miner, 10).await;
    let validator_uid =
        chain.register(&validator_cold, &validator.account_id(), netuid, 2 * TAO).await.unwrap();
    let miner_uid = chain.register(&miner_cold, &miner.account_id(), netuid, 2 * TAO).await.unwrap();
    assert_eq!((validator_uid, miner_uid), (1, 2));
    assert_eq!(chain.uid_of(netuid, &miner.account_id()).await.unwrap(), Some(2));
    assert_eq!(
        chain.register(&miner_cold, &miner.account_id(), netuid, 2 * TAO).await.unwrap(),
        2,
        "registering again returns the existing uid"
    );

    // Stake on the validator, then take a little back.
    let before = chain.balance(&validator_cold.account_id()).await.unwrap();
    chain.add_stake(&validator_cold, &validator.account_id(), netuid, 1000 * TAO).await.unwrap();
    chain.remove_stake(&validator_cold, &validator.account_id(), netuid, 100 * TAO).await.unwrap();
    let staked = chain.stake_of(&validator.account_id(), &validator_cold.account_id(), netuid).await.unwrap();
    assert_eq!(staked, 900 * TAO);
    let after = chain.balance(&validator_cold.account_id()).await.unwrap();
    assert!(
        before - after >= 900 * TAO && before - after < 901 * TAO,
        "moved 900 TAO plus fees: {before} -> {after}"
    );

    // The miner serves an axon and commits a payload hash for window 3.
    chain.serve_axon(&miner, netuid, IpAddr::V4(Ipv4Addr::LOCALHOST), 8091, 4).await.unwrap();
    let hash = [0x5a; 32];
    let included = chain.commit(&miner, netuid, 3, hash).await.unwrap();
    chain.commit(&validator, netuid, 4, [1; 32]).await.unwrap();
    let window_3 = chain.commitments(netuid, 3).await.unwrap();
    assert_eq!(window_3.len(), 1, "{window_3:?}");
    assert_eq!(
        (window_3[0].uid, window_3[0].hash, window_3[0].block),
        (miner_uid, hash, included.block_number)
    );
    assert_eq!(window_3[0].hotkey, miner.account_id());
    assert_eq!(chain.commitments(netuid, 4).await.unwrap()[0].uid, validator_uid);
    assert!(chain.commitments(netuid, 5).await.unwrap().is_empty());

    // Permits come from an epoch; then the validator weighs the miner.
    let head = chain.wait_for_finalized(included.block_number + 7).await.unwrap();
    let metagraph = chain.metagraph(netuid).await.unwrap();
    assert!(metagraph.block >= head.number);
    assert!(metagraph.neurons[validator_uid as usize].validator_permit, "{metagraph:?}");
    let set = chain.set_weights(&validator, netuid, &[miner_uid, 0], &[0.75, 0.25], 0).await.unwrap();
    let metagraph = chain.metagraph(netuid).await.unwrap();
    let v = &metagraph.neurons[validator_uid as usize];
    assert_eq!(v.weights, vec![(0, 21845), (miner_uid, 65535)]);
    assert_eq!(v.last_update, set.block_number);
    let m = &metagraph.neurons[miner_uid as usize];
    assert_eq!(m.coldkey.as_ref(), Some(&miner_cold.account_id()));
    assert_eq!(m.axon.as_ref().map(|a| (a.ip, a.port)), Some((IpAddr::V4(Ipv4Addr::LOCALHOST), 8091)));
    assert!(v.stake >= 900 * TAO, "stake plus any dividends so far: {}", v.stake);

    // After the next epochs the miner earns incentive, the validator dividends, both are paid.
    let miner_stake_before = chain.total_hotkey_stake(&miner.account_id(), netuid).await.unwrap();
    chain.wait_for_finalized(set.block_number + 13).await.unwrap();
    let metagraph = chain.metagraph(netuid).await.unwrap();
    let (v, m) = (&metagraph.neurons[validator_uid as usize], &metagraph.neurons[miner_uid as usize]);
    assert!(m.incentive > 0 && m.emission > 0, "miner paid: {m:?}");
    assert!(v.dividends > 0 && v.emission > 0, "validator paid: {v:?}");
    let miner_stake_after = chain.total_hotkey_stake(&miner.account_id(), netuid).await.unwrap();
    assert!(miner_stake_after > miner_stake_before, "payouts are credited as stake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalized_blocks_stream_in_order_and_nonces_do_not_clash() {
    let net = start().await;
    let chain = &net.chain;
    let mut blocks = chain.finalized_blocks();
    let first = blocks.next().await.unwrap().unwrap();
    let second = blocks.next().await.unwrap().unwrap();
    assert!(second.number > first.number);

    // Three transfers from one key at once: each needs its own nonce.
    let dests = [key("//n1"), key("//n2"), key("//n3")];
    let accounts: Vec<_> = dests.iter().map(|d| d.account_id()).collect();
    let sends = accounts.iter().map(|a| chain.transfer(&net.alice, a, 2 * TAO));
    for result in futures::future::join_all(sends).await {
        result.expect("no nonce clash");
    }
    for d in &dests {
        assert_eq!(chain.balance(&d.account_id()).await.unwrap(), 2 * TAO);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_node_is_a_clear_error_after_retries() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let options = subnet_client::ConnectOptions {
        attempts: 3,
        first_delay: std::time::Duration::from_millis(50),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let url = format!("ws://127.0.0.1:{port}");
    let err = subnet_client::Chain::connect_with(&url, options).await.err().expect("nothing listens there");
    assert!(matches!(err, subnet_client::ChainError::Connect { attempts: 3, .. }), "{err}");
    assert!(err.to_string().contains(&url));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
