//! Queues an operator can inspect (issue 15, item 4), over real nodes on loopback and the
//! real `bluehelm` binary: while ncb.ke is down, gs lists what waits for it in sending order
//! and shows one message; a purge of one precedence needs --yes without a terminal, gives
//! up only that precedence, reports each purged message to its origin and audits it; when
//! ncb.ke returns it gets only what was not purged, once.

use bluehelm::api::pb;
use bluehelm_tests::{
    api_client, api_failed_state, bluehelm_bin, eventually, id, inbox_at_least, linked, number_of,
    queues_empty, run_cli, TestNet,
};
use serde_json::Value;

/// Runs `bluehelm queue ARGS --config <node's>` at `node`; (exit code, stdout, stderr).
async fn queue(net: &TestNet, node: &str, args: &[&str]) -> (i32, String, String) {
    let config = net.config_path(node);
    let mut all: Vec<&str> = vec!["queue"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--config", config.to_str().expect("a UTF-8 path")]);
    run_cli(bluehelm_bin!(), all).await
}

/// The same with --json, which must succeed; its answer.
async fn queue_json(net: &TestNet, node: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out, err) = queue(net, node, &all).await;
    assert_eq!(code, 0, "queue {args:?} at {node}: {out}{err}");
    serde_json::from_str(&out).expect("JSON")
}

fn submit_text(n: usize, to: &str, precedence: pb::Precedence) -> pb::SubmitRequest {
    pb::SubmitRequest {
        destination: Some(pb::Destination {
            target: Some(pb::destination::Target::Node(to.into())),
        }),
        precedence: precedence as i32,
        ttl_seconds: 600,
        want_delivery_report: true,
        release_to: None,
        correlation_id: String::new(),
        body: Some(pb::submit_request::Body::Text(pb::TextMessage {
            subject_line: format!("test message {n}"),
            body: "x".repeat(200),
            attachments: vec![],
        })),
    }
}

fn message_ids(list: &Value) -> Vec<String> {
    list["copies"]
        .as_array()
        .map(|copies| {
            copies
                .iter()
                .filter_map(|c| c["message_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_lists_a_hops_queue_in_order_and_purges_one_precedence() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(&fr, "gs").await;
    linked(&ke, "gs").await;
    ke.shutdown().await;

    // Queued at gs for ncb.ke in this arrival order: ROUTINE 1, FLASH 2, ROUTINE 3,
    // PRIORITY 4.
    let mut api = api_client(&fr).await;
    let mut ids = Vec::new();
    for (n, precedence) in [
        (1, pb::Precedence::Routine),
        (2, pb::Precedence::Flash),
        (3, pb::Precedence::Routine),
        (4, pb::Precedence::Priority),
    ] {
        let id = api
            .submit(submit_text(n, "ncb.ke", precedence))
            .await
            .expect("submitted")
            .into_inner()
            .message_id;
        ids.push(id);
    }
    eventually("4 queued at gs for ncb.ke", || async {
        (gs.bureau().queue_depth(&id("ncb.ke")) == 4).then_some(())
    })
    .await;

    // In sending order: precedence, then arrival.
    let list = queue_json(&net, "gs", &["list", "--hop", "ncb.ke"]).await;
    assert_eq!(
        message_ids(&list),
        vec![
            ids[1].clone(),
            ids[3].clone(),
            ids[0].clone(),
            ids[2].clone()
        ],
        "{list}"
    );
    assert_eq!(list["total"].as_u64(), Some(4), "{list}");
    assert_eq!(list["copies"][0]["origin"].as_str(), Some("ncb.fr"));
    assert_eq!(
        list["copies"][0]["destination"].as_str(),
        Some("node:ncb.ke")
    );
    assert_eq!(list["copies"][0]["kind"].as_str(), Some("text"));
    // A page of one: the total still counts them all.
    let page = queue_json(&net, "gs", &["list", "--hop", "ncb.ke", "--limit", "1"]).await;
    assert_eq!(message_ids(&page), vec![ids[1].clone()], "{page}");
    assert_eq!(page["total"].as_u64(), Some(4), "{page}");
    let routine = queue_json(
        &net,
        "gs",
        &["list", "--hop", "ncb.ke", "--precedence", "routine"],
    )
    .await;
    assert_eq!(
        message_ids(&routine),
        vec![ids[0].clone(), ids[2].clone()],
        "{routine}"
    );
    assert_eq!(routine["total"].as_u64(), Some(2), "{routine}");
    // Every hop's depth per precedence.
    let summary = queue_json(&net, "gs", &["list"]).await;
    let ke_depth = summary["hops"]
        .as_array()
        .and_then(|hops| hops.iter().find(|h| h["hop"] == "ncb.ke"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(ke_depth["flash"].as_u64(), Some(1), "{summary}");
    assert_eq!(ke_depth["priority"].as_u64(), Some(1), "{summary}");
    assert_eq!(ke_depth["routine"].as_u64(), Some(2), "{summary}");
    // One message's headers, in words.
    let (code, out, err) = queue(&net, "gs", &["show", "--hop", "ncb.ke", &ids[3]]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("subject:     test message 4"), "{out}");
    assert!(out.contains("precedence:  priority"), "{out}");
    assert!(!out.contains("xxxx"), "never the body: {out}");
    let (code, _, err) = queue(&net, "gs", &["show", "--hop", "ncb.fr", &ids[3]]).await;
    assert_ne!(code, 0, "not queued for ncb.fr");
    assert!(err.contains("no copy"), "{err}");

    // Without a terminal and without --yes, nothing is purged.
    let (code, out, err) = queue(
        &net,
        "gs",
        &["purge", "--hop", "ncb.ke", "--precedence", "routine"],
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(gs.bureau().queue_depth(&id("ncb.ke")), 4);

    let purged = queue_json(
        &net,
        "gs",
        &[
            "purge",
            "--hop",
            "ncb.ke",
            "--precedence",
            "routine",
            "--yes",
        ],
    )
    .await;
    assert_eq!(purged["purged"].as_u64(), Some(2), "{purged}");
    assert_eq!(purged["reports"].as_u64(), Some(2), "{purged}");
    assert_eq!(gs.bureau().queue_depth(&id("ncb.ke")), 2);

    // Each origin learns why, from gs.
    for id in [&ids[0], &ids[2]] {
        let state = api_failed_state(&mut api, id).await;
        assert_eq!(state.failure_reason, pb::NonDeliveryReason::Refused as i32);
        assert_eq!(state.failure_detail, "purged by the operator at gs");
        assert_eq!(state.reported_by, "gs");
        assert_eq!(state.failure_signed_by, "gs");
    }
    // And gs's audit log says so, once its writer thread has caught up (it writes after the
    // commit, on its own thread: under load, later than the reports arrive at ncb.fr).
    let path = net.dir().join("data").join("gs").join("audit.log");
    eventually("gs's audit log to record both purges", || async {
        let log = std::fs::read_to_string(&path).expect("gs keeps an audit log");
        [&ids[0], &ids[2]]
            .iter()
            .all(|id| {
                log.lines()
                    .any(|l| l.contains("\"event\":\"purged\"") && l.contains(id.as_str()))
            })
            .then_some(())
    })
    .await;

    // ncb.ke returns and gets FLASH 2 and PRIORITY 4, once each.
    let ke = net.start("ncb.ke").await;
    inbox_at_least(&ke, 2).await;
    queues_empty(&[&gs, &fr]).await;
    let mut numbers: Vec<usize> = ke
        .bureau()
        .inbox(None, 1_000)
        .await
        .expect("inbox")
        .iter()
        .filter_map(number_of)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, vec![2, 4]);
    for node in [ke, fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_may_not_list_show_or_purge_queues() {
    let (net, address) = bluehelm_tests::net_with_terminal(bluehelm::localnet::standard_specs());
    let post = net.start("mission.unmiss").await;
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
    let list = terminal
        .queue_list(pb::QueueListRequest {
            hop: "gs".into(),
            precedence: 0,
            limit: 0,
        })
        .await
        .expect_err("refused");
    assert_eq!(list.code(), tonic::Code::PermissionDenied, "{list}");
    let show = terminal
        .queue_show(pb::QueueShowRequest {
            hop: "gs".into(),
            message_id: String::new(),
        })
        .await
        .expect_err("refused");
    assert_eq!(show.code(), tonic::Code::PermissionDenied, "{show}");
    // Something queued for gs (down), which the terminal must not purge.
    post.bureau()
        .submit(vec![bluehelm_tests::text(
            1,
            "ncb.ke",
            bluehelm_proto::Precedence::Routine,
        )])
        .await
        .expect("submitted");
    let purge = terminal
        .queue_purge(pb::QueuePurgeRequest {
            hop: "gs".into(),
            precedence: 0,
        })
        .await
        .expect_err("refused");
    assert_eq!(purge.code(), tonic::Code::PermissionDenied, "{purge}");
    assert_eq!(post.bureau().queue_depth(&id("gs")), 1, "nothing purged");
    post.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_larger_than_one_batch_gives_every_copy_up_once() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&fr, "gs").await;
    // ncb.ke never comes up: 600 copies (more than two purge batches) wait at gs.
    const N: usize = 600;
    for chunk in (0..N).collect::<Vec<_>>().chunks(100) {
        let batch = chunk
            .iter()
            .map(|n| bluehelm_tests::text(*n, "ncb.ke", bluehelm_proto::Precedence::Routine))
            .collect();
        fr.bureau().submit(batch).await.expect("submitted");
    }
    eventually("all queued at gs for ncb.ke", || async {
        (gs.bureau().queue_depth(&id("ncb.ke")) == N).then_some(())
    })
    .await;
    let purged = queue_json(&net, "gs", &["purge", "--hop", "ncb.ke", "--yes"]).await;
    assert_eq!(purged["purged"].as_u64(), Some(N as u64), "{purged}");
    assert_eq!(purged["reports"].as_u64(), Some(N as u64), "{purged}");
    assert_eq!(gs.bureau().queue_depth(&id("ncb.ke")), 0);
    // A second purge finds nothing: each copy was given up once.
    let again = queue_json(&net, "gs", &["purge", "--hop", "ncb.ke", "--yes"]).await;
    assert_eq!(again["purged"].as_u64(), Some(0), "{again}");
    // Every report reaches the origin.
    inbox_at_least(&fr, N).await;
    for node in [fr, gs] {
        node.shutdown().await;
    }
}

/// Runs `bluehelm ARGS` on a pseudo-terminal (util-linux `script`), typing `answer`;
/// (exit code, what the terminal showed).
async fn on_a_terminal(args: &[&str], answer: &str) -> (i32, String) {
    use tokio::io::AsyncWriteExt;
    let command = std::iter::once(bluehelm_bin!().to_str().expect("a UTF-8 path"))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script runs");
    let mut stdin = child.stdin.take().expect("stdin");
    // After the question is up: typed earlier, the terminal would echo it before it.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    stdin
        .write_all(format!("{answer}\n").as_bytes())
        .await
        .expect("typed");
    drop(stdin);
    let out = child.wait_with_output().await.expect("script ends");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_on_a_terminal_asks_for_the_hop_id() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&fr, "gs").await;
    let batch = (0..3)
        .map(|n| bluehelm_tests::text(n, "ncb.ke", bluehelm_proto::Precedence::Routine))
        .collect();
    fr.bureau().submit(batch).await.expect("submitted");
    eventually("3 queued at gs for ncb.ke", || async {
        (gs.bureau().queue_depth(&id("ncb.ke")) == 3).then_some(())
    })
    .await;
    let config = net.config_path("gs");
    let config = config.to_str().expect("a UTF-8 path");
    let purge = ["queue", "purge", "--hop", "ncb.ke", "--config", config];

    let (code, shown) = on_a_terminal(&purge, "ncb.fr").await;
    assert!(
        shown.contains("purge 3 messages queued for ncb.ke? type the hop id to confirm"),
        "{shown}"
    );
    assert_eq!(code, 1, "{shown}");
    assert_eq!(
        gs.bureau().queue_depth(&id("ncb.ke")),
        3,
        "a wrong answer purges nothing"
    );

    let (code, shown) = on_a_terminal(&purge, "ncb.ke").await;
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains("purged 3 message(s) queued for ncb.ke"),
        "{shown}"
    );
    assert_eq!(gs.bureau().queue_depth(&id("ncb.ke")), 0);
    for node in [fr, gs] {
        node.shutdown().await;
    }
}
