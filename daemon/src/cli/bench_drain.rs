//! `bluehelm bench --scenario drain` (issue 15, item 10): a backlog of N messages (default
//! 1,000,000) queued at the hub for a mission post that is offline, then the post connects
//! and takes them all. Origin (`ncb.fr`), hub (`gs`) and post (`mission.unmiss`) are three
//! processes on loopback, with the real durable path: the hub holds every message in
//! custody (fsynced) before the post starts, and the post's inbox holds each one durably
//! before the bench, reading it back as a bureau application, acknowledges it.
//!
//! Timed: from the post's link-up to the acknowledgement of the last message
//! (`msg_per_s`). Also: the hub's peak resident memory over the whole run (`VmHWM`: the fill
//! and the drain) and the CPU seconds each process used during the drain.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bluehelm::localnet::{free_loopback_addr, LocalNet, NodeSpec};
use bluehelm::Node;
use bluehelm_proto::{NodeId, Precedence};
use serde::{Deserialize, Serialize};

use super::bench::Proc;
use super::bench_figures::{cpu_by_thread, cpu_delta, cpu_seconds_of, mib, rate, Memory};
use super::bench_sync::print;
use super::out::outln;
use super::progress::{follow, Progress, PROGRESS};

/// The backlog.
pub const DEFAULT_MESSAGES: usize = 1_000_000;
/// How often the origin and the post print their progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// Inbox messages the post reads at once.
const READ_BATCH: usize = 1024;
/// The post gives up after this long without a new message.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the post's process writes for the bench.
#[derive(Debug, Serialize, Deserialize)]
pub struct DrainSinkResult {
    /// Distinct messages read and acknowledged.
    pub messages: usize,
    /// From link-up to the last acknowledgement.
    pub seconds: f64,
    /// Copies of a message already read (must be 0).
    pub duplicated: usize,
}

pub fn run(
    dir: &Path,
    messages: Option<usize>,
    restart_hub: bool,
    json: bool,
) -> anyhow::Result<()> {
    let n = messages.unwrap_or(DEFAULT_MESSAGES);
    let mut net = LocalNet::create(dir)?;
    let mut hub = NodeSpec::hub("gs", free_loopback_addr());
    let origin = NodeSpec::ncb("ncb.fr", "FR", &hub);
    let post = NodeSpec::mission("mission.unmiss", "UNMISS", &hub);
    hub.peers = vec![(origin.id.clone(), None), (post.id.clone(), None)];
    for spec in [&hub, &origin, &post] {
        net.add(spec)?;
    }
    let config = |name: &str| dir.join(format!("{name}.toml")).display().to_string();
    let count = n.to_string();
    let result_path = dir.join("drain.json");

    let start_hub = || -> anyhow::Result<_> {
        let (hub_proc, mut hub_out, hub_in) =
            Proc::spawn("hub", &["run", "--config", &config("gs")])?;
        hub_proc.wait_line(&mut hub_out, "listening on")?;
        Ok((hub_proc, hub_out, hub_in))
    };
    // The pipes stay open as long as the hub runs: it writes to its stdout.
    let (mut hub_proc, mut _hub_out, mut _hub_in) = start_hub()?;
    let started = Instant::now();
    let (origin_proc, mut origin_out, _origin_in) = Proc::spawn(
        "origin",
        &[
            "bench-node",
            "--config",
            &config("ncb.fr"),
            "--scenario",
            "drain",
            "--messages",
            &count,
            "source",
            "--to",
            "mission.unmiss",
        ],
    )?;
    let filling = Progress::new("held at the hub", n);
    follow("origin", &mut origin_out, "backlog-ready", &filling)?;
    let fill_seconds = started.elapsed().as_secs_f64();
    let hub_after_fill = Memory::of(hub_proc.pid());
    // Killed as a crash would, with the backlog queued: the start replays the custody log
    // and opens the store over every queued copy before it listens.
    let mut restart = None;
    if restart_hub {
        drop(hub_proc);
        let restarting = Instant::now();
        let (restarted, out, input) = start_hub()?;
        let seconds = restarting.elapsed().as_secs_f64();
        restart = Some((seconds, Memory::of(restarted.pid())));
        (hub_proc, _hub_out, _hub_in) = (restarted, out, input);
    }

    let (post_proc, mut post_out, _post_in) = Proc::spawn(
        "post",
        &[
            "bench-node",
            "--config",
            &config("mission.unmiss"),
            "--scenario",
            "drain",
            "--messages",
            &count,
            "sink",
            "--out",
            &result_path.display().to_string(),
        ],
    )?;
    post_proc.wait_line(&mut post_out, "sink ready")?;
    let pids = [hub_proc.pid(), post_proc.pid(), origin_proc.pid()];
    let cpu_before = pids.map(cpu_seconds_of);
    let threads_before = pids.map(cpu_by_thread);
    let draining = Progress::new("drained to the post", n);
    follow("post", &mut post_out, "sink done", &draining)?;
    let cpu_after = pids.map(cpu_seconds_of);
    let threads_after = pids.map(cpu_by_thread);
    let mut hub_memory = Memory::of(hub_proc.pid());
    if restart.is_none() {
        // The kernel keeps resident-set counters per CPU and folds them in lazily, so a later
        // high-water mark can read a little below an earlier sample of the same process.
        hub_memory.peak_kib = hub_memory
            .peak_kib
            .max(hub_after_fill.peak_kib.max(hub_after_fill.rss_kib));
    }
    // The hub first, so that it logs no link going down.
    drop((hub_proc, post_proc, origin_proc));

    let text = std::fs::read_to_string(&result_path).context("the post wrote no result")?;
    let sink: DrainSinkResult = serde_json::from_str(&text)?;
    let msg_per_s = rate(sink.messages, sink.seconds);
    let cpu = |i: usize| ((cpu_after[i] - cpu_before[i]) * 100.0).round() / 100.0;
    let threads = |i: usize| cpu_delta(&threads_before[i], &threads_after[i], cpu(i));
    let mut result = serde_json::json!({
        "scenario": "drain",
        "messages": sink.messages,
        "seconds": sink.seconds,
        "msg_per_s": msg_per_s.round(),
        "hub_max_rss_mib": mib(hub_memory.peak_kib),
        "hub_rss_after_fill_mib": mib(hub_after_fill.rss_kib),
        "hub_rss_after_drain_mib": mib(hub_memory.rss_kib),
        "fill_seconds": fill_seconds,
        "fill_msg_per_s": rate(n, fill_seconds).round(),
        "drain_cpu_s": { "hub": cpu(0), "post": cpu(1), "origin": cpu(2) },
        "drain_cpu_s_by_thread": { "hub": threads(0), "post": threads(1) },
        "lost": n - sink.messages.min(n),
        "duplicated": sink.duplicated,
        "cores": std::thread::available_parallelism().map_or(0, |c| c.get()),
    });
    if let Some((seconds, memory)) = &restart {
        result["hub_restart_s"] = serde_json::json!((seconds * 100.0).round() / 100.0);
        result["hub_rss_after_restart_mib"] = serde_json::json!(mib(memory.rss_kib));
    }
    let restarted = restart.map_or(String::new(), |(seconds, memory)| {
        format!(
            "; the hub killed with the backlog queued and listening again in {seconds:.2} s \
             ({:.1} MiB)",
            mib(memory.rss_kib)
        )
    });
    print(
        json,
        &result,
        &format!(
            "drain: {} messages from gs to the post in {:.1} s after its link-up: {msg_per_s:.0} msg/s; \
             hub peak RSS {:.1} MiB; CPU during the drain: hub {:.1} s, post {:.1} s; \
             (fill: {fill_seconds:.1} s, {:.0} msg/s){restarted}",
            sink.messages,
            sink.seconds,
            mib(hub_memory.peak_kib),
            cpu(0),
            cpu(1),
            rate(n, fill_seconds),
        ),
    )
}

/// The origin's part: submits `count` ROUTINE messages to `to` as fast as custody allows,
/// printing how many the hub holds, until the hub holds them all; then `backlog-ready`.
pub async fn fill(node: &Node, to: &NodeId, count: usize) -> anyhow::Result<()> {
    let hub: NodeId = "gs".parse()?;
    let submitted = Arc::new(AtomicUsize::new(0));
    let held_at_hub = |submitted: usize| submitted.saturating_sub(node.bureau().queue_depth(&hub));
    {
        let burst = super::bench_node::burst(node, to, count, Precedence::Routine, &submitted);
        tokio::pin!(burst);
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        loop {
            tokio::select! {
                done = &mut burst => break done?,
                _ = tick.tick() => {
                    outln!("{PROGRESS}{}", held_at_hub(submitted.load(Ordering::Relaxed)))?;
                }
            }
        }
    }
    while node.bureau().queue_depth(&hub) > 0 {
        tokio::time::sleep(PROGRESS_EVERY).await;
        outln!("{PROGRESS}{}", held_at_hub(count))?;
    }
    outln!("backlog-ready")?;
    Ok(())
}

/// The post's part: waits for its link with the hub, then reads its inbox as a bureau
/// application would (acknowledging each batch while it reads on) until `count` distinct
/// messages arrived; writes a [`DrainSinkResult`] to `out`.
pub async fn sink(node: &Node, count: usize, out: &Path) -> anyhow::Result<()> {
    let hub: NodeId = "gs".parse()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !node.is_linked(&hub) {
        if Instant::now() > deadline {
            bail!("the post could not link with the hub");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let link_up = Instant::now();
    outln!("sink ready")?;
    let mut changes = node.bureau().inbox_changes();
    let mut cursor = None;
    let mut seen = HashSet::with_capacity(count);
    let mut duplicated = 0;
    let mut acks = tokio::task::JoinSet::new();
    let mut shown = Instant::now();
    while seen.len() < count {
        changes.borrow_and_update();
        let batch = node.bureau().inbox(cursor, READ_BATCH).await?;
        if batch.is_empty() {
            tokio::time::timeout(IDLE_TIMEOUT, changes.changed())
                .await
                .with_context(|| format!("only {} of {count} messages arrived", seen.len()))??;
            continue;
        }
        let mut seqs = Vec::with_capacity(batch.len());
        for message in batch {
            seqs.push(message.seq);
            cursor = Some(message.seq);
            if !seen.insert((message.envelope.origin, message.envelope.message_id)) {
                duplicated += 1;
            }
        }
        let core = node.bureau().clone();
        acks.spawn(async move { core.ack_inbox(&seqs).await });
        while let Some(done) = acks.try_join_next() {
            done??;
        }
        if shown.elapsed() >= PROGRESS_EVERY {
            shown = Instant::now();
            outln!("{PROGRESS}{}", seen.len())?;
        }
    }
    while let Some(done) = acks.join_next().await {
        done??;
    }
    let result = DrainSinkResult {
        messages: seen.len(),
        seconds: link_up.elapsed().as_secs_f64(),
        duplicated,
    };
    std::fs::write(out, serde_json::to_string(&result)?)?;
    outln!("sink done")?;
    Ok(())
}
