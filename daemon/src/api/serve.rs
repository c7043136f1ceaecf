//! `ServeRequests`: a host application serves a service this node hosts. Requests stay in
//! the inbox until answered, so one not answered (the application went away, the node
//! restarted) is offered again to the next `ServeRequests` of that service. A request's file
//! (e.g. an ANSI/NIST-ITL record for `afis.check`, issue 13) comes with its SHA-256.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bluehelm_proto::{Body, Destination, MessageId, NodeId, Precedence, ServiceName};
use tokio::sync::mpsc;
use tonic::{Status, Streaming};

use super::convert::{self, Draft};
use super::pb;
use crate::custody::Delivered;
use crate::custody::{now_ms, BureauHandle};

/// Inbox messages read at a time while looking for requests: each may be up to
/// `MAX_ENVELOPE_LEN` (4 MiB, e.g. a request with a fingerprint file), so a page of 32 holds
/// at most 128 MiB, where the API's usual page (256) could hold 1 GiB.
const SERVE_PAGE: usize = 32;
/// Most requests handed to one application and not yet answered.
pub(super) const MAX_OUTSTANDING: usize = 64;
/// Shortest lifetime of a response, even to a request about to expire: a response that
/// arrives late is dropped by the requester, one that never arrives is a lost answer.
const MIN_RESPONSE_TTL: Duration = Duration::from_secs(60);

/// The services served right now, one application each.
#[derive(Default)]
pub struct Serving(Mutex<BTreeSet<ServiceName>>);

/// Holds a service for one application; frees it when dropped.
pub struct ServingGuard {
    serving: Arc<Serving>,
    service: ServiceName,
}

impl Drop for ServingGuard {
    fn drop(&mut self) {
        let mut set = self.serving.0.lock().unwrap_or_else(|p| p.into_inner());
        set.remove(&self.service);
    }
}

/// Whether this node's config says it hosts `service`.
pub fn hosts(node: &BureauHandle, service: &ServiceName) -> bool {
    node.config().routing.services.get(service) == Some(node.me())
}

/// Checks the first message of a `ServeRequests` stream and reserves the service.
pub fn claim(
    node: &BureauHandle,
    serving: &Arc<Serving>,
    first: Option<pb::ServeMessage>,
) -> Result<ServingGuard, Status> {
    let name = match first.and_then(|m| m.kind) {
        Some(pb::serve_message::Kind::Serve(name)) => name,
        _ => {
            return Err(Status::invalid_argument(
                "the first message must name the service to serve (serve)",
            ))
        }
    };
    let service: ServiceName = name
        .parse()
        .map_err(|e| Status::invalid_argument(format!("serve: {e}")))?;
    if !hosts(node, &service) {
        return Err(Status::failed_precondition(format!(
            "this node does not host {service}: add it to [services] with this node's id"
        )));
    }
    let mut set = serving.0.lock().unwrap_or_else(|p| p.into_inner());
    if !set.insert(service.clone()) {
        return Err(Status::already_exists(format!(
            "another application serves {service} on this node"
        )));
    }
    Ok(ServingGuard {
        serving: serving.clone(),
        service,
    })
}

/// A request handed to the application.
struct Outstanding {
    seq: u64,
    origin: NodeId,
    precedence: Precedence,
    expires_at_ms: i64,
}

/// Streams requests for the guarded service to `out` and sends the application's answers,
/// until either side goes away or the node stops.
pub async fn run(
    node: BureauHandle,
    guard: ServingGuard,
    mut answers: Streaming<pb::ServeMessage>,
    out: mpsc::Sender<Result<pb::IncomingRequest, Status>>,
) {
    let service = guard.service.clone();
    let mut changes = node.inbox_changes();
    let mut cursor: Option<u64> = None;
    let mut outstanding: HashMap<MessageId, Outstanding> = HashMap::new();
    loop {
        changes.borrow_and_update();
        if outstanding.len() < MAX_OUTSTANDING {
            match offer(&node, &service, &mut cursor, &mut outstanding, &out).await {
                Ok(()) => {}
                Err(status) => {
                    let _ = out.send(Err(status)).await;
                    return;
                }
            }
        }
        tokio::select! {
            _ = node.cancel().cancelled() => return,
            _ = out.closed() => return,
            changed = changes.changed() => if changed.is_err() { return },
            message = answers.message() => match message {
                Ok(Some(message)) => {
                    if let Err(status) = answer(&node, &service, &mut outstanding, message).await {
                        let _ = out.send(Err(status)).await;
                        return;
                    }
                }
                Ok(None) | Err(_) => return,
            },
        }
    }
}

/// Hands new requests for `service` to the application, up to [`MAX_OUTSTANDING`].
async fn offer(
    node: &BureauHandle,
    service: &ServiceName,
    cursor: &mut Option<u64>,
    outstanding: &mut HashMap<MessageId, Outstanding>,
    out: &mpsc::Sender<Result<pb::IncomingRequest, Status>>,
) -> Result<(), Status> {
    loop {
        let page = node
            .inbox(*cursor, SERVE_PAGE)
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let full = page.len() == SERVE_PAGE;
        for message in &page {
            if outstanding.len() >= MAX_OUTSTANDING {
                return Ok(());
            }
            *cursor = Some(message.seq);
            let Body::Request(request) = &message.envelope.body else {
                continue;
            };
            if request.service != *service {
                continue;
            }
            if message.envelope.expires_at_ms <= now_ms() {
                drop_expired(node, message).await;
                continue;
            }
            let envelope = &message.envelope;
            let wire = convert::wire_envelope(message)?;
            let Some(pb::envelope::Body::Request(body)) = wire.body else {
                continue;
            };
            outstanding.insert(
                envelope.message_id,
                Outstanding {
                    seq: message.seq,
                    origin: envelope.origin.clone(),
                    precedence: envelope.precedence,
                    expires_at_ms: envelope.expires_at_ms,
                },
            );
            let incoming = pb::IncomingRequest {
                request_id: envelope.message_id.to_string(),
                origin: envelope.origin.to_string(),
                attachment_sha256: request
                    .attachment
                    .as_ref()
                    .map(|a| sha256_hex(&a.content))
                    .unwrap_or_default(),
                request: Some(body),
                created_at_ms: envelope.created_at_ms,
                expires_at_ms: envelope.expires_at_ms,
            };
            // Room is guaranteed: the channel holds MAX_OUTSTANDING.
            if out.send(Ok(incoming)).await.is_err() {
                return Ok(());
            }
        }
        if !full {
            return Ok(());
        }
    }
}

async fn drop_expired(node: &BureauHandle, message: &Delivered) {
    tracing::info!(request = %message.envelope.message_id, origin = %message.envelope.origin,
        "dropped a service request that expired before it was served");
    if let Err(err) = node.ack_inbox(&[message.seq]).await {
        tracing::warn!(error = %err, "cannot drop an expired request");
    }
}

/// Sends the application's answer to the requester, then removes the request.
async fn answer(
    node: &BureauHandle,
    service: &ServiceName,
    outstanding: &mut HashMap<MessageId, Outstanding>,
    message: pb::ServeMessage,
) -> Result<(), Status> {
    let Some(pb::serve_message::Kind::Answer(answer)) = message.kind else {
        return Err(Status::invalid_argument(
            "after the first message, send only answers",
        ));
    };
    let id = convert::message_id("answer.request_id", &answer.request_id)?;
    let Some(request) = outstanding.remove(&id) else {
        return Err(Status::invalid_argument(format!(
            "answer.request_id {id} is not a request handed to this stream, or was answered already"
        )));
    };
    let remaining = u64::try_from(request.expires_at_ms - now_ms()).unwrap_or(0);
    let draft = Draft {
        destination: Some(pb::Destination {
            target: Some(pb::destination::Target::Node(request.origin.to_string())),
        }),
        precedence: wire_precedence(request.precedence),
        ttl: Duration::from_millis(remaining).max(MIN_RESPONSE_TTL),
        want_delivery_report: false,
        release_to: None,
        correlation_id: Some(id),
        body: pb::envelope::Body::Response(pb::ServiceResponse {
            service: service.to_string(),
            status: answer.status,
            fields: answer.fields,
            detail: answer.detail,
        }),
    };
    let outgoing = convert::outgoing(node.me(), draft)?;
    debug_assert!(matches!(outgoing.destination, Destination::Node(_)));
    node.submit(vec![outgoing])
        .await
        .map_err(|e| Status::internal(format!("cannot send the response: {e}")))?;
    // If the node stops between the two commits, the request is offered again and answered
    // twice; the requester drops the second response as late.
    node.ack_inbox(&[request.seq])
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
    Ok(())
}

/// The SHA-256 of a request's file in lower-case hex: what an AFIS (issue 13, item 6) or
/// any host keys its answer or its audit record on, without hashing the bytes itself.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

pub(super) fn wire_precedence(p: Precedence) -> i32 {
    match p {
        Precedence::Flash => pb::Precedence::Flash as i32,
        Precedence::Immediate => pb::Precedence::Immediate as i32,
        Precedence::Priority => pb::Precedence::Priority as i32,
        Precedence::Routine => pb::Precedence::Routine as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::sha256_hex;

    #[test]
    fn sha256_hex_matches_the_published_test_vector() {
        // FIPS 180-2, appendix B.1: SHA-256("abc").
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
