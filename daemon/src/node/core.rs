//! The state one node's tasks share: identity, config, store, keys, links and counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bluehelm_pki::{EnvelopeVerifier, Signer};
use bluehelm_proto::{NodeId, RefusalReason};
use tokio_util::sync::CancellationToken;

use super::bulk::Bulk;
use crate::config::NodeConfig;
use crate::store::Store;

/// Counters an operator watches (see docs/operations.md).
#[derive(Debug, Default)]
pub struct Stats {
    /// Messages this node took custody of (from peers and local applications).
    pub accepted: AtomicU64,
    /// Offers acknowledged again because the message was already held or handled.
    pub duplicates: AtomicU64,
    /// Offers refused (any reason).
    pub refused: AtomicU64,
    /// Offers refused, by reason: index `i` counts `RefusalReason::ALL[i]` (issue 10: a
    /// rule break is not a forgery). Read with [`Stats::refusals`].
    refused_by_reason: [AtomicU64; REFUSAL_REASONS],
    /// Offers whose signature, certificate or origin did not verify: tampering or forgery.
    /// Signed bytes that do not decode or break a rule are `malformed`, not counted here.
    pub rejected_signatures: AtomicU64,
    /// Streams or links closed because the peer broke the protocol.
    pub protocol_errors: AtomicU64,
    /// Copies the next hop took custody of.
    pub forwarded: AtomicU64,
    /// Messages that expired in a queue here.
    pub expired: AtomicU64,
    /// Delivery reports this node originated (committed with the message they report on).
    pub delivery_reports_sent: AtomicU64,
    /// Non-delivery reports this node originated (committed with the dropping of the copy).
    pub non_delivery_reports_sent: AtomicU64,
    /// Delivery and non-delivery reports about messages this node sent that their signer
    /// cannot give (`engine::answers`): dropped without changing any delivery state.
    pub reports_refused: AtomicU64,
    /// Service responses that would have ended a waiting `Request` but whose signer is not
    /// the service's host as this node knows it (`engine::answers`): dropped.
    pub responses_refused: AtomicU64,
}

/// How many refusal reasons there are.
const REFUSAL_REASONS: usize = RefusalReason::ALL.len();

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts one refused offer under its reason (and in `refused`).
    pub fn refusal(&self, reason: RefusalReason) {
        Self::add(&self.refused, 1);
        if let Some(i) = RefusalReason::ALL.iter().position(|r| *r == reason) {
            Self::add(&self.refused_by_reason[i], 1);
        }
    }

    /// Offers refused so far, per reason, every reason listed.
    pub fn refusals(&self) -> impl Iterator<Item = (RefusalReason, u64)> + '_ {
        RefusalReason::ALL
            .iter()
            .zip(&self.refused_by_reason)
            .map(|(reason, counter)| (*reason, Self::get(counter)))
    }
}

/// A live link: its connection, so that a newer one can replace it.
pub struct LinkSlot {
    pub connection: quinn::Connection,
    pub generation: u64,
}

pub struct Core {
    pub me: NodeId,
    pub config: NodeConfig,
    pub store: Store,
    pub signer: Signer,
    pub verifier: EnvelopeVerifier,
    /// Verifying and signing large ROUTINE and PRIORITY batches, at a lower priority.
    pub bulk: Bulk,
    pub links: Mutex<HashMap<NodeId, LinkSlot>>,
    /// TLS settings for dialling; replaced when a new CRL comes into force.
    pub client_config: Mutex<quinn::ClientConfig>,
    pub stats: Stats,
    pub cancel: CancellationToken,
}

impl Core {
    /// Nodes with a live link now.
    pub fn linked_peers(&self) -> Vec<NodeId> {
        let links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        let mut peers: Vec<NodeId> = links.keys().cloned().collect();
        peers.sort();
        peers
    }

    pub fn is_linked(&self, peer: &NodeId) -> bool {
        let links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        links.contains_key(peer)
    }
}

/// The node id of the general secretariat: it reviews notice requests, is the only node
/// whose notice publications are accepted, and keeps a copy of every diffusion. A constant:
/// every network built by `localnet` and every example config uses it.
pub const HUB: &str = "gs";

/// [`HUB`] as a node id.
pub fn hub() -> NodeId {
    HUB.parse().expect("a valid node id")
}

/// Wall-clock time in Unix milliseconds: the only clock the engine's decisions see.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
