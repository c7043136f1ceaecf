//! Between the API's messages and the domain types.
//!
//! The API reuses the wire format's body messages. Rather than a second set of conversions
//! (which could drift from the wire rules), a client's message is put in a wire `Envelope`,
//! encoded, and decoded by `bluehelm_proto::Envelope::decode`: the same code that checks
//! what peers send checks what clients submit, and its errors name the schema's fields.
//! The other way, an inbox message's body is decoded from the exact bytes its origin signed.

use std::time::Duration;

use bluehelm_proto::{Body, Envelope, MessageId, NodeId, SealedKind};
use prost::Message as _;
use tonic::Status;

use super::seal::Opener;
use super::{pb, DEFAULT_TTL, MAX_SECONDS};
use crate::custody::now_ms;
use crate::custody::DEFAULT_HOP_LIMIT;
use crate::custody::{Delivered, Outgoing};

/// What a client asks to send, in wire terms, before the domain checks it.
pub struct Draft {
    pub destination: Option<pb::Destination>,
    pub precedence: i32,
    pub ttl: Duration,
    pub want_delivery_report: bool,
    pub correlation_id: Option<MessageId>,
    pub release_to: Option<pb::ReleaseList>,
    pub body: pb::envelope::Body,
}

/// Checks a draft with the wire rules and turns it into a message for `BureauHandle::submit`.
/// The id, times and hop limit put in the envelope here are placeholders: `submit` makes
/// the real ones.
pub fn outgoing(me: &NodeId, draft: Draft) -> Result<Outgoing, Status> {
    let now = now_ms();
    let ttl_ms = i64::try_from(draft.ttl.as_millis()).unwrap_or(i64::MAX);
    let wire = pb::Envelope {
        message_id: MessageId::generate(now as u64).as_bytes().to_vec(),
        origin: me.as_str().to_owned(),
        destination: draft.destination,
        precedence: draft.precedence,
        created_at_ms: now,
        expires_at_ms: now.saturating_add(ttl_ms.max(1)),
        correlation_id: draft
            .correlation_id
            .map(|id| id.as_bytes().to_vec())
            .unwrap_or_default(),
        hop_limit: u32::from(DEFAULT_HOP_LIMIT),
        want_delivery_report: draft.want_delivery_report,
        release_to: draft.release_to,
        body: Some(draft.body),
    };
    let envelope = Envelope::decode(&wire.encode_to_vec())
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    Ok(Outgoing {
        destination: envelope.destination,
        precedence: envelope.precedence,
        body: envelope.body,
        ttl: draft.ttl,
        want_delivery_report: envelope.want_delivery_report,
        release_to: envelope.release_to,
        correlation_id: envelope.correlation_id,
    })
}

/// A `Submit` request as a draft. `terminal` is the terminal the call came from (its
/// certificate's id), or `None` on the node's own socket.
pub fn submit_draft(
    me: &NodeId,
    terminal: Option<&NodeId>,
    request: pb::SubmitRequest,
) -> Result<Draft, Status> {
    use pb::envelope::Body as W;
    use pb::submit_request::Body as S;
    let body = match request.body {
        Some(S::Notice(mut notice)) => {
            if notice.requesting_bureau.is_empty() {
                notice.requesting_bureau = me.as_str().to_owned();
            }
            W::Notice(notice)
        }
        Some(S::Diffusion(d)) => W::Diffusion(d),
        Some(S::Text(t)) => W::Text(t),
        Some(S::Request(r)) => W::Request(with_terminal(r, terminal)),
        None => return Err(Status::invalid_argument("body is missing")),
    };
    Ok(Draft {
        destination: request.destination,
        precedence: request.precedence,
        ttl: seconds("ttl_seconds", request.ttl_seconds, DEFAULT_TTL)?,
        want_delivery_report: request.want_delivery_report,
        release_to: request.release_to,
        correlation_id: message_id_opt("correlation_id", &request.correlation_id)?,
        body,
    })
}

/// A service request as the node signs it: the terminal is the one the call came from,
/// whatever the client put there (issue 12, item 4: identity from certificates, never from
/// a payload).
pub fn with_terminal(
    mut request: pb::ServiceRequest,
    terminal: Option<&NodeId>,
) -> pb::ServiceRequest {
    request.terminal = terminal.map(|t| t.as_str().to_owned()).unwrap_or_default();
    request
}

/// A duration in seconds from a client: 0 means `default`; at most [`MAX_SECONDS`].
pub fn seconds(field: &str, value: u32, default: Duration) -> Result<Duration, Status> {
    match value {
        0 => Ok(default),
        v if v > MAX_SECONDS => Err(Status::invalid_argument(format!(
            "{field} is {v}, more than the limit of {MAX_SECONDS}"
        ))),
        v => Ok(Duration::from_secs(u64::from(v))),
    }
}

/// A message id from a client (32 hexadecimal digits).
pub fn message_id(field: &str, text: &str) -> Result<MessageId, Status> {
    text.parse()
        .map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

fn message_id_opt(field: &str, text: &str) -> Result<Option<MessageId>, Status> {
    match text.is_empty() {
        true => Ok(None),
        false => message_id(field, text).map(Some),
    }
}

/// A release marking in the API's wire form.
pub fn release_list(list: &bluehelm_proto::ReleaseList) -> pb::ReleaseList {
    pb::ReleaseList {
        countries: list.countries.iter().cloned().collect(),
        missions: list.missions.iter().cloned().collect(),
        roles: list.roles.iter().map(|r| r.as_str().to_owned()).collect(),
    }
}

/// The envelope of an inbox message in wire form, decoded from the signed bytes.
pub fn wire_envelope(message: &Delivered) -> Result<pb::Envelope, Status> {
    // Verified and validated on receipt, stored as received: failing here is corruption.
    pb::Envelope::decode(message.signed.envelope_bytes()).map_err(|e| {
        Status::internal(format!(
            "inbox message {} cannot be decoded: {e}",
            message.seq
        ))
    })
}

/// A signed envelope as the API gives it: every field of the wire's, the batch proof too, so
/// that a client can check the signature itself (docs/protocol.md 6.2). One signed alone
/// before batch signatures has none (tree size 0).
pub fn signed_envelope(signed: bluehelm_proto::SignedEnvelope) -> pb::SignedEnvelope {
    let (envelope, signature, signer_certificate, proof) = signed.into_parts();
    let (leaf_index, tree_size, path) = match proof {
        Some(proof) => (
            proof.leaf_index(),
            proof.tree_size(),
            proof.path().iter().map(|hash| hash.to_vec()).collect(),
        ),
        None => (0, 0, Vec::new()),
    };
    pb::SignedEnvelope {
        envelope: envelope.into(),
        signature: signature.to_vec(),
        signer_certificate: signer_certificate.into(),
        leaf_index,
        tree_size,
        path,
    }
}

/// An inbox message as the API streams it; a sealed body is opened with `opener`.
pub fn inbox_message(message: &Delivered, opener: &Opener) -> Result<pb::InboxMessage, Status> {
    use pb::envelope::Body as W;
    let wire = wire_envelope(message)?;
    let mut seal_error = String::new();
    let sealed = matches!(wire.body, Some(W::Sealed(_)));
    let body = wire.body.and_then(|body| match body {
        W::Sealed(_) => match unseal(message, opener) {
            Ok(body) => Some(body),
            Err(why) => {
                seal_error = why;
                None
            }
        },
        body => Some(clear_body(body)),
    });
    let envelope = &message.envelope;
    Ok(pb::InboxMessage {
        seq: message.seq,
        message_id: envelope.message_id.to_string(),
        origin: envelope.origin.to_string(),
        destination: wire.destination,
        precedence: wire.precedence,
        created_at_ms: envelope.created_at_ms,
        expires_at_ms: envelope.expires_at_ms,
        correlation_id: envelope
            .correlation_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        want_delivery_report: envelope.want_delivery_report,
        release_to: wire.release_to,
        body,
        signed: Some(signed_envelope(message.signed.clone())),
        sealed,
        seal_error,
    })
}

/// A body in clear, as the API shows it.
fn clear_body(body: pb::envelope::Body) -> pb::inbox_message::Body {
    use pb::envelope::Body as W;
    use pb::inbox_message::Body as I;
    match body {
        W::Notice(b) => I::Notice(b),
        W::Diffusion(b) => I::Diffusion(b),
        W::Text(b) => I::Text(b),
        W::Request(b) => I::Request(b),
        W::Response(b) => I::Response(b),
        W::DeliveryReport(b) => I::DeliveryReport(b),
        W::NonDeliveryReport(b) => I::NonDeliveryReport(b),
        W::HitNotification(b) => I::HitNotification(b),
        // Sequenced by the hub's dispatcher, never left in an inbox; shown as its count.
        W::RecordUpload(b) => I::Text(pb::TextMessage {
            subject_line: format!("record upload of {} changes", b.changes.len()),
            ..Default::default()
        }),
        // Opened by the caller; never reaches here.
        W::Sealed(_) => I::Text(pb::TextMessage {
            subject_line: "sealed message".into(),
            ..Default::default()
        }),
    }
}

/// The plaintext of a sealed inbox message in the API's form, or why it cannot be read.
fn unseal(message: &Delivered, opener: &Opener) -> Result<pb::inbox_message::Body, String> {
    use pb::inbox_message::Body as I;
    let Body::Sealed(sealed) = &message.envelope.body else {
        return Err("the message's body is not sealed".into());
    };
    let plaintext = opener.open(&message.envelope, sealed)?;
    // Checked by the opener to decode to a valid body of this kind.
    let bad = |e: prost::DecodeError| format!("the sealed body decrypted to an invalid body: {e}");
    Ok(match sealed.kind {
        SealedKind::Diffusion => I::Diffusion(pb::Diffusion::decode(&plaintext[..]).map_err(bad)?),
        SealedKind::Text => I::Text(pb::TextMessage::decode(&plaintext[..]).map_err(bad)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> NodeId {
        "ncb.fr".parse().unwrap()
    }

    fn text_draft(destination: &str) -> Draft {
        Draft {
            destination: Some(pb::Destination {
                target: Some(pb::destination::Target::Node(destination.into())),
            }),
            precedence: pb::Precedence::Routine as i32,
            ttl: DEFAULT_TTL,
            want_delivery_report: true,
            release_to: None,
            correlation_id: None,
            body: pb::envelope::Body::Text(pb::TextMessage {
                subject_line: "hello".into(),
                body: "text".into(),
                attachments: vec![],
            }),
        }
    }

    #[test]
    fn a_valid_draft_becomes_an_outgoing_message() {
        let out = outgoing(&me(), text_draft("ncb.ke")).unwrap();
        assert_eq!(out.destination.to_string(), "node:ncb.ke");
        assert!(out.want_delivery_report);
    }

    #[test]
    fn wire_rules_name_the_offending_field() {
        let err = outgoing(&me(), text_draft("NCB!")).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("destination"), "{}", err.message());

        let mut draft = text_draft("ncb.ke");
        draft.precedence = 0;
        let err = outgoing(&me(), draft).unwrap_err();
        assert!(err.message().contains("precedence"), "{}", err.message());

        let mut draft = text_draft("ncb.ke");
        draft.body = pb::envelope::Body::Notice(pb::Notice {
            notice_ref: "A-1/2026".into(),
            notice_type: 0,
            lifecycle: pb::NoticeLifecycle::Requested as i32,
            requesting_bureau: "ncb.fr".into(),
            subject: Some(Default::default()),
            ..Default::default()
        });
        let err = outgoing(&me(), draft).unwrap_err();
        assert!(err.message().contains("notice_type"), "{}", err.message());
    }
}
