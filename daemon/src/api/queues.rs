//! The queue calls of the API (issue 15, item 4): thin wrappers over `BureauHandle`, for the
//! operator on the node's Unix socket only. What a purge does to custody is the ledger's
//! (`Write::GiveUp`, as for an expiry); see `custody/queues.rs`.

use bluehelm_proto::{Body, Envelope, MessageId, NodeId, Precedence, SignedEnvelope};
use tonic::Status;

use super::pb;
use super::serve::wire_precedence;
use crate::custody::BureauHandle;
use crate::store::{ClassDepths, Queued, StoreError, StoredMessage};

/// Copies one `QueueList` answer lists unless asked otherwise.
const DEFAULT_LIST_LIMIT: usize = 100;
/// The most copies one answer lists: an answer must stay far below what a client takes
/// (4 MiB); a copy's headers are a few hundred bytes.
const MAX_LIST_LIMIT: usize = 10_000;

fn store_error(err: StoreError) -> Status {
    Status::internal(err.to_string())
}

fn hop(text: &str) -> Result<NodeId, Status> {
    text.parse::<NodeId>()
        .map_err(|e| Status::invalid_argument(format!("hop: {e}")))
}

/// UNSPECIFIED (0) means every precedence.
fn precedence(wire: i32) -> Result<Option<Precedence>, Status> {
    match pb::Precedence::try_from(wire) {
        Ok(pb::Precedence::Unspecified) => Ok(None),
        Ok(pb::Precedence::Flash) => Ok(Some(Precedence::Flash)),
        Ok(pb::Precedence::Immediate) => Ok(Some(Precedence::Immediate)),
        Ok(pb::Precedence::Priority) => Ok(Some(Precedence::Priority)),
        Ok(pb::Precedence::Routine) => Ok(Some(Precedence::Routine)),
        Err(_) => Err(Status::invalid_argument(format!(
            "precedence: unknown value {wire}"
        ))),
    }
}

fn hop_depth(hop: &NodeId, depths: ClassDepths) -> pb::HopDepth {
    let [flash, immediate, priority, routine] = depths.map(|d| d as u64);
    pb::HopDepth {
        hop: hop.to_string(),
        flash,
        immediate,
        priority,
        routine,
    }
}

pub(super) async fn list(
    node: &BureauHandle,
    request: pb::QueueListRequest,
) -> Result<pb::QueueListResponse, Status> {
    let precedence = precedence(request.precedence)?;
    if request.hop.is_empty() {
        let hops: Vec<pb::HopDepth> = node
            .queue_depths()
            .into_keys()
            .map(|hop| hop_depth(&hop, node.hop_class_depths(&hop)))
            .filter(|d| d.flash + d.immediate + d.priority + d.routine > 0)
            .collect();
        let total = hops.iter().map(|d| count_of(d, precedence)).sum();
        return Ok(pb::QueueListResponse {
            hop: String::new(),
            copies: Vec::new(),
            total,
            hops,
        });
    }
    let hop = hop(&request.hop)?;
    let limit = match request.limit as usize {
        0 => DEFAULT_LIST_LIMIT,
        n => n.min(MAX_LIST_LIMIT),
    };
    let depth = hop_depth(&hop, node.hop_class_depths(&hop));
    let page = node
        .queue_page(&hop, precedence, limit)
        .await
        .map_err(store_error)?;
    Ok(pb::QueueListResponse {
        hop: hop.to_string(),
        copies: page.iter().map(copy).collect(),
        total: count_of(&depth, precedence),
        hops: vec![depth],
    })
}

fn count_of(depth: &pb::HopDepth, precedence: Option<Precedence>) -> u64 {
    match precedence {
        None => depth.flash + depth.immediate + depth.priority + depth.routine,
        Some(Precedence::Flash) => depth.flash,
        Some(Precedence::Immediate) => depth.immediate,
        Some(Precedence::Priority) => depth.priority,
        Some(Precedence::Routine) => depth.routine,
    }
}

pub(super) async fn show(
    node: &BureauHandle,
    request: pb::QueueShowRequest,
) -> Result<pb::QueuedCopy, Status> {
    let hop = hop(&request.hop)?;
    let id = request
        .message_id
        .parse::<MessageId>()
        .map_err(|e| Status::invalid_argument(format!("message id: {e}")))?;
    match node.queued_copy(&hop, &id).await.map_err(store_error)? {
        Some(queued) => Ok(copy(&queued)),
        None => Err(Status::not_found(format!(
            "no copy of {id} is queued for {hop}"
        ))),
    }
}

pub(super) async fn purge(
    node: &BureauHandle,
    request: pb::QueuePurgeRequest,
) -> Result<pb::QueuePurgeResponse, Status> {
    let hop = hop(&request.hop)?;
    let precedence = precedence(request.precedence)?;
    let purged = node
        .purge_queue(&hop, precedence)
        .await
        .map_err(store_error)?;
    Ok(pb::QueuePurgeResponse {
        purged: purged.copies,
        reports: purged.reports,
    })
}

/// A stored copy's envelope, if its bytes still decode.
pub(super) fn envelope_of(message: &StoredMessage) -> Option<Envelope> {
    SignedEnvelope::decode(&message.signed)
        .ok()
        .and_then(|s| s.decode_envelope().ok())
}

/// An envelope's destination and kind in words; empty for bytes that no longer decode.
pub(super) fn destination_and_kind(envelope: Option<&Envelope>) -> (String, String) {
    envelope.map_or_else(Default::default, |e| {
        (e.destination.to_string(), e.kind().to_string())
    })
}

/// A queued copy's headers, from its envelope (its reference alone if the bytes no longer
/// decode); never the body.
fn copy(queued: &Queued) -> pb::QueuedCopy {
    let message = &queued.message;
    let envelope = envelope_of(message);
    let subject_line = match envelope.as_ref().map(|e| &e.body) {
        Some(Body::Text(text)) => text.subject_line.clone(),
        _ => String::new(),
    };
    let (destination, kind) = destination_and_kind(envelope.as_ref());
    pb::QueuedCopy {
        message_id: message.message.id.to_string(),
        origin: message.message.origin.to_string(),
        destination,
        kind,
        precedence: wire_precedence(message.precedence),
        queued_at_ms: message.accepted_at_ms,
        created_at_ms: i64::try_from(message.message.id.timestamp_ms()).unwrap_or(i64::MAX),
        expires_at_ms: message.expires_at_ms,
        hops: u32::from(message.hops),
        seq: queued.key.seq(),
        size: message.signed.len() as u64,
        subject_line,
    }
}
