//! `bluehelm bench --scenario links` (issue 15, item 10): N peers (default 500) link with one
//! hub, a `bluehelm run` process of its own. Each peer is a light link client in this
//! process, with a mission-post certificate of its own from the network's CA and a UDP
//! socket (QUIC endpoint) of its own: it does what a node's dialler does to bring a link up
//! (the QUIC and TLS 1.3 handshake with mutual certificates, then a first ping that the hub
//! answers only once it has admitted the link), answers the CRL the hub sends first on every
//! link, and then keeps the link idle (QUIC keep-alives every 500 ms). Peers dial 32 at a
//! time, the hub's own limit on handshakes in progress (`net::endpoint::MAX_HANDSHAKES`); a
//! dial the hub refuses all the same is retried and counted.
//!
//! Measured: handshakes per second while they all connect, and the hub's resident memory
//! before and with every link up, shared out per link.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bluehelm::localnet::{free_loopback_addr, LocalNet, NodeSpec};
use bluehelm::net::frames::{read_frame, write_frames};
use bluehelm::net::tls;
use bluehelm_pki::{IssueRequest, NodeCredentials, Role, TrustStore};
use bluehelm_proto::framing::DEFAULT_MAX_FRAME;
use bluehelm_proto::{LinkFrame, NodeId};
use quinn::{Connection, Endpoint};
use tokio::sync::Semaphore;

use super::bench::Proc;
use super::bench_figures::{cpu_seconds_of, mib, per_link_kib, percentile, rate, Memory};
use super::bench_sync::print;
use super::progress::Progress;

/// The issue's number of peers.
const DEFAULT_PEERS: usize = 500;
/// Dials in progress at once: the hub refuses more (`MAX_HANDSHAKES`).
const DIALS_AT_ONCE: usize = bluehelm::net::endpoint::MAX_HANDSHAKES;
/// Tries per peer before the scenario fails (a refused dial is retried after a pause).
const TRIES: usize = 50;
const RETRY_PAUSE: Duration = Duration::from_millis(20);
/// How long a dial plus its first ping may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Left to the hub before its memory is read: the links' first exchanges (CRL, keep-alives)
/// are done and its allocator has settled.
const SETTLE: Duration = Duration::from_secs(3);

/// One peer's link, kept open until the scenario ends.
struct Linked {
    conn: Connection,
    _endpoint: Endpoint,
    /// From the dial to the first ping answered, across retries.
    ms: f64,
    tries: usize,
}

pub fn run(dir: &Path, peers: Option<usize>, json: bool) -> anyhow::Result<()> {
    let n = peers.unwrap_or(DEFAULT_PEERS);
    anyhow::ensure!(n > 0, "--peers must be at least 1");
    let mut net = LocalNet::create(dir)?;
    let mut hub = NodeSpec::hub("gs", free_loopback_addr());
    // The default allows 256 peers (`[limits] max_peers`): a hub for more must say so.
    hub.limits = Some(format!("max_peers = {}", n + 16));
    net.add(&hub)?;
    let hub_addr = hub.listen.context("the hub listens")?;
    let mut creds = Vec::with_capacity(n);
    for i in 0..n {
        let issued = net.ca().issue(&IssueRequest {
            node: format!("post-{i:04}").parse()?,
            role: Role::Mission,
            country: None,
            mission: Some(format!("M{i:04}")),
            home: None,
            days: 30,
        })?;
        creds.push(NodeCredentials::from_pem(
            issued.cert_pem.as_bytes(),
            issued.key_pem.as_bytes(),
        )?);
    }
    let pki = net.pki_dir();
    let trust = TrustStore::load(&pki.join("ca.pem"), Some(&pki.join("crl.pem")))?;

    let config = dir.join("gs.toml").display().to_string();
    let (hub_proc, mut hub_out, _hub_in) = Proc::spawn("hub", &["run", "--config", &config])?;
    hub_proc.wait_line(&mut hub_out, "listening on")?;
    std::thread::sleep(SETTLE);
    let idle = Memory::of(hub_proc.pid());
    let cpu_before = cpu_seconds_of(hub_proc.pid());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let hub_id = hub.id.clone();
    let (links, seconds) = runtime.block_on(connect_all(creds, trust, hub_addr, hub_id))?;
    let cpu = cpu_seconds_of(hub_proc.pid()) - cpu_before;
    std::thread::sleep(SETTLE);
    let open = links
        .iter()
        .filter(|l| l.conn.close_reason().is_none())
        .count();
    let linked = Memory::of(hub_proc.pid());
    anyhow::ensure!(
        open == n,
        "only {open} of {n} links were still up after {SETTLE:?}"
    );
    let mut ms: Vec<f64> = links.iter().map(|l| l.ms).collect();
    ms.sort_by(f64::total_cmp);
    let retried = links.iter().map(|l| l.tries - 1).sum::<usize>();
    let handshakes_per_s = rate(n, seconds);
    let per_link = per_link_kib(idle.rss_kib, linked.rss_kib, n);
    // The hub first, so that it logs no link going down.
    drop(hub_proc);
    drop(links);
    drop(runtime);

    let result = serde_json::json!({
        "scenario": "links",
        "peers": n,
        "seconds": seconds,
        "handshakes_per_s": handshakes_per_s.round(),
        "handshake_p50_ms": percentile(&ms, 0.5),
        "handshake_p99_ms": percentile(&ms, 0.99),
        "dials_retried": retried,
        "hub_rss_idle_mib": mib(idle.rss_kib),
        "hub_rss_mib": mib(linked.rss_kib),
        "hub_max_rss_mib": mib(linked.peak_kib),
        "rss_per_link_kib": per_link.round(),
        "hub_cpu_s": (cpu * 100.0).round() / 100.0,
        "cores": std::thread::available_parallelism().map_or(0, |c| c.get()),
    });
    print(
        json,
        &result,
        &format!(
            "links: {n} peers linked with the hub in {seconds:.2} s: {handshakes_per_s:.0} handshakes/s \
             (p50 {:.1} ms, p99 {:.1} ms, {retried} dials retried); hub RSS {:.1} MiB idle, \
             {:.1} MiB with every link up: {per_link:.0} KiB per link",
            percentile(&ms, 0.5),
            percentile(&ms, 0.99),
            mib(idle.rss_kib),
            mib(linked.rss_kib),
        ),
    )
}

/// Links every peer of `creds` with the hub, [`DIALS_AT_ONCE`] at a time; the links and the
/// seconds from the first dial to the last link up.
async fn connect_all(
    creds: Vec<NodeCredentials>,
    trust: TrustStore,
    hub_addr: SocketAddr,
    hub: NodeId,
) -> anyhow::Result<(Vec<Linked>, f64)> {
    let progress = Arc::new(Progress::new("links up", creds.len()));
    let dials = Arc::new(Semaphore::new(DIALS_AT_ONCE));
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    for peer in creds {
        let config = tls::client_config(&peer, &trust, DEFAULT_MAX_FRAME)?;
        let (dials, hub) = (dials.clone(), hub.clone());
        tasks.spawn(async move {
            let _dial = dials.acquire_owned().await?;
            let began = Instant::now();
            let endpoint = Endpoint::client("127.0.0.1:0".parse()?)?;
            let mut tries = 0;
            let conn = loop {
                tries += 1;
                match tokio::time::timeout(DIAL_TIMEOUT, link(&endpoint, &config, hub_addr, &hub))
                    .await
                {
                    Ok(Ok(conn)) => break conn,
                    failed if tries >= TRIES => {
                        let why = match failed {
                            Ok(Err(err)) => err,
                            _ => anyhow::anyhow!("timed out"),
                        };
                        return Err(why.context(format!("no link after {tries} dials")));
                    }
                    _ => tokio::time::sleep(RETRY_PAUSE).await,
                }
            };
            tokio::spawn(answer_streams(conn.clone()));
            let ms = began.elapsed().as_secs_f64() * 1000.0;
            Ok::<_, anyhow::Error>((
                Linked {
                    conn,
                    _endpoint: endpoint,
                    ms,
                    tries,
                },
                Instant::now(),
            ))
        });
    }
    let mut links = Vec::with_capacity(tasks.len());
    let mut last = started;
    while let Some(done) = tasks.join_next().await {
        let (linked, at) = done??;
        last = last.max(at);
        links.push(linked);
        progress.set(links.len());
    }
    progress.finish();
    Ok((links, last.duration_since(started).as_secs_f64()))
}

/// What a node's dialler does to bring a link up: the handshake, then a first ping, which
/// the hub answers only once it has admitted the link.
async fn link(
    endpoint: &Endpoint,
    config: &quinn::ClientConfig,
    hub_addr: SocketAddr,
    hub: &NodeId,
) -> anyhow::Result<Connection> {
    let conn = endpoint
        .connect_with(config.clone(), hub_addr, &tls::server_name(hub))?
        .await?;
    let (mut send, mut recv) = conn.open_bi().await?;
    let nonce: u64 = rand::random();
    write_frames(&mut send, &[LinkFrame::Ping(nonce)]).await?;
    match read_frame(&mut recv, DEFAULT_MAX_FRAME).await? {
        Some(LinkFrame::Pong(n)) if n == nonce => Ok(conn),
        other => anyhow::bail!("the hub did not answer the first ping: {other:?}"),
    }
}

/// Serves the streams the hub opens: a CRL is answered as a node does once it has dealt with
/// it (by ending its side of the stream); the hub has nothing else to send an idle peer.
async fn answer_streams(conn: Connection) {
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        if let Ok(Some(LinkFrame::Crl(_))) = read_frame(&mut recv, DEFAULT_MAX_FRAME).await {
            let _ = send.finish();
        }
    }
}
