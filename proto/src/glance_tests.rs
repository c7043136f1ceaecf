use proptest::prelude::*;
use prost::Message as _;

use super::*;
use crate::pb;
use crate::testing::{
    node, sample_delivery_report, sample_diffusion, sample_envelope, sample_hit_notification,
    sample_non_delivery_report, sample_red_notice, sample_sltd_hit, sample_sltd_request,
    sample_text,
};
use crate::{BatchProof, Body, Destination, Envelope, MessageId, Precedence, SignedEnvelope};

const NOW: i64 = 1_767_225_600_000;

fn signed_bytes(envelope: &Envelope) -> Vec<u8> {
    let proof = BatchProof::new(1, 3, vec![[4; 32], [5; 32]]).unwrap();
    SignedEnvelope::new(envelope.encode_to_vec(), [3; 64], vec![0x30; 40], proof)
        .unwrap()
        .encode_to_vec()
}

fn envelope(body: Body, correlated: bool) -> Envelope {
    let destination = match &body {
        Body::Request(request) => Destination::Service(request.service.clone()),
        _ => Destination::Node(node("ncb.ke")),
    };
    let mut envelope = sample_envelope(node("ncb.fr"), destination, Precedence::Routine, NOW, body);
    if correlated {
        envelope.correlation_id = Some(MessageId::generate(NOW as u64));
    } else if !envelope.kind().is_answer() {
        envelope.correlation_id = None;
    }
    envelope
}

/// What a glance must say of the envelope that `signed` decodes to, if it decodes.
fn decoded(signed: &[u8]) -> Option<(Kind, bool, Option<String>)> {
    let envelope = SignedEnvelope::decode(signed)
        .ok()?
        .decode_envelope()
        .ok()?;
    let subject = match &envelope.body {
        Body::Text(text) => Some(text.subject_line.clone()),
        _ => None,
    };
    Some((envelope.kind(), envelope.correlation_id.is_some(), subject))
}

fn seen(glance: &Glance<'_>) -> (Kind, bool, Option<String>) {
    (
        glance.kind,
        glance.correlated,
        glance.subject_line.map(str::to_owned),
    )
}

fn bodies() -> Vec<Body> {
    vec![
        Body::Notice(sample_red_notice()),
        Body::Diffusion(sample_diffusion()),
        Body::Text(sample_text()),
        Body::Request(sample_sltd_request()),
        Body::Response(sample_sltd_hit()),
        Body::DeliveryReport(sample_delivery_report(NOW)),
        Body::NonDeliveryReport(sample_non_delivery_report()),
        Body::HitNotification(sample_hit_notification()),
    ]
}

#[test]
fn a_glance_says_what_the_full_decode_says_for_every_kind() {
    for body in bodies() {
        for correlated in [false, true] {
            let signed = signed_bytes(&envelope(body.clone(), correlated));
            let glance = glance(&signed).expect("a plain envelope is glanced at");
            assert_eq!(Some(seen(&glance)), decoded(&signed), "{body:?}");
        }
    }
}

#[test]
fn a_text_without_a_subject_has_an_empty_one() {
    let mut text = sample_text();
    text.subject_line.clear();
    // Not valid for sending (a subject is required), but what the wire can hold.
    let mut wire = pb::Envelope::decode(
        envelope(Body::Text(sample_text()), false)
            .encode_to_vec()
            .as_slice(),
    )
    .unwrap();
    if let Some(pb::envelope::Body::Text(t)) = &mut wire.body {
        t.subject_line.clear();
    }
    let signed = SignedEnvelope::new(
        wire.encode_to_vec(),
        [3; 64],
        vec![0x30; 40],
        BatchProof::single(),
    )
    .unwrap()
    .encode_to_vec();
    assert_eq!(glance(&signed).unwrap().subject_line, Some(""));
}

/// `bytes` with length-delimited field `tag` appended (`value` as its contents).
fn with_field(mut bytes: Vec<u8>, tag: u32, value: &[u8]) -> Vec<u8> {
    prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, &mut bytes);
    prost::encoding::encode_varint(value.len() as u64, &mut bytes);
    bytes.extend_from_slice(value);
    bytes
}

fn signed_around(envelope_bytes: Vec<u8>) -> Vec<u8> {
    SignedEnvelope::new(
        envelope_bytes,
        [3; 64],
        vec![0x30; 40],
        BatchProof::single(),
    )
    .unwrap()
    .encode_to_vec()
}

#[test]
fn a_glance_gives_up_where_protobuf_would_merge_or_let_the_last_field_win() {
    let text = envelope(Body::Text(sample_text()), false).encode_to_vec();
    let mut subject = Vec::new();
    prost::encoding::string::encode(1, &"other".to_owned(), &mut subject);
    for (what, bytes) in [
        // A text, then a request: protobuf decodes a request.
        ("a second body", with_field(text.clone(), 23, &[])),
        // A second correlation id: the last one wins.
        ("a second correlation id", {
            let once = with_field(text.clone(), CORRELATION_ID, &[1; 16]);
            with_field(once, CORRELATION_ID, &[])
        }),
        // A second text body: protobuf merges the two, the later subject winning.
        ("a second text", with_field(text.clone(), TEXT, &subject)),
        ("a sealed body", with_field(Vec::new(), SEALED, &[])),
    ] {
        let signed = signed_around(bytes);
        assert_eq!(glance(&signed), None, "{what}");
    }
    // The signed envelope's own field twice.
    let signed = signed_around(text.clone());
    assert_eq!(glance(&with_field(signed, SIGNED_ENVELOPE, &text)), None);
}

#[test]
fn a_glance_skips_fields_it_does_not_know() {
    let text = envelope(Body::Text(sample_text()), false).encode_to_vec();
    let with_unknown = with_field(text, 99, b"from a newer schema");
    let signed = signed_around(with_unknown);
    let glance = glance(&signed).unwrap();
    assert_eq!(glance.kind, Kind::Text);
    assert_eq!(
        glance.subject_line,
        Some(sample_text().subject_line.as_str())
    );
}

fn mutation() -> impl Strategy<Value = (usize, u8, u8)> {
    (any::<usize>(), 0..3u8, any::<u8>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Whatever the bytes, a glance never disagrees with a decode that succeeds: the
    /// dispatcher may trust it instead of decoding.
    #[test]
    fn a_glance_never_disagrees_with_the_decode(
        which in 0..8usize,
        correlated in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 0..4),
    ) {
        let mut bytes = signed_bytes(&envelope(bodies()[which].clone(), correlated));
        for (at, op, byte) in mutations {
            let at = at % bytes.len().max(1);
            match op {
                0 if !bytes.is_empty() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if !bytes.is_empty() => { bytes.remove(at); }
                _ => {}
            }
        }
        if let (Some(glance), Some(decoded)) = (glance(&bytes), decoded(&bytes)) {
            prop_assert_eq!(seen(&glance), decoded);
        }
    }
}
