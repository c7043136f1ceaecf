//! `bluehelm bench --scenario NAME [--json]`: origin -> hub -> destination as three separate
//! processes on loopback, with the real durable path (fsync per commit group) and signatures
//! checked at the hub and the destination. The origin and destination run `bluehelm
//! bench-node` (hidden), the hub plain `bluehelm run`.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{bail, Context};
use bluehelm::localnet::{LocalNet, NodeSpec};

use bluehelm_faultproxy::{FaultProxy, Impairments};

use super::bench_cpu::{CpuReading, Readings};
use super::bench_node::{BenchResult, Scenario, SATELLITE_BPS};
use super::out::outln;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// throughput, latency, flash-under-backlog, check, satellite, all; sync, check-local
    /// or nominal (field databases: --messages is then the number of records); drain, fanout
    /// or links (scale, issue 15: --peers sets fanout's NCBs and links' peers).
    #[arg(long)]
    pub scenario: String,
    /// Print one JSON object per scenario instead of text.
    #[arg(long)]
    pub json: bool,
    /// Messages to send (default: per scenario).
    #[arg(long)]
    pub messages: Option<usize>,
    /// fanout: NCBs the notice is published to (default 200); links: peers that connect to
    /// the hub (default 500).
    #[arg(long)]
    pub peers: Option<usize>,
    /// Keep the network's files here instead of a temporary folder.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// nominal only, with --dir: run the queries again on the replica an earlier run left in
    /// --dir (same --messages), without building, importing or syncing anew.
    #[arg(long, requires = "dir")]
    pub reuse: bool,
    /// The nodes' audit log (issue 14): `on` (the default, as in production) or `off`, to
    /// measure what it costs.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    pub audit: String,
    /// drain only: once the hub holds the backlog, kill it (SIGKILL) and start it again
    /// before the post links up, to time a restart with the backlog queued.
    #[arg(long)]
    pub restart_hub: bool,
    /// sync only: the percentage of the records released to the replica (1-100, default
    /// 100); the others are marked `release_to = FR`, spread evenly through the import, so
    /// that the replica gets part of each signed batch with its multiproof.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub released: Option<u8>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.reuse && args.scenario != "nominal" {
        anyhow::bail!("--reuse works with --scenario nominal only");
    }
    if args.restart_hub && args.scenario != "drain" {
        anyhow::bail!("--restart-hub works with --scenario drain only");
    }
    if args.released.is_some() && args.scenario != "sync" {
        anyhow::bail!("--released works with --scenario sync only");
    }
    if args.peers.is_some() && !matches!(args.scenario.as_str(), "fanout" | "links") {
        anyhow::bail!("--peers works with --scenario fanout or links only");
    }
    if matches!(
        args.scenario.as_str(),
        "sync" | "check-local" | "nominal" | "drain" | "fanout" | "links"
    ) {
        let temp = tempfile::tempdir().context("cannot create a temporary folder")?;
        let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_owned());
        match args.scenario.as_str() {
            "nominal" => super::bench_nominal::run(&dir, args.messages, args.reuse, args.json)?,
            "drain" => super::bench_drain::run(&dir, args.messages, args.restart_hub, args.json)?,
            "fanout" => super::bench_fanout::run(&dir, args.peers, args.json)?,
            "links" => super::bench_links::run(&dir, args.peers, args.json)?,
            _ => super::bench_sync::run(
                &args.scenario,
                &dir,
                args.messages,
                args.released.unwrap_or(100),
                args.json,
            )?,
        }
        return Ok(ExitCode::SUCCESS);
    }
    let scenarios = match args.scenario.as_str() {
        "all" => vec![
            Scenario::Throughput,
            Scenario::Latency,
            Scenario::FlashUnderBacklog,
        ],
        name => vec![name.parse::<Scenario>()?],
    };
    for scenario in scenarios {
        let temp = tempfile::tempdir().context("cannot create a temporary folder")?;
        let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_owned());
        let result = run_scenario(scenario, &dir, args.messages, args.audit == "on")?;
        if args.json {
            outln!("{}", serde_json::to_string(&result)?)?;
        } else {
            outln!("{}", result.human())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A child process that is stopped when dropped.
pub(super) struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    pub(super) fn spawn(
        name: &'static str,
        args: &[&str],
    ) -> anyhow::Result<(Self, BufReader<std::process::ChildStdout>, ChildStdin)> {
        let exe = std::env::current_exe().context("cannot find the bluehelm binary")?;
        let mut child = Command::new(exe)
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start the {name} process"))?;
        let stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let stdin = child.stdin.take().context("no stdin")?;
        Ok((Self { name, child }, stdout, stdin))
    }

    /// The child's process id.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a line of the child's stdout that contains `marker`.
    pub(super) fn wait_line(
        &self,
        out: &mut BufReader<std::process::ChildStdout>,
        marker: &str,
    ) -> anyhow::Result<String> {
        let mut line = String::new();
        loop {
            line.clear();
            if out.read_line(&mut line)? == 0 {
                bail!("the {} process ended before printing {marker:?}", self.name);
            }
            if line.contains(marker) {
                return Ok(line.trim().to_owned());
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_scenario(
    scenario: Scenario,
    dir: &Path,
    messages: Option<usize>,
    audit: bool,
) -> anyhow::Result<BenchResult> {
    if scenario == Scenario::Check {
        return run_check(dir, messages.unwrap_or(scenario.default_messages()));
    }
    let mut net = LocalNet::create(dir)?;
    let mut hub = NodeSpec::hub("gs", bluehelm::localnet::free_loopback_addr());
    let mut origin = NodeSpec::ncb("ncb.fr", "FR", &hub);
    let satellite = scenario == Scenario::Satellite;
    // On the satellite scenario the destination is a mission post whose link to the hub
    // goes through the fault proxy; the proxy's runtime lives as long as the scenario.
    let (mut destination, _proxy) = if satellite {
        let (proxy, runtime) = satellite_proxy(hub.listen.context("the hub listens")?)?;
        let mut post = NodeSpec::mission("mission.unmiss", "UNMISS", &hub);
        post.peers = vec![(hub.id.clone(), Some(proxy.address()))];
        (post, Some((proxy, runtime)))
    } else {
        (NodeSpec::ncb("ncb.ke", "KE", &hub), None)
    };
    hub.peers = vec![(origin.id.clone(), None), (destination.id.clone(), None)];
    for spec in [&mut hub, &mut origin, &mut destination] {
        if !audit {
            spec.audit = Some("enabled = false".into());
        }
        net.add(spec)?;
    }
    let to = destination.id.to_string();
    let config = |name: &str| dir.join(format!("{name}.toml")).display().to_string();
    let count = messages.unwrap_or(scenario.default_messages()).to_string();
    let result_path = dir.join("result.json");
    let result = result_path.display().to_string();
    let scenario_name = scenario.to_string();

    let (hub_proc, mut hub_out, _hub_in) = Proc::spawn("hub", &["run", "--config", &config("gs")])?;
    hub_proc.wait_line(&mut hub_out, "listening on")?;
    let hub_started = CpuReading::of(hub_proc.pid());
    let sink_args = [
        "bench-node",
        "--config",
        &config(&to),
        "--scenario",
        &scenario_name,
        "--messages",
        &count,
        "sink",
        "--out",
        &result,
    ];
    let source_args = [
        "bench-node",
        "--config",
        &config("ncb.fr"),
        "--scenario",
        &scenario_name,
        "--messages",
        &count,
        "source",
        "--to",
        &to,
    ];
    let started = Instant::now();
    let (sink, mut sink_out, _sink_in);
    let (source, mut source_out, mut source_in);
    let (source_started, sink_started);
    if matches!(scenario, Scenario::FlashUnderBacklog | Scenario::Satellite) {
        // The backlog builds at the hub while the destination is offline; FLASH traffic
        // starts as soon as the destination is back and draining it.
        (source, source_out, source_in) = Proc::spawn("origin", &source_args)?;
        source.wait_line(&mut source_out, "source ready")?;
        source_started = CpuReading::of(source.pid());
        source.wait_line(&mut source_out, "backlog-ready")?;
        (sink, sink_out, _sink_in) = Proc::spawn("destination", &sink_args)?;
        sink.wait_line(&mut sink_out, "sink ready")?;
        sink_started = CpuReading::of(sink.pid());
        writeln!(source_in, "go")?;
    } else {
        (sink, sink_out, _sink_in) = Proc::spawn("destination", &sink_args)?;
        sink.wait_line(&mut sink_out, "sink ready")?;
        sink_started = CpuReading::of(sink.pid());
        (source, source_out, source_in) = Proc::spawn("origin", &source_args)?;
        source.wait_line(&mut source_out, "source ready")?;
        source_started = CpuReading::of(source.pid());
        writeln!(source_in, "go")?;
    }
    let done = sink.wait_line(&mut sink_out, "sink done");
    // Each process from the moment it was ready (its node started, the custody log files
    // written, sled open) to the last message delivered: the messages' cost, not the start's.
    let cpu = Readings::of(source.pid(), hub_proc.pid(), sink.pid()).since(Readings {
        origin: source_started,
        hub: hub_started,
        destination: sink_started,
    });
    drop((source, source_out, source_in, hub_proc));
    done?;
    let text = std::fs::read_to_string(&result_path).context("the destination wrote no result")?;
    let mut result: BenchResult = serde_json::from_str(&text)?;
    let delivered = result.messages + result.backlog_messages.unwrap_or(0);
    result.cpu_us_per_msg = Some(cpu.per_message(delivered));
    tracing::info!(elapsed = ?started.elapsed(), "scenario finished");
    Ok(result)
}

/// The fault proxy with the satellite link's settings in front of the hub, on a runtime of
/// its own (this process runs no other).
fn satellite_proxy(
    hub: std::net::SocketAddr,
) -> anyhow::Result<(FaultProxy, tokio::runtime::Runtime)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the proxy's runtime")?;
    let mut link = Impairments::satellite();
    link.bandwidth_bps = Some(SATELLITE_BPS);
    let proxy = runtime.block_on(FaultProxy::start(hub, link))?;
    Ok((proxy, runtime))
}

/// `check`: a mission post sends `sltd.check` requests, one at a time, through its API; gs
/// (a separate process, with 1,000 stolen passports imported) answers from its database.
fn run_check(dir: &Path, count: usize) -> anyhow::Result<BenchResult> {
    let mut net = LocalNet::create(dir)?;
    let mut hub = NodeSpec::hub("gs", bluehelm::localnet::free_loopback_addr());
    let mission = NodeSpec::mission("mission.unmiss", "UNMISS", &hub);
    // gs owns the records (a node imports only its own): no hit notification leaves it.
    hub.peers = vec![(mission.id.clone(), None), ("ncb.fr".parse()?, None)];
    hub.services = vec![("sltd.check".into(), hub.id.clone())];
    hub.reference_services = vec!["sltd".into()];
    for spec in [&hub, &mission] {
        net.add(spec)?;
    }
    let config = |name: &str| dir.join(format!("{name}.toml")).display().to_string();
    let mut csv = String::from(
        "document_number,issuing_country,document_type,status,owner_bureau,reported_at,instructions\n",
    );
    for i in 0..1000 {
        csv.push_str(&format!(
            "X{i:07},FR,passport,stolen,gs,2026-03-01,Seize the document\n"
        ));
    }
    let csv_path = dir.join("sltd.csv");
    std::fs::write(&csv_path, csv)?;

    let (hub_proc, mut hub_out, _hub_in) = Proc::spawn("hub", &["run", "--config", &config("gs")])?;
    hub_proc.wait_line(&mut hub_out, "listening on")?;
    let exe = std::env::current_exe().context("cannot find the bluehelm binary")?;
    let import = Command::new(exe)
        .args(["service", "import", "sltd"])
        .arg(&csv_path)
        .args(["--config", &config("gs")])
        .output()?;
    anyhow::ensure!(
        import.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&import.stderr)
    );
    let result_path = dir.join("result.json");
    let count = count.to_string();
    let (checker, mut checker_out, _checker_in) = Proc::spawn(
        "mission post",
        &[
            "bench-node",
            "--config",
            &config("mission.unmiss"),
            "--scenario",
            "check",
            "--messages",
            &count,
            "checker",
            "--out",
            &result_path.display().to_string(),
        ],
    )?;
    let done = checker.wait_line(&mut checker_out, "sink done");
    drop((checker, hub_proc));
    done?;
    let text = std::fs::read_to_string(&result_path).context("the mission post wrote no result")?;
    Ok(serde_json::from_str(&text)?)
}
