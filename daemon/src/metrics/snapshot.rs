//! The figures a scrape (and `bluehelm status`) shows, gathered when asked: counters are
//! read from atomics, queue depths from the store's published table, the oldest copy of each
//! queue class by one queue read each, the store's size by walking its folder.

use std::path::Path;

use bluehelm_proto::{NodeId, Precedence, RefusalReason};

use super::health::Health;
use super::histogram::HistogramReading;
use crate::custody::{now_ms, BureauHandle, HandshakeFailure, LinkedPeers, Stats};
use crate::store::StoreError;

/// One link: configured, live, or both.
#[derive(Debug, Clone)]
pub struct LinkFigure {
    pub peer: NodeId,
    pub up: bool,
    pub configured: bool,
}

/// One next hop's queue of one class.
#[derive(Debug, Clone)]
pub struct QueueFigure {
    pub next_hop: NodeId,
    pub precedence: Precedence,
    pub depth: u64,
    /// Age of its oldest copy (since this node took custody), ms; 0 when empty.
    pub oldest_age_ms: u64,
}

/// One replicated database: how far behind the hub.
#[derive(Debug, Clone)]
pub struct ReplicaFigure {
    pub database: &'static str,
    /// Changes the hub has sequenced that this replica has not applied (as last heard).
    pub lag_changes: u64,
    /// Since the replica was last level with the hub; `None` before its first full sync.
    pub lag_ms: Option<i64>,
}

/// The CRL in force.
#[derive(Debug, Clone, Default)]
pub struct CrlFigure {
    /// Its number, if it has one (as a float: CRL numbers may be up to 20 bytes).
    pub number: Option<f64>,
    /// Its number as `bluehelm status` shows it.
    pub number_text: String,
    /// When its successor is due (Unix seconds).
    pub next_update_s: Option<i64>,
}

/// Every figure, at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub links: Vec<LinkFigure>,
    pub handshake_failures: Vec<(HandshakeFailure, u64)>,
    pub messages_in: Vec<(Precedence, u64)>,
    pub messages_out: Vec<(Precedence, u64)>,
    /// `(reason, class of the stream or None, refused)`.
    pub messages_refused: Vec<(RefusalReason, Option<Precedence>, u64)>,
    pub queues: Vec<QueueFigure>,
    pub custody_latency: HistogramReading,
    pub fsync_latency: HistogramReading,
    pub store_bytes: u64,
    /// Free bytes on the storage directory's file system, as the disk watcher last read.
    pub disk_free_bytes: Option<u64>,
    pub crl: CrlFigure,
    pub replicas: Vec<ReplicaFigure>,
    /// Notice requests awaiting review; only the hub (gs) reviews.
    pub review_queue: Option<u64>,
    /// Next hops given up as silent (failover), sorted.
    pub failed_over: Vec<NodeId>,
    pub health: Health,
}

/// Gathers the figures of `node` now.
pub async fn gather(node: &BureauHandle, links: &dyn LinkedPeers) -> Result<Snapshot, StoreError> {
    let now = now_ms();
    let configured: Vec<_> = node.config().peers.iter().map(|p| p.node.clone()).collect();
    let linked = links.linked_peers();
    let mut peers: Vec<NodeId> = configured.iter().chain(&linked).cloned().collect();
    peers.sort();
    peers.dedup();
    let links = peers
        .into_iter()
        .map(|peer| LinkFigure {
            up: linked.contains(&peer),
            configured: configured.contains(&peer),
            peer,
        })
        .collect();

    let mut queues = Vec::new();
    for (hop, depths) in node.queue_class_depths() {
        for (precedence, depth) in Precedence::ALL.iter().zip(depths) {
            let oldest_age_ms = match depth {
                0 => 0,
                _ => node
                    .queued(&hop, *precedence, None, 1)
                    .await?
                    .first()
                    .map_or(0, |q| {
                        u64::try_from(now - q.message.accepted_at_ms).unwrap_or(0)
                    }),
            };
            queues.push(QueueFigure {
                next_hop: hop.clone(),
                precedence: *precedence,
                depth: depth as u64,
                oldest_age_ms,
            });
        }
    }

    let trust = node.verifier().trust_store();
    let crl = trust
        .crl_info()
        .map_or_else(CrlFigure::default, |info| CrlFigure {
            number: info.number.as_deref().map(|bytes| {
                bytes
                    .iter()
                    .fold(0.0, |n, byte| n * 256.0 + f64::from(*byte))
            }),
            number_text: info
                .crl_number()
                .map_or_else(|| "none".to_owned(), |n| n.to_string()),
            next_update_s: info.next_update,
        });

    let mut replicas = Vec::new();
    for database in &node.config().databases.replicate {
        if let Ok(position) = node.records().position(*database) {
            replicas.push(ReplicaFigure {
                database: database.as_str(),
                lag_changes: position.head_seq.saturating_sub(position.applied_seq),
                lag_ms: position.behind_ms(now),
            });
        }
    }

    let review_queue = match node.identity().role {
        bluehelm_pki::Role::Hub => Some(node.reviews().await?.len() as u64),
        _ => None,
    };

    let storage = node.config().storage.clone();
    let store_bytes = tokio::task::spawn_blocking(move || size_on_disk(&storage))
        .await
        .unwrap_or(0);

    let stats: &Stats = node.stats();
    let health = health(node);
    Ok(Snapshot {
        links,
        handshake_failures: stats.traffic.handshake_failures().collect(),
        messages_in: stats.traffic.taken_by_class().collect(),
        messages_out: stats.traffic.forwarded_by_class().collect(),
        messages_refused: stats.traffic.refused_by_reason_and_class().collect(),
        queues,
        custody_latency: stats.traffic.custody_latency.read(),
        fsync_latency: node.fsync_latency(),
        store_bytes,
        disk_free_bytes: node.disk().free_bytes,
        crl,
        replicas,
        review_queue,
        failed_over: node.failed_over(),
        health,
    })
}

/// Whether `node` is ready now (`/healthz`): cheap, no store round trip.
pub fn health(node: &BureauHandle) -> Health {
    let next_update = node
        .verifier()
        .trust_store()
        .crl_info()
        .and_then(|info| info.next_update);
    Health::judge(
        node.store_failed(),
        next_update,
        node.standing().revoked_because(),
        node.disk().shortage,
        now_ms() / 1000,
    )
}

/// Bytes of the files under `dir` (not following links); what cannot be read counts 0.
fn size_on_disk(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => size_on_disk(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}
