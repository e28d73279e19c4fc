//! The connector contract suite for every registered channel kind: the registry names each
//! kind's connector and kit, so a new channel runs here without being added by hand (and a
//! kind registered without a kit fails).

use switchboard_channels::{registry, testkit::contract};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_registered_channel_keeps_the_contract() {
    let kinds = registry::supported();
    assert!(kinds.len() >= 4, "{kinds:?}");
    for kind in kinds {
        let connector = registry::connector(kind).unwrap();
        let start = registry::kit(kind).unwrap_or_else(|| panic!("{kind} has no contract kit"));
        let kit = start().await;
        contract::check(connector.as_ref(), kit.as_ref()).await;
    }
}
