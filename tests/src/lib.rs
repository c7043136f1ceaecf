//! Shared harness for the integration tests: a local network in a temporary folder, nodes
//! started in-process or as real `bluehelm run` processes, a raw QUIC client that can say
//! things a well-behaved node never would, and helpers that wait for events.
//!
//! The tests themselves (`tests/*.rs`) are targets of the `bluehelm` package, so that cargo
//! builds the binary first and gives them its path: [`bluehelm_bin!`] reads it in the test's
//! crate, and the functions here that start a process take it as an argument. See
//! tests/README.md.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bluehelm::custody::{Delivered, Outgoing};
use bluehelm::localnet::{standard_specs, LocalNet, NodeSpec};
use bluehelm::store::Store;
use bluehelm::Node;
use bluehelm_proto::{Body, Destination, NodeId, Precedence, TextMessage};

pub mod afis;
pub mod notices;
pub mod raw;
pub mod records;
pub mod release;
pub mod tally;

/// How long any one expectation may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn id(s: &str) -> NodeId {
    s.parse().expect("test node ids are valid")
}

/// The standard network (gs, ncb.fr, ncb.ke, mission.unmiss) laid out in a temporary folder.
pub struct TestNet {
    pub net: LocalNet,
    pub specs: Vec<NodeSpec>,
    _dir: tempfile::TempDir,
}

/// The custody log file size of test nodes, in MiB: the least a config allows (16, against 32
/// by default), so that each node start zero-fills 32 MiB of log instead of 64. Tests that
/// count on the default's checkpoint rhythm use [`TestNet::standard_with_default_custody_log`].
pub const TEST_LOG_FILE_MIB: u64 = bluehelm::store::MIN_LOG_FILE_BYTES / (1024 * 1024);

impl TestNet {
    pub fn standard() -> Self {
        Self::with_specs(standard_specs())
    }

    /// The standard network with custody log files of the default size (32 MiB).
    pub fn standard_with_default_custody_log() -> Self {
        let mut specs = standard_specs();
        for spec in &mut specs {
            spec.custody_log_file_mib =
                Some(bluehelm::store::DEFAULT_LOG_FILE_BYTES / (1024 * 1024));
        }
        Self::with_specs(specs)
    }

    /// A network of `specs`; those that leave the custody log size open get
    /// [`TEST_LOG_FILE_MIB`].
    pub fn with_specs(mut specs: Vec<NodeSpec>) -> Self {
        for spec in &mut specs {
            spec.custody_log_file_mib.get_or_insert(TEST_LOG_FILE_MIB);
        }
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut net = LocalNet::create(dir.path()).expect("local network");
        for spec in &specs {
            net.add(spec).expect("node files");
        }
        Self {
            net,
            specs,
            _dir: dir,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.net.dir
    }

    pub fn config_path(&self, node: &str) -> PathBuf {
        self.dir().join(format!("{node}.toml"))
    }

    pub async fn start(&self, node: &str) -> Node {
        let config = self.net.config(node).expect("config");
        Node::start(config).await.expect("node starts")
    }

    /// Opens the store of a node that is not running, as the node would (its configured
    /// custody log size: the default would fill the test's smaller files up).
    pub fn open_store(&self, node: &str) -> Store {
        let config = self.net.config(node).expect("config");
        Store::open_sized(&config.storage, config.limits.store_sizes()).expect("the store opens")
    }

    /// A node's certificate and key from the network's PKI folder, to act as that node
    /// over a raw link or to sign as it.
    pub fn credentials(&self, node: &str) -> bluehelm_pki::NodeCredentials {
        let pki = self.net.pki_dir();
        bluehelm_pki::NodeCredentials::load(
            &pki.join(format!("{node}.pem")),
            &pki.join(format!("{node}.key")),
        )
        .expect("the node's credentials")
    }

    /// The network's trust store (CA and CRL), as every node loads it.
    /// `envelope` signed alone by `node`, encoded, as a `bluehelm/6` node signed and stored
    /// every envelope (before batch signatures): to stand for what a store held at the upgrade.
    pub fn signed_alone(&self, node: &str, envelope: &bluehelm_proto::Envelope) -> Vec<u8> {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        use ed25519_dalek::Signer as _;
        let credentials = self.credentials(node);
        let der = credentials.private_key_der();
        let key = ed25519_dalek::SigningKey::from_pkcs8_der(der.secret_der()).expect("key");
        let bytes = envelope.encode_to_vec();
        let signature = key.sign(&bluehelm_proto::alone_signing_input(&bytes));
        let signed = bluehelm_proto::SignedEnvelope::signed_alone(
            bytes,
            signature.to_bytes(),
            credentials.node_cert_der().to_vec(),
        );
        signed.expect("a valid envelope").encode_to_vec()
    }

    pub fn trust(&self) -> bluehelm_pki::TrustStore {
        let pki = self.net.pki_dir();
        bluehelm_pki::TrustStore::load(&pki.join("ca.pem"), Some(&pki.join("crl.pem")))
            .expect("the network's trust store")
    }

    pub fn spec(&self, node: &str) -> &NodeSpec {
        self.specs
            .iter()
            .find(|s| s.id.as_str() == node)
            .expect("node in the network")
    }
}

/// A text message for tests, numbered so that order and duplicates can be checked.
pub fn text(n: usize, to: &str, precedence: Precedence) -> Outgoing {
    Outgoing {
        destination: Destination::Node(id(to)),
        precedence,
        body: Body::Text(TextMessage {
            subject_line: format!("test message {n}"),
            body: "x".repeat(200),
            attachments: vec![],
        }),
        ttl: Duration::from_secs(600),
        want_delivery_report: false,
        release_to: None,
        correlation_id: None,
    }
}

/// The number a message from [`text`] carries.
pub fn number_of(message: &Delivered) -> Option<usize> {
    match &message.envelope.body {
        Body::Text(t) => t.subject_line.strip_prefix("test message ")?.parse().ok(),
        _ => None,
    }
}

/// Polls `check` until it returns `Some`, or panics after [`PATIENCE`] with `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the node's inbox holds at least `n` messages; returns them.
pub async fn inbox_at_least(node: &Node, n: usize) -> Vec<Delivered> {
    eventually(
        &format!("{} inbox to hold {n}", node.bureau().me()),
        || async {
            let inbox = node.bureau().inbox(None, 1_000_000).await.expect("inbox");
            (inbox.len() >= n).then_some(inbox)
        },
    )
    .await
}

pub async fn linked(node: &Node, peer: &str) {
    eventually(
        &format!("{} linked with {peer}", node.bureau().me()),
        || async { node.is_linked(&id(peer)).then_some(()) },
    )
    .await
}

/// Waits until none of `nodes` holds a queued copy for any next hop. A copy leaves a queue
/// only once the next hop has taken custody of it, so from then on nothing is in flight between
/// these nodes and no message can arrive anywhere again: a test that counts what arrived waits
/// for this instead of sleeping "long enough for a stray copy to show up".
pub async fn queues_empty(nodes: &[&Node]) {
    eventually("every queue to drain", || async {
        let empty = nodes.iter().all(|node| {
            node.bureau()
                .queue_depths()
                .values()
                .all(|depth| *depth == 0)
        });
        empty.then_some(())
    })
    .await
}

/// A client of the node's local API on its Unix socket.
pub async fn api_client(
    node: &Node,
) -> bluehelm::api::pb::bureau_client::BureauClient<tonic::transport::Channel> {
    bluehelm::api::client::connect(&node.bureau().config().api_socket)
        .await
        .expect("api socket answers")
}

type ApiClient = bluehelm::api::pb::bureau_client::BureauClient<tonic::transport::Channel>;

/// Submits through the API; returns the message id.
pub async fn api_submit(
    client: &mut ApiClient,
    request: bluehelm::api::pb::SubmitRequest,
) -> String {
    client
        .submit(request)
        .await
        .expect("submit")
        .into_inner()
        .message_id
}

/// Waits until the API reports the message with this id not delivered; returns its state.
pub async fn api_failed_state(
    client: &mut ApiClient,
    id: &str,
) -> bluehelm::api::pb::DeliveryStateResponse {
    use bluehelm::api::pb;
    eventually("the message is reported not delivered", || {
        let mut client = client.clone();
        let id = id.to_owned();
        async move {
            let state = client
                .delivery_state(pb::DeliveryStateRequest { message_id: id })
                .await
                .ok()?
                .into_inner();
            (state.status == pb::DeliveryStatus::Failed as i32).then_some(state)
        }
    })
    .await
}

/// The inbox as it is now, through the API (a non-following stream).
pub async fn api_inbox_now(client: &mut ApiClient) -> Vec<bluehelm::api::pb::InboxMessage> {
    let mut stream = client
        .follow_inbox(bluehelm::api::pb::FollowInboxRequest {
            after_seq: 0,
            follow: false,
        })
        .await
        .expect("follow_inbox")
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = stream.message().await.expect("inbox stream") {
        out.push(m);
    }
    out
}

/// A client of the local API of a node process (or any node) whose config is `config`.
pub async fn api_client_of(config: &bluehelm::NodeConfig) -> ApiClient {
    bluehelm::api::client::connect(&config.api_socket)
        .await
        .expect("api socket answers")
}

/// The depth of the node's queue for `hop`, through the API's `Status` (for node processes,
/// whose store the test cannot read).
pub async fn api_queue_depth(client: &mut ApiClient, hop: &str) -> u64 {
    let status = client
        .status(bluehelm::api::pb::StatusRequest {})
        .await
        .expect("status")
        .into_inner();
    status
        .queues
        .iter()
        .filter(|q| q.next_hop == hop)
        .map(|q| q.depth)
        .sum()
}

/// A counter of the node's `Status` (`None`: no counter of that name).
pub async fn api_counter(client: &mut ApiClient, name: &str) -> Option<u64> {
    let status = client
        .status(bluehelm::api::pb::StatusRequest {})
        .await
        .expect("status")
        .into_inner();
    status.counters.get(name).copied()
}

/// The `bluehelm` binary of this build, as a `&'static Path`: the path cargo gives the calling
/// test at compile time (`CARGO_BIN_EXE_bluehelm`). Cargo builds the binary before the
/// integration tests of its package, so the path always names the binary built from the same
/// sources as the test; nothing is compared or rebuilt at run time. Only integration tests of
/// the `bluehelm` package get the variable: a test that uses this macro is listed as a
/// `[[test]]` of daemon/Cargo.toml. A macro, not a function: `env!` must expand in the test's
/// crate, since this library is built once for all of them, without the variable.
#[macro_export]
macro_rules! bluehelm_bin {
    () => {
        ::std::path::Path::new(::std::env!(
            "CARGO_BIN_EXE_bluehelm",
            "only integration tests of the bluehelm package get the binary's path: list the test as a [[test]] in daemon/Cargo.toml"
        ))
    };
}

/// Folder of the test data (reference records for the services): `tests/data`.
pub const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data");

/// Runs the real `bluehelm` binary `bin` (from [`bluehelm_bin!`]) with `args`; returns (exit
/// code, stdout, stderr).
pub async fn run_cli<S: AsRef<std::ffi::OsStr>>(
    bin: &Path,
    args: impl IntoIterator<Item = S>,
) -> (i32, String, String) {
    let out = tokio::process::Command::new(bin)
        .args(args)
        .output()
        .await
        .expect("bluehelm runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `bluehelm pki SUBCOMMAND --ca CA ARGS` (the binary `bin`, from [`bluehelm_bin!`]) with
/// the network's CA directory as `--ca`, where `args` is the subcommand and its arguments; it
/// must succeed. Returns its stdout.
pub async fn pki_cli(bin: &Path, net: &TestNet, args: &[&str]) -> String {
    let ca = net.net.pki_dir();
    let mut all = vec!["pki", args[0], "--ca", ca.to_str().expect("a UTF-8 path")];
    all.extend_from_slice(&args[1..]);
    let (code, stdout, stderr) = run_cli(bin, &all).await;
    assert_eq!(code, 0, "bluehelm {all:?}: {stderr}");
    stdout
}

/// The DER of the first certificate in the PEM file at `path`.
pub fn certificate_der(path: &Path) -> Vec<u8> {
    let pem = std::fs::read(path).expect("certificate file");
    bluehelm_pki::pem_or_der(&pem, "CERTIFICATE")
        .expect("a certificate")
        .remove(0)
}

/// Renews `node`'s certificate and key as an operator does before a reload: `bluehelm pki
/// rotate` (the binary `bin`), then the new files copied over the ones its config names.
/// Returns the DER of the certificate it had and of the new one, which differ.
pub async fn renew_in_place(bin: &Path, net: &TestNet, node: &str) -> (Vec<u8>, Vec<u8>) {
    let pki = net.net.pki_dir();
    let (cert, key) = (
        pki.join(format!("{node}.pem")),
        pki.join(format!("{node}.key")),
    );
    let old = certificate_der(&cert);
    let out = tempfile::tempdir().expect("temporary folder");
    let new_files = out.path().join(node);
    let new_dir = new_files.to_str().expect("a UTF-8 path");
    pki_cli(bin, net, &["rotate", "--node", node, "--out", new_dir]).await;
    std::fs::copy(new_files.join(format!("{node}.pem")), &cert).expect("certificate copied");
    std::fs::copy(new_files.join(format!("{node}.key")), &key).expect("key copied");
    let new = certificate_der(&cert);
    assert!(new != old, "a new certificate for {node}");
    (old, new)
}

/// A `bluehelm run` process; killed (SIGKILL) when dropped unless stopped first.
pub struct NodeProcess {
    child: Child,
    pub config: PathBuf,
}

/// A node process's log (its standard error), line by line as it arrives.
#[derive(Clone, Default)]
pub struct LogLines(Arc<(Mutex<Vec<String>>, Condvar)>);

impl LogLines {
    /// Collects `stream`'s lines (echoing them to this test's stderr) until it closes.
    fn collect(&self, stream: impl std::io::Read + Send + 'static) {
        let shared = self.0.clone();
        std::thread::spawn(move || {
            let (lines, arrived) = &*shared;
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                eprintln!("{line}");
                let plain = without_colours(&line);
                lines.lock().unwrap_or_else(|p| p.into_inner()).push(plain);
                arrived.notify_all();
            }
        });
    }

    /// Every line so far.
    pub fn all(&self) -> Vec<String> {
        self.0 .0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits up to [`PATIENCE`] for a line containing `needle`; returns it. Woken by each
    /// new line, not by polling.
    pub fn wait_for(&self, needle: &str) -> String {
        let (lines, arrived) = &*self.0;
        let deadline = std::time::Instant::now() + PATIENCE;
        let mut lines = lines.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(line) = lines.iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(!left.is_zero(), "no log line with {needle:?}");
            lines = arrived
                .wait_timeout(lines, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// `line` without its ANSI colour sequences (`ESC [ … m`), so that fields read `key=value`.
fn without_colours(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| *c == 'm');
        } else {
            plain.push(c);
        }
    }
    plain
}

impl NodeProcess {
    /// Starts a node process of the binary `bin` (from [`bluehelm_bin!`]) and waits for its
    /// "listening on" / "running" line.
    pub fn start(bin: &Path, config: &Path) -> Self {
        Self::spawn(bin, config, Stdio::inherit(), None).0
    }

    /// [`NodeProcess::start`], also returning the line that said the node was up.
    pub fn start_with_ready_line(bin: &Path, config: &Path) -> (Self, String) {
        Self::spawn(bin, config, Stdio::inherit(), None)
    }

    /// [`NodeProcess::start`] with the process's log (stderr) sent to `stderr`.
    pub fn start_with_stderr(bin: &Path, config: &Path, stderr: impl Into<Stdio>) -> Self {
        Self::spawn(bin, config, stderr.into(), None).0
    }

    /// Like [`start`](Self::start), logging at info; returns the process and its log.
    pub fn start_logged(bin: &Path, config: &Path) -> (Self, LogLines) {
        let log = LogLines::default();
        (Self::spawn(bin, config, Stdio::piped(), Some(&log)).0, log)
    }

    /// Starts the node with its stderr sent to `stderr` (collected into `log` if given, with
    /// `stderr` piped); returns it and the line that said it was up.
    fn spawn(bin: &Path, config: &Path, stderr: Stdio, log: Option<&LogLines>) -> (Self, String) {
        let mut child = Command::new(bin)
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", if log.is_some() { "info" } else { "warn" })
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("bluehelm run starts");
        if let (Some(log), Some(stderr)) = (log, child.stderr.take()) {
            log.collect(stderr);
        }
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("listening on") || line.contains("running") => {
                    break line
                }
                Some(Ok(_)) => continue,
                _ => panic!(
                    "node process for {} exited before it was up",
                    config.display()
                ),
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let process = Self {
            child,
            config: config.to_owned(),
        };
        (process, ready)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then up to `limit` for the process to exit: its exit status, or `None` if it
    /// is still running (it is killed when dropped).
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.sigterm();
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(exit) = self.child.try_wait().expect("waitpid") {
                return Some(exit);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn sigterm(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Runs `bluehelm run` for a node that must refuse to start, with its default logging;
    /// returns its exit code and its standard error. Panics if it is still running after
    /// `within` (it started instead of refusing).
    pub fn refused(bin: &Path, config: &Path, within: Duration) -> (i32, String) {
        let mut child = Command::new(bin)
            .args(["run", "--config"])
            .arg(config)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bluehelm run starts");
        let deadline = std::time::Instant::now() + within;
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for the node") {
                break Some(status);
            }
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        match status {
            Some(status) => (status.code().unwrap_or(-1), stderr),
            None => panic!(
                "the node of {} was still running after {within:?} instead of refusing to start; its log:\n{stderr}",
                config.display()
            ),
        }
    }

    /// kill -9: no flush, no goodbye.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) {
        self.sigterm();
        let exit = self.child.wait().expect("reaped");
        assert!(exit.success(), "node exited with {exit}");
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `origin` has nothing queued for `hub` and `hub` nothing for `destination`: the
/// destination took custody of everything.
pub async fn drained(origin: &bluehelm::Node, hub: &bluehelm::Node, destination: &str) {
    let (to_hub, to_destination) = (hub.bureau().me().clone(), id(destination));
    eventually("origin and hub queues to drain", || async {
        let drained = origin.bureau().queue_depth(&to_hub) == 0
            && hub.bureau().queue_depth(&to_destination) == 0;
        drained.then_some(())
    })
    .await;
}

/// The standard network's specs, with `gs` answering both reference databases (`sltd`,
/// `smv`) itself.
pub fn specs_with_reference_services() -> Vec<NodeSpec> {
    let mut specs = standard_specs();
    let hub = &mut specs[0];
    assert_eq!(hub.id.as_str(), "gs");
    hub.services.push(("smv.check".into(), id("gs")));
    hub.reference_services = vec!["sltd".into(), "smv".into()];
    specs
}

/// A network of `specs` whose mission post listens for terminals on a free loopback port,
/// with a certificate for terminal `term1.unmiss` bound to it; returns the listener's address.
pub fn net_with_terminal(mut specs: Vec<NodeSpec>) -> (TestNet, std::net::SocketAddr) {
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free TCP port");
    let mission = specs
        .iter_mut()
        .find(|s| s.id.as_str() == "mission.unmiss")
        .expect("the standard network has a mission post");
    mission.terminal_listen = Some(address);
    let mut net = TestNet::with_specs(specs);
    net.net
        .add_terminal(&id("term1.unmiss"), &id("mission.unmiss"))
        .expect("terminal certificate");
    (net, address)
}
