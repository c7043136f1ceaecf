//! The small handles through which `net` and `api` reach the core without importing `node`.

use std::future::Future;
use std::sync::Arc;

use bluehelm_pki::{EnvelopeVerifier, NodeIdentity};
use bluehelm_proto::{MessageRef, NodeId, NonDeliveryReason, Precedence};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::shell::{self, Decided, Offer};
use super::state::{Core, Stats};
use crate::store::{HandOff, QueueKey, Queued, StoreError, Write, WriteOutcome};

/// What a link (`net/`) may do with the node: decide on offers and give up copies, take
/// hand-offs, read and forget its peer's queue, count, and read the settings links need. Cloning it clones an
/// `Arc`; its methods are the core's own, inlined, so the hot path pays nothing for it.
#[derive(Clone)]
pub struct LinkHandle {
    core: Arc<Core>,
}

impl LinkHandle {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// This node's id.
    pub fn me(&self) -> &NodeId {
        self.core.me()
    }

    /// The node's configuration: peers, limits and TLS files.
    pub fn config(&self) -> super::ConfigGuard {
        self.core.config()
    }

    /// Records who a linked peer's verified certificate says it is, for release markings,
    /// durably when it is news. A store failure is logged: the link still serves.
    pub async fn learn(&self, identity: &NodeIdentity) {
        match self.core.learn(identity).await {
            Ok(true) => tracing::info!(peer = %identity.node, role = %identity.role,
                country = identity.country.as_deref().unwrap_or("-"),
                mission = identity.mission.as_deref().unwrap_or("-"),
                "peer identity recorded for release markings"),
            Ok(false) => {}
            Err(err) => tracing::warn!(peer = %identity.node, error = %err,
                "could not record the peer's identity: marked messages for it may be withheld"),
        }
    }

    /// Who a linked peer is, as its certificate said at link-up (see [`Self::learn`]).
    pub fn member(&self, peer: &NodeId) -> Option<crate::engine::release::Member> {
        self.core.directory().get(peer).cloned()
    }

    /// `peer`'s link is up: failover sends new traffic back to it (issue 15, item 7).
    pub fn link_up(&self, peer: &NodeId) {
        self.core.failover_link_up(peer);
    }

    /// `peer`'s link went down: after the configured silence, failover gives it up.
    pub fn link_down(&self, peer: &NodeId) {
        self.core.failover_link_down(peer);
    }

    /// Runs a task on the bulk runtime, below the priority of urgent traffic (a flooding
    /// ROUTINE or PRIORITY stream's reader).
    pub fn spawn_bulk<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.core.bulk().spawn(task)
    }

    /// Largest frame a link reads or writes.
    /// The field databases (issue 13).
    pub fn records(&self) -> &Arc<crate::records::store::RecordStore> {
        self.core.records()
    }

    /// This node's certificate identity.
    pub fn identity(&self) -> &bluehelm_pki::NodeIdentity {
        self.core.identity()
    }

    /// Signs the hub's digests of replicas (issue 13).
    pub fn record_signer(&self) -> std::sync::Arc<bluehelm_pki::Signer> {
        self.core.record_signer()
    }

    pub fn max_frame(&self) -> usize {
        self.core.config().limits.max_frame_bytes
    }

    /// Registers the link's send loop for the copies queued for `peer` in `class`
    /// ([`Store::hand_off`](crate::store::Store::hand_off)).
    pub fn hand_off(&self, peer: &NodeId, class: Precedence) -> HandOff {
        self.core.store().hand_off(peer, class)
    }

    /// Changes whenever something is queued for `peer`.
    pub fn queue_changes(&self, peer: &NodeId) -> watch::Receiver<u64> {
        self.core.store().hop_changes(peer)
    }

    /// Copies queued for `peer` in `class`, in arrival order, after `after_seq`: at most
    /// `limit`, and about 4 MiB ([`Store::queued`](crate::store::Store::queued)).
    pub fn queued<'a>(
        &'a self,
        peer: &'a NodeId,
        class: Precedence,
        after_seq: Option<u64>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Queued>, StoreError>> + Send + 'a {
        self.core.store().queued(peer, class, after_seq, limit)
    }

    /// `peer` took custody of these copies of `class`: drop them. Queued at the store when
    /// called, so forgets are applied in call order (see [`Write::Forget`] for why they
    /// are not fsynced on their own).
    pub fn forget(
        &self,
        peer: &NodeId,
        class: Precedence,
        seqs: Vec<u64>,
    ) -> impl Future<Output = Result<Vec<WriteOutcome>, StoreError>> + Send + 'static {
        let writes = seqs
            .into_iter()
            .map(|seq| Write::Forget(QueueKey::new(peer, class, seq)))
            .collect();
        self.core.store().commit(writes)
    }

    /// `peer` took custody of these messages from this node: the audit log says so.
    pub fn relayed(&self, peer: &NodeId, messages: &[MessageRef]) {
        if self.core.audit().is_enabled() && !messages.is_empty() {
            let entries = super::audited::relayed(messages, peer, super::now_ms());
            self.core.audit().record_all(entries);
        }
    }

    /// The node's counters.
    pub fn stats(&self) -> &Stats {
        self.core.stats()
    }

    /// Cancelled when the node stops.
    pub fn cancel(&self) -> &CancellationToken {
        self.core.cancel()
    }

    /// The parts of large copies this node's peers sent only part of (issue 15, item 6).
    pub fn partials(&self) -> std::sync::MutexGuard<'_, crate::engine::partials::Partials> {
        self.core.partials()
    }

    /// Checks peers' certificates against the trust store in force.
    pub fn verifier(&self) -> &EnvelopeVerifier {
        self.core.verifier()
    }

    /// Verifies and decides on offers that came on a stream of class `stream`, and queues
    /// their writes at the store (`custody::shell::decide_offers`).
    ///
    /// A large ROUTINE or PRIORITY batch is decided on the bulk runtime, below the priority
    /// of urgent traffic; a small one (a lone message) where it arrived, without waiting for
    /// a busy machine. `None`: the bulk runtime is gone (the node is stopping) or the
    /// decision panicked; nothing was answered, and the peer offers the batch again.
    pub async fn decide_offers(&self, offers: Vec<Offer>, stream: Precedence) -> Option<Decided> {
        if !shell::decided_in_bulk(stream, offers.len()) {
            return Some(shell::decide_offers(&self.core, offers, Some(stream)).await);
        }
        let core = self.core.clone();
        let task = self
            .core
            .bulk()
            .spawn(async move { shell::decide_offers(&core, offers, Some(stream)).await });
        match task.await {
            Ok(decided) => Some(decided),
            Err(err) => {
                if err.is_panic() {
                    tracing::error!("deciding a batch of offers panicked; the stream ends");
                }
                None
            }
        }
    }

    /// Waits until decided offers are durable; one answer per offer, in order.
    pub async fn finish(&self, decided: Decided) -> Vec<shell::Answer> {
        decided.finish(&self.core).await
    }

    /// Gives up on a queued copy, with a non-delivery report to its origin.
    pub async fn give_up(
        &self,
        queued: &Queued,
        reason: NonDeliveryReason,
        detail: String,
    ) -> Result<(), StoreError> {
        shell::give_up(&self.core, queued, reason, detail).await
    }
}

/// The links that are up, as `net` knows them: `api`'s status and the node read it through
/// this trait, so that neither needs `net`'s link table.
pub trait LinkedPeers: Send + Sync {
    /// Nodes with a live link now, sorted.
    fn linked_peers(&self) -> Vec<NodeId>;
}
