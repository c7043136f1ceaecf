//! The quarantine calls of the API (issue 14, item 3): thin wrappers over `BureauHandle`,
//! for the operator on the node's Unix socket only. Which messages a rule catches is
//! `engine::quarantine`'s to say, here too for the messages read already.

use bluehelm_proto::{MessageId, NodeId};
use tokio::sync::Semaphore;
use tonic::Status;

use super::pb;
use super::queues::{destination_and_kind, envelope_of};
use crate::audit::entries;
use crate::custody::{BureauHandle, QuarantineError};
use crate::engine::audit::Event;
use crate::engine::quarantine::{HeldFor, Rule, Rules};
use crate::store::HeldEntry;

fn error(err: QuarantineError) -> Status {
    match err {
        QuarantineError::NotHeld(_) => Status::not_found(err.to_string()),
        QuarantineError::Store(_) => Status::internal(err.to_string()),
    }
}

pub(super) async fn add(
    node: &BureauHandle,
    request: pb::QuarantineRule,
) -> Result<pb::QuarantineAddResponse, Status> {
    let rule = Rule {
        node: request
            .node
            .parse::<NodeId>()
            .map_err(|e| Status::invalid_argument(format!("node: {e}")))?,
        since_ms: request.since_ms,
    };
    let added = node.quarantine_add(rule).await.map_err(error)?;
    Ok(pb::QuarantineAddResponse {
        held: added.held as u64,
        warned: added.warned.iter().map(ToString::to_string).collect(),
    })
}

pub(super) async fn list(node: &BureauHandle) -> Result<pb::QuarantineListResponse, Status> {
    let held = node
        .quarantined()
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
    let suspect = suspect(node).await?;
    Ok(pb::QuarantineListResponse {
        rules: suspect.rules,
        held: held.iter().map(copy).collect(),
        already_read: suspect.already_read,
        truncated: suspect.truncated,
    })
}

/// The rules in force and the messages read already that they catch: the applications'
/// view (terminals included), without the held copies, which are the operator's.
pub(super) async fn suspect(node: &BureauHandle) -> Result<pb::ListSuspectResponse, Status> {
    let rules = node.quarantine_rules();
    let (already_read, truncated) = if rules.is_empty() {
        (Vec::new(), false)
    } else {
        // One scan of the audit log at a time, whoever asks: a terminal repeating the call
        // costs the node one reader, not one per call.
        let _scan = SCANS
            .acquire()
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let storage = node.config().storage.clone();
        let read_rules = rules.clone();
        tokio::task::spawn_blocking(move || already_read(&storage, &read_rules))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
    };
    Ok(pb::ListSuspectResponse {
        rules: rules
            .iter()
            .map(|r| pb::QuarantineRule {
                node: r.node.to_string(),
                since_ms: r.since_ms,
            })
            .collect(),
        already_read,
        truncated,
    })
}

/// The most messages read already that one answer lists: a rule with an early `since` on a
/// busy node must not build an answer larger than a client takes (4 MiB).
const MAX_ALREADY_READ: usize = 10_000;

static SCANS: Semaphore = Semaphore::const_new(1);

pub(super) async fn show(node: &BureauHandle, id: u64) -> Result<pb::QuarantinedCopy, Status> {
    match node.quarantined_one(id).await {
        Ok(Some(held)) => Ok(copy(&held)),
        Ok(None) => Err(error(QuarantineError::NotHeld(id))),
        Err(e) => Err(Status::internal(e.to_string())),
    }
}

pub(super) async fn release(node: &BureauHandle, id: u64) -> Result<pb::QuarantinedCopy, Status> {
    node.release_held(id).await.map(|h| copy(&h)).map_err(error)
}

pub(super) async fn drop_held(node: &BureauHandle, id: u64) -> Result<pb::QuarantinedCopy, Status> {
    node.drop_held(id).await.map(|h| copy(&h)).map_err(error)
}

fn copy(held: &HeldEntry) -> pb::QuarantinedCopy {
    let message = &held.message;
    let (destination, kind) = destination_and_kind(envelope_of(message).as_ref());
    pb::QuarantinedCopy {
        id: held.id,
        message_id: message.message.id.to_string(),
        origin: message.message.origin.to_string(),
        destination,
        kind,
        created_at_ms: i64::try_from(message.message.id.timestamp_ms()).unwrap_or(i64::MAX),
        expires_at_ms: message.expires_at_ms,
        held_for: match &held.to {
            HeldFor::Inbox => "inbox".to_owned(),
            HeldFor::Hop(hop) => hop.to_string(),
        },
    }
}

/// The messages an application read (acknowledged) that `rules` catch, from the audit log's
/// `read` entries. Without a log (audit off) there is nothing to say.
fn already_read(storage: &std::path::Path, rules: &Rules) -> (Vec<pb::AlreadyRead>, bool) {
    let Ok(lines) = entries(storage) else {
        return (Vec::new(), false);
    };
    let mut out = Vec::new();
    for entry in lines.flatten() {
        if entry.event != Event::Read {
            continue;
        }
        let (Ok(origin), Ok(id)) = (
            entry.origin.parse::<NodeId>(),
            entry.message_id.parse::<MessageId>(),
        ) else {
            continue;
        };
        if rules.catches(&origin, &id) {
            if out.len() == MAX_ALREADY_READ {
                return (out, true);
            }
            out.push(pb::AlreadyRead {
                message_id: entry.message_id,
                origin: entry.origin,
                kind: entry.kind,
                created_at_ms: i64::try_from(id.timestamp_ms()).unwrap_or(i64::MAX),
                read_at_ms: entry.at_ms,
            });
        }
    }
    (out, false)
}
