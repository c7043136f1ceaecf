//! Realistic sample messages for tests and benchmarks, in this crate and in others.
//!
//! Not for production use: the samples describe fictitious people and use random ids.

use std::collections::BTreeMap;

use crate::body::{
    Attachment, Body, DeliveryReport, Diffusion, HitNotification, IdentityDocument,
    NonDeliveryReason, NonDeliveryReport, Notice, NoticeLifecycle, NoticeType, ResponseStatus,
    ServiceRequest, ServiceResponse, Subject, TextMessage,
};
use crate::envelope::{Destination, Envelope, Precedence};
use crate::ids::{MessageId, NodeId, ServiceName};

/// How long samples live: one day, in milliseconds.
pub const SAMPLE_LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;

/// Parses a node id known to be valid (test data only).
pub fn node(id: &str) -> NodeId {
    NodeId::new(id).expect("sample node ids are valid")
}

/// Parses a service name known to be valid (test data only).
pub fn service(name: &str) -> ServiceName {
    ServiceName::new(name).expect("sample service names are valid")
}

/// A subject with two given names, a nationality, an alias and a French passport.
pub fn sample_subject() -> Subject {
    Subject {
        family_name: "DUPONT".into(),
        given_names: vec!["Jean".into(), "Marie".into()],
        date_of_birth: "1980-04-12".into(),
        place_of_birth: "Lyon".into(),
        nationalities: vec!["FR".into()],
        sex: "M".into(),
        aliases: vec!["Johnny D".into()],
        distinguishing_marks: "scar on left forearm".into(),
        documents: vec![IdentityDocument {
            kind: "passport".into(),
            number: "19AB12345".into(),
            issuing_country: "FR".into(),
        }],
    }
}

/// A published red notice requested by `ncb.fr`.
pub fn sample_red_notice() -> Notice {
    Notice {
        notice_ref: "A-1234/5-2026".into(),
        notice_type: NoticeType::Red,
        lifecycle: NoticeLifecycle::Published,
        requesting_bureau: node("ncb.fr"),
        subject: Some(sample_subject()),
        offence_summary: "Armed robbery of a jewellery store, Paris, 2025-11-03.".into(),
        legal_basis: "Arrest warrant 2025/778, Tribunal judiciaire de Paris.".into(),
        remarks: String::new(),
        request: None,
        valid_until: String::new(),
    }
}

/// A diffusion to two bureaus about the sample subject.
pub fn sample_diffusion() -> Diffusion {
    Diffusion {
        reference: "FR-DIF-2026-0042".into(),
        subject_line: "Suspect may travel to Spain or Italy".into(),
        body: "Please report any border crossing by the subject.".into(),
        addressees: vec![node("ncb.es"), node("ncb.it")],
        subject: Some(sample_subject()),
    }
}

/// A text message with a small photo attachment.
pub fn sample_text() -> TextMessage {
    TextMessage {
        subject_line: "Photo of the suspect".into(),
        body: "Attached: photo taken at Lyon station on 2026-01-05.".into(),
        attachments: vec![Attachment {
            filename: "suspect.jpg".into(),
            media_type: "image/jpeg".into(),
            content: vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, b'J', b'F', b'I', b'F'],
        }],
    }
}

/// A stolen and lost travel document check of the sample passport.
pub fn sample_sltd_request() -> ServiceRequest {
    ServiceRequest {
        service: service("sltd.check"),
        params: BTreeMap::from([
            ("document_number".into(), "19AB12345".into()),
            ("issuing_country".into(), "FR".into()),
        ]),
        purpose: "border check, case 2026/114".into(),
        terminal: Some(node("term1.unmiss")),
        attachment: None,
    }
}

/// What `gs` tells `ncb.fr` when [`sample_sltd_request`] matches its record.
pub fn sample_hit_notification() -> HitNotification {
    let request = sample_sltd_request();
    HitNotification {
        service: request.service,
        database: "sltd".into(),
        record_key: "sltd/FR/19AB12345".into(),
        record: "stolen FR passport 19AB12345".into(),
        requester: node("mission.unmiss"),
        terminal: request.terminal,
        request_id: MessageId::generate(1_767_225_600_000),
        requested_at_ms: 1_767_225_600_000,
        matched: request.params.clone(),
        query: request.params,
        purpose: request.purpose,
    }
}

/// A hit answering [`sample_sltd_request`].
pub fn sample_sltd_hit() -> ServiceResponse {
    ServiceResponse {
        service: service("sltd.check"),
        status: ResponseStatus::Hit,
        fields: BTreeMap::from([
            ("status".into(), "stolen".into()),
            ("reported_by".into(), "FR".into()),
            ("reported_on".into(), "2025-12-01".into()),
        ]),
        detail: String::new(),
    }
}

/// A delivery report from `ncb.es`.
pub fn sample_delivery_report(delivered_at_ms: i64) -> DeliveryReport {
    DeliveryReport {
        delivered_to: node("ncb.es"),
        delivered_at_ms,
    }
}

/// A non-delivery report from `gs`: the message expired on its way to `ncb.xx`.
pub fn sample_non_delivery_report() -> NonDeliveryReport {
    NonDeliveryReport {
        reason: NonDeliveryReason::Expired,
        reported_by: node("gs"),
        detail: "no link to ncb.xx for 24 h".into(),
        original_destination: Destination::Node(node("ncb.xx")),
    }
}

/// A valid envelope around `body`, created at `now_ms`, living [`SAMPLE_LIFETIME_MS`], with a
/// random id and hop limit 8. Responses and reports get a random correlation id.
pub fn sample_envelope(
    origin: NodeId,
    destination: Destination,
    precedence: Precedence,
    now_ms: i64,
    body: Body,
) -> Envelope {
    let millis = u64::try_from(now_ms).unwrap_or(0);
    let correlation_id = body.kind().is_answer().then(|| MessageId::generate(millis));
    Envelope {
        message_id: MessageId::generate(millis),
        origin,
        destination,
        precedence,
        created_at_ms: now_ms,
        expires_at_ms: now_ms.saturating_add(SAMPLE_LIFETIME_MS),
        correlation_id,
        hop_limit: 8,
        want_delivery_report: false,
        release_to: None,
        body,
    }
}

/// A red notice envelope whose encoding is about `body_size_hint` bytes (exactly, when the
/// hint is at least the size of the notice without padding, about 400 bytes). The padding
/// goes into the notice's remarks. Used for the "1 KiB notice" benchmarks.
pub fn sample_notice_envelope(
    origin: NodeId,
    destination: Destination,
    precedence: Precedence,
    now_ms: i64,
    body_size_hint: usize,
) -> Envelope {
    let body = Body::Notice(sample_red_notice());
    let mut envelope = sample_envelope(origin, destination, precedence, now_ms, body);
    // Padding changes the length prefixes of the remarks, notice and body fields, so a few
    // rounds converge on the exact size (or stop one byte off when a varint boundary makes
    // it unreachable).
    for _ in 0..4 {
        let len = envelope.encode_to_vec().len();
        let Body::Notice(notice) = &mut envelope.body else {
            unreachable!("the body was set to a notice above")
        };
        let target = (notice.remarks.len() + body_size_hint).saturating_sub(len);
        let target = target.min(crate::limits::MAX_TEXT_LEN);
        if target == notice.remarks.len() {
            break;
        }
        notice.remarks = "x".repeat(target);
    }
    envelope
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_notice_envelope_meets_its_size_hint() {
        for hint in [600, 1024, 4096, 60_000] {
            let e = sample_notice_envelope(
                node("ncb.fr"),
                Destination::Node(node("gs")),
                Precedence::Routine,
                1_767_225_600_000,
                hint,
            );
            e.validate().unwrap();
            let len = e.encode_to_vec().len();
            assert!(len.abs_diff(hint) <= 1, "hint {hint} gave {len}");
        }
    }
}
