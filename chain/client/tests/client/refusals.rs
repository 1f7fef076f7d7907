//! Every refusal comes back as the chain's named error (or the pool's reason), with context.

use subnet_client::api::chain::runtime_types::pallet_admin_utils::pallet::Call as AdminCall;
use subnet_client::testing::{key, start, TAO};
use subnet_client::{ChainError, PoolRejection};

fn dispatch_name(result: Result<impl std::fmt::Debug, ChainError>) -> (String, String) {
    let err = result.expect_err("the chain must refuse");
    let name = err.dispatch_error().unwrap_or_else(|| panic!("not a dispatch error: {err}")).to_string();
    (name, err.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_chain_error() {
    let net = start().await;
    let chain = &net.chain;
    // No epoch runs during the test (tempo 1000), so nobody holds a validator permit.
    let netuid = net
        .subnet(|netuid| {
            vec![
                AdminCall::sudo_set_weights_version_key { netuid, weights_version_key: 7 },
                AdminCall::sudo_set_tempo { netuid, tempo: 1000 },
            ]
        })
        .await;
    let hotkey = key("//Dave//hot");
    net.fund(&hotkey, 5).await;

    // Not registered.
    let (name, message) = dispatch_name(chain.set_weights(&hotkey, netuid, &[0], &[1.0], 7).await);
    assert_eq!(name, "HotKeyNotRegisteredInSubNet");
    assert!(
        message.contains("SubtensorModule::HotKeyNotRegisteredInSubNet")
            && message.contains("register it first"),
        "{message}"
    );

    // Insufficient balance: a coldkey with enough for fees but not for the 1 TAO burn.
    let poor = key("//poor");
    chain.transfer(&net.alice, &poor.account_id(), TAO / 10).await.unwrap();
    let (name, message) = dispatch_name(chain.register(&poor, &hotkey.account_id(), netuid, 10 * TAO).await);
    assert_eq!(name, "NotEnoughBalanceToStake");
    assert!(message.contains("has 0.09") && message.contains("TAO, registration burns 0."), "{message}");

    // An account with nothing cannot even pay the fee: the pool says so.
    let empty = key("//empty");
    let err = chain.register(&empty, &hotkey.account_id(), netuid, 10 * TAO).await.unwrap_err();
    assert_eq!(err.pool_rejection(), Some(&PoolRejection::CannotPayFees), "{err}");

    // A price above the caller's limit is refused before anything is sent.
    let dave = key("//Dave");
    let err = chain.register(&dave, &hotkey.account_id(), netuid, TAO / 2).await.unwrap_err();
    assert!(matches!(err, ChainError::Refused(_)) && err.to_string().contains("above your limit"), "{err}");

    let uid = chain.register(&dave, &hotkey.account_id(), netuid, TAO).await.unwrap();

    // Bad version key.
    let (name, message) = dispatch_name(chain.set_weights(&hotkey, netuid, &[uid], &[1.0], 6).await);
    assert_eq!(name, "IncorrectWeightVersionKey");
    assert!(message.contains("requires at least 7"), "{message}");

    // Rate limit (100 blocks by default): registration counts as the last update.
    let (name, message) = dispatch_name(chain.set_weights(&hotkey, netuid, &[uid], &[1.0], 7).await);
    assert_eq!(name, "SettingWeightsTooFast");
    assert!(message.contains("allows one update every 100 blocks"), "{message}");
    assert!(chain.blocks_until_weights_allowed(netuid, &hotkey.account_id()).await.unwrap() > 0);

    // Weights on others need a validator permit.
    let (name, _) = dispatch_name(chain.set_weights(&hotkey, netuid, &[0], &[1.0], 7).await);
    assert_eq!(name, "NeuronNoValidatorPermit");

    // Unstaking more than staked.
    let (name, message) = dispatch_name(chain.remove_stake(&dave, &hotkey.account_id(), netuid, TAO).await);
    assert_eq!(name, "NotEnoughStakeToWithdraw");
    assert!(message.contains("staked 0 TAO"), "{message}");

    // A subnet that does not exist is refused before sending.
    let err = chain.hyperparameters(999).await.unwrap_err();
    assert!(err.to_string().contains("subnet 999 does not exist"), "{err}");

    // After every refusal the key's next transaction still goes through (nonces re-synced).
    chain.transfer(&hotkey, &dave.account_id(), TAO).await.unwrap();
}
