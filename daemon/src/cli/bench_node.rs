//! `bluehelm bench-node` (hidden): the origin and destination processes of `bluehelm bench`.
//! The origin stamps each message with its send time; the destination, on the same machine
//! and clock, measures end-to-end latency when the message reaches its inbox.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bluehelm::custody::Outgoing;
use bluehelm::{Node, NodeConfig};
use bluehelm_proto::{Body, Destination, NodeId, Precedence, TextMessage};
use serde::{Deserialize, Serialize};

use super::out::outln;
use super::run::{runtime, wait_for_stop_signal};

/// FLASH messages sent during the flash-under-backlog drain, and their rate.
const FLASH_MESSAGES: usize = 200;
const FLASH_INTERVAL: Duration = Duration::from_millis(10);
/// The satellite scenario's FLASH messages, sent while the ROUTINE drain fills the link: one
/// every 200 ms for 10 s, well inside a drain of the default backlog (about 25 s at 2 Mbit/s).
const SATELLITE_FLASH_MESSAGES: usize = 50;
const SATELLITE_FLASH_INTERVAL: Duration = Duration::from_millis(200);
/// The satellite link's rate (bench.rs puts the proxy on the hub's link to the post).
pub const SATELLITE_BPS: u64 = 2_000_000;
/// Notices of about 1 KiB encoded, as the targets assume.
const PAYLOAD_BYTES: usize = 1024;
/// Origin submissions: batch size and how many batches may be in custody at once.
const SUBMIT_BATCH: usize = 128;
const SUBMITS_IN_FLIGHT: usize = 8;
/// The destination gives up after this long without a new message.
const SINK_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Throughput,
    Latency,
    FlashUnderBacklog,
    /// `sltd.check` requests from a mission post, answered by gs: one at a time.
    Check,
    /// A ROUTINE backlog drained to a post behind a GEO satellite link (600 ms round trip,
    /// 1 % loss, 2 Mbit/s, through the fault proxy), with FLASH messages sent meanwhile.
    Satellite,
    /// A backlog queued at the hub for an offline post, drained when it connects (issue 15,
    /// item 10; `bench_drain.rs`).
    Drain,
}

impl Scenario {
    pub fn default_messages(self) -> usize {
        match self {
            Self::Throughput => 50_000,
            // 1,000 msg/s for 10 s.
            Self::Latency => 10_000,
            // The ROUTINE backlog.
            Self::FlashUnderBacklog => 100_000,
            Self::Check => 1_000,
            // About 25 s of drain at 2 Mbit/s.
            Self::Satellite => 5_000,
            Self::Drain => super::bench_drain::DEFAULT_MESSAGES,
        }
    }
}

impl std::str::FromStr for Scenario {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "throughput" => Self::Throughput,
            "latency" => Self::Latency,
            "flash-under-backlog" => Self::FlashUnderBacklog,
            "check" => Self::Check,
            "satellite" => Self::Satellite,
            "drain" => Self::Drain,
            other => bail!(
                "unknown scenario {other:?}: use throughput, latency, flash-under-backlog, check, satellite, drain, fanout, links or all"
            ),
        })
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Throughput => "throughput",
            Self::Latency => "latency",
            Self::FlashUnderBacklog => "flash-under-backlog",
            Self::Check => "check",
            Self::Satellite => "satellite",
            Self::Drain => "drain",
        })
    }
}

/// What `bluehelm bench --json` prints per scenario.
#[derive(Debug, Serialize, Deserialize)]
pub struct BenchResult {
    pub scenario: String,
    /// Messages measured (for flash-under-backlog: the FLASH messages).
    pub messages: usize,
    pub msgs_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// flash-under-backlog: ROUTINE messages drained around the FLASH ones.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub backlog_messages: Option<usize>,
    /// flash-under-backlog and satellite: the ROUTINE drain's rate at the destination, from
    /// its first to its last message: how hard the backlog pressed on the FLASH ones.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub backlog_msgs_per_s: Option<f64>,
    /// satellite: the ROUTINE drain's signed envelopes, in bits per second over the drain,
    /// as a share of the link's 2 Mbit/s (0 to 1).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub goodput_ratio: Option<f64>,
    /// satellite: FLASH latency p99 while the drain saturates the link (as `p99_ms`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub flash_p99_ms: Option<f64>,
    /// Each process's user and system CPU per message delivered, microseconds (issue 16,
    /// item 3): set by `bench`, which reads /proc, not by the destination.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu_us_per_msg: Option<super::bench_cpu::CpuPerMessage>,
    pub cores: usize,
}

impl BenchResult {
    pub fn human(&self) -> String {
        let mut s = format!(
            "{:<20} {:>7} msgs  {:>9.0} msg/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            self.scenario, self.messages, self.msgs_per_s, self.p50_ms, self.p99_ms, self.max_ms
        );
        if let Some(backlog) = self.backlog_messages {
            s.push_str(&format!(
                "  (FLASH only; {backlog} ROUTINE drained alongside"
            ));
            if let Some(rate) = self.backlog_msgs_per_s {
                s.push_str(&format!(" at {rate:.0} msg/s"));
            }
            s.push(')');
        }
        if let Some(goodput) = self.goodput_ratio {
            s.push_str(&format!("  goodput {:.0} % of the link", goodput * 100.0));
        }
        if let Some(cpu) = &self.cpu_us_per_msg {
            s.push_str(&format!("\n{:<20} {}", "", cpu.human()));
        }
        s
    }
}

#[derive(Debug, clap::Args)]
pub struct BenchNodeArgs {
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub scenario: Scenario,
    #[arg(long)]
    pub messages: usize,
    #[command(subcommand)]
    pub role: BenchRole,
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchRole {
    /// Send the scenario's traffic to `--to`.
    Source {
        #[arg(long)]
        to: NodeId,
    },
    /// Receive, measure, and write the result to `--out`.
    Sink {
        #[arg(long)]
        out: PathBuf,
    },
    /// Send `sltd.check` requests one at a time through the node's API, measure each
    /// round trip, and write the result to `--out`.
    Checker {
        #[arg(long)]
        out: PathBuf,
    },
}

fn now_us() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

pub fn run(args: BenchNodeArgs) -> anyhow::Result<ExitCode> {
    // Its nodes' storage is private from the start, sled's own files too (as `run`'s).
    bluehelm::store::private::make_new_files_private();
    let config = NodeConfig::load(&args.config)?;
    runtime()?.block_on(async move {
        let node = Node::start(config).await?;
        let outcome = match &args.role {
            BenchRole::Source { to } => source(&node, &args, to.clone()).await,
            BenchRole::Sink { out } => {
                let measured = sink(&node, &args, out).await;
                if measured.is_ok() {
                    // `bench` reads this process's CPU time after "sink done": alive until
                    // it says so (or goes).
                    wait_for_parent().await;
                }
                measured
            }
            BenchRole::Checker { out } => checker(&node, &args, out).await,
        };
        node.shutdown().await;
        outcome.map(|()| ExitCode::SUCCESS)
    })
}

/// Until the parent writes a line or closes our stdin.
async fn wait_for_parent() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    })
    .await;
}

async fn wait_for_go() -> anyhow::Result<()> {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        anyhow::ensure!(line.trim() == "go", "expected \"go\" on stdin");
        Ok(())
    })
    .await?
}

fn outgoing(to: &NodeId, precedence: Precedence) -> Outgoing {
    // A text message of about 1 KiB between bureaus: what the role policy lets an NCB send
    // to another (issue 12 refuses a notice request that does not go to the hub).
    let body = Body::Text(TextMessage {
        subject_line: format!("bench-sent-us={:020}", now_us()),
        body: "x".repeat(PAYLOAD_BYTES.saturating_sub(160)),
        attachments: vec![],
    });
    Outgoing {
        destination: Destination::Node(to.clone()),
        precedence,
        body,
        ttl: Duration::from_secs(3600),
        want_delivery_report: false,
        release_to: None,
        correlation_id: None,
    }
}

/// Submits `count` messages as fast as custody at the origin allows, counting those in
/// custody in `submitted`.
pub(super) async fn burst(
    node: &Node,
    to: &NodeId,
    count: usize,
    precedence: Precedence,
    submitted: &Arc<AtomicUsize>,
) -> anyhow::Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(SUBMITS_IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    let mut left = count;
    while left > 0 {
        let n = left.min(SUBMIT_BATCH);
        left -= n;
        let permit = permits.clone().acquire_owned().await?;
        let core = node.bureau().clone();
        let batch: Vec<Outgoing> = (0..n).map(|_| outgoing(to, precedence)).collect();
        let submitted = submitted.clone();
        tasks.spawn(async move {
            let result = core.submit(batch).await;
            drop(permit);
            if result.is_ok() {
                submitted.fetch_add(n, Ordering::Relaxed);
            }
            result
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn source(node: &Node, args: &BenchNodeArgs, to: NodeId) -> anyhow::Result<()> {
    let hub: NodeId = "gs".parse()?;
    if args.scenario != Scenario::Drain {
        // The bench reads this process's CPU here: what follows is the messages' cost.
        outln!("source ready")?;
    }
    match args.scenario {
        Scenario::Check => bail!("the check scenario has no source: use the checker role"),
        Scenario::Drain => super::bench_drain::fill(node, &to, args.messages).await?,
        Scenario::Throughput => {
            wait_for_go().await?;
            burst(
                node,
                &to,
                args.messages,
                Precedence::Routine,
                &Arc::default(),
            )
            .await?;
        }
        Scenario::Latency => {
            wait_for_go().await?;
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..args.messages {
                tick.tick().await;
                let core = node.bureau().clone();
                let message = outgoing(&to, Precedence::Routine);
                tasks.spawn(async move { core.submit(vec![message]).await });
                while let Some(done) = tasks.try_join_next() {
                    done??;
                }
            }
            while let Some(done) = tasks.join_next().await {
                done??;
            }
        }
        Scenario::FlashUnderBacklog | Scenario::Satellite => {
            burst(
                node,
                &to,
                args.messages,
                Precedence::Routine,
                &Arc::default(),
            )
            .await?;
            while node.bureau().queue_depth(&hub) > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            outln!("backlog-ready")?;
            wait_for_go().await?;
            let (count, interval) = flash_traffic(args.scenario);
            let mut tick = tokio::time::interval(interval);
            for _ in 0..count {
                tick.tick().await;
                let message = outgoing(&to, Precedence::Flash);
                node.bureau().submit(vec![message]).await?;
            }
        }
    }
    // Keep serving until the parent stops us: our queue may still be draining.
    wait_for_stop_signal().await;
    Ok(())
}

/// The FLASH messages a scenario sends during its drain, and how far apart.
fn flash_traffic(scenario: Scenario) -> (usize, Duration) {
    match scenario {
        Scenario::Satellite => (SATELLITE_FLASH_MESSAGES, SATELLITE_FLASH_INTERVAL),
        Scenario::FlashUnderBacklog => (FLASH_MESSAGES, FLASH_INTERVAL),
        _ => (0, Duration::ZERO),
    }
}

/// The ROUTINE bytes a drain delivered and when its first and last message arrived.
#[derive(Default)]
struct Drain {
    messages: u64,
    bytes: u64,
    first_us: Option<i64>,
    last_us: i64,
}

impl Drain {
    fn add(&mut self, bytes: usize, now_us: i64) {
        self.messages += 1;
        self.bytes += bytes as u64;
        self.first_us.get_or_insert(now_us);
        self.last_us = now_us;
    }

    /// Bits per second over the drain, as a share of `link_bps`.
    fn ratio(&self, link_bps: u64) -> Option<f64> {
        self.seconds()
            .map(|s| self.bytes as f64 * 8.0 / s / link_bps as f64)
    }

    /// Messages per second over the drain.
    fn rate(&self) -> Option<f64> {
        self.seconds().map(|s| self.messages as f64 / s)
    }

    /// From the first message to the last, if that took any time.
    fn seconds(&self) -> Option<f64> {
        let span_us = self.last_us - self.first_us?;
        (span_us > 0).then(|| span_us as f64 / 1e6)
    }
}

async fn sink(node: &Node, args: &BenchNodeArgs, out: &PathBuf) -> anyhow::Result<()> {
    if args.scenario == Scenario::Drain {
        return super::bench_drain::sink(node, args.messages, out).await;
    }
    let hub: NodeId = "gs".parse()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !node.is_linked(&hub) {
        if Instant::now() > deadline {
            bail!("the destination could not link with the hub");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    outln!("sink ready")?;
    let flash_only = matches!(
        args.scenario,
        Scenario::FlashUnderBacklog | Scenario::Satellite
    );
    let expected = args.messages + flash_traffic(args.scenario).0;
    let mut drain = Drain::default();
    let mut changes = node.bureau().inbox_changes();
    let mut cursor = None;
    let mut received = 0;
    let mut latencies_ms = Vec::with_capacity(expected);
    let mut acks = tokio::task::JoinSet::new();
    let (mut first_sent_us, mut last_received_us) = (i64::MAX, 0);
    while received < expected {
        changes.borrow_and_update();
        let batch = node.bureau().inbox(cursor, 512).await?;
        if batch.is_empty() {
            tokio::time::timeout(SINK_IDLE_TIMEOUT, changes.changed())
                .await
                .with_context(|| format!("only {received} of {expected} messages arrived"))??;
            continue;
        }
        let now = now_us();
        let mut seqs = Vec::with_capacity(batch.len());
        for message in &batch {
            seqs.push(message.seq);
            cursor = Some(message.seq);
            received += 1;
            let Body::Text(text) = &message.envelope.body else {
                continue;
            };
            let Some(sent) = text
                .subject_line
                .strip_prefix("bench-sent-us=")
                .and_then(|s| s.parse::<i64>().ok())
            else {
                continue;
            };
            if flash_only && message.envelope.precedence != Precedence::Flash {
                drain.add(message.signed.encode_to_vec().len(), now);
                continue;
            }
            first_sent_us = first_sent_us.min(sent);
            last_received_us = now;
            latencies_ms.push((now - sent) as f64 / 1000.0);
        }
        // A bureau application acknowledges while it reads on: waiting for each
        // acknowledgement's fsync before the next read would add it to every message's latency.
        let core = node.bureau().clone();
        acks.spawn(async move { core.ack_inbox(&seqs).await });
        while let Some(done) = acks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = acks.join_next().await {
        done??;
    }
    let span_s = (last_received_us - first_sent_us).max(1) as f64 / 1e6;
    let mut result = summarise(args.scenario, &mut latencies_ms, span_s);
    result.backlog_messages = flash_only.then_some(args.messages);
    result.backlog_msgs_per_s = drain.rate();
    if args.scenario == Scenario::Satellite {
        result.goodput_ratio = drain.ratio(SATELLITE_BPS);
        result.flash_p99_ms = Some(result.p99_ms);
    }
    std::fs::write(out, serde_json::to_string(&result)?)?;
    outln!("sink done")?;
    Ok(())
}

/// Percentiles of latencies in milliseconds (sorted in place).
fn summarise(scenario: Scenario, latencies_ms: &mut [f64], span_s: f64) -> BenchResult {
    latencies_ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        let i = ((latencies_ms.len() as f64 * p).ceil() as usize)
            .clamp(1, latencies_ms.len().max(1))
            - 1;
        latencies_ms.get(i).copied().unwrap_or(f64::NAN)
    };
    BenchResult {
        scenario: scenario.to_string(),
        messages: latencies_ms.len(),
        msgs_per_s: latencies_ms.len() as f64 / span_s.max(1e-6),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: latencies_ms.last().copied().unwrap_or(f64::NAN),
        backlog_messages: None,
        backlog_msgs_per_s: None,
        goodput_ratio: None,
        flash_p99_ms: None,
        cpu_us_per_msg: None,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
    }
}

/// Sequential `sltd.check` round trips from this node (a mission post) to gs and back,
/// half of them hits, through the node's own API socket as a bureau application would.
async fn checker(node: &Node, args: &BenchNodeArgs, out: &PathBuf) -> anyhow::Result<()> {
    use bluehelm::api::{client::connect, pb};
    let hub: NodeId = "gs".parse()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !node.is_linked(&hub) {
        if Instant::now() > deadline {
            bail!("the mission post could not link with the hub");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut api = connect(&node.bureau().config().api_socket).await?;
    let mut latencies_ms = Vec::with_capacity(args.messages);
    let started = Instant::now();
    for i in 0..args.messages {
        // Records X0000000..X0000999 were imported; odd checks ask for unknown documents.
        let number = if i % 2 == 0 {
            format!("X{:07}", i % 1000)
        } else {
            format!("Z{i:07}")
        };
        let call = pb::ServiceCall {
            service: "sltd.check".into(),
            params: [
                ("document_number".to_owned(), number),
                ("issuing_country".to_owned(), "FR".to_owned()),
            ]
            .into_iter()
            .collect(),
            timeout_seconds: 10,
            ttl_seconds: 0,
            precedence: pb::Precedence::Immediate as i32,
            purpose: String::new(),
            local_only: false,
            attachment: None,
        };
        let sent = Instant::now();
        let answer = api.request(call).await?.into_inner();
        latencies_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(answer.response.is_some(), "check {i} got no response");
    }
    let result = summarise(
        args.scenario,
        &mut latencies_ms,
        started.elapsed().as_secs_f64(),
    );
    std::fs::write(out, serde_json::to_string(&result)?)?;
    outln!("sink done")?;
    Ok(())
}
