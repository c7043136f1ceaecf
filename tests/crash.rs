//! Crash safety with real processes: kill -9 of the hub, then of the destination, while
//! messages flow. Every message whose custody was acknowledged to its sender must reach the
//! destination's inbox exactly once.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bluehelm_proto::{Body, Precedence, SignedEnvelope};
use bluehelm_tests::{
    api_client_of, api_queue_depth, bluehelm_bin, drained, eventually, id, linked, text,
    NodeProcess, TestNet,
};

const MESSAGES: usize = 10_000;
const BATCH: usize = 100;

/// Numbers of the test messages in an inbox listing; panics on a duplicate.
fn numbers(inbox: impl IntoIterator<Item = Body>) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    for body in inbox {
        if let Body::Text(t) = body {
            let n: usize = t
                .subject_line
                .trim_start_matches("test message ")
                .parse()
                .unwrap();
            assert!(seen.insert(n), "message {n} delivered twice");
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_killed_mid_flow_loses_and_duplicates_nothing() {
    let started = std::time::Instant::now();
    let net = TestNet::standard();
    let mut hub = NodeProcess::start(bluehelm_bin!(), &net.config_path("gs"));
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;

    let mut acknowledged = 0;
    for batch in 0..MESSAGES / BATCH {
        let messages = (0..BATCH)
            .map(|i| text(batch * BATCH + i, "ncb.ke", Precedence::Routine))
            .collect();
        // Custody at the origin is acknowledged when submit returns.
        fr.bureau().submit(messages).await.unwrap();
        acknowledged += BATCH;
        if batch == MESSAGES / BATCH / 3 {
            // Pull the plug while traffic flows through the hub: once ncb.ke takes custody of
            // more messages from here on.
            let accepted = ke.bureau().stats().accepted.load(Relaxed);
            eventually("ncb.ke to take custody through the hub", || async {
                (ke.bureau().stats().accepted.load(Relaxed) > accepted).then_some(())
            })
            .await;
            hub.kill9();
            tokio::time::sleep(Duration::from_millis(300)).await;
            hub = NodeProcess::start(bluehelm_bin!(), &net.config_path("gs"));
        }
    }
    assert_eq!(acknowledged, MESSAGES);
    eprintln!("{:?}: all {MESSAGES} submitted", started.elapsed());
    let delivered = eventually("every message delivered to ncb.ke", || async {
        let inbox = ke.bureau().inbox(None, 1_000_000).await.unwrap();
        (inbox.len() >= MESSAGES).then_some(inbox)
    })
    .await;
    eprintln!("{:?}: all delivered", started.elapsed());
    // Count once nothing is left to offer on the path (the origin's queue for the hub, the
    // hub's for ncb.ke): from then on no copy, and so no duplicate, can arrive.
    let hub_api = api_client_of(&net.net.config("gs").unwrap()).await;
    eventually("the origin's and the hub's queues to drain", || async {
        let origin = fr.bureau().queue_depth(&id("gs"));
        let hub = api_queue_depth(&mut hub_api.clone(), "ncb.ke").await;
        (origin == 0 && hub == 0).then_some(())
    })
    .await;
    let inbox = ke.bureau().inbox(None, 1_000_000).await.unwrap();
    assert_eq!(inbox.len(), delivered.len());
    let got = numbers(inbox.into_iter().map(|m| m.envelope.body));
    assert_eq!(got, (0..MESSAGES).collect());

    // The hub last: a node stopped while it redials a hub that is gone waits out the dial.
    fr.shutdown().await;
    ke.shutdown().await;
    hub.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_restarted_ten_times_in_a_row_under_load_loses_and_duplicates_nothing() {
    let net = TestNet::standard();
    let mut hub = NodeProcess::start(bluehelm_bin!(), &net.config_path("gs"));
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(&fr, "gs").await;
    let mut acknowledged = 0;
    for restart in 0..10 {
        // About a second of traffic, then the hub goes: stopped cleanly and killed in turn.
        for _ in 0..10 {
            let messages = (0..20)
                .map(|i| text(acknowledged + i, "ncb.ke", Precedence::Routine))
                .collect();
            fr.bureau().submit(messages).await.unwrap();
            acknowledged += 20;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if restart % 2 == 0 {
            hub.kill9();
        } else {
            hub.stop();
        }
        hub = NodeProcess::start(bluehelm_bin!(), &net.config_path("gs"));
    }
    bluehelm_tests::tally::every_one_once(&ke, acknowledged, "hub restarted ten times").await;
    let hub_api = api_client_of(&net.net.config("gs").unwrap()).await;
    eventually("the origin's and the hub's queues to drain", || async {
        let origin = fr.bureau().queue_depth(&id("gs"));
        let hub = api_queue_depth(&mut hub_api.clone(), "ncb.ke").await;
        (origin == 0 && hub == 0).then_some(())
    })
    .await;
    let counts = bluehelm_tests::tally::delivered(&ke).await;
    assert_eq!(counts.values().sum::<usize>(), acknowledged, "none twice");
    fr.shutdown().await;
    ke.shutdown().await;
    hub.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_killed_mid_flow_loses_and_duplicates_nothing() {
    let started = std::time::Instant::now();
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke_config = net.config_path("ncb.ke");
    let mut ke = NodeProcess::start(bluehelm_bin!(), &ke_config);
    linked(&gs, "ncb.ke").await;

    for batch in 0..MESSAGES / BATCH {
        let messages = (0..BATCH)
            .map(|i| text(batch * BATCH + i, "ncb.ke", Precedence::Routine))
            .collect();
        fr.bureau().submit(messages).await.unwrap();
        if batch == MESSAGES / BATCH / 3 {
            // Pull the plug while ncb.ke takes custody: once it takes more from here on.
            let forwarded = gs.bureau().stats().forwarded.load(Relaxed);
            eventually("ncb.ke to take custody", || async {
                (gs.bureau().stats().forwarded.load(Relaxed) > forwarded).then_some(())
            })
            .await;
            ke.kill9();
            tokio::time::sleep(Duration::from_millis(300)).await;
            ke = NodeProcess::start(bluehelm_bin!(), &ke_config);
            eprintln!("{:?}: destination restarted", started.elapsed());
        }
    }
    eprintln!("{:?}: all {MESSAGES} submitted", started.elapsed());
    linked(&gs, "ncb.ke").await;
    eprintln!("{:?}: destination linked again", started.elapsed());
    // Everything left the origin and the hub: the destination acknowledged custody of all.
    drained(&fr, &gs, "ncb.ke").await;
    eprintln!("{:?}: queues drained", started.elapsed());
    ke.stop();
    eprintln!("{:?}: destination stopped", started.elapsed());

    // Read the destination's inbox straight from its sled store.
    let store = net.open_store("ncb.ke");
    let inbox = store.inbox(None, 1_000_000).await.unwrap();
    let bodies = inbox.into_iter().map(|entry| {
        SignedEnvelope::decode(&entry.message.signed)
            .unwrap()
            .decode_envelope()
            .unwrap()
            .body
    });
    assert_eq!(numbers(bodies), (0..MESSAGES).collect());
    store.shutdown().await.unwrap();
    fr.shutdown().await;
    gs.shutdown().await;
}
