//! `bluehelm bench --scenario fanout` (issue 15, item 10): a notice published at the hub to
//! the group `all-ncb` of N NCBs (default 200), through the real notice workflow: one NCB
//! requests it, the hub (`gs`, a `bluehelm run` process of its own) holds the request for
//! review, and the bench approves it through gs's API as a reviewer would; gs then publishes
//! one copy per NCB. The NCBs are real nodes, each with its own certificate, sled store and
//! QUIC endpoint, all in this process (N processes would not fit on a small machine): each
//! checks both signatures of its copy (gs's and the requesting bureau's inside) and holds it
//! durably in its inbox before the bench sees it there.
//!
//! Measured from the approval's call to each NCB's inbox holding the publication: `last_ms`
//! (the last NCB) and `p50_ms`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bluehelm::api::pb;
use bluehelm::custody::Outgoing;
use bluehelm::localnet::{free_loopback_addr, LocalNet, NodeSpec};
use bluehelm::{Node, NodeConfig};
use bluehelm_proto::{Body, Destination, Notice, NoticeLifecycle, NoticeType, Precedence, Subject};

use super::bench::Proc;
use super::bench_figures::{mib, percentile, two_letters, Memory};
use super::bench_sync::print;
use super::progress::Progress;

/// The number of NCBs.
const DEFAULT_NCBS: usize = 200;
/// Nodes started at once in this process (each zero-fills its custody log).
const STARTS_AT_ONCE: usize = 8;
/// How long a step may take before the scenario fails.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// The notice's reference.
const REFERENCE: &str = "FANOUT-1/2026";

pub fn run(dir: &Path, ncbs: Option<usize>, json: bool) -> anyhow::Result<()> {
    let n = ncbs.unwrap_or(DEFAULT_NCBS);
    let Some(ncb_specs) = (n > 0).then(|| ncb_specs(n)).flatten() else {
        bail!("--peers for fanout must be between 1 and 676 (two-letter country codes)");
    };
    let mut net = LocalNet::create(dir)?;
    let mut hub = NodeSpec::hub("gs", free_loopback_addr());
    let ids: Vec<_> = ncb_specs.iter().map(|s| s.id.clone()).collect();
    hub.peers = ids.iter().map(|id| (id.clone(), None)).collect();
    hub.groups = vec![("all-ncb".into(), ids), ("all-missions".into(), vec![])];
    net.add(&hub)?;
    let mut configs = Vec::with_capacity(n);
    for mut spec in ncb_specs {
        spec.peers = vec![(hub.id.clone(), hub.listen)];
        configs.push(NodeConfig::load(&net.add(&spec)?)?);
    }
    let hub_config = NodeConfig::load(&dir.join("gs.toml"))?;
    let (hub_proc, mut hub_out, _hub_in) = Proc::spawn(
        "hub",
        &[
            "run",
            "--config",
            &dir.join("gs.toml").display().to_string(),
        ],
    )?;
    hub_proc.wait_line(&mut hub_out, "listening on")?;

    let runtime = super::run::runtime()?;
    let hub_memory = std::cell::Cell::new(Memory::default());
    let outcome = runtime.block_on(async {
        let nodes = start_all(configs).await?;
        let outcome = publish_and_time(&nodes, &hub_config).await;
        // The hub first, so that it logs no link going down.
        hub_memory.set(Memory::of(hub_proc.pid()));
        drop(hub_proc);
        let mut stopping = tokio::task::JoinSet::new();
        for node in nodes {
            stopping.spawn(node.shutdown());
        }
        while stopping.join_next().await.is_some() {}
        outcome
    });
    let hub_memory = hub_memory.get();
    let (approved_ms, mut ms) = outcome?;
    ms.sort_by(f64::total_cmp);
    let (first, p50, last) = (ms[0], percentile(&ms, 0.5), ms[ms.len() - 1]);
    let result = serde_json::json!({
        "scenario": "fanout",
        "ncbs": ms.len(),
        "last_ms": last,
        "p50_ms": p50,
        "first_ms": first,
        "approved_ms": approved_ms,
        "hub_max_rss_mib": mib(hub_memory.peak_kib),
        "cores": std::thread::available_parallelism().map_or(0, |c| c.get()),
    });
    print(
        json,
        &result,
        &format!(
            "fanout: a notice approved at gs reached all {} NCBs in {last:.1} ms (p50 {p50:.1} ms, \
             first {first:.1} ms; the approval was durable at gs after {approved_ms:.1} ms)",
            ms.len()
        ),
    )
}

/// NCBs `ncb.aa`, `ncb.ab`, ... of countries AA, AB, ..., with the smallest custody log (two
/// 16 MiB files instead of 32: N nodes zero-fill them on one disk before the clock starts);
/// `None` past 676.
fn ncb_specs(n: usize) -> Option<Vec<NodeSpec>> {
    // A placeholder hub for `NodeSpec::ncb`; the caller sets the real peer.
    let hub = NodeSpec::hub("gs", std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    (0..n)
        .map(|i| {
            let country = two_letters(i)?;
            let mut spec =
                NodeSpec::ncb(&format!("ncb.{}", country.to_lowercase()), &country, &hub);
            // They dial the hub; nothing dials them.
            spec.listen = None;
            spec.custody_log_file_mib = Some(bluehelm::store::MIN_LOG_FILE_BYTES / (1024 * 1024));
            Some(spec)
        })
        .collect()
}

/// Starts every NCB, [`STARTS_AT_ONCE`] at a time, and waits until each has its link with
/// the hub.
async fn start_all(configs: Vec<NodeConfig>) -> anyhow::Result<Vec<Node>> {
    let progress = Progress::new("NCBs started", configs.len());
    let mut nodes = Vec::with_capacity(configs.len());
    let mut configs = configs.into_iter().peekable();
    while configs.peek().is_some() {
        let mut starting = tokio::task::JoinSet::new();
        for config in configs.by_ref().take(STARTS_AT_ONCE) {
            starting.spawn(Node::start(config));
        }
        while let Some(started) = starting.join_next().await {
            nodes.push(started?.context("cannot start an NCB")?);
        }
        progress.set(nodes.len());
    }
    progress.finish();
    let hub = bluehelm::api::review::hub();
    let deadline = Instant::now() + STEP_TIMEOUT;
    while nodes.iter().any(|node| !node.is_linked(&hub)) {
        if Instant::now() > deadline {
            let linked = nodes.iter().filter(|node| node.is_linked(&hub)).count();
            bail!("only {linked} of {} NCBs linked with the hub", nodes.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(nodes)
}

/// The first NCB requests a notice; once gs holds it for review, approves it through gs's
/// API and times each NCB's inbox until it holds the publication. Returns how long the
/// approval call took and each NCB's time, in ms from the approval's call.
async fn publish_and_time(
    nodes: &[Node],
    hub_config: &NodeConfig,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let requester = nodes.first().context("no NCB")?;
    requester.bureau().submit(vec![request(requester)]).await?;
    let mut gs = bluehelm::api::client::connect(&hub_config.api_socket).await?;
    let deadline = Instant::now() + STEP_TIMEOUT;
    let message_id = loop {
        let items = gs
            .list_reviews(pb::ListReviewsRequest {})
            .await?
            .into_inner()
            .items;
        let awaiting = items
            .into_iter()
            .find(|i| i.notice.as_ref().is_some_and(|n| n.notice_ref == REFERENCE));
        if let Some(item) = awaiting {
            break item.message_id;
        }
        if Instant::now() > deadline {
            bail!("gs never held the notice request for review");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let watchers: Vec<_> = nodes
        .iter()
        .map(|node| {
            let bureau = node.bureau().clone();
            tokio::spawn(async move { publication_arrival(&bureau).await })
        })
        .collect();
    let approve = pb::ApproveNoticeRequest {
        message_id,
        remarks: String::new(),
    };
    let started = Instant::now();
    gs.approve_notice(approve).await?;
    let approved_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut ms = Vec::with_capacity(nodes.len());
    for watcher in watchers {
        let arrived = watcher.await??;
        ms.push(arrived.saturating_duration_since(started).as_secs_f64() * 1000.0);
    }
    Ok((approved_ms, ms))
}

/// A red notice request from `node` to gs.
fn request(node: &Node) -> Outgoing {
    let notice = Notice {
        notice_ref: REFERENCE.into(),
        notice_type: NoticeType::Red,
        lifecycle: NoticeLifecycle::Requested,
        requesting_bureau: node.bureau().me().clone(),
        subject: Some(Subject {
            family_name: "DUPONT".into(),
            given_names: vec!["Jean".into()],
            date_of_birth: "1980-01-02".into(),
            nationalities: vec!["FR".into()],
            ..Subject::default()
        }),
        offence_summary: "Armed robbery, Paris, 2025-11-03.".into(),
        legal_basis: "Arrest warrant 2025/778.".into(),
        remarks: String::new(),
        request: None,
        valid_until: String::new(),
    };
    Outgoing {
        destination: Destination::Node(bluehelm::api::review::hub()),
        precedence: Precedence::Priority,
        body: Body::Notice(notice),
        ttl: Duration::from_secs(3600),
        want_delivery_report: false,
        release_to: None,
        correlation_id: None,
    }
}

/// When the node's inbox first holds the publication of [`REFERENCE`] (acknowledged then,
/// as an application would).
async fn publication_arrival(bureau: &bluehelm::custody::BureauHandle) -> anyhow::Result<Instant> {
    let mut changes = bureau.inbox_changes();
    loop {
        changes.borrow_and_update();
        let inbox = bureau.inbox(None, 64).await?;
        let published = inbox.iter().find(|m| {
            matches!(&m.envelope.body, Body::Notice(n)
                if n.notice_ref == REFERENCE && n.lifecycle == NoticeLifecycle::Published)
        });
        if let Some(message) = published {
            let at = Instant::now();
            bureau.ack_inbox(&[message.seq]).await?;
            return Ok(at);
        }
        tokio::time::timeout(STEP_TIMEOUT, changes.changed())
            .await
            .with_context(|| format!("{} never received the publication", bureau.me()))??;
    }
}
