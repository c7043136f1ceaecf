//! What an operator sees from the real `bluehelm` binary (issue 10, "operator experience"):
//! a closed output pipe, errors that name their cause once, times a person can read, and
//! JSON whose keys scripts can rely on.

use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

use bluehelm::api::pb;
use bluehelm::Node;
use bluehelm_tests::{
    api_client, api_inbox_now, api_submit, bluehelm_bin, inbox_at_least, linked, run_cli, TestNet,
};

/// gs and ncb.ke in-process and linked, and a text message from gs in ncb.ke's inbox.
struct Fixture {
    net: TestNet,
    gs: Node,
    ke: Node,
    /// ncb.ke's inbox as the API sees it.
    inbox: Vec<pb::InboxMessage>,
    ke_config: String,
}

async fn a_message_in_the_inbox_of_ke() -> Fixture {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let ke = net.start("ncb.ke").await;
    linked(&gs, "ncb.ke").await;
    api_submit(
        &mut api_client(&gs).await,
        pb::SubmitRequest {
            destination: Some(pb::Destination {
                target: Some(pb::destination::Target::Node("ncb.ke".into())),
            }),
            precedence: pb::Precedence::Immediate as i32,
            ttl_seconds: 600,
            want_delivery_report: false,
            release_to: None,
            correlation_id: String::new(),
            body: Some(pb::submit_request::Body::Text(pb::TextMessage {
                subject_line: "cli check".into(),
                body: "hello".into(),
                attachments: vec![],
            })),
        },
    )
    .await;
    inbox_at_least(&ke, 1).await;
    let inbox = api_inbox_now(&mut api_client(&ke).await).await;
    let ke_config = net.config_path("ncb.ke").display().to_string();
    Fixture {
        net,
        gs,
        ke,
        inbox,
        ke_config,
    }
}

impl Fixture {
    async fn stop(self) {
        self.ke.shutdown().await;
        self.gs.shutdown().await;
    }
}

/// Runs `bluehelm args` with its stdout on a socket whose reader has already gone, so that
/// the first write fails with EPIPE (deterministically: no race with a reader exiting).
fn run_with_closed_stdout(args: &[&str]) -> (i32, String) {
    let (ours, theirs) = UnixStream::pair().expect("socket pair");
    drop(ours);
    let out = Command::new(bluehelm_bin!())
        .args(args)
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stderr(Stdio::piped())
        .output()
        .expect("bluehelm runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_every_printing_command_quietly() {
    let fixture = a_message_in_the_inbox_of_ke().await;
    let ke_config = fixture.ke_config.clone();
    let cert = fixture.net.dir().join("pki").join("ncb.ke.pem");
    let cert = cert.display().to_string();
    let scratch = tempfile::tempdir().unwrap();
    let ca_dir = scratch.path().join("ca").display().to_string();

    let commands: Vec<Vec<&str>> = vec![
        vec!["status", "--config", &ke_config],
        vec!["status", "--config", &ke_config, "--json"],
        vec!["inbox", "--config", &ke_config],
        vec!["inbox", "--config", &ke_config, "--json"],
        vec!["pki", "show", &cert],
        vec!["pki", "show", &cert, "--json"],
        vec!["pki", "init-ca", "--out", &ca_dir],
        vec![
            "send", "message", "--config", &ke_config, "--to", "gs", "--body", "x",
        ],
        vec!["--help"],
    ];
    for args in commands {
        let (code, stderr) = run_with_closed_stdout(&args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(code, 0, "{args:?}: {stderr}");
    }
    fixture.stop().await;
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_file_is_named_once() {
    let scratch = tempfile::tempdir().unwrap();
    let missing = scratch.path().join("node.toml").display().to_string();
    for args in [
        vec!["run", "--config", missing.as_str()],
        vec!["status", "--config", missing.as_str()],
    ] {
        let (code, _, stderr) = run_cli(bluehelm_bin!(), &args).await;
        assert_ne!(code, 0, "{args:?}");
        assert_eq!(count(&stderr, &missing), 1, "{args:?}: {stderr}");
        assert_eq!(count(&stderr, "No such file"), 1, "{args:?}: {stderr}");
    }

    // A config that names a certificate that is not there.
    let net = TestNet::standard();
    let cert = net.dir().join("pki").join("ncb.fr.pem");
    std::fs::remove_file(&cert).expect("the node's certificate exists");
    let config = net.config_path("ncb.fr").display().to_string();
    let (code, _, stderr) = run_cli(bluehelm_bin!(), ["run", "--config", config.as_str()]).await;
    assert_ne!(code, 0);
    assert_eq!(count(&stderr, &cert.display().to_string()), 1, "{stderr}");
    assert_eq!(count(&stderr, "No such file"), 1, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_named_once() {
    let net = TestNet::standard();
    let address = net.spec("gs").listen.expect("gs listens");
    // QUIC listens on UDP: hold the port.
    let _holder = std::net::UdpSocket::bind(address).expect("the port is free");
    let config = net.config_path("gs").display().to_string();
    let (code, _, stderr) = run_cli(bluehelm_bin!(), ["run", "--config", config.as_str()]).await;
    assert_ne!(code, 0, "{stderr}");
    assert_eq!(count(&stderr, &address.to_string()), 1, "{stderr}");
    assert_eq!(count(&stderr.to_lowercase(), "in use"), 1, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_inbox_shows_the_local_iso_8601_time() {
    let fixture = a_message_in_the_inbox_of_ke().await;
    let created_ms = fixture.inbox[0].created_at_ms;
    let ke_config = fixture.ke_config.clone();

    // A zone 1 h 30 min east of UTC with no daylight saving time, as a POSIX TZ rule.
    let out = tokio::process::Command::new(bluehelm_bin!())
        .args(["inbox", "--config", &ke_config])
        .env("TZ", "<+0130>-01:30")
        .output()
        .await
        .expect("bluehelm runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let local = created_ms.div_euclid(1000) + 90 * 60;
    let time_of_day = local.rem_euclid(86_400);
    let expected = format!(
        "T{:02}:{:02}:{:02}+01:30",
        time_of_day / 3600,
        time_of_day % 3600 / 60,
        time_of_day % 60
    );
    assert!(stdout.contains(&expected), "want {expected} in: {stdout}");
    fixture.stop().await;
}

fn keys(value: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_has_stable_snake_case_keys() {
    let fixture = a_message_in_the_inbox_of_ke().await;
    let ke_config = fixture.ke_config.clone();

    let (code, out, err) = run_cli(
        bluehelm_bin!(),
        ["inbox", "--config", ke_config.as_str(), "--json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(
        keys(&line),
        [
            "body",
            "correlation_id",
            "created_at_ms",
            "destination",
            "expires_at_ms",
            "message_id",
            "origin",
            "precedence",
            "release_to",
            "seq",
            "want_delivery_report",
        ]
    );
    assert_eq!(line["release_to"], serde_json::Value::Null, "unmarked");
    assert_eq!(line["destination"], serde_json::json!({"node": "ncb.ke"}));
    assert_eq!(line["precedence"], "immediate");
    assert_eq!(line["origin"], "gs");
    assert!(line["created_at_ms"].as_i64().is_some(), "{line}");
    assert_eq!(keys(&line["body"]), ["text"]);
    assert_eq!(
        keys(&line["body"]["text"]),
        ["attachments", "body", "subject_line"]
    );

    let (code, out, err) = run_cli(
        bluehelm_bin!(),
        ["status", "--config", ke_config.as_str(), "--json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        keys(&status),
        [
            "certificate_revoked",
            "counters",
            "crl_next_update",
            "crl_number",
            "custody_latency",
            "disk_free_bytes",
            "failed_over",
            "fsync_latency",
            "handshake_failures",
            "inbox_size",
            "links",
            "node_id",
            "not_ready",
            "queues",
            "ready",
            "replicas",
            "review_queue",
            "store_bytes",
            "traffic"
        ]
    );
    let link = &status["links"][0];
    assert_eq!(keys(link), ["configured", "connected", "peer"]);
    for (name, value) in status["counters"].as_object().unwrap() {
        let snake = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        assert!(snake && value.is_u64(), "counter {name}: {value}");
    }
    fixture.stop().await;
}
