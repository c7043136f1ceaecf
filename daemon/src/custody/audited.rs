//! What the custody shell tells the audit log (issue 14, item 5): one entry per message
//! taken into custody, delivered to the inbox, handed to the next hop, read by an
//! application, refused, expired or given up. Ids, origin, destination, kind and decision,
//! never a body. The entries are made here, from values the shell has anyway, so the
//! custody code says only "this happened".

use bluehelm_proto::{Envelope, MessageRef, NodeId, NonDeliveryReason, Refusal};

use crate::engine::audit::{Entry, Event};
use crate::engine::Hop;
use crate::store::{Custody, Provenance};

/// The entries for a message newly in custody: accepted, and delivered if a copy went to
/// this node's inbox; likewise for the delivery report it carries.
pub(super) fn taken(envelope: &Envelope, custody: &Custody, now: i64) -> Vec<Entry> {
    let mut entries = Vec::with_capacity(2);
    push_taken(&mut entries, envelope, custody, now);
    entries
}

/// The report a custody carries, as entries of its own (it is decoded from its bytes).
pub(super) fn report_taken(custody: &Custody, now: i64, entries: &mut Vec<Entry>) {
    let Some(report) = &custody.report else {
        return;
    };
    let envelope = bluehelm_proto::SignedEnvelope::decode(&report.message.signed)
        .ok()
        .and_then(|s| s.decode_envelope().ok());
    if let Some(envelope) = envelope {
        push_taken(entries, &envelope, report, now);
    }
}

fn push_taken(entries: &mut Vec<Entry>, envelope: &Envelope, custody: &Custody, now: i64) {
    // Written into one string: this runs for every message at every node, and building the
    // parts as strings of their own then joining them was most of its allocations.
    let mut decision = String::with_capacity(64);
    match &custody.provenance {
        Provenance::Originated => decision.push_str("originated here"),
        Provenance::Relayed { from } => {
            decision.push_str("from ");
            decision.push_str(from.as_str());
        }
    }
    decision.push_str("; copies for ");
    for (i, hop) in custody.copies.keys().enumerate() {
        if i > 0 {
            decision.push_str(", ");
        }
        decision.push_str(match hop {
            Hop::Local => "inbox",
            Hop::Next(node) => node.as_str(),
        });
    }
    entries.push(Entry::about(Event::Accepted, envelope, now).decided(decision));
    if custody.copies.contains_key(&Hop::Local) {
        entries.push(Entry::about(Event::Delivered, envelope, now).decided("in the inbox"));
    }
}

/// A new message a quarantine rule caught: custody taken, every copy held (issue 14, item 3).
pub(super) fn held_on_arrival(envelope: &Envelope, custody: &Custody, now: i64) -> Entry {
    let from = match &custody.provenance {
        Provenance::Originated => "originated here".to_owned(),
        Provenance::Relayed { from } => format!("from {from}"),
    };
    Entry::about(Event::Quarantined, envelope, now)
        .decided(format!("{from}; held on arrival"))
        .by_rule("quarantine: origin compromised")
}

/// A refused offer or submission: `from` is the neighbour that offered it (none: local).
pub(super) fn refused(refusal: &Refusal, from: Option<&NodeId>, now: i64) -> Entry {
    let from = from.map_or_else(|| "a local application".to_owned(), ToString::to_string);
    Entry::about_ref(Event::Refused, &refusal.message, now)
        .decided(format!("refused {} from {from}", refusal.reason))
        .by_rule(refusal.detail.clone())
}

/// The next hop took custody of these.
pub(super) fn relayed(messages: &[MessageRef], peer: &NodeId, now: i64) -> Vec<Entry> {
    messages
        .iter()
        .map(|m| Entry::about_ref(Event::Relayed, m, now).decided(format!("to {peer}")))
        .collect()
}

/// A queued copy given up: expired, or refused for good by the next hop.
pub(super) fn given_up(
    envelope: &Envelope,
    hop: &NodeId,
    reason: NonDeliveryReason,
    detail: &str,
    now: i64,
) -> Entry {
    let event = match reason {
        NonDeliveryReason::Expired => Event::Expired,
        _ => Event::Refused,
    };
    Entry::about(event, envelope, now)
        .decided(format!("given up for {hop}: {reason}"))
        .by_rule(detail.to_owned())
}

/// The application acknowledged (read) an inbox message.
pub(super) fn read(envelope: &Envelope, now: i64) -> Entry {
    Entry::about(Event::Read, envelope, now).decided("acknowledged by the application")
}

/// Most inbox messages whose "read" entry is kept ready between the read and the
/// acknowledgement; past this the oldest are forgotten, and their acknowledgement reads the
/// message back from the store instead.
const HANDED_OUT_MAX: usize = 65_536;

/// The inbox messages handed to applications and not yet acknowledged, by inbox number: an
/// acknowledgement names numbers only, and reading each message back from the store for its
/// audit entry would double the inbox's reads.
#[derive(Default)]
pub(super) struct HandedOut(std::sync::Mutex<std::collections::BTreeMap<u64, Entry>>);

impl HandedOut {
    /// `envelope` was handed out as inbox message `seq`.
    pub(super) fn note(&self, seq: u64, envelope: &Envelope) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.contains_key(&seq) {
            return;
        }
        if map.len() >= HANDED_OUT_MAX {
            map.pop_first();
        }
        map.insert(seq, read(envelope, 0));
    }

    /// The read entry of inbox message `seq`, if it is still kept.
    pub(super) fn take(&self, seq: u64) -> Option<Entry> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&seq)
    }
}
