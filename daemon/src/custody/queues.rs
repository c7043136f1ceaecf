//! Queues an operator can inspect (issue 15, item 4): reading a next hop's queue in the
//! order it will be sent, finding one copy, and the purge.
//!
//! The purge: every copy queued for a next hop (of one
//! precedence, if asked) is given up as an expiry would be, through the ledger's
//! `Write::GiveUp`: it leaves the queue, its origin gets a signed non-delivery report, and
//! the audit log a `purged` entry. In batches, each one commit: a purge of a large queue
//! leaves room between its commits for the custody the node goes on taking, and a crash
//! leaves whole batches done and the rest queued, never half a copy.

use bluehelm_proto::{MessageId, NodeId, NonDeliveryReason, Precedence};

use super::shell::plan_give_up;
use super::state::{now_ms, Core, Stats};
use crate::engine::audit::{Entry, Event};
use crate::store::{Queued, StoreError, WriteOutcome};

/// Copies given up per commit: a batch and its reports are held in memory twice (the writes
/// and the round's record), and each commit is one turn of the store thread, shared with
/// the custody the node goes on taking.
const PURGE_BATCH: usize = 256;

/// What a purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Copies given up.
    pub copies: u64,
    /// Non-delivery reports queued for their origins.
    pub reports: u64,
}

/// Copies read per store call while searching a queue for one message.
const SEARCH_PAGE: usize = 256;

impl Core {
    /// The first `limit` copies queued for `hop` (of `precedence`, or of all), in the order
    /// they will be sent: precedence, then arrival.
    pub(super) async fn queue_page(
        &self,
        hop: &NodeId,
        precedence: Option<Precedence>,
        limit: usize,
    ) -> Result<Vec<Queued>, StoreError> {
        let mut page = Vec::new();
        for class in classes(precedence) {
            let mut after = None;
            while page.len() < limit {
                let batch = self
                    .store()
                    .queued(hop, class, after, limit - page.len())
                    .await?;
                let Some(last) = batch.last() else { break };
                after = Some(last.key.seq());
                page.extend(batch);
            }
        }
        page.truncate(limit);
        Ok(page)
    }

    /// The copy of message `id` queued for `hop`, if any: a scan of the hop's queue, a page
    /// at a time (an operator's call, not a hot path; the queue has no index by message).
    pub(super) async fn queued_copy(
        &self,
        hop: &NodeId,
        id: &MessageId,
    ) -> Result<Option<Queued>, StoreError> {
        for class in Precedence::ALL.iter().copied() {
            let mut after = None;
            loop {
                let batch = self.store().queued(hop, class, after, SEARCH_PAGE).await?;
                let Some(last) = batch.last() else { break };
                after = Some(last.key.seq());
                if let Some(found) = batch.into_iter().find(|q| q.message.message.id == *id) {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }

    /// Gives up every copy queued for `hop` (of `precedence`, or of all) when the purge
    /// starts. Copies queued after it started (a later sequence number and custody time) are
    /// left: the operator confirmed the count they saw, not what arrives meanwhile.
    pub(super) async fn purge_queue(
        &self,
        hop: &NodeId,
        precedence: Option<Precedence>,
    ) -> Result<Purged, StoreError> {
        let started = now_ms();
        let detail = format!("purged by the operator at {}", self.me());
        let mut purged = Purged::default();
        for class in classes(precedence) {
            let mut after = None;
            loop {
                let batch = self.store().queued(hop, class, after, PURGE_BATCH).await?;
                let Some(last) = batch.last() else { break };
                after = Some(last.key.seq());
                let due: Vec<_> = batch
                    .iter()
                    .take_while(|q| q.message.accepted_at_ms <= started)
                    .collect();
                let reached_later = due.len() < batch.len();
                if due.is_empty() {
                    break;
                }
                let now = now_ms();
                let plans: Vec<_> = due
                    .iter()
                    .map(|q| plan_give_up(self, q, NonDeliveryReason::Refused, detail.clone(), now))
                    .collect();
                let mut audits = Vec::with_capacity(plans.len());
                let mut reports = Vec::with_capacity(plans.len());
                let mut writes = Vec::with_capacity(plans.len());
                for plan in plans {
                    audits.push(plan.envelope.as_ref().map(|envelope| {
                        Entry::about(Event::Purged, envelope, now)
                            .decided(format!("given up for {hop}: purged"))
                            .by_rule(plan.detail.clone())
                    }));
                    reports.push(plan.reports);
                    writes.push(plan.write);
                }
                let outcomes = self.store().commit(writes).await?;
                for ((outcome, audit), report) in outcomes.into_iter().zip(audits).zip(reports) {
                    // `Missing`: the next hop took it, or it expired, meanwhile.
                    if outcome != WriteOutcome::Removed {
                        continue;
                    }
                    purged.copies += 1;
                    purged.reports += report;
                    Stats::add(&self.stats().non_delivery_reports_sent, report);
                    if let Some(entry) = audit {
                        self.audit().record(entry);
                    }
                }
                if reached_later {
                    break;
                }
            }
        }
        tracing::warn!(hop = %hop, precedence = ?precedence, copies = purged.copies,
            reports = purged.reports, "queue purged by the operator");
        Ok(purged)
    }
}

/// The classes `precedence` names (all, if none), in serving order.
fn classes(precedence: Option<Precedence>) -> Vec<Precedence> {
    match precedence {
        Some(p) => vec![p],
        None => Precedence::ALL.to_vec(),
    }
}
