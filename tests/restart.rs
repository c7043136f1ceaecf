//! A hub restarted after kill -9, with real processes: its peers still hold connections to
//! the dead process. The restarted hub must recognise the connection ids of its previous run
//! and answer their packets with stateless resets (docs/protocol.md 6.1), so that the peers
//! drop those connections and redial at once instead of waiting out the 10 s idle timeout.

use std::time::{Duration, Instant};

use bluehelm::Node;
use bluehelm_proto::Precedence;
use bluehelm_tests::{
    bluehelm_bin, eventually, id, inbox_at_least, linked, text, NodeProcess, TestNet,
};

/// The peer's current connection to gs, if it has a link.
fn link_to_gs(node: &Node) -> Option<quinn::Connection> {
    node.links().connection(&id("gs"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_link_again_within_a_second_of_a_hub_restart() {
    let net = TestNet::standard();
    let hub = NodeProcess::start(bluehelm_bin!(), &net.config_path("gs"));
    let mut peers = Vec::new();
    for node in ["ncb.fr", "ncb.ke", "mission.unmiss"] {
        let peer = net.start(node).await;
        linked(&peer, "gs").await;
        peers.push(peer);
    }
    // Let the links settle into keep-alives, as a hub's links are when it crashes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The connections to the first run, held so that no new connection can reuse their ids.
    let old: Vec<quinn::Connection> = peers.iter().filter_map(link_to_gs).collect();
    assert_eq!(old.len(), peers.len());

    hub.kill9();
    // `start` returns once the new process printed its "listening on" line.
    let hub = NodeProcess::start(bluehelm_bin!(), &net.config_path("gs"));
    let restarted = Instant::now();
    eventually("every peer linked to the restarted gs", || async {
        let all_new = peers.iter().zip(&old).all(|(peer, old)| {
            link_to_gs(peer).is_some_and(|conn| conn.stable_id() != old.stable_id())
        });
        all_new.then_some(())
    })
    .await;
    let took = restarted.elapsed();
    eprintln!("links back {took:?} after gs restarted");
    assert!(
        took < Duration::from_secs(1),
        "links came back {took:?} after gs restarted"
    );

    // The new links carry traffic through gs.
    peers[0]
        .bureau()
        .submit(vec![text(1, "ncb.ke", Precedence::Routine)])
        .await
        .unwrap();
    inbox_at_least(&peers[1], 1).await;

    // The hub last: a node stopped while it redials a hub that is gone waits out the dial.
    for peer in peers {
        peer.shutdown().await;
    }
    hub.stop();
}

/// The allocator's settings (`daemon/src/cli/allocator.rs`): a node process replaces itself,
/// same pid, with one that has `MIMALLOC_ALLOW_THP=0`, and the hub also
/// `MIMALLOC_PURGE_DELAY=100`, keeping a value the operator set.
#[test]
fn a_node_process_runs_with_the_allocators_settings_unless_its_operator_set_them() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let net = TestNet::standard();
    let cases: [(&str, Option<&str>, &[&str]); 3] = [
        (
            "gs",
            None,
            &["MIMALLOC_ALLOW_THP=0", "MIMALLOC_PURGE_DELAY=100"],
        ),
        (
            "gs",
            Some("25"),
            &["MIMALLOC_ALLOW_THP=0", "MIMALLOC_PURGE_DELAY=25"],
        ),
        ("ncb.fr", None, &["MIMALLOC_ALLOW_THP=0"]),
    ];
    for (node, set, expected) in cases {
        let mut command = Command::new(bluehelm_bin!());
        command
            .args(["run", "--config"])
            .arg(net.config_path(node))
            .env_remove("MIMALLOC_PURGE_DELAY")
            .env_remove("MIMALLOC_ALLOW_THP")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(value) = set {
            command.env("MIMALLOC_PURGE_DELAY", value);
        }
        let mut child = command.spawn().expect("bluehelm run starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let up = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains(" listening on ") || line.ends_with(" running"));
        assert!(up, "{node} did not come up");
        let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
        let mut settings: Vec<String> = environ
            .split(|b| *b == 0)
            .map(|entry| String::from_utf8_lossy(entry).into_owned())
            .filter(|entry| {
                entry.starts_with("MIMALLOC_ALLOW_THP=")
                    || entry.starts_with("MIMALLOC_PURGE_DELAY=")
            })
            .collect();
        settings.sort();
        assert_eq!(settings, expected, "{node}, set by the operator: {set:?}");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
