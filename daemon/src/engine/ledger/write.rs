//! The ledger's vocabulary: the changes a node asks of its custody (`Write`), what each did
//! (`WriteOutcome`), and the records they carry. The store persists them and the links send
//! them; `crate::store` re-exports them under their old names.

use std::collections::BTreeMap;

use bluehelm_proto::{Envelope, MessageId, MessageRef, NodeId, Precedence, RefusalReason};
use bytes::Bytes;

use super::QueueKey;
use crate::engine::quarantine::{HeldFor, Rule};
use crate::engine::Hop;

/// Where this node got a message from: it decides whether a copy may leave before this node's
/// custody of it is durable (cut-through, see `Ledger`). Not stored: after a restart copies
/// leave through queue reads only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Written here: by a local application, or a report this node signs.
    Originated,
    /// Offered by the neighbour `from`, which keeps its copy until this node's custody is
    /// durable.
    Relayed { from: NodeId },
}

/// One message copy held in custody: queued for a next hop, or in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub message: MessageRef,
    pub precedence: Precedence,
    pub expires_at_ms: i64,
    /// Relay hops taken so far, as it will be offered to the next hop.
    pub hops: u8,
    /// Final recipients resolved by a group or service fan-out; empty when the envelope's own
    /// destination says where it goes.
    pub recipients: Vec<NodeId>,
    /// The encoded `SignedEnvelope`, as received. Shared with the stored record it was read
    /// from, so reading a copy to send it or to deliver it does not copy the envelope.
    pub signed: Bytes,
    /// When this node took custody (Unix ms), for queue age reporting.
    pub accepted_at_ms: i64,
}

impl StoredMessage {
    /// The record of `envelope` (its `signed` form, as received) taken into custody at
    /// `now`, after `hops` relay hops: its copies go one hop further than it came.
    pub fn taken(envelope: &Envelope, signed: impl Into<Bytes>, hops: u8, now: i64) -> Self {
        Self {
            message: envelope.message_ref(),
            precedence: envelope.precedence,
            expires_at_ms: envelope.expires_at_ms,
            hops: hops.saturating_add(1),
            recipients: Vec::new(),
            signed: signed.into(),
            accepted_at_ms: now,
        }
    }
}

/// Taking custody of one message: its record and where its copies go.
#[derive(Debug, Clone)]
pub struct Custody {
    pub message: StoredMessage,
    /// One copy per hop: queued for a neighbour, or put in the inbox.
    pub copies: BTreeMap<Hop, Vec<NodeId>>,
    /// A report (a delivery report) to take custody of in the same commit, only if this
    /// message is new: a duplicate must not be reported twice.
    pub report: Option<Box<Custody>>,
    /// Where the message came from.
    pub provenance: Provenance,
}

/// One change to the node's custody.
#[derive(Debug, Clone)]
pub enum Write {
    /// Store the copies and remember the message for deduplication, unless it was seen.
    Accept(Custody),
    /// An offer refused for `reason`. Nothing is written: if the reason is one a duplicate
    /// excuses ([`super::refusal_excused_if_held`]) and this node holds or handled the
    /// message, the outcome is `Duplicate` (acknowledge it), otherwise `Refused`.
    Refused {
        message: MessageRef,
        reason: RefusalReason,
    },
    /// The next hop took custody of a queued copy: drop it. Not fsynced on its own: if it is
    /// lost in a crash, the copy is offered again and the next hop, which remembers the
    /// message, acknowledges it as a duplicate. It becomes durable with the next durable
    /// commit.
    Forget(QueueKey),
    /// Give up on a queued copy (refused for good by its next hop, or expired): drop it and,
    /// only if it was still queued, take custody of `report` (the non-delivery report to its
    /// origin, if one is due) in the same commit, so that a copy given up twice (by its link
    /// and by the expiry sweep) is reported once. `Missing` if it was gone.
    GiveUp {
        key: QueueKey,
        report: Option<Box<Custody>>,
    },
    /// The local application has the inbox message with this sequence number.
    AckInbox(u64),
    /// The local API's note on a message this node sent (its outcome, from reports), kept
    /// under key `a` + message id. The value is the API's own encoding (see `api/notes.rs`).
    Note { id: MessageId, value: Vec<u8> },
    /// A record of a reference database served by the node (`crate::services`), kept under
    /// key `r` + `key`. Key and value are the services' own encoding; writing a key again
    /// replaces its record.
    Reference { key: Vec<u8>, value: Vec<u8> },
    /// A notice request held for review at the hub, under key `v` + message id. The value
    /// is the request's signed envelope as received (`SignedEnvelope::encode_to_vec`).
    Review { id: MessageId, value: Vec<u8> },
    /// The request left the review queue (approved or refused).
    Unreview(MessageId),
    /// The notice register's entry for `notice_ref` (issue 12, item 3), under key `n` +
    /// reference: the publication applied, its `SignedEnvelope` encoded. Writing it again
    /// replaces it; whether it should is the register's merge (`engine/register.rs`).
    Notice { notice_ref: String, value: Vec<u8> },
    /// What a linked peer's certificate certifies (role, country, mission), under key `d` +
    /// node id: release markings judge nodes by it (`engine/release.rs`). The value is
    /// `release::Member::encode`; writing it again replaces it.
    Identity { node: NodeId, value: Vec<u8> },
    /// Take custody of a message a quarantine rule catches (issue 14, item 3): like
    /// `Accept` (dedup entry, `Duplicate` if seen), but every copy goes into quarantine
    /// (`x` + a new sequence number) with where it was going, and nothing is handed to a
    /// link or the inbox. Its `report` is not taken: it was not delivered.
    Hold(Custody),
    /// Move a copy this node holds into quarantine: a queued copy (`Missing` if no longer
    /// queued: its next hop took it) or an inbox message (`Missing` if acknowledged).
    /// `message` is the copy as read from the store.
    Quarantine { from: Place, message: StoredMessage },
    /// Move held copy `id` back where it was going (a new sequence number there), or
    /// `Missing` if it is no longer held.
    Release {
        id: u64,
        to: HeldFor,
        message: StoredMessage,
    },
    /// Delete held copy `id` (`Missing` if it is no longer held).
    DropHeld(u64),
    /// Keep a quarantine rule (key `u` + node id; writing it again replaces it).
    QuarantineRule(Rule),
    /// Move a queued copy to the queue of another next hop (issue 15, item 7: its next hop
    /// is given up as silent, and its route has an alternate): out of one queue and into the
    /// other in the same round, so that a crash leaves it in one of the two, never both or
    /// neither. A new sequence number there, durable before it leaves; `Missing` if it is no
    /// longer queued (the next hop took it meanwhile). `message` is the copy as read.
    Reroute {
        key: QueueKey,
        to: NodeId,
        message: StoredMessage,
    },
}

/// A copy in custody, by where it is: what [`Write::Quarantine`] moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Queued(QueueKey),
    Inbox(u64),
}

impl Write {
    /// About how many bytes it writes (for bounding a commit round).
    pub fn approx_bytes(&self) -> usize {
        match self {
            Write::Accept(custody) | Write::Hold(custody) => custody_bytes(custody),
            Write::Quarantine { message, .. }
            | Write::Release { message, .. }
            | Write::Reroute { message, .. } => message.signed.len() + 128,
            Write::QuarantineRule(_) | Write::DropHeld(_) => 96,
            Write::GiveUp { report, .. } => 48 + report.as_deref().map_or(0, custody_bytes),
            Write::Note { value, .. }
            | Write::Reference { value, .. }
            | Write::Review { value, .. } => value.len() + 32,
            Write::Notice { notice_ref, value } => notice_ref.len() + value.len() + 16,
            Write::Identity { node, value } => node.as_str().len() + value.len() + 16,
            Write::Forget(_) | Write::AckInbox(_) | Write::Unreview(_) | Write::Refused { .. } => {
                48
            }
        }
    }

    /// Whether the commit must be fsynced before it is reported done: all but the dropping
    /// of copies the next hop holds (see [`Write::Forget`]) and the lookups of refusals (a
    /// message held already is durable, or durable with the round that holds it).
    pub fn needs_fsync(&self) -> bool {
        match self {
            Write::Forget(_) | Write::Refused { .. } => false,
            Write::GiveUp { report, .. } => report.is_some(),
            _ => true,
        }
    }

    /// Whether it takes custody of a FLASH message (see [`super::goes_first`]).
    pub fn takes_flash(&self) -> bool {
        match self {
            Write::Accept(custody) => custody.message.precedence == Precedence::Flash,
            Write::GiveUp {
                report: Some(report),
                ..
            } => report.message.precedence == Precedence::Flash,
            _ => false,
        }
    }
}

fn custody_bytes(custody: &Custody) -> usize {
    let copies = custody.copies.len().max(1);
    let report = custody
        .report
        .as_ref()
        .map_or(0, |r| r.message.signed.len());
    copies * (custody.message.signed.len() + 64) + report
}

/// What one write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Stored,
    /// An `Accept` of a message this node had already seen: nothing was stored. Or a
    /// `Refused` offer of a message this node holds or handled: acknowledge it.
    Duplicate,
    /// A `Forget`, `GiveUp`, `AckInbox` or `Unreview` of something already gone.
    Missing,
    Removed,
    /// A `Refused` offer of a message this node does not hold: the refusal stands.
    Refused,
}

/// A queued copy with its key.
#[derive(Debug, Clone)]
pub struct Queued {
    pub key: QueueKey,
    pub message: StoredMessage,
}
