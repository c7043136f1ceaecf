//! Quarantine for an overrun post (issue 14, item 3), over real nodes on loopback and the
//! real `bluehelm` binary: gs quarantines a post, holds what it has queued from it and warns
//! its neighbours; a node acting on the warning holds what its inbox has from the post; new
//! arrivals are held too; rules and held copies survive a restart; a released copy is
//! delivered once, a dropped one never; each step leaves its audit entry.

use std::path::PathBuf;
use std::time::Duration;

use bluehelm::custody::now_ms;
use bluehelm::human_time::utc_from_ms;
use bluehelm::Node;
use bluehelm_proto::Precedence;
use bluehelm_tests::{bluehelm_bin, eventually, inbox_at_least, linked, number_of, run_cli, text};
use bluehelm_tests::{NodeProcess, TestNet};
use serde_json::Value;

const POST: &str = "mission.unmiss";

async fn cli(net: &TestNet, node: &str, args: &[&str]) -> Value {
    let config = net.config_path(node);
    let mut all: Vec<&str> = vec!["quarantine"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--config", config.to_str().expect("a UTF-8 path"), "--json"]);
    let (code, out, err) = run_cli(bluehelm_bin!(), all).await;
    assert_eq!(code, 0, "quarantine {args:?} at {node}: {out}{err}");
    serde_json::from_str(&out).expect("JSON")
}

async fn list(net: &TestNet, node: &str) -> Value {
    cli(net, node, &["list"]).await
}

/// The held copies' (number in quarantine, message id).
fn held(list: &Value) -> Vec<(u64, String)> {
    list["held"]
        .as_array()
        .map(|held| {
            held.iter()
                .map(|c| {
                    (
                        c["id"].as_u64().unwrap_or_default(),
                        c["message_id"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn held_ids(list: &Value) -> Vec<String> {
    held(list).into_iter().map(|(_, id)| id).collect()
}

/// Waits until `node` holds message `id` in quarantine.
async fn until_held(net: &TestNet, node: &str, id: &str) {
    eventually(&format!("{id} held at {node}"), || async {
        held_ids(&list(net, node).await)
            .iter()
            .any(|m| m == id)
            .then_some(())
    })
    .await
}

async fn send(post: &Node, n: usize) -> String {
    post.bureau()
        .submit(vec![text(n, "ncb.ke", Precedence::Routine)])
        .await
        .expect("submitted")[0]
        .to_string()
}

fn audit_log(net: &TestNet, node: &str) -> PathBuf {
    net.dir().join("data").join(node).join("audit.log")
}

/// Waits until `node`'s audit log has an entry of `event` about message `id`.
async fn audited(net: &TestNet, node: &str, event: &str, id: &str) {
    let path = audit_log(net, node);
    let needle = format!("\"event\":\"{event}\"");
    eventually(&format!("{node} audits {event} of {id}"), || {
        let path = path.clone();
        let needle = needle.clone();
        async move {
            let log = std::fs::read_to_string(&path).ok()?;
            log.lines()
                .any(|l| l.contains(&needle) && l.contains(id))
                .then_some(())
        }
    })
    .await
}

/// The numbers of the test messages in `node`'s inbox.
async fn inbox_numbers(node: &Node) -> Vec<usize> {
    let inbox = node.bureau().inbox(None, 1_000).await.expect("inbox");
    inbox.iter().filter_map(number_of).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_quarantined_at_gs_is_held_everywhere_then_released_once_or_dropped() {
    let net = TestNet::standard();
    // Second precision: the rule starts at or before this, so every message below is caught.
    let since = utc_from_ms(now_ms());
    let gs = net.start("gs").await;
    let ke = net.start("ncb.ke").await;
    let post = net.start(POST).await;
    linked(&ke, "gs").await;
    linked(&post, "gs").await;

    // 1 is read (acknowledged) at ke before anyone knows; 2 and 3 wait in ke's inbox.
    let m1 = send(&post, 1).await;
    let inbox = inbox_at_least(&ke, 1).await;
    ke.bureau().ack_inbox(&[inbox[0].seq]).await.expect("ack");
    let m2 = send(&post, 2).await;
    let m3 = send(&post, 3).await;
    inbox_at_least(&ke, 2).await;
    // ke goes offline; 4 waits at gs in ke's queue.
    ke.shutdown().await;
    let m4 = send(&post, 4).await;
    eventually("4 queued at gs for ncb.ke", || async {
        (gs.bureau().queue_depth(&"ncb.ke".parse().expect("id")) >= 1).then_some(())
    })
    .await;

    // The operator at gs: the post is compromised since `since`.
    let added = cli(
        &net,
        "gs",
        &["add", "--node", POST, "--since", since.as_str()],
    )
    .await;
    assert_eq!(added["held"].as_u64(), Some(1), "{added}");
    let warned: Vec<&str> = added["warned"]
        .as_array()
        .expect("warned")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        warned.contains(&"ncb.ke") && !warned.contains(&POST),
        "{added}"
    );
    assert_eq!(held_ids(&list(&net, "gs").await), vec![m4.clone()]);
    audited(&net, "gs", "quarantined", &m4).await;

    // A new arrival from the post at gs is held on arrival.
    let m5 = send(&post, 5).await;
    until_held(&net, "gs", &m5).await;
    audited(&net, "gs", "quarantined", &m5).await;

    // gs restarts: its rule and what it holds are still there.
    gs.shutdown().await;
    let gs = net.start("gs").await;
    let at_gs = list(&net, "gs").await;
    assert_eq!(at_gs["rules"][0]["node"], POST, "{at_gs}");
    assert_eq!(held_ids(&at_gs).len(), 2, "{at_gs}");

    // ke returns, gets the hub's signed warning, and holds 2 and 3 from its inbox.
    let ke = net.start("ncb.ke").await;
    linked(&ke, "gs").await;
    let at_ke = eventually("ke holds 2 and 3", || async {
        let at_ke = list(&net, "ncb.ke").await;
        let ids = held_ids(&at_ke);
        (ids.contains(&m2) && ids.contains(&m3)).then_some(at_ke)
    })
    .await;
    assert!(
        inbox_numbers(&ke).await.is_empty(),
        "nothing from the post is delivered"
    );
    let read: Vec<&str> = at_ke["already_read"]
        .as_array()
        .expect("already_read")
        .iter()
        .filter_map(|r| r["message_id"].as_str())
        .collect();
    assert_eq!(read, vec![m1.as_str()], "1 was read already: {at_ke}");
    // The applications at ke see the same: 1, read before anyone knew, is suspect.
    let config = net.config_path("ncb.ke");
    let (code, out, err) = run_cli(
        bluehelm_bin!(),
        [
            "inbox",
            "--suspect",
            "--json",
            "--config",
            config.to_str().expect("UTF-8"),
        ],
    )
    .await;
    assert_eq!(code, 0, "inbox --suspect: {out}{err}");
    let suspect: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(suspect["rules"][0]["node"], POST, "{suspect}");
    assert_eq!(
        suspect["already_read"][0]["message_id"],
        m1.as_str(),
        "{suspect}"
    );
    assert_eq!(
        suspect["already_read"].as_array().map(Vec::len),
        Some(1),
        "{suspect}"
    );
    audited(&net, "ncb.ke", "quarantined", &m2).await;
    audited(&net, "ncb.ke", "quarantined", &m3).await;

    // ke restarts: the rule it learnt and its held copies survive.
    ke.shutdown().await;
    let ke = net.start("ncb.ke").await;
    linked(&ke, "gs").await;
    let at_ke = list(&net, "ncb.ke").await;
    assert_eq!(at_ke["rules"][0]["node"], POST, "{at_ke}");
    let held_at_ke = held(&at_ke);
    let number = |id: &str| {
        held_at_ke
            .iter()
            .find(|(_, m)| m == id)
            .map(|(n, _)| n.to_string())
            .expect("held at ke")
    };
    let (n2, n3) = (number(&m2), number(&m3));

    // Release 2 (delivered once), drop 3 (never delivered).
    let released = cli(&net, "ncb.ke", &["release", n2.as_str()]).await;
    assert_eq!(released["message_id"], m2.as_str(), "{released}");
    let dropped = cli(&net, "ncb.ke", &["drop", n3.as_str()]).await;
    assert_eq!(dropped["message_id"], m3.as_str(), "{dropped}");
    let config = net.config_path("ncb.ke");
    let (code, _, err) = run_cli(
        bluehelm_bin!(),
        [
            "quarantine",
            "release",
            n3.as_str(),
            "--config",
            config.to_str().expect("UTF-8"),
        ],
    )
    .await;
    assert_ne!(code, 0, "a dropped copy cannot be released: {err}");
    eventually("2 delivered at ke", || async {
        inbox_numbers(&ke).await.contains(&2).then_some(())
    })
    .await;
    audited(&net, "ncb.ke", "released", &m2).await;
    audited(&net, "ncb.ke", "dropped", &m3).await;

    // gs releases 4: it reaches ke, where the rule holds it on arrival.
    let n4 = held(&list(&net, "gs").await)
        .into_iter()
        .find(|(_, m)| *m == m4)
        .map(|(n, _)| n.to_string())
        .expect("4 held at gs");
    cli(&net, "gs", &["release", n4.as_str()]).await;
    until_held(&net, "ncb.ke", &m4).await;
    audited(&net, "gs", "released", &m4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(inbox_numbers(&ke).await, vec![2], "2 once; 3, 4, 5 never");

    for node in [post, ke, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_copies_and_the_rule_survive_kill_9_of_a_real_gs_process() {
    let net = TestNet::standard();
    let since = utc_from_ms(now_ms());
    let gs = NodeProcess::start(bluehelm_bin!(), &net.config_path("gs"));
    let post = net.start(POST).await;
    linked(&post, "gs").await;
    // ncb.ke is down: both wait at gs.
    let m1 = send(&post, 1).await;
    let m2 = send(&post, 2).await;
    let added = eventually("both queued at gs, then held", || async {
        let added = cli(
            &net,
            "gs",
            &["add", "--node", POST, "--since", since.as_str()],
        )
        .await;
        (held_ids(&list(&net, "gs").await).len() == 2).then_some(added)
    })
    .await;
    assert!(added["held"].as_u64().is_some(), "{added}");
    gs.kill9();

    let gs = NodeProcess::start(bluehelm_bin!(), &net.config_path("gs"));
    let at_gs = list(&net, "gs").await;
    assert_eq!(at_gs["rules"][0]["node"], POST, "{at_gs}");
    let mut ids = held_ids(&at_gs);
    ids.sort();
    let mut sent = vec![m1, m2];
    sent.sort();
    assert_eq!(ids, sent, "held across kill -9");
    // The rule is in force again: a new arrival is held, not queued for ncb.ke.
    linked(&post, "gs").await;
    let m3 = send(&post, 3).await;
    until_held(&net, "gs", &m3).await;
    post.shutdown().await;
    gs.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_may_not_quarantine_release_or_list_but_sees_what_is_suspect() {
    use bluehelm::api::pb;
    let (net, address) = bluehelm_tests::net_with_terminal(bluehelm::localnet::standard_specs());
    let post = net.start(POST).await;
    let pki = net.net.pki_dir();
    let creds = bluehelm_pki::NodeCredentials::load(
        &pki.join("term1.unmiss.pem"),
        &pki.join("term1.unmiss.key"),
    )
    .expect("the terminal's credentials");
    let mut terminal =
        bluehelm::api::client::connect_terminal(&address.to_string(), &creds, &net.trust())
            .await
            .expect("the terminal connects");
    // The terminal is served otherwise.
    terminal
        .status(pb::StatusRequest {})
        .await
        .expect("status is served");
    let add = terminal
        .quarantine_add(pb::QuarantineRule {
            node: "ncb.ke".into(),
            since_ms: 0,
        })
        .await
        .expect_err("refused");
    assert_eq!(add.code(), tonic::Code::PermissionDenied, "{add}");
    let list = terminal
        .quarantine_list(pb::QuarantineListRequest {})
        .await
        .expect_err("refused");
    assert_eq!(list.code(), tonic::Code::PermissionDenied, "{list}");
    let release = terminal
        .quarantine_release(pb::QuarantineId { id: 1 })
        .await
        .expect_err("refused");
    assert_eq!(release.code(), tonic::Code::PermissionDenied, "{release}");
    assert!(
        post.bureau().quarantine_rules().is_empty(),
        "no rule was kept"
    );
    // What an application must know is open to it: which messages read are suspect.
    let suspect = terminal
        .list_suspect(pb::ListSuspectRequest {})
        .await
        .expect("ListSuspect is served to a terminal")
        .into_inner();
    assert!(suspect.rules.is_empty() && suspect.already_read.is_empty());
    post.shutdown().await;
}
