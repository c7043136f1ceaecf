//! Notices at custody time (issue 12, items 3 and 5): the shell's part of the rules in
//! `engine/publication.rs` and `engine/register.rs`. It runs for notice bodies only, after
//! `engine::custody::decide` accepted the message, wherever a copy is taken: at submission,
//! at each relay and at the destination.
//!
//! - A publication (PUBLISHED, or UPDATED/CANCELLED from a role that publishes) must embed
//!   its request: the signature is verified here with the node's verifier, the comparison is
//!   `engine::publication::check`. Refused with `publication-carries-its-request`.
//! - A bureau's request must not embed one.
//! - A bureau's UPDATED or CANCELLED request is checked against the register at the
//!   requester's node when it is submitted, and at the hub when the hub takes it for
//!   itself (`engine::register::check_change`).
//!
//! The register is also written from here for what this node publishes: a publication's
//! register entry is committed with the publication ([`Core::register_writes`]).

use std::collections::BTreeMap;

use bluehelm_proto::{Envelope, Notice, NoticeLifecycle};

use super::state::Core;
use crate::engine::policy::{Party, PolicyRefusal};
use crate::engine::register::{self, Checkpoint, Entry, Merge};
use crate::engine::{publication, Hop};
use crate::store::{Provenance, Write};

/// Checks a notice whose envelope `decide` accepted, signed by `signer`, going to `hops`.
pub(super) fn check(
    core: &Core,
    envelope: &Envelope,
    notice: &Notice,
    signer: Party<'_>,
    hops: impl Fn(&Hop) -> bool,
    provenance: &Provenance,
    now_ms: i64,
) -> Result<(), PolicyRefusal> {
    let policy = &core.config().policy;
    let publishes = policy.of(signer.role).is_some_and(|r| r.publish_notices);
    if publishes && notice.lifecycle != NoticeLifecycle::Requested {
        return check_publication(core, envelope, notice, now_ms);
    }
    publication::check_request(notice)?;
    if !matches!(
        notice.lifecycle,
        NoticeLifecycle::Updated | NoticeLifecycle::Cancelled
    ) {
        return Ok(());
    }
    let at = if *core.me() == policy.hub_node && hops(&Hop::Local) {
        Checkpoint::Hub
    } else if matches!(provenance, Provenance::Originated) {
        Checkpoint::Origin
    } else {
        // A relay: the hub decides.
        return Ok(());
    };
    let register = core.register();
    register::check_change(notice, register.get(&notice.notice_ref), at).inspect_err(|refusal| {
        tracing::info!(message = %envelope.message_id, origin = %envelope.origin,
                notice = %notice.notice_ref, %refusal, "notice change refused");
    })
}

/// The embedded request verifies (signature and certificate, against the trust in force)
/// and is the one the publication claims.
fn check_publication(
    core: &Core,
    envelope: &Envelope,
    notice: &Notice,
    now_ms: i64,
) -> Result<(), PolicyRefusal> {
    let Some(signed) = &notice.request else {
        return Err(publication::unverified(
            notice,
            "it does not carry the requesting bureau's signed request",
        ));
    };
    let verified = core.verifier().verify(signed, now_ms / 1000).map_err(|e| {
        publication::unverified(
            notice,
            &format!("its embedded request does not verify: {e}"),
        )
    })?;
    publication::check(envelope, notice, verified.envelope())
}

impl Core {
    /// The register writes for publications this node originates, merged against the
    /// register and each other; with the entries to remember once they are durable.
    pub(super) fn register_writes<'a>(
        &self,
        publications: impl Iterator<Item = (&'a Envelope, &'a [u8])>,
    ) -> (Vec<Write>, Vec<Entry>) {
        let mut merged: BTreeMap<String, Entry> = BTreeMap::new();
        {
            let register = self.register();
            for (envelope, signed) in publications {
                let Ok(entry) = Entry::of(envelope, signed.to_vec()) else {
                    continue;
                };
                let current = merged
                    .get(&entry.notice_ref)
                    .or_else(|| register.get(&entry.notice_ref));
                if let Merge::Apply(entry) = register::apply(current, entry) {
                    merged.insert(entry.notice_ref.clone(), *entry);
                }
            }
        }
        let writes = merged.values().map(Entry::write).collect();
        (writes, merged.into_values().collect())
    }
}
