//! Taking custody: the thin shell around `engine::custody` that verifies offers, asks the
//! engine, and writes the result durably before anyone is told. Whether an offer is a
//! duplicate (of a message held, or of one accepted earlier in the same round) is the
//! ledger's to say (`engine/ledger.rs`), in the round that commits the batch.

use std::collections::HashMap;
use std::sync::Arc;

use bluehelm_pki::{NodeIdentity, VerifyError};
use bluehelm_proto::{
    Body, Envelope, MessageId, MessageRef, NodeId, NonDeliveryReason, Precedence, Refusal,
    RefusalReason, SignedEnvelope,
};

use super::audited;
use super::bulk::Bulk;
use super::notices;
use super::state::{now_ms, Core, Stats};
use crate::engine::audit::Entry;
use crate::engine::ledger::refusal_excused_if_held;
use crate::engine::policy::Party;
use crate::engine::release::{Directory, WithheldBecause};
use crate::engine::{custody, disk, reports, revocation, CustodyDecision, Hop};
use crate::store::{Custody, Provenance, Queued, StoredMessage, Write, WriteOutcome};

/// A message a neighbour offers.
#[derive(Debug, Clone)]
pub struct Offer {
    pub signed: SignedEnvelope,
    pub hops: u8,
    pub recipients: Vec<NodeId>,
    /// The neighbour that offers it.
    pub from: NodeId,
}

/// Batches larger than this are verified off the async workers.
const INLINE_VERIFY_MAX: usize = 8;

/// Whether a batch of `offers` that came on `stream` is decided on the bulk runtime: a flood's
/// batches of ROUTINE or PRIORITY, not a lone message (it would wait there on a busy machine).
pub(super) fn decided_in_bulk(stream: Precedence, offers: usize) -> bool {
    Bulk::takes(stream) && offers > INLINE_VERIFY_MAX
}

/// One answer per offer: `Ok` means custody is taken (or was already), `Err` a refusal.
pub type Answer = Result<MessageRef, Refusal>;

/// A write queued for an offer: one accepted, or one refused that may be a duplicate.
struct Pending {
    /// Its position in `answers`.
    index: usize,
    what: PendingWrite,
}

enum PendingWrite {
    Accept {
        message: MessageRef,
        /// The write carries a delivery report this node originates (stored only if the
        /// message is new).
        reports: bool,
        /// What the audit log records if the message is new here (not if a duplicate).
        audit: Vec<Entry>,
        /// Its precedence, for the counters by class.
        class: Precedence,
    },
    /// Refused, unless the ledger finds the message held (then acknowledged).
    Refused(Refusal),
}

type CommitFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<Vec<WriteOutcome>, crate::store::StoreError>>
            + Send,
    >,
>;

/// Offers decided on, with their writes queued at the store but perhaps not yet durable.
pub struct Decided {
    answers: Vec<Option<Answer>>,
    /// Who offered each, for the audit log's refusals (in `answers`' order).
    from: Vec<NodeId>,
    /// Each queued write, in write order.
    pending: Vec<Pending>,
    commit: Option<CommitFuture>,
    /// The class of the stream the offers came on (none: a local caller), for the refusal
    /// counters.
    stream: Option<Precedence>,
    /// When the batch reached the shell, for the custody latency histogram.
    arrived: std::time::Instant,
    /// This batch's copies per next hop, counted against the queue quotas of batches
    /// decided before its commit ends.
    _in_flight: Option<super::in_flight::InFlightGuard>,
}

/// Verifies and decides on offers and queues their writes at the store. Callers that
/// decide batch after batch keep the batches' order in the store (and so in the inbox),
/// while the next batch's verification overlaps this one's fsync.
pub async fn decide_offers(
    core: &Arc<Core>,
    offers: Vec<Offer>,
    stream: Option<Precedence>,
) -> Decided {
    let arrived = std::time::Instant::now();
    let now = now_ms();
    let signed: Vec<SignedEnvelope> = offers.iter().map(|o| o.signed.clone()).collect();
    let verified = if signed.len() <= INLINE_VERIFY_MAX {
        Some(core.verifier().verify_batch(&signed, now / 1000))
    } else {
        let worker = core.clone();
        let verify = move || worker.verifier().verify_batch(&signed, now / 1000);
        match stream {
            Some(class) if Bulk::takes(class) => core.bulk().run(verify).await,
            // FLASH and IMMEDIATE streams, and local callers: not behind a flood.
            // Awaited here; if this future is dropped the verification finishes on its
            // blocking thread and is thrown away (CPU only: it holds nothing but the core).
            _ => tokio::task::spawn_blocking(verify).await.ok(),
        }
    };
    let verified = match verified {
        Some(results) => results,
        None => {
            return Decided {
                answers: offers.iter().map(|o| Some(Err(unverifiable(o)))).collect(),
                from: offers.into_iter().map(|o| o.from).collect(),
                pending: Vec::new(),
                commit: None,
                stream,
                arrived,
                _in_flight: None,
            }
        }
    };

    let mut answers: Vec<Option<Answer>> = Vec::with_capacity(offers.len());
    let audit = core.audit().is_enabled();
    let from: Vec<NodeId> = if audit {
        offers.iter().map(|o| o.from.clone()).collect()
    } else {
        Vec::new()
    };
    let mut writes = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut staged: HashMap<NodeId, usize> = HashMap::new();
    for (offer, result) in offers.into_iter().zip(verified) {
        let verified = match result {
            Ok(v) => v,
            Err(err) => {
                // Signed bytes that do not decode or break a rule are no forgery: they are
                // counted as malformed only (issue 10).
                if !matches!(err, VerifyError::Decode(_)) {
                    Stats::add(&core.stats().rejected_signatures, 1);
                }
                tracing::warn!(error = %err, "refused an offer that does not verify");
                answers.push(Some(Err(refusal_without_envelope(&offer, &err))));
                continue;
            }
        };
        let envelope = verified.envelope();
        let signed = verified.signed().encode_to_vec();
        let arrival = Arrival {
            hops: offer.hops,
            recipients: &offer.recipients,
            stream,
            provenance: Provenance::Relayed { from: offer.from },
            signer: verified.signer(),
        };
        match custody_of(core, envelope, signed, arrival, now, &staged) {
            Ok(mut custody) => {
                for hop in custody.copies.keys() {
                    if let Hop::Next(next) = hop {
                        match staged.get_mut(next) {
                            Some(count) => *count += 1,
                            None => {
                                staged.insert(next.clone(), 1);
                            }
                        }
                    }
                }
                // From a quarantined node since its rule's time (issue 14, item 3): custody
                // is taken, but every copy is held, and no delivery report goes out.
                let held = core.quarantine_catches(&envelope.origin, &envelope.message_id);
                if held {
                    custody.report = None;
                }
                let audit = if !audit {
                    Vec::new()
                } else if held {
                    vec![audited::held_on_arrival(envelope, &custody, now)]
                } else {
                    let mut entries = audited::taken(envelope, &custody, now);
                    audited::report_taken(&custody, now, &mut entries);
                    entries
                };
                pending.push(Pending {
                    index: answers.len(),
                    what: PendingWrite::Accept {
                        message: custody.message.message.clone(),
                        reports: custody.report.is_some(),
                        audit,
                        class: envelope.precedence,
                    },
                });
                answers.push(None);
                writes.push(if held {
                    Write::Hold(custody)
                } else {
                    Write::Accept(custody)
                });
            }
            // Acknowledged instead if the message is held: the ledger says, in the round
            // that commits this batch.
            Err(refusal) if refusal_excused_if_held(refusal.reason) => {
                writes.push(Write::Refused {
                    message: refusal.message.clone(),
                    reason: refusal.reason,
                });
                pending.push(Pending {
                    index: answers.len(),
                    what: PendingWrite::Refused(refusal),
                });
                answers.push(None);
            }
            Err(refusal) => answers.push(Some(Err(refusal))),
        }
    }
    let in_flight = core.in_flight().hold(staged);
    let commit = if writes.is_empty() {
        None
    } else {
        // Queued before the next batch's writes, in the order batches are decided; waits
        // while the store thread's queue is full (backpressure on this stream).
        let committing = core.store().enqueue(writes).await;
        Some(Box::pin(async move { committing?.await }) as CommitFuture)
    };
    Decided {
        answers,
        from,
        pending,
        commit,
        stream,
        arrived,
        _in_flight: Some(in_flight),
    }
}

impl Decided {
    /// Waits until the writes are durable; returns one answer per offer, in order.
    pub async fn finish(mut self, core: &Core) -> Vec<Answer> {
        let mut entries: Vec<Entry> = Vec::new();
        if let Some(commit) = self.commit.take() {
            let outcomes = commit.await;
            let held = match &outcomes {
                Ok(_) => Vec::new(),
                Err(_) => held_all_the_same(core, &self.pending).await,
            };
            for (n, Pending { index, what }) in self.pending.into_iter().enumerate() {
                let outcome = match &outcomes {
                    // Held before the failed round: durable here, so acknowledged anyway.
                    Err(_) if held.get(n) == Some(&true) => Ok(Some(WriteOutcome::Duplicate)),
                    outcomes => outcomes.as_ref().map(|o| o.get(n).copied()),
                };
                let answer = match (what, outcome) {
                    (
                        PendingWrite::Accept { message, .. }
                        | PendingWrite::Refused(Refusal { message, .. }),
                        Ok(Some(WriteOutcome::Duplicate)),
                    ) => {
                        Stats::add(&core.stats().duplicates, 1);
                        Ok(message)
                    }
                    (
                        PendingWrite::Accept {
                            message,
                            reports,
                            audit,
                            class,
                        },
                        Ok(_),
                    ) => {
                        Stats::add(&core.stats().accepted, 1);
                        core.stats().traffic.taken(class, 1);
                        if reports {
                            Stats::add(&core.stats().delivery_reports_sent, 1);
                        }
                        entries.extend(audit);
                        Ok(message)
                    }
                    (PendingWrite::Accept { message, .. }, Err(err)) => Err(Refusal {
                        message,
                        reason: RefusalReason::StorageUnavailable,
                        detail: err.to_string(),
                    }),
                    // Not held: the refusal stands.
                    (PendingWrite::Refused(refusal), _) => Err(refusal),
                };
                self.answers[index] = Some(answer);
            }
        }
        let answers: Vec<Answer> = self.answers.into_iter().flatten().collect();
        let now = now_ms();
        for (n, answer) in answers.iter().enumerate() {
            if let Err(refusal) = answer {
                core.stats().refusal(refusal.reason);
                core.stats().traffic.refused(refusal.reason, self.stream);
                if let Some(from) = self.from.get(n) {
                    entries.push(audited::refused(refusal, Some(from), now));
                }
            }
        }
        core.audit().record_all(entries);
        let n = answers.len() as u64;
        core.stats().traffic.custody_took(self.arrived.elapsed(), n);
        answers
    }
}

/// After a round that failed (the store takes no more custody, or a lookup failed), per
/// pending write: whether it is a refusal of a message the store held before that round. Its
/// acknowledgement never depended on the round, and a refusal would make the sender report a
/// message this node holds as not delivered. Only on this rare path does the lookup take a
/// round trip of its own; false where it fails too.
async fn held_all_the_same(core: &Core, pending: &[Pending]) -> Vec<bool> {
    let refused: Vec<MessageRef> = pending
        .iter()
        .filter_map(|p| match &p.what {
            PendingWrite::Refused(refusal) => Some(refusal.message.clone()),
            PendingWrite::Accept { .. } => None,
        })
        .collect();
    if refused.is_empty() {
        return Vec::new();
    }
    let mut seen = core
        .store()
        .seen(refused)
        .await
        .unwrap_or_default()
        .into_iter();
    pending
        .iter()
        .map(|p| match p.what {
            PendingWrite::Refused(_) => seen.next().unwrap_or(false),
            PendingWrite::Accept { .. } => false,
        })
        .collect()
}

fn unverifiable(offer: &Offer) -> Refusal {
    refusal(
        offer,
        RefusalReason::StorageUnavailable,
        "verification did not complete",
    )
}

/// A refusal for an offer that did not verify.
fn refusal_without_envelope(offer: &Offer, err: &VerifyError) -> Refusal {
    let reason = match err {
        VerifyError::Untrusted(_) => RefusalReason::UntrustedSigner,
        VerifyError::Decode(_) => RefusalReason::Malformed,
        _ => RefusalReason::BadSignature,
    };
    refusal(offer, reason, &err.to_string())
}

/// Its reference is read from the bytes (unverified, or breaking a rule) whenever they
/// decode, so that the sender can match it; only bytes that do not decode get the
/// placeholder reference (protocol.md 7.2).
fn refusal(offer: &Offer, reason: RefusalReason, detail: &str) -> Refusal {
    let message = offer.signed.message_ref().unwrap_or_else(|_| MessageRef {
        origin: "unknown".parse().expect("a valid node id"),
        id: MessageId::from_bytes(&[0; 16]).expect("16 bytes"),
    });
    Refusal {
        message,
        reason,
        detail: detail.chars().take(200).collect(),
    }
}

/// How a message reached this node.
pub(super) struct Arrival<'a> {
    /// Relay hops it had taken.
    hops: u8,
    /// Final recipients resolved by a fan-out before this node.
    recipients: &'a [NodeId],
    /// The precedence class of the stream it came on (none for local submissions).
    stream: Option<Precedence>,
    provenance: Provenance,
    /// The certificate that signed it (this node's own, for what it originates).
    signer: &'a NodeIdentity,
}

/// Decides on an envelope whose signature is known good (verified, or signed here); one
/// debug line says what was decided.
///
/// `staged`: copies per next hop that this caller's batch took already, not yet in the
/// store's depths, so that one batch cannot take a queue past its quota.
pub(super) fn custody_of(
    core: &Core,
    envelope: &Envelope,
    signed: Vec<u8>,
    arrival: Arrival<'_>,
    now: i64,
    staged: &HashMap<NodeId, usize>,
) -> Result<Custody, Refusal> {
    let outcome = decide_custody(core, envelope, signed, arrival, now, staged);
    super::decision_log::custody(envelope, &outcome);
    outcome
}

fn decide_custody(
    core: &Core,
    envelope: &Envelope,
    signed: Vec<u8>,
    arrival: Arrival<'_>,
    now: i64,
    staged: &HashMap<NodeId, usize>,
) -> Result<Custody, Refusal> {
    let Arrival {
        hops,
        recipients,
        stream,
        provenance,
        signer,
    } = arrival;
    let message = MessageRef {
        origin: envelope.origin.clone(),
        id: envelope.message_id,
    };
    let may = revocation::may_take_custody(&core.standing())
        .and_then(|()| disk::may_take_custody(core.disk_shortage().as_deref()));
    if let Err((reason, detail)) = may {
        return Err(Refusal {
            message,
            reason,
            detail,
        });
    }
    // A copy, not the guard: the decision below may take custody of a report, which
    // decides again (a second read lock on the same thread can deadlock behind a writer).
    // Empty, and so free, unless a peer is given up.
    let silent = core.failover().given_up().clone();
    let ctx = custody::Context {
        now_ms: now,
        hops,
        queue_quota: core.config().limits.queue_quota,
        stream,
        signer: Party::of(signer),
        policy: &core.config().policy,
        me: Party::of(core.identity()),
        directory: &Directory::default(),
        silent: &silent,
    };
    // Only a marked message needs the directory: the rest never touch its lock.
    let directory = envelope.release_to.is_some().then(|| core.directory());
    let ctx = custody::Context {
        directory: directory.as_deref().unwrap_or(ctx.directory),
        ..ctx
    };
    let decision = custody::decide(envelope, recipients, ctx, &core.config().routing, |hop| {
        core.store().depth(hop) + core.in_flight().get(hop) + staged.get(hop).copied().unwrap_or(0)
    });
    let copies = match decision {
        CustodyDecision::Accept { copies, withheld } => {
            note_withheld(envelope, &withheld);
            copies
        }
        CustodyDecision::Refuse { reason, detail } => {
            return Err(Refusal {
                message,
                reason,
                detail,
            })
        }
    };
    // Notices only: the embedded request and the register (issue 12, items 3 and 5).
    if let Body::Notice(notice) = &envelope.body {
        let hop = |hop: &Hop| copies.contains_key(hop);
        if let Err(refusal) =
            notices::check(core, envelope, notice, ctx.signer, hop, &provenance, now)
        {
            return Err(Refusal {
                message,
                reason: RefusalReason::Policy,
                detail: refusal.to_string(),
            });
        }
    }
    let report = if copies.contains_key(&Hop::Local) {
        reports::delivery_report(core.me(), envelope, MessageId::generate(now as u64), now)
            .and_then(|dr| own_custody(core, &dr, now).ok())
            .map(Box::new)
    } else {
        None
    };
    Ok(Custody {
        message: StoredMessage::taken(envelope, signed, hops, now),
        copies,
        report,
        provenance,
    })
}

/// Logs the copies a release marking kept from recipients: at debug when the marking says
/// so, as a warning when this node does not know who a recipient is (it has never linked
/// with it), which an operator can fix.
fn note_withheld(envelope: &Envelope, withheld: &[(NodeId, WithheldBecause)]) {
    for (recipient, because) in withheld {
        match because {
            WithheldBecause::OutsideList => tracing::debug!(
                message = %envelope.message_id, origin = %envelope.origin, %recipient,
                "no copy: outside the release list"
            ),
            WithheldBecause::IdentityUnknown => tracing::warn!(
                message = %envelope.message_id, origin = %envelope.origin, %recipient,
                "no copy of a marked message: this node has never linked with the recipient, \
                 so it cannot tell whether the release list admits it"
            ),
        }
    }
}

/// Signs an envelope this node originates (a batch of one) and decides where it goes.
pub(super) fn own_custody(core: &Core, envelope: &Envelope, now: i64) -> Result<Custody, Refusal> {
    let signed = core
        .signer()
        .sign(envelope)
        .map_err(|e| unsignable(envelope, &e))?;
    own_custody_signed(core, envelope, signed, now)
}

/// The refusal of an envelope this node cannot sign: too large to travel.
pub(super) fn unsignable(envelope: &Envelope, why: &dyn std::fmt::Display) -> Refusal {
    Refusal {
        message: envelope.message_ref(),
        reason: RefusalReason::Malformed,
        detail: why.to_string(),
    }
}

/// [`own_custody`] of an envelope signed already (see `Core::submit_with`).
pub(super) fn own_custody_signed(
    core: &Core,
    envelope: &Envelope,
    signed: SignedEnvelope,
    now: i64,
) -> Result<Custody, Refusal> {
    let arrival = Arrival {
        hops: 0,
        recipients: &[],
        stream: None,
        provenance: Provenance::Originated,
        signer: core.identity(),
    };
    let mut custody = custody_of(
        core,
        envelope,
        signed.encode_to_vec(),
        arrival,
        now,
        &HashMap::new(),
    )?;
    // Originated here: the first link is hop zero.
    custody.message.hops = 0;
    Ok(custody)
}

/// Gives up on a queued copy: drops it and, unless it is itself a report, sends the origin a
/// signed non-delivery report, in one commit. The ledger stores the report only if the copy
/// was still queued, so a copy given up twice (its link and the expiry sweep) is reported
/// once.
pub async fn give_up(
    core: &Core,
    queued: &Queued,
    reason: NonDeliveryReason,
    detail: String,
) -> Result<(), crate::store::StoreError> {
    let now = now_ms();
    let plan = plan_give_up(core, queued, reason, detail, now);
    let audit = plan.envelope.as_ref().map(|envelope| {
        let hop = queued.key.next_hop();
        audited::given_up(envelope, &hop, reason, &plan.detail, now)
    });
    let outcomes = core.store().commit(vec![plan.write]).await?;
    if outcomes.first() == Some(&WriteOutcome::Removed) {
        Stats::add(&core.stats().non_delivery_reports_sent, plan.reports);
        if let Some(entry) = audit {
            core.audit().record(entry);
        }
    }
    Ok(())
}

/// What giving up one queued copy writes: the `Write::GiveUp` with its non-delivery report,
/// and what the caller needs for its audit entry and counters once the write is committed.
pub(super) struct GiveUpPlan {
    pub write: Write,
    /// The copy's envelope, if its bytes still decode.
    pub envelope: Option<Envelope>,
    /// Reports the write carries (0 or 1).
    pub reports: u64,
    pub detail: String,
}

/// Plans giving up `queued` with `reason` and `detail` (the report's text): the same for a
/// link's give-up, an expiry and an operator's purge.
pub(super) fn plan_give_up(
    core: &Core,
    queued: &Queued,
    reason: NonDeliveryReason,
    detail: String,
    now: i64,
) -> GiveUpPlan {
    let mut report = None;
    let envelope = SignedEnvelope::decode(&queued.message.signed)
        .ok()
        .and_then(|s| s.decode_envelope().ok());
    if let Some(envelope) = &envelope {
        let id = MessageId::generate(now as u64);
        if let Some(ndr) =
            reports::non_delivery_report(core.me(), envelope, reason, detail.clone(), id, now)
        {
            match own_custody(core, &ndr, now) {
                Ok(custody) => report = Some(Box::new(custody)),
                Err(refusal) => tracing::warn!(
                    origin = %envelope.origin,
                    detail = %refusal.detail,
                    "cannot route a non-delivery report"
                ),
            }
        }
    }
    if let Some(envelope) = &envelope {
        super::decision_log::given_up(envelope, &queued.key.next_hop(), reason);
    }
    GiveUpPlan {
        reports: u64::from(report.is_some()),
        write: Write::GiveUp {
            key: queued.key.clone(),
            report,
        },
        envelope,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_large_routine_and_priority_batches_are_decided_in_bulk() {
        for bulk_class in [Precedence::Routine, Precedence::Priority] {
            assert!(!decided_in_bulk(bulk_class, 1), "a lone message");
            assert!(!decided_in_bulk(bulk_class, INLINE_VERIFY_MAX));
            assert!(decided_in_bulk(bulk_class, INLINE_VERIFY_MAX + 1));
            assert!(decided_in_bulk(bulk_class, 128));
        }
        for urgent in [Precedence::Flash, Precedence::Immediate] {
            assert!(!decided_in_bulk(urgent, 128), "{urgent}");
        }
    }
}
