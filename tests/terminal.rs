//! The terminal listener (issue 4) end to end: the mission post runs as a real `bluehelm run`
//! process with `terminal_listen`, terminals connect over real TCP with mutual TLS 1.3, and
//! the real binary issues terminal certificates and talks to the node with `--api`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bluehelm::api::client::{connect_terminal, connect_tls};
use bluehelm::api::pb::{self, bureau_client::BureauClient};
use bluehelm::localnet::{standard_specs, LocalNet};
use bluehelm::net::tls::server_name;
use bluehelm::Node;
use bluehelm_pki::{IssueRequest, NodeCredentials, Role, TrustStore};
use bluehelm_tests::raw::RawLink;
use bluehelm_tests::{
    bluehelm_bin, eventually, id, inbox_at_least, net_with_terminal, renew_in_place,
    run_cli as cli, NodeProcess, TestNet,
};
use rustls::pki_types::{CertificateDer, ServerName};
use tonic::transport::Channel;

type Client = BureauClient<Channel>;

/// How long a refused client may take to find out.
const REFUSAL: Duration = Duration::from_secs(15);

/// The standard network with a terminal listener on the mission post, and a certificate
/// for terminal `term1.unmiss` bound to it.
fn network() -> (TestNet, SocketAddr) {
    net_with_terminal(standard_specs())
}

fn pki_file(net: &TestNet, name: &str) -> PathBuf {
    net.net.pki_dir().join(name)
}

fn trust(net: &TestNet) -> TrustStore {
    TrustStore::load(&pki_file(net, "ca.pem"), Some(&pki_file(net, "crl.pem"))).unwrap()
}

fn creds(net: &TestNet, name: &str) -> NodeCredentials {
    NodeCredentials::load(
        &pki_file(net, &format!("{name}.pem")),
        &pki_file(net, &format!("{name}.key")),
    )
    .unwrap()
}

async fn terminal(address: SocketAddr, creds: &NodeCredentials, trust: &TrustStore) -> Client {
    connect_terminal(&address.to_string(), creds, trust)
        .await
        .expect("the terminal connects")
}

/// A new connection of the good terminal is served: the listener survived what came before.
async fn still_serves(net: &TestNet, address: SocketAddr) {
    let mut client = terminal(address, &creds(net, "term1.unmiss"), &trust(net)).await;
    let status = client
        .status(pb::StatusRequest {})
        .await
        .expect("the good terminal is served")
        .into_inner();
    assert_eq!(status.node_id, "mission.unmiss");
}

/// A client TLS configuration that trusts the network CA for the node's certificate and
/// presents `client` (any certificate, or none): to try what a terminal must not do.
fn raw_tls(trust: &TrustStore, client: Option<&NodeCredentials>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(trust.ca_der().to_vec()))
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        Some(creds) => builder
            .with_client_auth_cert(creds.cert_chain().to_vec(), creds.private_key_der())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

fn mission_name() -> ServerName<'static> {
    ServerName::try_from(server_name(&id("mission.unmiss"))).unwrap()
}

/// Connects with `config` and asks for the status; the node must refuse, during the
/// handshake or at the first call (TLS 1.3 lets the client finish first).
async fn assert_refused(what: &str, address: SocketAddr, config: Arc<rustls::ClientConfig>) {
    let attempt = async {
        let mut client = connect_tls(&address.to_string(), config, mission_name())
            .await
            .map_err(|e| e.to_string())?;
        client
            .status(pb::StatusRequest {})
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(REFUSAL, attempt).await {
        Ok(Ok(status)) => panic!("{what}: served ({status:?})"),
        Ok(Err(_)) => {}
        Err(_) => panic!("{what}: neither served nor refused within {REFUSAL:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_submits_and_reads_status_over_mutual_tls() {
    let (net, address) = network();
    let gs = net.start("gs").await;
    let mission = NodeProcess::start(bluehelm_bin!(), &net.config_path("mission.unmiss"));
    let mut client = terminal(address, &creds(&net, "term1.unmiss"), &trust(&net)).await;

    let status = client
        .status(pb::StatusRequest {})
        .await
        .expect("status over the terminal listener")
        .into_inner();
    assert_eq!(status.node_id, "mission.unmiss");

    let message_id = client
        .submit(pb::SubmitRequest {
            destination: Some(pb::Destination {
                target: Some(pb::destination::Target::Node("gs".into())),
            }),
            precedence: pb::Precedence::Immediate as i32,
            ttl_seconds: 600,
            want_delivery_report: true,
            release_to: None,
            correlation_id: String::new(),
            body: Some(pb::submit_request::Body::Text(pb::TextMessage {
                subject_line: "from terminal 1".into(),
                body: "patrol report".into(),
                attachments: vec![],
            })),
        })
        .await
        .expect("submit over the terminal listener")
        .into_inner()
        .message_id;

    // Sent by the mission post, signed with its key: the terminal is not an origin.
    let inbox = inbox_at_least(&gs, 1).await;
    assert_eq!(inbox[0].envelope.message_id.to_string(), message_id);
    assert_eq!(inbox[0].envelope.origin, id("mission.unmiss"));

    let delivered = eventually("a delivery report read over the terminal listener", || {
        let mut client = client.clone();
        let message_id = message_id.clone();
        async move {
            let state = client
                .delivery_state(pb::DeliveryStateRequest { message_id })
                .await
                .expect("delivery_state")
                .into_inner();
            (state.status == pb::DeliveryStatus::Delivered as i32).then_some(state)
        }
    })
    .await;
    assert_eq!(delivered.status, pb::DeliveryStatus::Delivered as i32);

    mission.stop();
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_refuses_every_other_client_and_keeps_serving() {
    let (mut net, address) = network();
    let trust = trust(&net);
    net.net
        .add_terminal(&id("term1.gs"), &id("gs"))
        .expect("terminal certificate for gs");
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = LocalNet::create(other_dir.path()).unwrap();
    other
        .add_terminal(&id("term1.unmiss"), &id("mission.unmiss"))
        .unwrap();
    let foreign = NodeCredentials::load(
        &other.pki_dir().join("term1.unmiss.pem"),
        &other.pki_dir().join("term1.unmiss.key"),
    )
    .unwrap();
    let mission = NodeProcess::start(bluehelm_bin!(), &net.config_path("mission.unmiss"));
    still_serves(&net, address).await;

    let cases: Vec<(&str, Option<NodeCredentials>)> = vec![
        ("no client certificate", None),
        ("a terminal certificate from another CA", Some(foreign)),
        (
            "a terminal certificate for another node",
            Some(creds(&net, "term1.gs")),
        ),
        ("an NCB's node certificate", Some(creds(&net, "ncb.fr"))),
        (
            "the mission post's own node certificate",
            Some(creds(&net, "mission.unmiss")),
        ),
    ];
    for (what, client) in cases {
        assert_refused(what, address, raw_tls(&trust, client.as_ref())).await;
        still_serves(&net, address).await;
    }
    // A terminal that knows its certificate is for another node does not even dial.
    let err = connect_terminal(&address.to_string(), &creds(&net, "ncb.fr"), &trust)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("role ncb"), "{err}");
    mission.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_terminal_is_refused_and_cut_off_once_the_new_crl_is_in_force() {
    let (mut net, address) = network();
    net.net
        .add_terminal(&id("term2.unmiss"), &id("mission.unmiss"))
        .unwrap();
    let mission = NodeProcess::start(bluehelm_bin!(), &net.config_path("mission.unmiss"));
    let term2 = creds(&net, "term2.unmiss");
    let mut client = terminal(address, &term2, &trust(&net)).await;
    client.status(pb::StatusRequest {}).await.expect("served");

    let cert = std::fs::read(pki_file(&net, "term2.unmiss.pem")).unwrap();
    net.net.ca().revoke(&cert, None).unwrap();
    net.net.write_crl().unwrap();
    // The node picks up the CRL without a restart; new handshakes then fail. (The client
    // checks nothing about itself: the refusal is the node's.)
    let trust = trust(&net);
    eventually("the revoked terminal to be refused", || {
        let config = raw_tls(&trust, Some(&term2));
        async move {
            let attempt = async {
                let mut client = connect_tls(&address.to_string(), config, mission_name()).await?;
                client
                    .status(pb::StatusRequest {})
                    .await
                    .map_err(anyhow::Error::from)?;
                anyhow::Ok(())
            };
            match tokio::time::timeout(REFUSAL, attempt).await {
                Ok(Ok(())) => None,
                _ => Some(()),
            }
        }
    })
    .await;
    // The connection it opened before the revocation is cut as well.
    eventually(
        "the revoked terminal's open connection to be refused",
        || {
            let mut client = client.clone();
            async move {
                let answer =
                    tokio::time::timeout(REFUSAL, client.status(pb::StatusRequest {})).await;
                (!matches!(answer, Ok(Ok(_)))).then_some(())
            }
        },
    )
    .await;
    still_serves(&net, address).await;
    mission.stop();
}

/// The certificate the listener presents to a new connection (DER), read from the handshake
/// of the good terminal, which checks it against the network CA and the mission post's name.
async fn presented_certificate(net: &TestNet, address: SocketAddr) -> Vec<u8> {
    let config = raw_tls(&trust(net), Some(&creds(net, "term1.unmiss")));
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .expect("the listener accepts");
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(mission_name(), tcp)
        .await
        .expect("the handshake completes");
    tls.get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("a server certificate")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reload_new_terminal_connections_get_the_renewed_certificate() {
    let (net, address) = network();
    let config = net.config_path("mission.unmiss");
    let mission = NodeProcess::start(bluehelm_bin!(), &config);
    let mut open = terminal(address, &creds(&net, "term1.unmiss"), &trust(&net)).await;
    open.status(pb::StatusRequest {}).await.expect("served");

    let (old, new) = renew_in_place(bluehelm_bin!(), &net, "mission.unmiss").await;
    // (Compared with assert!: a mismatch would print two certificates byte by byte.)
    assert!(
        presented_certificate(&net, address).await == old,
        "new files alone change nothing: the certificate in force until the reload"
    );
    let (code, out, err) = cli(
        bluehelm_bin!(),
        [
            "reload",
            "--json",
            "--config",
            config.to_str().expect("a UTF-8 path"),
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(json["identity_changed"], true, "{json}");

    assert!(
        presented_certificate(&net, address).await == new,
        "a new connection gets the renewed certificate, not the one the node started with"
    );
    // A terminal checks it as before (CA, CRL, its home node's name) and is served.
    still_serves(&net, address).await;
    open.status(pb::StatusRequest {})
        .await
        .expect("the terminal connected before the reload is still served");
    // The new configuration asks as much of clients as the one it replaced.
    let trust = trust(&net);
    assert_refused("no client certificate", address, raw_tls(&trust, None)).await;
    let fr = creds(&net, "ncb.fr");
    assert_refused(
        "an NCB's node certificate",
        address,
        raw_tls(&trust, Some(&fr)),
    )
    .await;
    mission.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_certificate_cannot_link_as_a_node() {
    let mut net = TestNet::standard();
    let gs = net.start("gs").await;
    let trust = trust(&net);
    let hub = net.spec("gs").listen.expect("the hub listens");
    // Even named like a configured peer of the hub, a terminal certificate is no node's.
    for name in ["term1.unmiss", "ncb.fr"] {
        let terminal = net
            .net
            .ca()
            .issue(&IssueRequest {
                node: id(name),
                role: Role::Terminal,
                country: None,
                mission: None,
                home: Some(id("mission.unmiss")),
                days: 30,
            })
            .unwrap()
            .credentials()
            .unwrap();
        let outcome = async {
            let link = RawLink::connect(&terminal, &trust, hub, &id("gs")).await?;
            link.ping().await
        }
        .await;
        assert!(outcome.is_err(), "terminal certificate {name} got a link");
        assert!(!gs.is_linked(&id(name)));
    }
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_configured_with_a_terminal_certificate_refuses_to_start() {
    let mut net = TestNet::standard();
    // A terminal certificate named ncb.fr, written over that node's certificate and key.
    net.net.add_terminal(&id("ncb.fr"), &id("gs")).unwrap();
    let err = match Node::start(net.net.config("ncb.fr").unwrap()).await {
        Ok(_) => panic!("a node started with a terminal certificate"),
        Err(err) => err.to_string(),
    };
    assert!(err.contains("terminal certificate"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_terminal_address_fails_the_start_and_names_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut specs = standard_specs();
    specs[0].terminal_listen = Some(taken.local_addr().unwrap());
    let net = TestNet::with_specs(specs);
    let err = match Node::start(net.net.config("gs").unwrap()).await {
        Ok(_) => panic!("the node started on a taken terminal address"),
        // Each error says only its own part (issue 10): the key is further down the chain.
        Err(err) => format!("{:#}", anyhow::Error::from(err)),
    };
    assert!(err.contains("terminal_listen"), "{err}");
    // Nothing was left behind (store lock, socket): once the address is free, it starts.
    drop(taken);
    let gs = net.start("gs").await;
    gs.shutdown().await;
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_issues_terminal_certificates_and_connects_with_api() {
    let (mut net, address) = network();
    net.net.add_terminal(&id("term1.gs"), &id("gs")).unwrap();
    let ca = net.net.pki_dir().display().to_string();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().display().to_string();

    // --role terminal needs --for-node; --for-node is for terminals only.
    let (code, _, err) = cli(
        bluehelm_bin!(),
        args(&[
            "pki",
            "issue",
            "--ca",
            &ca,
            "--node",
            "term9.unmiss",
            "--role",
            "terminal",
            "--out",
            &out,
        ]),
    )
    .await;
    assert_ne!(code, 0);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--for-node"), "{err}");
    let (code, _, err) = cli(
        bluehelm_bin!(),
        args(&[
            "pki",
            "issue",
            "--ca",
            &ca,
            "--node",
            "ncb.de",
            "--role",
            "ncb",
            "--country",
            "DE",
            "--for-node",
            "gs",
            "--out",
            &out,
        ]),
    )
    .await;
    assert_ne!(code, 0);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--for-node"), "{err}");
    assert!(
        std::fs::read_dir(&out).unwrap().next().is_none(),
        "no files written"
    );

    let (code, stdout, err) = cli(
        bluehelm_bin!(),
        args(&[
            "pki",
            "issue",
            "--ca",
            &ca,
            "--node",
            "term9.unmiss",
            "--role",
            "terminal",
            "--for-node",
            "mission.unmiss",
            "--out",
            &out,
        ]),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("terminal term9.unmiss for node mission.unmiss"),
        "{stdout}"
    );
    let cert = out_dir
        .path()
        .join("term9.unmiss.pem")
        .display()
        .to_string();
    let key = out_dir
        .path()
        .join("term9.unmiss.key")
        .display()
        .to_string();
    let (code, shown, err) = cli(bluehelm_bin!(), args(&["pki", "show", &cert])).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        shown.starts_with("terminal certificate") && shown.contains("for node:    mission.unmiss"),
        "{shown}"
    );

    let mission = NodeProcess::start(bluehelm_bin!(), &net.config_path("mission.unmiss"));
    let api = format!("https://{address}");
    let ca_pem = pki_file(&net, "ca.pem").display().to_string();
    let crl_pem = pki_file(&net, "crl.pem").display().to_string();
    let terminal_flags = |cert: &str, key: &str| {
        args(&[
            "--api", &api, "--cert", cert, "--key", key, "--ca", &ca_pem, "--crl", &crl_pem,
        ])
    };

    let mut status = args(&["status", "--json"]);
    status.extend(terminal_flags(&cert, &key));
    let (code, stdout, err) = cli(bluehelm_bin!(), status).await;
    // The post runs alone here: its figures come over mutual TLS, and `status` exits 8
    // because its configured peer gs is down (issue 15).
    assert_eq!(code, 8, "{err}");
    assert!(err.contains("configured peer gs is down"), "{err}");
    assert!(
        stdout.contains("\"node_id\":\"mission.unmiss\""),
        "{stdout}"
    );

    let mut send = args(&[
        "send",
        "message",
        "--to",
        "gs",
        "--subject-line",
        "from term9",
        "--body",
        "sent over TCP",
    ]);
    send.extend(terminal_flags(&cert, &key));
    let (code, stdout, err) = cli(bluehelm_bin!(), send).await;
    assert_eq!(code, 0, "{err}");
    assert!(!stdout.trim().is_empty(), "a message id: {stdout}");

    // A node's certificate is refused before dialling, as an input error (exit 1).
    let fr_cert = pki_file(&net, "ncb.fr.pem").display().to_string();
    let fr_key = pki_file(&net, "ncb.fr.key").display().to_string();
    let mut wrong = args(&["status"]);
    wrong.extend(terminal_flags(&fr_cert, &fr_key));
    let (code, _, err) = cli(bluehelm_bin!(), wrong).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("terminal certificate"), "{err}");

    // A terminal of another node: it finds that the listener is not its node's (exit 3).
    let gs_cert = pki_file(&net, "term1.gs.pem").display().to_string();
    let gs_key = pki_file(&net, "term1.gs.key").display().to_string();
    let mut other = args(&["status"]);
    other.extend(terminal_flags(&gs_cert, &gs_key));
    let (code, _, err) = cli(bluehelm_bin!(), other).await;
    assert_eq!(code, 3, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("gs.bluehelm.invalid"), "{err}");

    // --api without its files is a usage error.
    let (code, _, _) = cli(bluehelm_bin!(), args(&["status", "--api", &api])).await;
    assert_eq!(code, 2);
    mission.stop();
}
