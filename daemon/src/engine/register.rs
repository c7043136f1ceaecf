//! The notice register (issue 12, item 3): notices as state, not only inbox messages. Pure:
//! time comes in as an argument; the store keeps the entries (`store/keys.rs`, table `n`)
//! and the core mirrors them in memory (`custody/state.rs`).
//!
//! One [`Entry`] per notice reference. It is the last publication applied (PUBLISHED,
//! UPDATED or CANCELLED, signed by the hub), and everything shown about the notice is read
//! from that publication's signed envelope. Copies of publications reach a node in any
//! order, and the same copy may come twice (a redelivery after a crash), so [`apply`] is a
//! merge that gives the same entry whatever the order:
//!
//! - a publication's rank is (lifecycle: PUBLISHED < UPDATED < CANCELLED, then its creation
//!   time, then its message id) and the entry is the highest-ranked publication seen;
//! - so CANCELLED is final, an UPDATED replaces an older UPDATED, a PUBLISHED arriving after
//!   an UPDATED does not roll it back, and a duplicate changes nothing.
//!
//! The wording ("UPDATED replaces the entry only if newer") would, taken literally,
//! keep an old UPDATED out when a newer PUBLISHED came first but let it win when it came
//! first: two nodes would disagree. Ranking the lifecycle first is what makes every order
//! converge; the hub never publishes an update older than its publication anyway.
//!
//! "Expired" is never stored: [`Entry::status_at`] computes it from `valid_until` and `now`.
//!
//! [`check_change`] is the rule on a bureau's UPDATED or CANCELLED request: at the hub the
//! notice must be known, live and the requester's; at the requester's own node, what its
//! register knows already is refused there and then (an unknown reference goes on to the
//! hub, which decides).

use std::collections::BTreeMap;

use bluehelm_proto::{
    Body, Envelope, MessageId, NodeId, Notice, NoticeLifecycle, NoticeType, ReleaseList,
    SignedEnvelope,
};

use super::ledger::Write;
use super::policy::{PolicyRefusal, Rule};

#[cfg(test)]
mod tests;

/// What the register says about a notice when it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Published,
    Updated,
    Cancelled,
    /// Published or updated, and its last valid day has passed.
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Published => "published",
            Status::Updated => "updated",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an envelope is not a register entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("the signed envelope does not decode: {0}")]
    Decode(String),
    #[error("not a notice publication (PUBLISHED, UPDATED or CANCELLED with its request)")]
    NotAPublication,
}

/// The register's entry for one notice: the last publication applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub notice_ref: String,
    /// The requesting bureau, which alone may ask for an update or a cancellation.
    pub owner: NodeId,
    pub notice_type: NoticeType,
    /// PUBLISHED, UPDATED or CANCELLED: the lifecycle of the publication applied.
    pub lifecycle: NoticeLifecycle,
    /// "YYYY-MM-DD", or empty: until cancelled.
    pub valid_until: String,
    /// The publication applied, and when the hub created it.
    pub message_id: MessageId,
    pub created_at_ms: i64,
    /// The owner's release marking, carried unchanged by the publication; `None`: unmarked.
    pub release_to: Option<ReleaseList>,
    /// The publication's `SignedEnvelope`, encoded, exactly as received: everything else
    /// about the notice (subject, remarks, the request it carries) is read from it.
    pub signed: Vec<u8>,
}

impl Entry {
    /// The entry a publication makes, from its decoded envelope and its signed bytes.
    pub fn of(envelope: &Envelope, signed: Vec<u8>) -> Result<Entry, EntryError> {
        let Body::Notice(notice) = &envelope.body else {
            return Err(EntryError::NotAPublication);
        };
        if !is_publication(notice) {
            return Err(EntryError::NotAPublication);
        }
        Ok(Entry {
            notice_ref: notice.notice_ref.clone(),
            owner: notice.requesting_bureau.clone(),
            notice_type: notice.notice_type,
            lifecycle: notice.lifecycle,
            valid_until: notice.valid_until.clone(),
            message_id: envelope.message_id,
            created_at_ms: envelope.created_at_ms,
            release_to: envelope.release_to.clone(),
            signed,
        })
    }

    /// An entry read back from the store, whose value is the publication's signed bytes.
    pub fn decode(signed: &[u8]) -> Result<Entry, EntryError> {
        let envelope = SignedEnvelope::decode(signed)
            .and_then(|s| s.decode_envelope())
            .map_err(|e| EntryError::Decode(e.to_string()))?;
        Entry::of(&envelope, signed.to_vec())
    }

    /// The publication applied, decoded (for showing every field).
    pub fn publication(&self) -> Result<(SignedEnvelope, Envelope), EntryError> {
        let signed =
            SignedEnvelope::decode(&self.signed).map_err(|e| EntryError::Decode(e.to_string()))?;
        let envelope = signed
            .decode_envelope()
            .map_err(|e| EntryError::Decode(e.to_string()))?;
        Ok((signed, envelope))
    }

    /// The status at `now_ms`: a notice whose last valid day (UTC) has passed is expired,
    /// unless it was cancelled.
    pub fn status_at(&self, now_ms: i64) -> Status {
        match self.lifecycle {
            NoticeLifecycle::Cancelled => Status::Cancelled,
            _ if valid_until_ms(&self.valid_until).is_some_and(|end| now_ms >= end) => {
                Status::Expired
            }
            NoticeLifecycle::Updated => Status::Updated,
            _ => Status::Published,
        }
    }

    /// The store write that keeps this entry (`store/keys.rs`, table `n`).
    pub fn write(&self) -> Write {
        Write::Notice {
            notice_ref: self.notice_ref.clone(),
            value: self.signed.clone(),
        }
    }

    /// Whether the notice is cancelled: no change may be asked for any more.
    pub fn is_cancelled(&self) -> bool {
        self.lifecycle == NoticeLifecycle::Cancelled
    }

    fn rank(&self) -> (u8, i64, MessageId) {
        let lifecycle = match self.lifecycle {
            NoticeLifecycle::Cancelled => 2,
            NoticeLifecycle::Updated => 1,
            _ => 0,
        };
        (lifecycle, self.created_at_ms, self.message_id)
    }
}

/// A notice from the hub that carries its request: PUBLISHED, UPDATED or CANCELLED. (The
/// custody shell has checked the request before the message was taken.)
pub fn is_publication(notice: &Notice) -> bool {
    notice.lifecycle != NoticeLifecycle::Requested && notice.request.is_some()
}

/// The first instant (Unix ms, UTC) after the last valid day; `None` if the notice is valid
/// until cancelled (or the date is none, which validation has refused already).
pub fn valid_until_ms(valid_until: &str) -> Option<i64> {
    if valid_until.len() != 10 {
        return None;
    }
    let day = bluehelm_proto::calendar_date(valid_until)?;
    let next = day.tomorrow().ok()?;
    let zoned = next.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok()?;
    Some(zoned.timestamp().as_millisecond())
}

/// What a publication does to the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// Store this entry (the publication is new and ranks higher).
    Apply(Box<Entry>),
    /// Leave the entry as it is.
    Keep(Kept),
}

/// Why a publication leaves the entry as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// The same publication again.
    Duplicate,
    /// The notice is cancelled: nothing revives it.
    Cancelled,
    /// The entry holds a later step (an UPDATED over a PUBLISHED, or a newer one).
    Older,
}

/// Merges `publication` into the register's `entry` for its reference (see the module doc).
pub fn apply(entry: Option<&Entry>, publication: Entry) -> Merge {
    let Some(entry) = entry else {
        return Merge::Apply(Box::new(publication));
    };
    if entry.message_id == publication.message_id {
        return Merge::Keep(Kept::Duplicate);
    }
    if publication.rank() > entry.rank() {
        return Merge::Apply(Box::new(publication));
    }
    if entry.is_cancelled() {
        Merge::Keep(Kept::Cancelled)
    } else {
        Merge::Keep(Kept::Older)
    }
}

/// The register: one entry per notice reference. The core keeps one in memory, loaded from
/// the store at start; notices are thousands, not millions.
#[derive(Debug, Clone, Default)]
pub struct Register {
    entries: BTreeMap<String, Entry>,
}

impl Register {
    /// The register made of entries read from the store.
    pub fn from_entries(entries: impl IntoIterator<Item = Entry>) -> Self {
        let mut register = Register::default();
        for entry in entries {
            register.merge(entry);
        }
        register
    }

    pub fn get(&self, notice_ref: &str) -> Option<&Entry> {
        self.entries.get(notice_ref)
    }

    /// Applies an entry that the store now holds (merged again, so that two writers can
    /// never roll the mirror back).
    pub fn merge(&mut self, entry: Entry) {
        if let Merge::Apply(entry) = apply(self.entries.get(&entry.notice_ref), entry) {
            self.entries.insert(entry.notice_ref.clone(), *entry);
        }
    }

    /// Every entry, by reference.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Where a bureau's UPDATED or CANCELLED request is being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    /// At the hub, which decides: an unknown reference is refused.
    Hub,
    /// At the requesting bureau's own node, at submission: an unknown reference goes on to
    /// the hub.
    Origin,
}

/// Whether a bureau may ask for this change of a notice that the register knows as
/// `known`. The requesting bureau is the signer already (the role policy sees to that).
pub fn check_change(
    notice: &Notice,
    known: Option<&Entry>,
    at: Checkpoint,
) -> Result<(), PolicyRefusal> {
    let Some(entry) = known else {
        return match at {
            Checkpoint::Origin => Ok(()),
            Checkpoint::Hub => Err(PolicyRefusal {
                rule: Rule::NoticeChangesNeedAKnownNotice,
                detail: format!(
                    "no published notice {}: {} needs one (check the reference)",
                    notice.notice_ref, notice.lifecycle
                ),
            }),
        };
    };
    if entry.owner != notice.requesting_bureau {
        return Err(PolicyRefusal {
            rule: Rule::NoticeChangesByOwner,
            detail: format!(
                "notice {} belongs to {}: only it may ask for a change",
                notice.notice_ref, entry.owner
            ),
        });
    }
    if entry.is_cancelled() {
        return Err(PolicyRefusal {
            rule: Rule::NoticeChangesNeedAKnownNotice,
            detail: format!(
                "notice {} is cancelled: request a new notice instead",
                notice.notice_ref
            ),
        });
    }
    Ok(())
}
