//! The local API (issue 4) end to end: real nodes over QUIC on loopback, gRPC on each node's
//! real Unix socket, and the real `bluehelm` binary for the CLI.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

use bluehelm::api::pb::{self, bureau_client::BureauClient};
use bluehelm::Node;
use bluehelm_tests::{
    api_client, api_inbox_now as inbox_now, api_submit as submit, bluehelm_bin, eventually, id,
    linked, run_cli as cli, TestNet,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Code;

type Client = BureauClient<Channel>;

fn node_dest(node: &str) -> Option<pb::Destination> {
    Some(pb::Destination {
        target: Some(pb::destination::Target::Node(node.into())),
    })
}

fn text_request(to: &str, n: usize, report: bool) -> pb::SubmitRequest {
    pb::SubmitRequest {
        destination: node_dest(to),
        precedence: pb::Precedence::Routine as i32,
        ttl_seconds: 600,
        want_delivery_report: report,
        release_to: None,
        correlation_id: String::new(),
        body: Some(pb::submit_request::Body::Text(pb::TextMessage {
            subject_line: format!("api message {n}"),
            body: "hello".into(),
            attachments: vec![],
        })),
    }
}

fn subject_of(m: &pb::InboxMessage) -> Option<&str> {
    match &m.body {
        Some(pb::inbox_message::Body::Text(t)) => Some(&t.subject_line),
        _ => None,
    }
}

async fn state(client: &mut Client, id: &str) -> pb::DeliveryStateResponse {
    client
        .delivery_state(pb::DeliveryStateRequest {
            message_id: id.into(),
        })
        .await
        .expect("delivery_state")
        .into_inner()
}

async fn wait_state(
    client: &mut Client,
    id: &str,
    want: pb::DeliveryStatus,
) -> pb::DeliveryStateResponse {
    let mut last = None;
    let deadline = tokio::time::Instant::now() + bluehelm_tests::PATIENCE;
    while tokio::time::Instant::now() < deadline {
        let s = state(client, id).await;
        if s.status == want as i32 {
            return s;
        }
        last = Some(s);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} never reached {want:?}; last {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_returns_the_id_and_refuses_invalid_messages_by_field() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    let mut api = api_client(&fr).await;

    let id = submit(&mut api, text_request("ncb.ke", 1, false)).await;
    assert_eq!(id.len(), 32);
    // Durable at the origin when Submit returned: the dedup entry exists.
    let inbox = bluehelm_tests::inbox_at_least(&ke, 1).await;
    assert_eq!(inbox[0].envelope.message_id.to_string(), id);
    assert_eq!(inbox[0].envelope.origin, id_of("ncb.fr"));

    let mut bad = text_request("ncb.ke", 2, false);
    bad.precedence = 0;
    let err = api.submit(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("precedence"), "{}", err.message());

    let mut bad = text_request("NCB!", 3, false);
    bad.ttl_seconds = 10;
    let err = api.submit(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("destination"), "{}", err.message());

    for node in [ke, fr, gs] {
        node.shutdown().await;
    }
}

fn id_of(s: &str) -> bluehelm_proto::NodeId {
    id(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_inbox_streams_new_messages_and_ack_removes_them_once() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    let mut sender = api_client(&fr).await;
    let mut receiver = api_client(&ke).await;

    let mut stream = receiver
        .follow_inbox(pb::FollowInboxRequest {
            after_seq: 0,
            follow: true,
        })
        .await
        .unwrap()
        .into_inner();
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(submit(&mut sender, text_request("ncb.ke", n, false)).await);
    }
    let mut got = Vec::new();
    while got.len() < 3 {
        let m = tokio::time::timeout(bluehelm_tests::PATIENCE, stream.message())
            .await
            .expect("messages arrive on the stream")
            .unwrap()
            .expect("stream open");
        got.push(m);
    }
    assert_eq!(
        got.iter().map(|m| m.message_id.clone()).collect::<Vec<_>>(),
        ids
    );
    assert_eq!(subject_of(&got[0]), Some("api message 0"));
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(got[0]
        .signed
        .as_ref()
        .is_some_and(|s| !s.signature.is_empty()));

    let first = got[0].seq;
    let removed = receiver
        .ack(pb::AckRequest { seqs: vec![first] })
        .await
        .unwrap()
        .into_inner()
        .removed;
    assert_eq!(removed, 1);
    // Twice is harmless.
    let again = receiver
        .ack(pb::AckRequest { seqs: vec![first] })
        .await
        .unwrap()
        .into_inner()
        .removed;
    assert_eq!(again, 0);
    let left: Vec<String> = inbox_now(&mut receiver)
        .await
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    assert_eq!(left, ids[1..].to_vec());

    drop(stream);
    for node in [ke, fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_messages_are_offered_again_after_a_restart() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    let mut sender = api_client(&fr).await;
    for n in 0..5 {
        submit(&mut sender, text_request("ncb.ke", n, false)).await;
    }
    bluehelm_tests::inbox_at_least(&ke, 5).await;
    let mut receiver = api_client(&ke).await;
    let before = inbox_now(&mut receiver).await;
    assert_eq!(before.len(), 5);
    // Acknowledge two; the other three were seen but not acknowledged.
    receiver
        .ack(pb::AckRequest {
            seqs: vec![before[0].seq, before[1].seq],
        })
        .await
        .unwrap();
    drop(receiver);
    ke.shutdown().await;

    let ke = net.start("ncb.ke").await;
    let mut receiver = api_client(&ke).await;
    let after = inbox_now(&mut receiver).await;
    let ids = |v: &[pb::InboxMessage]| v.iter().map(|m| m.message_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&after), ids(&before[2..]));
    assert_eq!(after[0].seq, before[2].seq);

    for node in [ke, fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_state_goes_held_forwarded_delivered_and_failed() {
    let net = TestNet::standard();
    // The hub is offline: the message waits at the origin.
    let fr = net.start("ncb.fr").await;
    let mut api = api_client(&fr).await;
    let id = submit(&mut api, text_request("mission.unmiss", 1, true)).await;
    let held = state(&mut api, &id).await;
    assert_eq!(held.status, pb::DeliveryStatus::Held as i32, "{held:?}");
    assert_eq!(held.held_for, vec!["gs".to_string()]);

    let gs = net.start("gs").await;
    wait_state(&mut api, &id, pb::DeliveryStatus::Forwarded).await;
    let mission = net.start("mission.unmiss").await;
    let delivered = wait_state(&mut api, &id, pb::DeliveryStatus::Delivered).await;
    assert_eq!(delivered.delivered_to, vec!["mission.unmiss".to_string()]);

    // The report is acknowledged away: the state is remembered, after a restart too.
    let reports: Vec<u64> = inbox_now(&mut api).await.iter().map(|m| m.seq).collect();
    api.ack(pb::AckRequest { seqs: reports }).await.unwrap();
    drop(api);
    fr.shutdown().await;
    let fr = net.start("ncb.fr").await;
    let mut api = api_client(&fr).await;
    let after = state(&mut api, &id).await;
    assert_eq!(after.status, pb::DeliveryStatus::Delivered as i32);

    // No node knows ncb.zz: the hub sends a non-delivery report.
    linked(&gs, "ncb.fr").await;
    let lost = submit(&mut api, text_request("ncb.zz", 2, true)).await;
    let failed = wait_state(&mut api, &lost, pb::DeliveryStatus::Failed).await;
    assert_eq!(failed.failure_reason, pb::NonDeliveryReason::NoRoute as i32);
    // The hub refuses it, and the origin's link gives up on it.
    assert!(!failed.reported_by.is_empty());

    let unknown = bluehelm_proto::MessageId::generate(1).to_string();
    assert_eq!(
        state(&mut api, &unknown).await.status,
        pb::DeliveryStatus::Unknown as i32
    );
    let err = api
        .delivery_state(pb::DeliveryStateRequest {
            message_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    for node in [mission, fr, gs] {
        node.shutdown().await;
    }
}

/// A host application for `service` on `node`: answers each request with
/// `answer = <n>` (1, 2, ...) and reports each request it saw.
async fn host_service(
    node: &Node,
    service: &str,
) -> (
    mpsc::UnboundedReceiver<pb::IncomingRequest>,
    tokio::task::JoinHandle<()>,
) {
    let mut client = api_client(node).await;
    let (tx, rx) = mpsc::channel(16);
    tx.send(pb::ServeMessage {
        kind: Some(pb::serve_message::Kind::Serve(service.into())),
    })
    .await
    .unwrap();
    let mut incoming = client
        .serve_requests(ReceiverStream::new(rx))
        .await
        .expect("serve_requests")
        .into_inner();
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut n = 0;
        while let Ok(Some(request)) = incoming.message().await {
            n += 1;
            let answer = pb::Answer {
                request_id: request.request_id.clone(),
                status: pb::ResponseStatus::Hit as i32,
                fields: BTreeMap::from([("answer".to_string(), n.to_string())]),
                detail: String::new(),
            };
            let _ = seen_tx.send(request);
            if tx
                .send(pb::ServeMessage {
                    kind: Some(pb::serve_message::Kind::Answer(answer)),
                })
                .await
                .is_err()
            {
                return;
            }
        }
    });
    (seen_rx, task)
}

fn sltd(timeout: u32, ttl: u32) -> pb::ServiceCall {
    pb::ServiceCall {
        service: "sltd.check".into(),
        params: BTreeMap::from([
            ("document_number".to_string(), "X1234567".to_string()),
            ("issuing_country".to_string(), "FR".to_string()),
        ]),
        timeout_seconds: timeout,
        ttl_seconds: ttl,
        precedence: 0,
        purpose: String::new(),
        local_only: false,
        attachment: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_gets_the_answer_of_the_hosting_node() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let mission = net.start("mission.unmiss").await;
    linked(&gs, "mission.unmiss").await;
    let (mut seen, host) = host_service(&gs, "sltd.check").await;

    let mut api = api_client(&mission).await;
    let answer = api.request(sltd(20, 0)).await.unwrap().into_inner();
    assert_eq!(answer.responder, "gs");
    let response = answer.response.unwrap();
    assert_eq!(response.status, pb::ResponseStatus::Hit as i32);
    assert_eq!(response.fields["answer"], "1");
    let request = seen.recv().await.unwrap();
    assert_eq!(request.request_id, answer.request_id);
    assert_eq!(request.origin, "mission.unmiss");
    assert_eq!(
        request.request.unwrap().params["document_number"],
        "X1234567"
    );
    // The response was consumed by the call: it is not left in the inbox.
    assert!(inbox_now(&mut api).await.is_empty());

    // A service nobody hosts: the hub's non-delivery report ends the call at once.
    let mut unknown = sltd(20, 0);
    unknown.service = "smv.check".into();
    let err = api.request(unknown).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{}", err.message());
    assert!(err.message().contains("smv.check"), "{}", err.message());

    host.abort();
    for node in [mission, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_times_out_while_the_host_is_offline_and_the_late_answer_is_dropped() {
    let net = TestNet::standard();
    let fr = net.start("ncb.fr").await;
    let mut api = api_client(&fr).await;

    // gs, which hosts sltd.check, is offline.
    let started = std::time::Instant::now();
    let err = api.request(sltd(1, 600)).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{}", err.message());
    assert!(started.elapsed() < Duration::from_secs(5));

    // The host comes back and answers the old request (answer 1): too late.
    let gs = net.start("gs").await;
    let (mut seen, host) = host_service(&gs, "sltd.check").await;
    let first = tokio::time::timeout(bluehelm_tests::PATIENCE, seen.recv())
        .await
        .unwrap()
        .unwrap();

    // A new request gets its own answer (2), never the late one.
    let answer = api.request(sltd(20, 0)).await.unwrap().into_inner();
    assert_ne!(answer.request_id, first.request_id);
    assert_eq!(answer.response.unwrap().fields["answer"], "2");
    // The late response is not in the inbox either.
    let left = inbox_now(&mut api).await;
    assert!(
        left.iter()
            .all(|m| !matches!(m.body, Some(pb::inbox_message::Body::Response(_)))),
        "{left:?}"
    );

    host.abort();
    for node in [fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_requests_offers_an_unanswered_request_again_and_checks_the_service() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&gs, "ncb.fr").await;

    // A host that takes a request and goes away without answering.
    let mut quitter = api_client(&gs).await;
    let (tx, rx) = mpsc::channel(4);
    tx.send(pb::ServeMessage {
        kind: Some(pb::serve_message::Kind::Serve("sltd.check".into())),
    })
    .await
    .unwrap();
    let mut incoming = quitter
        .serve_requests(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();

    // Only one application serves a service at a time.
    let mut second = api_client(&gs).await;
    let err = second
        .serve_requests(tokio_stream::iter(vec![pb::ServeMessage {
            kind: Some(pb::serve_message::Kind::Serve("sltd.check".into())),
        }]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    // A node serves only services its config says it hosts.
    let mut on_fr = api_client(&fr).await;
    let err = on_fr
        .serve_requests(tokio_stream::iter(vec![pb::ServeMessage {
            kind: Some(pb::serve_message::Kind::Serve("sltd.check".into())),
        }]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    let mut requester = api_client(&fr).await;
    let call = tokio::spawn(async move { requester.request(sltd(25, 0)).await });
    let offered = tokio::time::timeout(bluehelm_tests::PATIENCE, incoming.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    drop(incoming);
    drop(tx);
    drop(quitter);

    // The next host gets the same request and answers it.
    let host = eventually("the service to be free again", || async {
        let mut client = api_client(&gs).await;
        let (tx, rx) = mpsc::channel(4);
        tx.send(pb::ServeMessage {
            kind: Some(pb::serve_message::Kind::Serve("sltd.check".into())),
        })
        .await
        .ok()?;
        let stream = client.serve_requests(ReceiverStream::new(rx)).await.ok()?;
        Some((client, tx, stream.into_inner()))
    })
    .await;
    let (_client, tx, mut incoming) = host;
    let again = incoming.message().await.unwrap().unwrap();
    assert_eq!(again.request_id, offered.request_id);
    tx.send(pb::ServeMessage {
        kind: Some(pb::serve_message::Kind::Answer(pb::Answer {
            request_id: again.request_id.clone(),
            status: pb::ResponseStatus::NoHit as i32,
            fields: BTreeMap::new(),
            detail: "no record".into(),
        })),
    })
    .await
    .unwrap();
    let answer = call.await.unwrap().unwrap().into_inner();
    assert_eq!(answer.request_id, offered.request_id);
    assert_eq!(
        answer.response.unwrap().status,
        pb::ResponseStatus::NoHit as i32
    );

    drop(tx);
    for node in [fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_links_queues_and_inbox() {
    let net = TestNet::standard();
    let fr = net.start("ncb.fr").await;
    let mut api = api_client(&fr).await;
    for n in 0..3 {
        submit(&mut api, text_request("ncb.ke", n, false)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let status = api.status(pb::StatusRequest {}).await.unwrap().into_inner();
    assert_eq!(status.node_id, "ncb.fr");
    let link = status.links.iter().find(|l| l.peer == "gs").unwrap();
    assert!(!link.connected && link.configured);
    let queue = status.queues.iter().find(|q| q.next_hop == "gs").unwrap();
    assert_eq!(queue.depth, 3);
    assert!(queue.oldest_age_ms >= 10, "{queue:?}");
    assert_eq!(status.inbox_size, 0);
    assert_eq!(status.counters["accepted"], 3);

    let gs = net.start("gs").await;
    linked(&fr, "gs").await;
    eventually("the queue to drain", || async {
        let status = api
            .clone()
            .status(pb::StatusRequest {})
            .await
            .ok()?
            .into_inner();
        let up = status.links.iter().any(|l| l.peer == "gs" && l.connected);
        (up && status.queues.is_empty()).then_some(())
    })
    .await;

    for node in [fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_socket_is_group_only_and_never_replaces_a_file() {
    let net = TestNet::standard();
    let config = net.net.config("ncb.fr").unwrap();
    let path = config.api_socket.clone();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();

    // Something that is not a socket is in the way: refuse, and leave it.
    std::fs::write(&path, b"not a socket").unwrap();
    let err = match Node::start(config.clone()).await {
        Ok(_) => panic!("started over a regular file"),
        Err(err) => err,
    };
    // Each error says only its own part (issue 10): the cause is further down the chain.
    let err = format!("{:#}", anyhow::Error::from(err));
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
    std::fs::remove_file(&path).unwrap();

    // A stale socket (nobody listening) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let fr = Node::start(config.clone())
        .await
        .expect("starts over a stale socket");
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    api_client(&fr)
        .await
        .status(pb::StatusRequest {})
        .await
        .unwrap();
    fr.shutdown().await;
    assert!(!path.exists(), "socket removed on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_input_errors_are_one_line_with_an_exit_code_each() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let socket = gs.bureau().config().api_socket.display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let bad_json = dir.path().join("bad.json");
    std::fs::write(&bad_json, "{\"to\": \"ncb.fr\", \"notice\": {").unwrap();
    let bad_json = bad_json.display().to_string();
    let no_body = dir.path().join("nobody.json");
    std::fs::write(&no_body, "{\"to\": \"ncb.fr\"}").unwrap();
    let no_body = no_body.display().to_string();

    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        // Missing field.
        (
            vec![
                "send", "notice", "--socket", &socket, "--to", "ncb.fr", "--type", "red",
            ],
            1,
            "missing field: --ref",
        ),
        // Unknown notice type.
        (
            vec![
                "send", "notice", "--socket", &socket, "--to", "ncb.fr", "--ref", "A-1/2026",
                "--type", "pink",
            ],
            1,
            "unknown notice type \"pink\"",
        ),
        // Malformed JSON.
        (
            vec![
                "send",
                "notice",
                "--socket",
                &socket,
                "--json-file",
                &bad_json,
            ],
            1,
            "malformed JSON",
        ),
        (
            vec![
                "send",
                "notice",
                "--socket",
                &socket,
                "--json-file",
                &no_body,
            ],
            1,
            "missing field: notice",
        ),
        // Invalid node id.
        (
            vec![
                "send", "message", "--socket", &socket, "--to", "NCB!", "--body", "x",
            ],
            1,
            "--to \"NCB!\"",
        ),
        // Unknown node: the hub has no route to it and refuses.
        (
            vec![
                "send", "message", "--socket", &socket, "--to", "ncb.zz", "--body", "x",
            ],
            5,
            "no route",
        ),
        // The node's own checks, by field.
        (
            vec![
                "send", "notice", "--socket", &socket, "--to", "ncb.fr", "--ref", "A-1/2026",
                "--type", "red",
            ],
            1,
            "subject",
        ),
        (
            vec![
                "request",
                "sltd.check",
                "--socket",
                &socket,
                "--param",
                "novalue",
            ],
            1,
            "NAME=VALUE",
        ),
        (vec!["status"], 1, "--socket"),
        // Node unreachable.
        (
            vec!["status", "--socket", "/nonexistent/api.sock"],
            3,
            "cannot reach the node",
        ),
    ];
    for (args, code, needle) in cases {
        let (got, _, stderr) = cli(bluehelm_bin!(), &args).await;
        assert_eq!(got, code, "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_sends_reads_acknowledges_and_reports_status() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(&gs, "ncb.ke").await;
    let fr_config = net.config_path("ncb.fr").display().to_string();
    let ke_config = net.config_path("ncb.ke").display().to_string();

    let (code, id, err) = cli(
        bluehelm_bin!(),
        &[
            "send",
            "diffusion",
            "--config",
            &fr_config,
            "--to",
            "ncb.ke",
            "--addressee",
            "ncb.ke",
            "--ref",
            "A-1/2026",
            "--subject-line",
            "Wanted: John DOE",
            "--body",
            "Arrest on sight.",
            "--family-name",
            "DOE",
            "--given-name",
            "John",
            "--document",
            "passport:X1234567:FR",
            "--precedence",
            "immediate",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();
    bluehelm_tests::inbox_at_least(&ke, 1).await;

    let (code, out, err) = cli(
        bluehelm_bin!(),
        &["inbox", "--config", &ke_config, "--json", "--ack"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(line["message_id"], id.as_str());
    assert_eq!(line["precedence"], "immediate");
    // A diffusion: an NCB may send one to another (issue 12 refuses a notice request that
    // does not go to the hub, which this test used to send).
    assert_eq!(line["body"]["diffusion"]["reference"], "A-1/2026");
    assert_eq!(line["body"]["diffusion"]["addressees"][0], "ncb.ke");
    // Acknowledged: the inbox is empty now.
    let (_, out, _) = cli(
        bluehelm_bin!(),
        &["inbox", "--config", &ke_config, "--json"],
    )
    .await;
    assert!(out.trim().is_empty(), "{out}");

    let (code, out, err) = cli(
        bluehelm_bin!(),
        &["status", "--config", &ke_config, "--json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["node_id"], "ncb.ke");
    assert_eq!(status["inbox_size"], 0);

    for node in [ke, fr, gs] {
        node.shutdown().await;
    }
}
