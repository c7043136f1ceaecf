//! Property tests: decoders never panic on arbitrary or mutated input, and the frame decoder
//! keeps its memory bound and reassembles frames split anywhere.

use bluehelm_proto::framing::{write_frame, FrameDecoder, FrameError, HEADER_LEN};
use bluehelm_proto::testing::{
    node, sample_envelope, sample_red_notice, sample_sltd_request, service,
};
use bluehelm_proto::{
    BatchProof, Body, DecodeError, Destination, Envelope, HeldPart, LinkFrame, MessageId,
    MessageRef, Precedence, Refusal, RefusalReason, SignedEnvelope, Transfer, TransferPart,
    ValidationError, BATCH_HASH_LEN,
};
use proptest::prelude::*;

const NOW: i64 = 1_767_225_600_000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

fn valid_envelope_bytes() -> Vec<u8> {
    sample_envelope(
        node("ncb.fr"),
        Destination::Node(node("gs")),
        Precedence::Flash,
        NOW,
        Body::Notice(sample_red_notice()),
    )
    .encode_to_vec()
}

fn valid_signed_bytes() -> Vec<u8> {
    // Leaf 6 of 7: a path of two hashes, so that mutations reach every field of the proof.
    let proof = BatchProof::new(6, 7, vec![[4; 32], [5; 32]]).unwrap();
    SignedEnvelope::new(valid_envelope_bytes(), [3; 64], vec![0x30; 40], proof)
        .unwrap()
        .encode_to_vec()
}

/// A proof of any shape the wire allows: a tree of up to 2^32 leaves, a path of up to 32
/// hashes (not necessarily the length the position needs: only the verifier knows that).
fn batch_proof() -> impl Strategy<Value = BatchProof> {
    (
        1..=1u64 << 32,
        any::<u64>(),
        prop::collection::vec(any::<[u8; 32]>(), 0..=32),
    )
        .prop_map(|(tree_size, index, path)| {
            BatchProof::new(index % tree_size, tree_size, path).unwrap()
        })
}

fn valid_frame_bytes() -> Vec<u8> {
    let signed = SignedEnvelope::decode(&valid_signed_bytes()).unwrap();
    LinkFrame::Transfer(Transfer {
        envelope: signed,
        hops: 2,
        recipients: vec!["ncb.ke".parse().unwrap()],
    })
    .encode_to_vec()
}

/// Every decoder, on the same bytes: none may panic.
fn decode_all(bytes: &[u8]) {
    let _ = Envelope::decode(bytes);
    let _ = SignedEnvelope::decode(bytes);
    let _ = LinkFrame::decode(bytes);
    let mut decoder = FrameDecoder::new(256);
    let mut input = bytes;
    loop {
        let taken = decoder.extend(input);
        input = &input[taken..];
        match decoder.next_frame() {
            Ok(Some(_)) | Err(FrameError::Decode(_)) => continue,
            Ok(None) if taken > 0 => continue,
            _ => break,
        }
    }
    assert!(decoder.buffered_len() <= 256 + HEADER_LEN);
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, m)| Mutation::Flip(i, m)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Flip(i, mask) if !bytes.is_empty() => bytes[i % len] ^= mask,
            Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Mutation::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i % len);
            }
            Mutation::Truncate(i) => bytes.truncate(i % (bytes.len() + 1)),
            _ => {}
        }
    }
    bytes
}

fn message_ref() -> impl Strategy<Value = MessageRef> {
    (
        prop::sample::select(vec!["gs", "ncb.fr", "mission.unmiss"]),
        any::<[u8; 16]>(),
    )
        .prop_map(|(origin, id)| MessageRef {
            origin: node(origin),
            id: MessageId::from(id),
        })
}

fn link_frame() -> impl Strategy<Value = LinkFrame> {
    prop_oneof![
        prop::sample::select(Precedence::ALL.to_vec())
            .prop_map(|precedence| LinkFrame::Open { precedence }),
        (
            prop::collection::vec(any::<u8>(), 1..300),
            any::<[u8; 32]>(),
            0..=32u8,
            batch_proof(),
        )
            .prop_map(|(env, sig, hops, proof)| {
                let mut signature = [0; 64];
                signature[..32].copy_from_slice(&sig);
                let envelope = SignedEnvelope::new(env, signature, vec![0x30; 10], proof).unwrap();
                LinkFrame::Transfer(Transfer {
                    envelope,
                    hops,
                    recipients: vec![],
                })
            }),
        prop::collection::vec(message_ref(), 1..5).prop_map(LinkFrame::Accepted),
        (
            message_ref(),
            prop::sample::select(RefusalReason::ALL.to_vec()),
            "[a-z ]{0,40}"
        )
            .prop_map(|(message, reason, detail)| LinkFrame::Refused(Refusal {
                message,
                reason,
                detail
            })),
        any::<u64>().prop_map(LinkFrame::Ping),
        any::<u64>().prop_map(LinkFrame::Pong),
        prop::collection::vec(any::<u8>(), 1..300).prop_map(LinkFrame::Crl),
        (
            message_ref(),
            any::<[u8; 32]>(),
            0u32..100,
            prop::collection::vec(any::<u8>(), 1..50)
        )
            .prop_map(|(message, digest, offset, data)| {
                LinkFrame::TransferPart(TransferPart {
                    message,
                    digest,
                    total_len: offset + data.len() as u32,
                    offset,
                    data,
                })
            }),
        prop::collection::vec(
            (message_ref(), any::<[u8; 32]>(), 1u32..u32::MAX).prop_map(
                |(message, digest, held_len)| HeldPart {
                    message,
                    digest,
                    held_len
                }
            ),
            0..4
        )
        .prop_map(LinkFrame::PartsHeld),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_mutated_valid_encodings(
        which in 0..3usize,
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let valid = match which {
            0 => valid_envelope_bytes(),
            1 => valid_signed_bytes(),
            _ => valid_frame_bytes(),
        };
        let bytes = mutate(valid, &mutations);
        decode_all(&bytes);
        // The same mutated bytes as a frame body behind a correct length prefix.
        let mut framed = u32::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        decode_all(&framed);
    }

    #[test]
    fn mutated_request_envelopes_never_panic(mutations in prop::collection::vec(mutation(), 1..6)) {
        let e = sample_envelope(
            node("ncb.fr"), Destination::Service(service("sltd.check")), Precedence::Immediate, NOW,
            Body::Request(sample_sltd_request()),
        );
        let _ = Envelope::decode(&mutate(e.encode_to_vec(), &mutations));
    }

    #[test]
    fn oversize_headers_are_refused_before_any_body_is_buffered(
        max in 1..4096usize,
        excess in 1..1_000_000usize,
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let len = u32::try_from(max + excess).unwrap();
        let mut wire = len.to_be_bytes().to_vec();
        wire.extend_from_slice(&tail);
        let mut decoder = FrameDecoder::new(max);
        prop_assert_eq!(decoder.extend(&wire), HEADER_LEN);
        prop_assert_eq!(decoder.buffered_len(), HEADER_LEN);
        prop_assert_eq!(
            decoder.next_frame(),
            Err(FrameError::TooLarge { len: max + excess, max })
        );
    }

    #[test]
    fn batch_proofs_round_trip_through_a_signed_envelope(proof in batch_proof()) {
        let signed = SignedEnvelope::new(vec![1, 2, 3], [6; 64], vec![0x30; 8], proof.clone())
            .unwrap();
        let decoded = SignedEnvelope::decode(&signed.encode_to_vec()).unwrap();
        prop_assert_eq!(decoded.proof(), Some(&proof));
        prop_assert_eq!(decoded, signed);
    }

    #[test]
    fn batch_proofs_of_a_wrong_shape_are_refused_never_built(
        index in any::<u64>(),
        tree_size in prop_oneof![Just(0u64), (1u64 << 32) + 1..=u64::MAX, 1..=1u64 << 32],
        hashes in 0..=40usize,
    ) {
        let result = BatchProof::new(index, tree_size, vec![[0; BATCH_HASH_LEN]; hashes]);
        let fits = (1..=1u64 << 32).contains(&tree_size) && index < tree_size && hashes <= 32;
        prop_assert_eq!(result.is_ok(), fits, "{:?}", result);
        if let Err(e) = result {
            let named = matches!(
                e,
                ValidationError::TreeSize(_)
                    | ValidationError::LeafIndex { .. }
                    | ValidationError::TooMany { field: "signed_envelope.path", .. }
            );
            prop_assert!(named, "{:?}", e);
        }
    }

    #[test]
    fn signed_envelopes_with_a_mutated_proof_decode_or_are_refused_by_name(
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        // The proof is at the end of the encoding: mutate only its bytes.
        let valid = valid_signed_bytes();
        let proof_at = valid.len() - (2 + 2 + 2 * 34);
        let mut bytes = valid[..proof_at].to_vec();
        bytes.extend(mutate(valid[proof_at..].to_vec(), &mutations));
        match SignedEnvelope::decode(&bytes) {
            // A mutation may drop the whole proof: an envelope signed alone (bluehelm/6).
            Ok(signed) => prop_assert!(signed.proof().map_or(0, |p| p.path().len()) <= 32),
            Err(DecodeError::Protobuf(_)) => {}
            Err(DecodeError::Invalid(e)) => prop_assert!(
                e.to_string().starts_with("signed_envelope."),
                "{}",
                e
            ),
        }
    }

    #[test]
    fn frames_split_at_arbitrary_points_reassemble_in_order(
        frames in prop::collection::vec(link_frame(), 0..12),
        cuts in prop::collection::vec(1..200usize, 0..40),
    ) {
        let mut wire = Vec::new();
        for frame in &frames {
            write_frame(frame, &mut wire);
        }
        // Above the largest frame the strategy makes: a 300-byte envelope with a 32-hash path.
        let max = 2048;
        let mut decoder = FrameDecoder::new(max);
        let mut received = Vec::new();
        let mut input = &wire[..];
        let mut cuts = cuts.into_iter().cycle();
        while !input.is_empty() {
            let chunk = cuts.next().unwrap_or(usize::MAX).min(input.len());
            let mut piece = &input[..chunk];
            while !piece.is_empty() {
                let taken = decoder.extend(piece);
                prop_assert!(decoder.buffered_len() <= max + HEADER_LEN);
                piece = &piece[taken..];
                while let Some(frame) = decoder.next_frame().unwrap() {
                    received.push(frame);
                }
            }
            input = &input[chunk..];
        }
        prop_assert_eq!(decoder.next_frame(), Ok(None));
        prop_assert_eq!(received, frames);
    }
}
