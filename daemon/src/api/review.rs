//! The notice workflow (issue 4, section 3).
//!
//! - At the hub (`gs`, [`HUB`]), the dispatcher diverts notice requests from bureaus
//!   (lifecycle REQUESTED, UPDATED or CANCELLED) into a durable review queue (store key
//!   `v`, [`Record::Review`]) instead of the inbox, keeping the bureau's signed envelope
//!   exactly as received. A reviewer lists, approves or refuses them (`ListReviews`,
//!   `ShowReview`, `ApproveNotice`, `RefuseNotice`; `bluehelm review ...`).
//! - Approving publishes a notice from `gs` to the groups `all-ncb` and `all-missions`:
//!   lifecycle PUBLISHED for a REQUESTED notice (UPDATED or CANCELLED for those), carrying
//!   the bureau's signed request in `Notice.request`. Refusing sends the reason back to the
//!   bureau as a text message correlated with the request. Either way the request leaves
//!   the queue.
//! - Every node checks a publication before any application sees it ([`check_notice`]):
//!   its origin must be `gs` (the link already verified that signature), and the embedded
//!   request must verify with the node's `EnvelopeVerifier` and be a notice request from
//!   `requesting_bureau` with the same reference, type, subject, offence and legal basis
//!   (review changes only the lifecycle and the remarks). Anything else is dropped with a
//!   warning and counted (`notices_dropped` in `Status`).
//!
//! The hub is the node id `gs`, a constant: every network built by `localnet` and every
//! example config uses it. Publishing and reviewing are refused on any other node.

use std::time::Duration;

use bluehelm_proto::{
    Body, Destination, Envelope, GroupName, MessageId, Notice, NoticeLifecycle, SignedEnvelope,
    TextMessage,
};
use prost::Message;
use tonic::Status;

use super::service::submit_error;
use super::{pb, DEFAULT_TTL};
use crate::custody::Outgoing;
use crate::custody::{now_ms, BureauHandle, Record};

pub use crate::custody::{hub, HUB};
/// The groups a notice is published to (configured at the hub).
pub const PUBLISH_TO: [&str; 2] = ["all-ncb", "all-missions"];

/// What the dispatcher does with a notice that entered the inbox.
#[derive(Debug)]
pub enum NoticeCheck {
    /// An ordinary notice message: leave it for the applications.
    Accept,
    /// At the hub, a bureau's request: move it to the review queue.
    Review,
    /// A publication that does not check out (or a request that lies about its bureau):
    /// never shown to applications.
    Drop(String),
}

/// Judges a notice that entered this node's inbox (see the module doc).
pub fn check_notice(node: &BureauHandle, envelope: &Envelope, notice: &Notice) -> NoticeCheck {
    let hub = hub();
    let from_hub = envelope.origin == hub;
    let at_hub = *node.me() == hub;
    let is_request = match notice.lifecycle {
        NoticeLifecycle::Requested => true,
        NoticeLifecycle::Updated | NoticeLifecycle::Cancelled => !from_hub,
        NoticeLifecycle::Published => false,
    };
    if is_request {
        if notice.request.is_some() {
            return NoticeCheck::Drop("a notice request must not embed another request".into());
        }
        if !at_hub {
            // Only the hub reviews; a request sent elsewhere is just a message, except an
            // UPDATED or CANCELLED one, which would pass for a publication.
            return match notice.lifecycle {
                NoticeLifecycle::Requested => NoticeCheck::Accept,
                _ => NoticeCheck::Drop(format!(
                    "{} notice from {}, not from {HUB}: only {HUB} publishes",
                    notice.lifecycle, envelope.origin
                )),
            };
        }
        if notice.requesting_bureau != envelope.origin {
            return NoticeCheck::Drop(format!(
                "notice request from {} names {} as requesting bureau",
                envelope.origin, notice.requesting_bureau
            ));
        }
        return NoticeCheck::Review;
    }
    match check_publication(node, envelope, notice) {
        Ok(()) => NoticeCheck::Accept,
        Err(why) => NoticeCheck::Drop(why),
    }
}

/// A PUBLISHED (or UPDATED/CANCELLED from the hub) notice: origin `gs`, embedded request
/// verified and matching.
fn check_publication(
    node: &BureauHandle,
    envelope: &Envelope,
    notice: &Notice,
) -> Result<(), String> {
    if envelope.origin != hub() {
        return Err(format!(
            "{} notice from {}, not from {HUB}: only {HUB} publishes",
            notice.lifecycle, envelope.origin
        ));
    }
    let signed = notice
        .request
        .as_ref()
        .ok_or_else(|| "publication without the requesting bureau's signed request".to_owned())?;
    let verified = node
        .verifier()
        .verify(signed, now_ms() / 1000)
        .map_err(|e| format!("embedded request does not verify: {e}"))?;
    let request = verified.envelope();
    if request.origin != notice.requesting_bureau {
        return Err(format!(
            "embedded request is from {}, the notice names {}",
            request.origin, notice.requesting_bureau
        ));
    }
    let Body::Notice(asked) = &request.body else {
        return Err("embedded request is not a notice".into());
    };
    let expected = match notice.lifecycle {
        NoticeLifecycle::Published => NoticeLifecycle::Requested,
        other => other,
    };
    if asked.lifecycle != expected {
        return Err(format!(
            "embedded request is {}, a {} notice needs {expected}",
            asked.lifecycle, notice.lifecycle
        ));
    }
    // Review may change the lifecycle and the remarks, nothing the bureau asked for.
    if asked.notice_ref != notice.notice_ref
        || asked.notice_type != notice.notice_type
        || asked.requesting_bureau != notice.requesting_bureau
        || asked.subject != notice.subject
        || asked.offence_summary != notice.offence_summary
        || asked.legal_basis != notice.legal_basis
        || asked.request.is_some()
    {
        return Err("embedded request does not match the notice".into());
    }
    Ok(())
}

fn not_at_hub(node: &BureauHandle) -> Result<(), Status> {
    if *node.me() != hub() {
        return Err(Status::failed_precondition(format!(
            "notices are reviewed at {HUB}, this node is {}",
            node.me()
        )));
    }
    Ok(())
}

/// One request in the queue, decoded.
struct Pending {
    id: MessageId,
    signed: SignedEnvelope,
    envelope: Envelope,
    notice: Notice,
}

fn decode(id: MessageId, value: &[u8]) -> Result<Pending, Status> {
    let corrupt = |e: &dyn std::fmt::Display| {
        Status::internal(format!("review queue entry {id} is corrupt: {e}"))
    };
    let signed = SignedEnvelope::decode(value).map_err(|e| corrupt(&e))?;
    let envelope = signed.decode_envelope().map_err(|e| corrupt(&e))?;
    let Body::Notice(notice) = &envelope.body else {
        return Err(corrupt(&"not a notice"));
    };
    let notice = notice.clone();
    Ok(Pending {
        id,
        signed,
        envelope,
        notice,
    })
}

fn item(pending: &Pending) -> Result<pb::ReviewItem, Status> {
    let wire = pb::Envelope::decode(pending.signed.envelope_bytes())
        .map_err(|e| Status::internal(e.to_string()))?;
    let notice = match wire.body {
        Some(pb::envelope::Body::Notice(n)) => n,
        _ => return Err(Status::internal("review queue entry is not a notice")),
    };
    let (envelope, signature, signer_certificate) = pending.signed.clone().into_parts();
    Ok(pb::ReviewItem {
        message_id: pending.id.to_string(),
        origin: pending.envelope.origin.to_string(),
        created_at_ms: pending.envelope.created_at_ms,
        notice: Some(notice),
        signed: Some(pb::SignedEnvelope {
            envelope,
            signature: signature.to_vec(),
            signer_certificate,
        }),
    })
}

async fn pending(node: &BureauHandle) -> Result<Vec<Pending>, Status> {
    let entries = node
        .reviews()
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
    let mut out = entries
        .iter()
        .map(|(id, value)| decode(*id, value))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|p| (p.envelope.created_at_ms, p.id));
    Ok(out)
}

async fn find(node: &BureauHandle, text: &str) -> Result<Pending, Status> {
    not_at_hub(node)?;
    let id = super::convert::message_id("message_id", text)?;
    pending(node)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| Status::not_found(format!("no notice request {id} awaiting review")))
}

pub async fn list(node: &BureauHandle) -> Result<pb::ListReviewsResponse, Status> {
    not_at_hub(node)?;
    let items = pending(node)
        .await?
        .iter()
        .map(item)
        .collect::<Result<_, _>>()?;
    Ok(pb::ListReviewsResponse { items })
}

pub async fn show(node: &BureauHandle, id: &str) -> Result<pb::ReviewItem, Status> {
    item(&find(node, id).await?)
}

fn ttl_of(envelope: &Envelope) -> Duration {
    // A publication lives at least as long as the default lifetime of a message.
    let left = envelope.expires_at_ms.saturating_sub(now_ms()).max(0);
    DEFAULT_TTL.max(Duration::from_millis(left as u64))
}

/// One review decision at a time, so that two reviewers acting on the same request cannot
/// both publish it: the second finds it gone.
static DECIDING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn approve(
    node: &BureauHandle,
    request: pb::ApproveNoticeRequest,
) -> Result<pb::ApproveNoticeResponse, Status> {
    let _deciding = DECIDING.lock().await;
    let p = find(node, &request.message_id).await?;
    // Verified on receipt; checked again so that nothing unverifiable is ever published.
    node.verifier()
        .verify(&p.signed, now_ms() / 1000)
        .map_err(|e| Status::failed_precondition(format!("request no longer verifies: {e}")))?;
    let mut notice = p.notice.clone();
    if notice.lifecycle == NoticeLifecycle::Requested {
        notice.lifecycle = NoticeLifecycle::Published;
    }
    if !request.remarks.is_empty() {
        notice.remarks = request.remarks;
    }
    notice.request = Some(p.signed.clone());
    let batch = PUBLISH_TO
        .iter()
        .map(|group| {
            let group: GroupName = group.parse().expect("a valid group name");
            Outgoing {
                destination: Destination::Group(group),
                precedence: p.envelope.precedence,
                body: Body::Notice(notice.clone()),
                ttl: ttl_of(&p.envelope),
                want_delivery_report: false,
                // The owner's marking survives publication (issue 12): receivers check it
                // equals the request's.
                release_to: p.envelope.release_to.clone(),
                correlation_id: Some(p.id),
            }
        })
        .collect();
    // One commit: the publication is held and the request leaves the queue together, so a
    // crash can neither publish twice nor lose the request.
    let ids = node
        .submit_with(batch, vec![Record::Unreview(p.id)])
        .await
        .map_err(submit_error)?;
    tracing::info!(request = %p.id, bureau = %p.envelope.origin, notice = %notice.notice_ref,
        lifecycle = %notice.lifecycle, "notice request approved and published");
    Ok(pb::ApproveNoticeResponse {
        published_ids: ids.iter().map(ToString::to_string).collect(),
    })
}

pub async fn refuse(
    node: &BureauHandle,
    request: pb::RefuseNoticeRequest,
) -> Result<pb::RefuseNoticeResponse, Status> {
    if request.reason.trim().is_empty() {
        return Err(Status::invalid_argument("reason is empty"));
    }
    let _deciding = DECIDING.lock().await;
    let p = find(node, &request.message_id).await?;
    let text = TextMessage {
        subject_line: format!(
            "Notice request {} ({}) refused",
            p.notice.notice_ref, p.notice.lifecycle
        ),
        body: request.reason,
        attachments: Vec::new(),
    };
    let reply = Outgoing {
        destination: Destination::Node(p.envelope.origin.clone()),
        precedence: p.envelope.precedence,
        body: Body::Text(text),
        ttl: DEFAULT_TTL,
        want_delivery_report: false,
        release_to: None,
        correlation_id: Some(p.id),
    };
    let ids = node
        .submit_with(vec![reply], vec![Record::Unreview(p.id)])
        .await
        .map_err(submit_error)?;
    tracing::info!(request = %p.id, bureau = %p.envelope.origin, notice = %p.notice.notice_ref,
        "notice request refused");
    Ok(pb::RefuseNoticeResponse {
        reply_id: ids.first().map(ToString::to_string).unwrap_or_default(),
    })
}
