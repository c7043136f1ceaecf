//! Failover's custody shell (issue 15, item 7): link events in, once a second the pure
//! state's poll (`engine::failover`), and for each next hop given up as silent the move of
//! the copies already queued for it to its route's alternate, through the ledger
//! (`Write::Reroute`: one queue or the other, never both). Which copies move and where is
//! `engine::failover::reroute`'s to say; each moved copy gets an audit entry here.
//!
//! A copy offered to the silent hop and not yet answered may have been taken by it all the
//! same: moving it can leave two copies in the network. The destination keeps one, by
//! (origin, id), as it does for any copy offered twice.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bluehelm_proto::{NodeId, Precedence, SignedEnvelope};

use super::state::{now_ms, Core};
use crate::engine::audit::{Entry, Event};
use crate::engine::failover;
use crate::store::{Queued, StoreError, Write, WriteOutcome};

/// How often silence is checked: the failover happens within this of the configured
/// silence.
const TICK: Duration = Duration::from_secs(1);
/// Copies moved per commit: a backlog may be large, and each commit is one turn of the store
/// thread, shared with the custody the node goes on taking.
const MOVE_BATCH: usize = 512;

impl Core {
    /// `peer`'s link is up: if it was given up, new traffic goes back to it from now on.
    pub(super) fn failover_link_up(&self, peer: &NodeId) {
        if self.failover_mut().link_up(peer) {
            tracing::warn!(%peer, "failover: heard again; new traffic goes back to it, \
                copies moved to its alternates stay there");
        }
    }

    /// `peer`'s link went down now.
    pub(super) fn failover_link_down(&self, peer: &NodeId) {
        self.failover_mut().link_down(peer, now_ms());
    }

    /// Moves the copies queued for `silent_hop` whose route now leads to an alternate;
    /// returns how many moved, per alternate.
    async fn reroute_queue(
        &self,
        silent_hop: &NodeId,
        silent: &BTreeSet<NodeId>,
    ) -> Result<HashMap<NodeId, u64>, StoreError> {
        let mut moved: HashMap<NodeId, u64> = HashMap::new();
        for class in Precedence::ALL.iter().copied() {
            let mut after = None;
            loop {
                let batch = self
                    .store()
                    .queued(silent_hop, class, after, MOVE_BATCH)
                    .await?;
                let Some(last) = batch.last() else { break };
                after = Some(last.key.seq());
                let now = now_ms();
                let mut writes = Vec::new();
                let mut entries = Vec::new();
                for copy in batch {
                    if let Some((write, entry)) = self.plan_reroute(copy, silent_hop, silent, now) {
                        writes.push(write);
                        entries.push(entry);
                    }
                }
                if writes.is_empty() {
                    continue;
                }
                let outcomes = self.store().commit(writes).await?;
                for (outcome, (to, entry)) in outcomes.into_iter().zip(entries) {
                    // `Missing`: the hop took it, or it expired, meanwhile.
                    if outcome == WriteOutcome::Removed {
                        *moved.entry(to).or_default() += 1;
                        self.audit().record(entry);
                    }
                }
            }
        }
        Ok(moved)
    }

    /// The move of one copy queued for `silent_hop`, with where it goes and its audit entry,
    /// if its route now
    /// leads elsewhere. A copy whose bytes no longer decode stays (it cannot be routed).
    fn plan_reroute(
        &self,
        copy: Queued,
        silent_hop: &NodeId,
        silent: &BTreeSet<NodeId>,
        now: i64,
    ) -> Option<(Write, (NodeId, Entry))> {
        let envelope = SignedEnvelope::decode(&copy.message.signed)
            .ok()?
            .decode_envelope()
            .ok()?;
        let to = failover::reroute(
            &self.config().routing,
            silent,
            silent_hop,
            &envelope.destination,
            &copy.message.recipients,
            &envelope.origin,
        )?;
        let entry = Entry::about(Event::Rerouted, &envelope, now)
            .decided(format!("moved from the queue for {silent_hop} to {to}"))
            .by_rule("failover: next hop silent");
        let write = Write::Reroute {
            key: copy.key,
            to: to.clone(),
            message: copy.message,
        };
        Some((write, (to, entry)))
    }
}

/// Gives up silent next hops and moves their queued copies, until the node stops. Idle on a
/// node whose routes list no alternates.
pub async fn run(core: Arc<Core>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Each given-up hop's queue depth after its last pass: it is searched again only when
    // the depth changed (a copy decided just before the hop was given up, committed after).
    let mut searched: HashMap<NodeId, usize> = HashMap::new();
    loop {
        tokio::select! {
            _ = core.cancel().cancelled() => return,
            _ = tick.tick() => {}
        }
        let watched = core.config().routing.failover_peers();
        if watched.is_empty() {
            continue;
        }
        let after_secs = core.config().limits.failover_after_secs;
        let after_ms = i64::try_from(after_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let (newly, silent) = {
            let mut state = core.failover_mut();
            let newly = state.poll(&watched, after_ms, now_ms());
            (newly, state.given_up().clone())
        };
        for peer in &newly {
            tracing::warn!(%peer, silent_for_secs = after_secs,
                "failover: next hop silent; its routes use their alternates");
        }
        searched.retain(|peer, _| silent.contains(peer));
        for peer in &silent {
            let depth = core.store().depth(peer);
            if depth == 0 || searched.get(peer) == Some(&depth) {
                continue;
            }
            match core.reroute_queue(peer, &silent).await {
                Ok(moved) => {
                    for (to, copies) in moved {
                        tracing::warn!(from = %peer, %to, copies,
                            "failover: queued copies moved to the alternate");
                    }
                    searched.insert(peer.clone(), core.store().depth(peer));
                }
                Err(err) => tracing::error!(%peer, error = %err,
                    "failover: could not move the queued copies; trying again"),
            }
        }
    }
}
