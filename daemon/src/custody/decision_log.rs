//! One debug line per custody decision (issue 15, item 2): `message decision` with `id`,
//! `origin`, `destination` and `decision`, so that an operator running `-v` can follow one
//! message through a node. The fields are formatted inside `tracing::debug!`, which
//! evaluates them only when debug is on: at info this costs one check of the callsite.

use std::collections::BTreeMap;
use std::fmt;

use bluehelm_proto::{Envelope, NodeId, NonDeliveryReason, Refusal};

use crate::engine::Hop;
use crate::store::Custody;

/// The outcome of [`super::shell::custody_of`]: where the copies go, or why not.
pub(super) fn custody(envelope: &Envelope, outcome: &Result<Custody, Refusal>) {
    match outcome {
        Ok(custody) => tracing::debug!(
            id = %envelope.message_id,
            origin = %envelope.origin,
            destination = %envelope.destination,
            decision = %Copies(&custody.copies),
            "message decision"
        ),
        Err(refusal) => tracing::debug!(
            id = %envelope.message_id,
            origin = %envelope.origin,
            destination = %envelope.destination,
            decision = %format_args!("refuse: {:?}: {}", refusal.reason, refusal.detail),
            "message decision"
        ),
    }
}

/// A queued copy given up on (expired, refused for good by the next hop).
pub(super) fn given_up(envelope: &Envelope, hop: &NodeId, reason: NonDeliveryReason) {
    tracing::debug!(
        id = %envelope.message_id,
        origin = %envelope.origin,
        destination = %envelope.destination,
        decision = %format_args!("give up (queued for {hop}): {reason:?}"),
        "message decision"
    );
}

/// `deliver`, `relay to gs`, or both, in the ledger's order.
struct Copies<'a>(&'a BTreeMap<Hop, Vec<NodeId>>);

impl fmt::Display for Copies<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, hop) in self.0.keys().enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            match hop {
                Hop::Local => f.write_str("deliver")?,
                Hop::Next(peer) => write!(f, "relay to {peer}")?,
            }
        }
        Ok(())
    }
}
