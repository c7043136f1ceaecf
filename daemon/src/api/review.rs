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
//! - Every node that takes a copy of a publication (the hub itself, each relay, the
//!   destination) checks it at custody time (`custody/notices.rs`,
//!   `engine/publication.rs`): the embedded request must verify and be a notice request from
//!   `requesting_bureau` with the same reference, type, subject, offence, legal basis and
//!   validity (review changes only the lifecycle and the remarks). Anything else is refused
//!   with the rule `publication-carries-its-request`, so its sender gets a non-delivery
//!   report; nothing is dropped after it was taken.
//! - Each publication the node publishes or receives goes into its notice register
//!   (`engine/register.rs`; `bluehelm notices list|show`, see `api/notices.rs`).
//!
//! The hub is the node id `gs`, a constant: every network built by `localnet` and every
//! example config uses it. Publishing and reviewing are refused on any other node.

use std::time::Duration;

use bluehelm_proto::{
    Body, Destination, Envelope, GroupName, MessageId, Notice, NoticeLifecycle, SignedEnvelope,
    TextMessage,
};

use crate::engine::register;
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
    /// A publication from the hub: into the register, and left for the applications.
    Publication,
}

/// Judges a notice that entered this node's inbox (see the module doc). Everything that can
/// be refused was refused when the node took custody of it, so the sender learnt why.
pub fn check_notice(node: &BureauHandle, notice: &Notice) -> NoticeCheck {
    if register::is_publication(notice) {
        NoticeCheck::Publication
    } else if *node.me() == hub() {
        NoticeCheck::Review
    } else {
        NoticeCheck::Accept
    }
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
    Ok(pb::ReviewItem {
        message_id: pending.id.to_string(),
        origin: pending.envelope.origin.to_string(),
        created_at_ms: pending.envelope.created_at_ms,
        notice: Some(notice),
        signed: Some(super::convert::signed_envelope(pending.signed.clone())),
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
    // A change approved after another cancelled the notice (both were waiting) would
    // publish a change no register takes: refused with the same rule as at custody.
    if p.notice.lifecycle != NoticeLifecycle::Requested {
        let known = node.notice(&p.notice.notice_ref);
        register::check_change(&p.notice, known.as_ref(), register::Checkpoint::Hub)
            .map_err(|refusal| Status::failed_precondition(refusal.to_string()))?;
    }
    let mut notice = p.notice.clone();
    if notice.lifecycle == NoticeLifecycle::Requested {
        notice.lifecycle = NoticeLifecycle::Published;
    }
    if !request.remarks.is_empty() {
        notice.remarks = request.remarks;
    }
    notice.request = Some(Box::new(p.signed.clone()));
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
