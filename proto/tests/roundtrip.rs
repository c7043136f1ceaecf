//! Every body kind and every link frame kind survives encoding and decoding unchanged.

use bluehelm_proto::testing::{
    node, sample_delivery_report, sample_diffusion, sample_envelope, sample_non_delivery_report,
    sample_notice_envelope, sample_red_notice, sample_sltd_hit, sample_sltd_request, sample_text,
    service,
};
use bluehelm_proto::{
    BatchProof, Body, Destination, Envelope, GroupName, Kind, LinkFrame, MessageRef, Precedence,
    Refusal, RefusalReason, SignedEnvelope, Transfer,
};

const NOW: i64 = 1_767_225_600_000;

fn round_trip(envelope: &Envelope) {
    envelope.validate().unwrap();
    let bytes = envelope.encode_to_vec();
    assert_eq!(&Envelope::decode(&bytes).unwrap(), envelope);
}

fn to_gs(body: Body) -> Envelope {
    sample_envelope(
        node("ncb.fr"),
        Destination::Node(node("gs")),
        Precedence::Routine,
        NOW,
        body,
    )
}

#[test]
fn red_notice_with_subject_and_passport_round_trips() {
    let e = to_gs(Body::Notice(sample_red_notice()));
    assert_eq!(e.kind(), Kind::Notice);
    round_trip(&e);
}

#[test]
fn diffusion_to_a_group_round_trips() {
    let mut e = to_gs(Body::Diffusion(sample_diffusion()));
    e.destination = Destination::Group(GroupName::new("all-ncb").unwrap());
    e.want_delivery_report = true;
    round_trip(&e);
}

#[test]
fn text_with_attachment_round_trips() {
    let mut e = to_gs(Body::Text(sample_text()));
    e.precedence = Precedence::Flash;
    round_trip(&e);
}

#[test]
fn sltd_request_and_hit_response_round_trip() {
    let request = sample_envelope(
        node("ncb.fr"),
        Destination::Service(service("sltd.check")),
        Precedence::Immediate,
        NOW,
        Body::Request(sample_sltd_request()),
    );
    round_trip(&request);
    let mut response = sample_envelope(
        node("gs"),
        Destination::Node(node("ncb.fr")),
        Precedence::Immediate,
        NOW + 20,
        Body::Response(sample_sltd_hit()),
    );
    response.correlation_id = Some(request.message_id);
    round_trip(&response);
}

#[test]
fn delivery_and_non_delivery_reports_round_trip() {
    let report = sample_envelope(
        node("ncb.es"),
        Destination::Node(node("ncb.fr")),
        Precedence::Priority,
        NOW,
        Body::DeliveryReport(sample_delivery_report(NOW)),
    );
    assert!(report.correlation_id.is_some());
    round_trip(&report);
    let ndr = sample_envelope(
        node("gs"),
        Destination::Node(node("ncb.fr")),
        Precedence::Priority,
        NOW,
        Body::NonDeliveryReport(sample_non_delivery_report()),
    );
    round_trip(&ndr);
}

#[test]
fn sized_notice_round_trips() {
    let e = sample_notice_envelope(
        node("ncb.fr"),
        Destination::Node(node("gs")),
        Precedence::Routine,
        NOW,
        1024,
    );
    round_trip(&e);
}

fn sample_signed() -> SignedEnvelope {
    let bytes = to_gs(Body::Notice(sample_red_notice())).encode_to_vec();
    // Leaf 2 of a batch of 5: a path of two hashes (see docs/protocol.md, 6.2).
    let proof = BatchProof::new(2, 5, vec![[0x11; 32], [0x22; 32]]).unwrap();
    SignedEnvelope::new(bytes, [0x5a; 64], vec![0x30, 0x82, 0x01, 0x0a], proof).unwrap()
}

#[test]
fn signed_envelope_round_trips_and_its_envelope_decodes() {
    let signed = sample_signed();
    let decoded = SignedEnvelope::decode(&signed.encode_to_vec()).unwrap();
    assert_eq!(decoded, signed);
    assert_eq!(decoded.proof(), signed.proof());
    assert_eq!(
        decoded.decode_envelope().unwrap().encode_to_vec(),
        signed.envelope_bytes()
    );
}

#[test]
fn every_link_frame_kind_round_trips() {
    let message = MessageRef {
        origin: node("ncb.fr"),
        id: bluehelm_proto::MessageId::generate(1),
    };
    let frames = [
        LinkFrame::Open {
            precedence: Precedence::Flash,
        },
        LinkFrame::Open {
            precedence: Precedence::Routine,
        },
        LinkFrame::Transfer(Transfer {
            envelope: sample_signed(),
            hops: 0,
            recipients: vec![],
        }),
        LinkFrame::Transfer(Transfer {
            envelope: sample_signed(),
            hops: 31,
            recipients: vec![node("ncb.ke"), node("mission.unmiss")],
        }),
        LinkFrame::Accepted(vec![
            message.clone(),
            MessageRef {
                origin: node("gs"),
                ..message.clone()
            },
        ]),
        LinkFrame::Refused(Refusal {
            message: message.clone(),
            reason: RefusalReason::QuotaExceeded,
            detail: "retry in 5 s".into(),
        }),
        LinkFrame::Refused(Refusal {
            message,
            reason: RefusalReason::BadSignature,
            detail: String::new(),
        }),
        LinkFrame::Ping(0),
        LinkFrame::Pong(u64::MAX),
    ];
    for frame in frames {
        let bytes = frame.encode_to_vec();
        assert_eq!(bytes.len(), frame.encoded_len());
        assert_eq!(LinkFrame::decode(&bytes).unwrap(), frame);
    }
}

#[test]
fn refusal_reasons_split_into_permanent_and_temporary() {
    let temporary: Vec<_> = RefusalReason::ALL
        .iter()
        .filter(|r| !r.is_permanent())
        .collect();
    assert_eq!(
        temporary,
        [
            &RefusalReason::QuotaExceeded,
            &RefusalReason::StorageUnavailable
        ]
    );
}

#[test]
fn raw_transfer_frames_equal_encoded_transfers() {
    use bluehelm_proto::framing::{encode_transfer, write_frame, write_transfer_frame};
    for (hops, recipients) in [
        (0u8, vec![]),
        (1, vec![node("ncb.ke")]),
        (31, vec![node("ncb.ke"), node("mission.unmiss")]),
    ] {
        let envelope = sample_signed();
        let transfer = Transfer {
            envelope: envelope.clone(),
            hops,
            recipients: recipients.clone(),
        };
        let mut expected = Vec::new();
        write_frame(&LinkFrame::Transfer(transfer.clone()), &mut expected);
        let mut raw = Vec::new();
        write_transfer_frame(&envelope.encode_to_vec(), hops, &recipients, &mut raw);
        assert_eq!(raw, expected, "hops {hops}");
        // The whole a large copy's parts carry: the Transfer alone, decoding as itself.
        let mut whole = Vec::new();
        encode_transfer(&envelope.encode_to_vec(), hops, &recipients, &mut whole);
        assert_eq!(whole, transfer.encode_to_vec(), "hops {hops}");
        assert_eq!(Transfer::decode(&whole).unwrap(), transfer);
    }
}
