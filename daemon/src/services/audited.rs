//! The audit entry of a query of a database this node holds (issue 14, item 5): who asked
//! (node and terminal), which service, what it answered, and whose record matched, so that
//! `bluehelm audit queries --owner ncb.fr` finds every look at a bureau's records, at gs and
//! at each replica that answered locally. Never the query's parameters or the record.

use bluehelm_proto::{Envelope, NodeId, ResponseStatus, ServiceRequest};

use super::Hit;
use crate::engine::audit::{Entry, Event};

/// A query answered here. `envelope`: the request as it came (none for a replica's check of
/// its own users, which is no message).
pub(super) fn queried(
    me: &NodeId,
    envelope: Option<&Envelope>,
    request: &ServiceRequest,
    status: ResponseStatus,
    hit: Option<&Hit>,
    now: i64,
) -> Entry {
    let mut entry = match envelope {
        Some(envelope) => Entry::about(Event::Queried, envelope, now),
        None => Entry {
            origin: me.to_string(),
            destination: me.to_string(),
            ..Entry::new(Event::Queried, now)
        },
    };
    entry.kind = request.service.to_string();
    entry.terminal = request
        .terminal
        .as_ref()
        .map_or_else(String::new, ToString::to_string);
    entry.owner = hit.map_or_else(String::new, |hit| hit.owner.clone());
    let source = if envelope.is_some() {
        "answered"
    } else {
        "answered from this node's replica"
    };
    entry.decided(format!("{source}: {}", status.as_str()))
}
