//! Crash safety with real processes: kill -9 of the hub, then of the destination, while
//! messages flow. Every message whose custody was acknowledged to its sender must reach the
//! destination's inbox exactly once.

use std::collections::BTreeSet;
use std::time::Duration;

use bluehelm::store::Store;
use bluehelm_proto::{Body, Precedence, SignedEnvelope};
use bluehelm_tests::{drained, eventually, linked, text, NodeProcess, TestNet};

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
    let mut hub = NodeProcess::start(&net.config_path("gs"));
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;

    let mut acknowledged = 0;
    for batch in 0..MESSAGES / BATCH {
        let messages = (0..BATCH)
            .map(|i| text(batch * BATCH + i, "ncb.ke", Precedence::Routine))
            .collect();
        // Custody at the origin is acknowledged when submit returns.
        fr.core().submit(messages).await.unwrap();
        acknowledged += BATCH;
        if batch == MESSAGES / BATCH / 3 {
            // Let traffic build up in flight through the hub, then pull the plug.
            tokio::time::sleep(Duration::from_millis(200)).await;
            hub.kill9();
            tokio::time::sleep(Duration::from_millis(300)).await;
            hub = NodeProcess::start(&net.config_path("gs"));
        }
    }
    assert_eq!(acknowledged, MESSAGES);
    eprintln!("{:?}: all {MESSAGES} submitted", started.elapsed());
    let delivered = eventually("every message delivered to ncb.ke", || async {
        let inbox = ke.core().inbox(None, 1_000_000).await.unwrap();
        (inbox.len() >= MESSAGES).then_some(inbox)
    })
    .await;
    eprintln!("{:?}: all delivered", started.elapsed());
    // Give a duplicate time to show up, then count.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let inbox = ke.core().inbox(None, 1_000_000).await.unwrap();
    assert_eq!(inbox.len(), delivered.len());
    let got = numbers(inbox.into_iter().map(|m| m.envelope.body));
    assert_eq!(got, (0..MESSAGES).collect());

    hub.stop();
    fr.shutdown().await;
    ke.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_killed_mid_flow_loses_and_duplicates_nothing() {
    let started = std::time::Instant::now();
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke_config = net.config_path("ncb.ke");
    let mut ke = NodeProcess::start(&ke_config);
    linked(&gs, "ncb.ke").await;

    for batch in 0..MESSAGES / BATCH {
        let messages = (0..BATCH)
            .map(|i| text(batch * BATCH + i, "ncb.ke", Precedence::Routine))
            .collect();
        fr.core().submit(messages).await.unwrap();
        if batch == MESSAGES / BATCH / 3 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            ke.kill9();
            tokio::time::sleep(Duration::from_millis(300)).await;
            ke = NodeProcess::start(&ke_config);
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
    let store = Store::open(&net.dir().join("data/ncb.ke")).unwrap();
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
