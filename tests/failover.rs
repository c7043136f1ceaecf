//! Failover to the backup hub and back (issue 15, items 7 and 8), with real hub processes
//! on loopback: gs and gs-b, both linked with ncb.ke (sending) and the mission post
//! (receiving), which route `"*" = ["gs", "gs-b"]` with a 2 s silence. Under load gs is
//! killed (-9): traffic, and what was already queued for gs, moves to gs-b; gs restarts and
//! new traffic goes back to it. The post counts acknowledged, delivered, lost and duplicated
//! messages, and lost = 0 and duplicated = 0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bluehelm::localnet::{free_loopback_addr, NodeSpec, STANDARD_POLICY};
use bluehelm::Node;
use bluehelm_pki::Role;
use bluehelm_proto::Precedence;
use bluehelm_tests::tally::{delivered, every_one_once};
use bluehelm_tests::{
    api_client_of, api_counter, api_queue_depth, bluehelm_bin, eventually, id, linked, run_cli,
    text, NodeProcess, TestNet,
};

const POST: &str = "mission.unmiss";
const SENDER: &str = "ncb.ke";
/// `[limits] failover_after_secs` of the NCB and the post.
const SILENCE_SECS: u64 = 2;

/// gs and gs-b, each a full hub with its own certificate; ncb.ke and the post link with
/// both and route everything to gs, then gs-b.
/// The next hops `node` has given up as silent, as `bluehelm status --json` shows them.
async fn failed_over(node: &Node) -> Vec<String> {
    let socket = node.bureau().config().api_socket.clone();
    let args = [
        "status",
        "--json",
        "--socket",
        socket.to_str().expect("a UTF-8 path"),
    ];
    let (_, out, err) = run_cli(bluehelm_bin!(), args).await;
    let status: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("status --json: {e}: {out}{err}"));
    status["failed_over"]
        .as_array()
        .map(|hops| {
            hops.iter()
                .filter_map(|h| h.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn specs() -> Vec<NodeSpec> {
    let mut gs = NodeSpec::hub("gs", free_loopback_addr());
    let mut gs_b = NodeSpec::hub("gs-b", free_loopback_addr());
    assert_eq!(gs_b.role, Role::Hub);
    let mut ke = NodeSpec::ncb(SENDER, "KE", &gs);
    let mut post = NodeSpec::mission(POST, "UNMISS", &gs);
    for spec in [&mut ke, &mut post] {
        spec.peers = vec![(gs.id.clone(), gs.listen), (gs_b.id.clone(), gs_b.listen)];
        spec.default_route = None;
        spec.routes = vec![("*".into(), vec![gs.id.clone(), gs_b.id.clone()])];
        spec.limits = Some(format!("failover_after_secs = {SILENCE_SECS}"));
    }
    for hub in [&mut gs, &mut gs_b] {
        hub.peers = vec![(ke.id.clone(), None), (post.id.clone(), None)];
    }
    let mut specs = vec![gs, gs_b, ke, post];
    for spec in &mut specs {
        spec.policy = Some(STANDARD_POLICY.to_owned());
    }
    specs
}

/// Sends messages `range` from `from` to the post, a mix of precedences; returns how many
/// the origin acknowledged (took into custody).
async fn send(from: &Node, range: std::ops::Range<usize>) -> usize {
    let messages = range
        .map(|n| {
            let precedence = match n % 4 {
                0 => Precedence::Flash,
                1 => Precedence::Immediate,
                2 => Precedence::Priority,
                _ => Precedence::Routine,
            };
            text(n, POST, precedence)
        })
        .collect();
    from.bureau()
        .submit(messages)
        .await
        .expect("taken into custody")
        .len()
}

/// A hub process's `accepted` counter (messages it took custody of since it started).
async fn accepted_at(net: &TestNet, hub: &str) -> u64 {
    let mut api = api_client_of(&net.net.config(hub).expect("config")).await;
    api_counter(&mut api, "accepted").await.unwrap_or(0)
}

/// A hub process's queue depth for the post.
async fn queued_for_post(net: &TestNet, hub: &str) -> u64 {
    let mut api = api_client_of(&net.net.config(hub).expect("config")).await;
    api_queue_depth(&mut api, POST).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_the_backup_hub_and_back_loses_and_duplicates_nothing() {
    let started = std::time::Instant::now();
    let net = TestNet::with_specs(specs());
    let mut gs = NodeProcess::start(bluehelm_bin!(), &net.config_path("gs"));
    let gs_b = NodeProcess::start(bluehelm_bin!(), &net.config_path("gs-b"));
    let ke = net.start(SENDER).await;
    let post = net.start(POST).await;
    for (node, hub) in [(&ke, "gs"), (&ke, "gs-b"), (&post, "gs"), (&post, "gs-b")] {
        linked(node, hub).await;
    }

    // Before: everything goes through gs.
    let mut acknowledged = send(&ke, 0..100).await;
    every_one_once(&post, acknowledged, "before the failover").await;
    assert_eq!(
        accepted_at(&net, "gs-b").await,
        0,
        "nothing through gs-b yet"
    );

    // Load: ncb.ke sends 10 messages every 50 ms while gs is killed, given up, and
    // restarted.
    let loading = AtomicBool::new(true);
    let load = async {
        let mut sent = 0;
        while loading.load(Ordering::Relaxed) {
            let from = acknowledged + sent;
            sent += send(&ke, from..from + 10).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sent
    };
    let faults = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let killed_at = std::time::Instant::now();
        gs.kill9();
        // ncb.ke notices at the link's idle timeout, then waits out the silence.
        eventually("ncb.ke to lose gs", || async {
            (!ke.is_linked(&id("gs"))).then_some(())
        })
        .await;
        eventually("traffic to reach the post through gs-b", || async {
            (accepted_at(&net, "gs-b").await > 0).then_some(())
        })
        .await;
        eprintln!(
            "failover: traffic through gs-b {:?} after the kill",
            killed_at.elapsed()
        );
        // Messages queued for gs before it was given up moved too.
        eventually("ncb.ke's queue for gs to empty", || async {
            (ke.bureau().queue_depth(&id("gs")) == 0).then_some(())
        })
        .await;
        // The operator sees it.
        assert_eq!(
            failed_over(&ke).await,
            ["gs"],
            "`status` names the hop given up"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let restarted = NodeProcess::start(bluehelm_bin!(), &net.config_path("gs"));
        linked(&ke, "gs").await;
        linked(&post, "gs").await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        loading.store(false, Ordering::Relaxed);
        restarted
    };
    let (sent, restarted) = tokio::join!(load, faults);
    gs = restarted;
    acknowledged += sent;

    // Back: once what moved to gs-b has left ncb.ke, new traffic goes through gs alone.
    eventually("ncb.ke's queue for gs-b to empty", || async {
        (ke.bureau().queue_depth(&id("gs-b")) == 0).then_some(())
    })
    .await;
    let through_backup = accepted_at(&net, "gs-b").await;
    let through_gs = accepted_at(&net, "gs").await;
    assert!(
        failed_over(&ke).await.is_empty(),
        "gs heard again: not given up any more"
    );
    let after = send(&ke, acknowledged..acknowledged + 100).await;
    acknowledged += after;
    every_one_once(&post, acknowledged, "failover to gs-b and back").await;
    assert_eq!(
        accepted_at(&net, "gs-b").await,
        through_backup,
        "after gs is back, new traffic does not go through gs-b"
    );
    assert!(
        accepted_at(&net, "gs").await >= through_gs + after as u64,
        "after gs is back, new traffic goes through gs"
    );

    // Counted again once no copy can still arrive: every queue on both paths is empty.
    eventually("every queue on both paths to empty", || async {
        let empty = ke.bureau().queue_depth(&id("gs")) == 0
            && ke.bureau().queue_depth(&id("gs-b")) == 0
            && queued_for_post(&net, "gs").await == 0
            && queued_for_post(&net, "gs-b").await == 0;
        empty.then_some(())
    })
    .await;
    let counts = delivered(&post).await;
    assert_eq!(counts.values().sum::<usize>(), acknowledged, "no duplicate");
    println!(
        "failover: {acknowledged} acknowledged, {} through gs-b, all delivered once, in {:?}",
        through_backup,
        started.elapsed()
    );

    post.shutdown().await;
    ke.shutdown().await;
    gs.stop();
    gs_b.stop();
}
