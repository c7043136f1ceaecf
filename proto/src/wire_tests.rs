//! Rejections of wire messages that the domain types cannot even express (unspecified
//! enums, absent oneofs, ids of the wrong shape), built from the generated structs.

use prost::Message as _;

use crate::pb;
use crate::testing::{node, sample_envelope, sample_red_notice};
use crate::{
    Body, DecodeError, Destination, Envelope, IdError, LinkFrame, MessageId, MessageRef,
    Precedence, RefusalReason, ValidationError,
};

const NOW: i64 = 1_767_225_600_000;

fn valid_pb() -> pb::Envelope {
    let body = Body::Notice(sample_red_notice());
    sample_envelope(
        node("ncb.fr"),
        Destination::Node(node("gs")),
        Precedence::Flash,
        NOW,
        body,
    )
    .to_pb()
}

fn decode_err(e: pb::Envelope) -> ValidationError {
    match Envelope::decode(&e.encode_to_vec()) {
        Err(DecodeError::Invalid(v)) => v,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn frame_err(f: pb::LinkFrame) -> ValidationError {
    match LinkFrame::decode(&f.encode_to_vec()) {
        Err(DecodeError::Invalid(v)) => v,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn notice_pb(e: &mut pb::Envelope) -> &mut pb::Notice {
    match e.body.as_mut() {
        Some(pb::envelope::Body::Notice(n)) => n,
        _ => unreachable!("valid_pb has a notice body"),
    }
}

#[test]
fn valid_pb_decodes() {
    Envelope::decode(&valid_pb().encode_to_vec()).unwrap();
}

#[test]
fn garbage_is_a_protobuf_error() {
    assert!(matches!(
        Envelope::decode(&[0xff; 8]),
        Err(DecodeError::Protobuf(_))
    ));
    assert!(matches!(
        LinkFrame::decode(&[0x0a, 0x05, 1]),
        Err(DecodeError::Protobuf(_))
    ));
}

#[test]
fn bad_origin_is_rejected_naming_the_field() {
    let mut e = valid_pb();
    e.origin = "NCB.FR".into();
    assert!(matches!(
        decode_err(e),
        ValidationError::BadId {
            field: "origin",
            source: IdError::BadStart { .. }
        }
    ));
}

#[test]
fn unspecified_and_unknown_precedence_are_rejected() {
    let mut e = valid_pb();
    e.precedence = 0;
    assert_eq!(
        decode_err(e.clone()),
        ValidationError::Unspecified {
            field: "precedence"
        }
    );
    e.precedence = 9;
    assert_eq!(
        decode_err(e),
        ValidationError::UnknownEnumValue {
            field: "precedence",
            value: 9
        }
    );
}

#[test]
fn missing_body_or_destination_is_rejected() {
    let mut e = valid_pb();
    e.body = None;
    assert_eq!(decode_err(e), ValidationError::Missing { field: "body" });
    let mut e = valid_pb();
    e.destination = None;
    assert_eq!(
        decode_err(e),
        ValidationError::Missing {
            field: "destination"
        }
    );
    let mut e = valid_pb();
    e.destination = Some(pb::Destination { target: None });
    assert_eq!(
        decode_err(e),
        ValidationError::Missing {
            field: "destination"
        }
    );
}

#[test]
fn message_ids_of_the_wrong_length_are_rejected() {
    let mut e = valid_pb();
    e.message_id = vec![1; 15];
    assert_eq!(
        decode_err(e),
        ValidationError::BadId {
            field: "message_id",
            source: IdError::MessageIdLength(15)
        }
    );
    let mut e = valid_pb();
    e.correlation_id = vec![1; 3];
    assert_eq!(
        decode_err(e),
        ValidationError::BadId {
            field: "correlation_id",
            source: IdError::MessageIdLength(3)
        }
    );
}

#[test]
fn hop_limits_outside_1_to_32_are_rejected() {
    for limit in [0, 33, 300] {
        let mut e = valid_pb();
        e.hop_limit = limit;
        assert_eq!(decode_err(e), ValidationError::HopLimit(limit));
    }
}

#[test]
fn expiry_not_after_creation_is_rejected() {
    let mut e = valid_pb();
    e.expires_at_ms = e.created_at_ms;
    assert_eq!(
        decode_err(e),
        ValidationError::ExpiresBeforeCreated {
            created_at_ms: NOW,
            expires_at_ms: NOW
        }
    );
}

#[test]
fn unspecified_body_enums_are_rejected() {
    let mut e = valid_pb();
    notice_pb(&mut e).notice_type = 0;
    assert_eq!(
        decode_err(e),
        ValidationError::Unspecified {
            field: "notice.notice_type"
        }
    );
    let mut e = valid_pb();
    notice_pb(&mut e).lifecycle = 0;
    assert_eq!(
        decode_err(e),
        ValidationError::Unspecified {
            field: "notice.lifecycle"
        }
    );
    let mut e = valid_pb();
    e.body = Some(pb::envelope::Body::Response(pb::ServiceResponse {
        service: "sltd.check".into(),
        ..Default::default()
    }));
    assert_eq!(
        decode_err(e),
        ValidationError::Unspecified {
            field: "response.status"
        }
    );
    let mut e = valid_pb();
    e.body = Some(pb::envelope::Body::NonDeliveryReport(
        pb::NonDeliveryReport {
            reported_by: "gs".into(),
            original_destination: Some(Destination::Node(node("ncb.xx")).to_pb()),
            ..Default::default()
        },
    ));
    assert_eq!(
        decode_err(e),
        ValidationError::Unspecified {
            field: "non_delivery_report.reason"
        }
    );
}

#[test]
fn body_ids_are_checked() {
    let mut e = valid_pb();
    notice_pb(&mut e).requesting_bureau = String::new();
    assert!(matches!(
        decode_err(e),
        ValidationError::BadId {
            field: "notice.requesting_bureau",
            source: IdError::Empty { .. }
        }
    ));
    let mut e = valid_pb();
    e.body = Some(pb::envelope::Body::Request(pb::ServiceRequest {
        service: "sltd..check".into(),
        ..Default::default()
    }));
    assert!(matches!(
        decode_err(e),
        ValidationError::BadId {
            field: "request.service",
            ..
        }
    ));
    let mut e = valid_pb();
    e.body = Some(pb::envelope::Body::NonDeliveryReport(
        pb::NonDeliveryReport {
            reason: 1,
            reported_by: "gs".into(),
            ..Default::default()
        },
    ));
    assert_eq!(
        decode_err(e),
        ValidationError::Missing {
            field: "non_delivery_report.original_destination"
        }
    );
}

fn sample_ref() -> pb::MessageRef {
    MessageRef {
        origin: node("ncb.fr"),
        id: MessageId::from([1; 16]),
    }
    .to_pb()
}

fn frame(f: pb::link_frame::Frame) -> pb::LinkFrame {
    pb::LinkFrame { frame: Some(f) }
}

#[test]
fn link_frames_without_a_case_or_with_unspecified_enums_are_rejected() {
    use pb::link_frame::Frame;
    assert_eq!(
        frame_err(pb::LinkFrame { frame: None }),
        ValidationError::Missing { field: "frame" }
    );
    assert_eq!(
        frame_err(frame(Frame::Open(pb::StreamOpen { precedence: 0 }))),
        ValidationError::Unspecified {
            field: "open.precedence"
        }
    );
    let refused = pb::CustodyRefused {
        r#ref: Some(sample_ref()),
        reason: 0,
        detail: String::new(),
    };
    assert_eq!(
        frame_err(frame(Frame::Refused(refused.clone()))),
        ValidationError::Unspecified {
            field: "refused.reason"
        }
    );
    assert_eq!(
        frame_err(frame(Frame::Refused(pb::CustodyRefused {
            r#ref: None,
            reason: 1,
            ..refused
        }))),
        ValidationError::Missing {
            field: "refused.ref"
        }
    );
    let long = pb::CustodyRefused {
        r#ref: Some(sample_ref()),
        reason: RefusalReason::Malformed.to_pb(),
        detail: "x".repeat(crate::limits::MAX_DETAIL_LEN + 1),
    };
    assert!(matches!(
        frame_err(frame(Frame::Refused(long))),
        ValidationError::TooLong {
            field: "refused.detail",
            ..
        }
    ));
}

#[test]
fn transfer_recipients_must_be_node_ids() {
    use pb::link_frame::Frame;
    let signed = pb::SignedEnvelope {
        envelope: vec![1].into(),
        signature: vec![0; 64],
        signer_certificate: vec![1].into(),
        leaf_index: 0,
        tree_size: 1,
        path: Default::default(),
    };
    assert!(matches!(
        frame_err(frame(Frame::Transfer(pb::Transfer {
            envelope: Some(signed.clone()),
            hops: 1,
            recipients: vec!["ncb.fr".into(), "NOT A NODE".into()],
        }))),
        ValidationError::BadId {
            field: "transfer.recipients",
            ..
        }
    ));
    assert!(matches!(
        frame_err(frame(Frame::Transfer(pb::Transfer {
            envelope: Some(signed),
            hops: 1,
            recipients: vec!["ncb.fr".into(); 257],
        }))),
        ValidationError::TooMany { .. }
    ));
}

#[test]
fn transfers_need_an_envelope_and_a_sane_hop_count() {
    use pb::link_frame::Frame;
    assert_eq!(
        frame_err(frame(Frame::Transfer(pb::Transfer {
            envelope: None,
            hops: 0,
            recipients: vec![],
        }))),
        ValidationError::Missing {
            field: "transfer.envelope"
        }
    );
    let signed = pb::SignedEnvelope {
        envelope: vec![1].into(),
        signature: vec![0; 64],
        signer_certificate: vec![1].into(),
        leaf_index: 0,
        tree_size: 1,
        path: Default::default(),
    };
    assert_eq!(
        frame_err(frame(Frame::Transfer(pb::Transfer {
            envelope: Some(signed.clone()),
            hops: 33,
            recipients: vec![],
        }))),
        ValidationError::HopCount(33)
    );
    let short_sig = pb::SignedEnvelope {
        signature: vec![0; 10],
        ..signed
    };
    assert!(matches!(
        frame_err(frame(Frame::Transfer(pb::Transfer {
            envelope: Some(short_sig),
            hops: 1,
            recipients: vec![],
        }))),
        ValidationError::BadLength {
            field: "signed_envelope.signature",
            len: 10,
            expected: 64
        }
    ));
}

#[test]
fn acceptances_need_valid_refs_and_at_least_one() {
    use pb::link_frame::Frame;
    assert_eq!(
        frame_err(frame(Frame::Accepted(pb::CustodyAccepted { refs: vec![] }))),
        ValidationError::NoEntries {
            field: "accepted.refs"
        }
    );
    let bad = pb::MessageRef {
        message_id: vec![0; 17],
        ..sample_ref()
    };
    assert_eq!(
        frame_err(frame(Frame::Accepted(pb::CustodyAccepted {
            refs: vec![sample_ref(), bad]
        }))),
        ValidationError::BadId {
            field: "message_ref.message_id",
            source: IdError::MessageIdLength(17)
        }
    );
    let too_many = vec![sample_ref(); crate::limits::MAX_ACCEPTED_REFS + 1];
    assert!(matches!(
        frame_err(frame(Frame::Accepted(pb::CustodyAccepted {
            refs: too_many
        }))),
        ValidationError::TooMany {
            field: "accepted.refs",
            ..
        }
    ));
}

#[test]
fn crl_frame_round_trips_and_an_empty_or_oversized_crl_is_refused() {
    let frame = LinkFrame::Crl(vec![0x30, 0x03, 1, 2, 3]);
    assert_eq!(LinkFrame::decode(&frame.encode_to_vec()).unwrap(), frame);
    let crl = |der: Vec<u8>| pb::LinkFrame {
        frame: Some(pb::link_frame::Frame::Crl(pb::CrlUpdate { der })),
    };
    assert!(matches!(
        frame_err(crl(Vec::new())),
        ValidationError::Missing { field: "crl.der" }
    ));
    let max = crate::limits::MAX_CRL_LEN;
    assert!(matches!(
        frame_err(crl(vec![0; max + 1])),
        ValidationError::TooLong { field: "crl.der", len, .. } if len == max + 1
    ));
    LinkFrame::decode(&crl(vec![0; max]).encode_to_vec()).unwrap();
}

#[test]
fn part_frames_round_trip_and_parts_outside_their_copy_are_refused() {
    use pb::link_frame::Frame;
    let message = MessageRef {
        origin: node("ncb.fr"),
        id: MessageId::from([1; 16]),
    };
    let part = LinkFrame::TransferPart(crate::TransferPart {
        message: message.clone(),
        digest: [7; 32],
        total_len: 10,
        offset: 4,
        data: vec![1; 6],
    });
    assert_eq!(LinkFrame::decode(&part.encode_to_vec()).unwrap(), part);
    let held = LinkFrame::PartsHeld(vec![crate::HeldPart {
        message,
        digest: [7; 32],
        held_len: 3,
    }]);
    assert_eq!(LinkFrame::decode(&held.encode_to_vec()).unwrap(), held);
    assert_eq!(
        LinkFrame::decode(&LinkFrame::PartsHeld(Vec::new()).encode_to_vec()).unwrap(),
        LinkFrame::PartsHeld(Vec::new())
    );

    let part = |digest: Vec<u8>, total_len: u32, offset: u32, data: Vec<u8>| pb::LinkFrame {
        frame: Some(Frame::TransferPart(pb::TransferPart {
            r#ref: Some(sample_ref()),
            digest,
            total_len,
            offset,
            data,
        })),
    };
    assert!(matches!(
        frame_err(part(vec![7; 32], 10, 5, vec![1; 6])),
        ValidationError::PartOutOfRange {
            offset: 5,
            end: 11,
            total: 10
        }
    ));
    assert!(matches!(
        frame_err(part(vec![7; 32], u32::MAX, u32::MAX, vec![1; 6])),
        ValidationError::TooLong { .. }
    ));
    assert!(matches!(
        frame_err(part(vec![7; 31], 10, 0, vec![1; 6])),
        ValidationError::BadLength {
            field: "transfer_part.digest",
            len: 31,
            ..
        }
    ));
    assert!(matches!(
        frame_err(part(vec![7; 32], 10, 0, Vec::new())),
        ValidationError::Empty {
            field: "transfer_part.data"
        }
    ));
    let max = crate::limits::MAX_PART_LEN;
    assert!(matches!(
        frame_err(part(vec![7; 32], 4 * max as u32, 0, vec![0; max + 1])),
        ValidationError::TooLong {
            field: "transfer_part.data",
            ..
        }
    ));
    let too_many = pb::LinkFrame {
        frame: Some(Frame::PartsHeld(pb::PartsHeld {
            parts: vec![
                pb::HeldPart {
                    r#ref: Some(sample_ref()),
                    digest: vec![7; 32],
                    held_len: 1,
                };
                crate::limits::MAX_HELD_PARTS + 1
            ],
        })),
    };
    assert!(matches!(
        frame_err(too_many),
        ValidationError::TooMany {
            field: "parts_held.parts",
            ..
        }
    ));
}

#[test]
fn a_frame_decoded_from_its_own_buffer_shares_it_and_decodes_as_from_a_slice() {
    use pb::link_frame::Frame;
    let envelope = vec![7u8; 3000];
    let certificate = vec![9u8; 500];
    let wire = frame(Frame::Transfer(pb::Transfer {
        envelope: Some(pb::SignedEnvelope {
            envelope: envelope.clone().into(),
            signature: vec![3; 64],
            signer_certificate: certificate.clone().into(),
            leaf_index: 0,
            tree_size: 1,
            path: Default::default(),
        }),
        hops: 1,
        recipients: vec!["ncb.fr".into()],
    }))
    .encode_to_vec();
    let frame = bytes::Bytes::from(wire.clone());
    let shared = LinkFrame::decode_shared(frame.clone()).unwrap();
    assert_eq!(shared, LinkFrame::decode(&wire).unwrap());
    let LinkFrame::Transfer(transfer) = shared else {
        panic!("not a transfer: {shared:?}");
    };
    let inside = |part: &[u8]| frame.as_ptr_range().contains(&part.as_ptr());
    assert_eq!(transfer.envelope.envelope_bytes(), &envelope[..]);
    assert_eq!(transfer.envelope.signer_certificate(), &certificate[..]);
    assert!(
        inside(transfer.envelope.envelope_bytes()),
        "envelope copied"
    );
    assert!(
        inside(transfer.envelope.signer_certificate()),
        "certificate copied"
    );
    // From a slice, the envelope has a buffer of its own.
    let LinkFrame::Transfer(copied) = LinkFrame::decode(&wire).unwrap() else {
        unreachable!()
    };
    assert!(!inside(copied.envelope.envelope_bytes()));
}

#[test]
fn a_signed_envelope_decoded_from_its_own_buffer_shares_it() {
    let signed = crate::SignedEnvelope::new(
        vec![5u8; 2000],
        [3; 64],
        vec![9u8; 400],
        crate::BatchProof::single(),
    )
    .unwrap();
    let bytes = bytes::Bytes::from(signed.encode_to_vec());
    let shared = crate::SignedEnvelope::decode_shared(bytes.clone()).unwrap();
    assert_eq!(shared, signed);
    let inside = |part: &[u8]| bytes.as_ptr_range().contains(&part.as_ptr());
    assert!(inside(shared.envelope_bytes()));
    assert!(inside(shared.signer_certificate()));
}
