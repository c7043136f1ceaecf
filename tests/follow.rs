//! `bluehelm inbox --follow --json --ack` as a real process across its node's restarts
//! (issue 15, item 5): kill -9 and a clean stop of the node, messages sent before, while the
//! node is down and after; every message printed exactly once, none left in the inbox, and
//! the follower still running. And its exit codes.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use bluehelm_proto::Precedence;
use bluehelm_tests::{
    api_client_of, api_inbox_now, bluehelm_bin, eventually, linked, run_cli, text, NodeProcess,
    TestNet,
};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// How long a message may take to reach the follower's output.
const PATIENCE: Duration = Duration::from_secs(30);

/// The number of a test message ([`text`]) in a JSON line of `inbox --json`.
fn number(line: &str) -> usize {
    let value: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    fn find(value: &serde_json::Value) -> Option<usize> {
        match value {
            serde_json::Value::String(s) => s.strip_prefix("test message ")?.parse().ok(),
            serde_json::Value::Object(map) => map.values().find_map(find),
            serde_json::Value::Array(items) => items.iter().find_map(find),
            _ => None,
        }
    }
    find(&value).unwrap_or_else(|| panic!("no test message in {line}"))
}

/// Reads the follower's lines until it has printed every number in `expected`; panics on
/// a number printed twice or one not expected.
async fn read_until(
    lines: &mut Lines<BufReader<ChildStdout>>,
    printed: &mut BTreeSet<usize>,
    expected: std::ops::Range<usize>,
) {
    while !expected.clone().all(|n| printed.contains(&n)) {
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .unwrap_or_else(|_| {
                panic!("waited {PATIENCE:?} for messages {expected:?}; got {printed:?}")
            })
            .expect("reading the follower")
            .expect("the follower exited");
        let n = number(&line);
        assert!(printed.insert(n), "message {n} printed twice");
        assert!(n < expected.end, "message {n} printed before it was sent");
    }
}

fn follower(config: &std::path::Path) -> Child {
    tokio::process::Command::new(bluehelm_bin!())
        .args(["inbox", "--follow", "--json", "--ack", "--config"])
        .arg(config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("bluehelm inbox starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_follow_survives_kill_9_and_a_restart_of_its_node() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke_config = net.config_path("ncb.ke");
    let mut ke = NodeProcess::start(bluehelm_bin!(), &ke_config);
    linked(&gs, "ncb.ke").await;

    let mut child = follower(&ke_config);
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut printed = BTreeSet::new();
    let send = |range: std::ops::Range<usize>| {
        let messages = range
            .map(|n| text(n, "ncb.ke", Precedence::Routine))
            .collect();
        fr.bureau().submit(messages)
    };

    send(0..5).await.unwrap();
    read_until(&mut lines, &mut printed, 0..5).await;

    // kill -9: the stream breaks off; messages sent meanwhile wait at the hub.
    ke.kill9();
    send(5..10).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the follower exited with its node"
    );
    ke = NodeProcess::start(bluehelm_bin!(), &ke_config);
    send(10..15).await.unwrap();
    read_until(&mut lines, &mut printed, 0..15).await;

    // A clean stop: the node ends the stream itself (the follower used to exit 0 here).
    ke.stop();
    send(15..20).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the follower exited with its node"
    );
    ke = NodeProcess::start(bluehelm_bin!(), &ke_config);
    send(20..25).await.unwrap();
    read_until(&mut lines, &mut printed, 0..25).await;

    assert_eq!(printed, (0..25).collect());
    // Nothing more comes: no message printed twice after the reconnects.
    let extra = tokio::time::timeout(Duration::from_secs(1), lines.next_line()).await;
    assert!(extra.is_err(), "an extra line: {extra:?}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the follower is running"
    );

    // Every message printed was acknowledged: the inbox is empty.
    let config = net.net.config("ncb.ke").unwrap();
    let mut api = api_client_of(&config).await;
    eventually("the follower to acknowledge everything", || {
        let mut api = api.clone();
        async move { api_inbox_now(&mut api).await.is_empty().then_some(()) }
    })
    .await;
    assert!(api_inbox_now(&mut api).await.is_empty());

    // Ctrl-C ends it with exit 0.
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("the follower stops on Ctrl-C")
        .unwrap();
    assert_eq!(exit.code(), Some(0), "{exit}");

    ke.stop();
    fr.shutdown().await;
    gs.shutdown().await;
}

#[tokio::test]
async fn inbox_without_its_node_exits_3_and_follow_gives_up_only_when_told() {
    let net = TestNet::standard();
    let config = net.config_path("ncb.ke");
    let config = config.to_str().unwrap();

    let (code, _, stderr) = run_cli(bluehelm_bin!(), ["inbox", "--config", config]).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.starts_with("error: cannot reach the node"),
        "{stderr}"
    );

    let started = std::time::Instant::now();
    let (code, _, stderr) = run_cli(
        bluehelm_bin!(),
        [
            "inbox",
            "--follow",
            "--give-up-after",
            "1",
            "--config",
            config,
        ],
    )
    .await;
    assert_eq!(code, 3, "{stderr}");
    assert!(started.elapsed() >= Duration::from_secs(1), "{stderr}");
    assert!(stderr.contains("gave up after 1 s"), "{stderr}");
    // One warning for the loss, not one per retry.
    assert_eq!(stderr.matches("reconnecting").count(), 1, "{stderr}");

    // A follower waits for a node that is not there yet.
    let mut waiting = tokio::process::Command::new(bluehelm_bin!())
        .args(["inbox", "--follow", "--config", config])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "--follow gave up on its own"
    );

    // Bad input is not waited out: exit 1 at once.
    let (code, _, stderr) = run_cli(
        bluehelm_bin!(),
        ["inbox", "--follow", "--config", "/nonexistent/node.toml"],
    )
    .await;
    assert_eq!(code, 1, "{stderr}");
}
