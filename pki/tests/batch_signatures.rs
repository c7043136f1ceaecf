//! Batch signatures (issue 16, item 1): envelopes signed together under one Merkle root, each
//! verifiable alone; tampering with any part of an envelope or its proof; proofs moved
//! between batches; the cache of verified roots.

use bluehelm_pki::batch::{leaf_hash, root_from_path};
use bluehelm_pki::ca::now_unix;
use bluehelm_pki::{
    CertificateAuthority, EnvelopeVerifier, NodeCredentials, VerifyError, ROOT_CACHE_CAPACITY,
};
use bluehelm_proto::testing::{node, sample_notice_envelope};
use bluehelm_proto::{
    alone_signing_input, root_signing_input, BatchProof, Destination, Precedence, SignedEnvelope,
    ValidationError,
};
use ed25519_dalek::{Signature, VerifyingKey};

mod common;

use common::ncb;

struct Net {
    ca: CertificateAuthority,
    fr: NodeCredentials,
}

impl Net {
    fn new() -> Net {
        let mut ca = CertificateAuthority::generate(3650).unwrap();
        let fr = ncb(&mut ca, "FR");
        Net { ca, fr }
    }

    /// A verifier that has seen nothing yet, as at a node the batch never reached.
    fn verifier(&self) -> EnvelopeVerifier {
        EnvelopeVerifier::new(self.ca.trust_store().unwrap())
    }

    /// `n` distinct notices from ncb.fr, encoded.
    fn notices(&self, n: usize, size: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|_| {
                sample_notice_envelope(
                    node("ncb.fr"),
                    Destination::Node(node("gs")),
                    Precedence::Routine,
                    now_unix() * 1000,
                    size,
                )
                .encode_to_vec()
            })
            .collect()
    }

    /// `n` notices signed together by ncb.fr.
    fn batch(&self, n: usize) -> Vec<SignedEnvelope> {
        self.fr.signer().sign_batch(self.notices(n, 300)).unwrap()
    }
}

/// `signed` with some of its parts replaced.
fn rebuilt(
    signed: &SignedEnvelope,
    bytes: Option<Vec<u8>>,
    signature: Option<[u8; 64]>,
    proof: Option<Result<BatchProof, ValidationError>>,
) -> Result<SignedEnvelope, ValidationError> {
    SignedEnvelope::new(
        bytes.unwrap_or_else(|| signed.envelope_bytes().to_vec()),
        signature.unwrap_or(*signed.signature()),
        signed.signer_certificate().to_vec(),
        proof.unwrap_or_else(|| Ok(signed.proof().unwrap().clone()))?,
    )
}

/// The proof of `signed` with `change` applied to its parts.
fn proof_with(
    signed: &SignedEnvelope,
    change: impl FnOnce(&mut u64, &mut u64, &mut Vec<[u8; 32]>),
) -> Result<BatchProof, ValidationError> {
    let proof = signed.proof().unwrap();
    let (mut index, mut size, mut path) =
        (proof.leaf_index(), proof.tree_size(), proof.path().to_vec());
    change(&mut index, &mut size, &mut path);
    BatchProof::new(index, size, path)
}

/// Refused: either it cannot even be built (the wire decoder refuses the same shape), or the
/// verifier refuses it, alone and in a batch.
fn assert_refused(
    verifier: &EnvelopeVerifier,
    tampered: Result<SignedEnvelope, ValidationError>,
    what: &str,
) -> Option<VerifyError> {
    let tampered = tampered.ok()?;
    let now = now_unix();
    let alone = verifier.verify(&tampered, now);
    let batch = verifier.verify_batch(std::slice::from_ref(&tampered), now);
    assert!(alone.is_err(), "{what}: accepted alone");
    assert!(batch[0].is_err(), "{what}: accepted in a batch");
    alone.err()
}

#[test]
fn each_envelope_of_a_batch_verifies_alone_after_its_batch_mates_were_dropped() {
    let net = Net::new();
    let batch = net.batch(5);
    assert_eq!(batch.len(), 5);
    let now = now_unix();
    for (i, signed) in batch.iter().enumerate() {
        assert_eq!(signed.proof().unwrap().leaf_index(), i as u64);
        assert_eq!(signed.proof().unwrap().tree_size(), 5);
        assert_eq!(signed.signature(), batch[0].signature(), "one signature");
        // Each through the wire, to a verifier that never saw the other four.
        let received = SignedEnvelope::decode(&signed.encode_to_vec()).unwrap();
        let verifier = net.verifier();
        let verified = verifier.verify(&received, now).unwrap();
        assert_eq!(verified.signed(), signed);
        assert_eq!(verified.envelope().encode_to_vec(), signed.envelope_bytes());
        assert_eq!(verifier.cached_roots(), 1);
        let verifier = net.verifier();
        assert!(verifier.verify_batch(&[received], now)[0].is_ok());
    }
    // And all together: one root.
    let verifier = net.verifier();
    assert!(verifier.verify_batch(&batch, now).iter().all(Result::is_ok));
    assert_eq!(verifier.cached_roots(), 1);
}

#[test]
fn a_batch_of_one_verifies_and_has_an_empty_path() {
    let net = Net::new();
    let bytes = net.notices(1, 300).remove(0);
    let signer = net.fr.signer();
    let signed = signer.sign_bytes(bytes.clone()).unwrap();
    assert_eq!(signed.proof(), Some(&BatchProof::single()));
    assert_eq!(signed.proof().unwrap().tree_size(), 1);
    assert_eq!(signed.proof().unwrap().leaf_index(), 0);
    assert!(signed.proof().unwrap().path().is_empty());
    // The same as a batch of one, and the signed root is the leaf hash.
    assert_eq!(
        signer.sign_batch(vec![bytes.clone()]).unwrap(),
        vec![signed.clone()]
    );
    let identity = bluehelm_pki::parse_certificate(net.fr.node_cert_der()).unwrap();
    let key = VerifyingKey::from_bytes(&identity.signing_key).unwrap();
    let input = root_signing_input(1, &leaf_hash(&bytes));
    assert!(key
        .verify_strict(&input, &Signature::from_bytes(signed.signature()))
        .is_ok());
    assert!(net.verifier().verify(&signed, now_unix()).is_ok());
}

#[test]
fn an_empty_batch_gives_nothing_and_an_unsendable_envelope_fails_the_whole_batch() {
    let net = Net::new();
    let signer = net.fr.signer();
    assert_eq!(signer.sign_batch(Vec::new()).unwrap(), Vec::new());
    let mut envelopes = net.notices(3, 100);
    envelopes[1].clear();
    assert!(matches!(
        signer.sign_batch(envelopes),
        Err(bluehelm_pki::SignError::Envelope {
            index: 1,
            source: ValidationError::Empty { .. }
        })
    ));
}

/// `n` notices signed together, and a verifier that verified them: their root is cached.
fn verified_batch(net: &Net, n: usize) -> (Vec<SignedEnvelope>, EnvelopeVerifier) {
    let batch = net.batch(n);
    let verifier = net.verifier();
    assert!(verifier
        .verify_batch(&batch, now_unix())
        .iter()
        .all(Result::is_ok));
    assert_eq!(verifier.cached_roots(), 1);
    (batch, verifier)
}

#[test]
fn a_flipped_byte_in_any_part_fails_even_with_the_batch_root_cached() {
    let net = Net::new();
    let (batch, verifier) = verified_batch(&net, 5);
    let now = now_unix();

    for (i, signed) in batch.iter().enumerate() {
        let bytes = signed.envelope_bytes();
        for at in 0..bytes.len() {
            let mut b = bytes.to_vec();
            b[at] ^= 0xff;
            let err = assert_refused(&verifier, rebuilt(signed, Some(b), None, None), "byte");
            assert_eq!(
                err,
                Some(VerifyError::BadSignature),
                "{i}: envelope byte {at}"
            );
        }
        for at in 0..64 {
            let mut sig = *signed.signature();
            sig[at] ^= 0xff;
            let err = assert_refused(&verifier, rebuilt(signed, None, Some(sig), None), "sig");
            assert_eq!(
                err,
                Some(VerifyError::BadSignature),
                "{i}: signature byte {at}"
            );
        }
        for element in 0..signed.proof().unwrap().path().len() {
            for at in 0..32 {
                let proof = proof_with(signed, |_, _, path| path[element][at] ^= 0xff);
                let err = assert_refused(&verifier, rebuilt(signed, None, None, Some(proof)), "");
                assert_eq!(
                    err,
                    Some(VerifyError::BadSignature),
                    "{i}: path {element} byte {at}"
                );
            }
        }
        // Every bit and every byte of the index and of the size: refused when the proof is
        // built (out of range), when the path no longer fits, or at the signature.
        let flips = (0..64)
            .map(|bit| 1u64 << bit)
            .chain((0..8).map(|byte| 0xffu64 << (8 * byte)));
        for mask in flips {
            let proof = proof_with(signed, |index, _, _| *index ^= mask);
            assert_refused(&verifier, rebuilt(signed, None, None, Some(proof)), "index");
            let proof = proof_with(signed, |_, size, _| *size ^= mask);
            assert_refused(&verifier, rebuilt(signed, None, None, Some(proof)), "size");
        }
        // A hash more or less in the path.
        let proof = proof_with(signed, |_, _, path| path.push([0; 32]));
        let err = assert_refused(
            &verifier,
            rebuilt(signed, None, None, Some(proof)),
            "longer",
        );
        assert!(matches!(err, Some(VerifyError::BadProof(_))), "{err:?}");
        let proof = proof_with(signed, |_, _, path| {
            path.pop();
        });
        let err = assert_refused(
            &verifier,
            rebuilt(signed, None, None, Some(proof)),
            "shorter",
        );
        assert!(matches!(err, Some(VerifyError::BadProof(_))), "{err:?}");
    }
    // Nothing tampered was cached, and the batch still verifies.
    assert_eq!(verifier.cached_roots(), 1);
    assert!(verifier.verify_batch(&batch, now).iter().all(Result::is_ok));
}

#[test]
fn a_flipped_byte_anywhere_in_the_encoding_fails() {
    let net = Net::new();
    let (batch, verifier) = verified_batch(&net, 5);
    let now = now_unix();
    // Leaf 1 (an index on the wire) and leaf 4 (the unpaired last leaf, a path of one).
    for signed in [&batch[1], &batch[4]] {
        let wire = signed.encode_to_vec();
        for at in 0..wire.len() {
            let mut w = wire.clone();
            w[at] ^= 0xff;
            if let Ok(tampered) = SignedEnvelope::decode(&w) {
                assert!(
                    verifier.verify(&tampered, now).is_err(),
                    "byte {at} of the wire"
                );
            }
        }
    }
}

#[test]
fn the_tree_size_is_signed_so_the_same_root_in_a_larger_tree_fails() {
    let net = Net::new();
    let batch = net.batch(5);
    let verifier = net.verifier();
    let now = now_unix();
    assert!(verifier.verify(&batch[0], now).is_ok());
    // Leaf 0 of 5 takes the same turns in a tree of 6, 7 or 8 leaves: the path leads to the
    // same root. Only the signed size tells them apart.
    let leaf = leaf_hash(batch[0].envelope_bytes());
    let path = batch[0].proof().unwrap().path();
    let root = root_from_path(&leaf, 0, 5, path).unwrap();
    for size in 6..=8 {
        assert_eq!(root_from_path(&leaf, 0, size, path), Ok(root));
        let proof = proof_with(&batch[0], |_, s, _| *s = size);
        let err = assert_refused(&verifier, rebuilt(&batch[0], None, None, Some(proof)), "");
        assert_eq!(err, Some(VerifyError::BadSignature), "tree size {size}");
    }
}

#[test]
fn a_proof_moved_from_another_batch_fails() {
    let net = Net::new();
    let first = net.batch(5);
    let second = net.batch(5);
    let third = net.batch(3);
    let verifier = net.verifier();
    let now = now_unix();
    for batch in [&first, &second, &third] {
        assert!(verifier.verify_batch(batch, now).iter().all(Result::is_ok));
    }
    assert_eq!(verifier.cached_roots(), 3);
    for (i, signed) in first.iter().enumerate() {
        for other in second.iter().chain(&third) {
            let proof = Some(Ok(other.proof().unwrap().clone()));
            // The other envelope's proof with this batch's signature, or with its own.
            for signature in [*signed.signature(), *other.signature()] {
                let moved = rebuilt(signed, None, Some(signature), proof.clone());
                assert_moved_proof_refused(&verifier, moved, &format!("{i}"));
            }
        }
        // A batch-mate's proof: the right batch, the wrong leaf.
        for (j, mate) in first.iter().enumerate().filter(|(j, _)| *j != i) {
            let moved = rebuilt(signed, None, None, Some(Ok(mate.proof().unwrap().clone())));
            assert_moved_proof_refused(&verifier, moved, &format!("{i} with {j}'s proof"));
        }
    }
}

/// A proof that is not the envelope's own leads nowhere the signature covers: either its
/// path does not fit the position, or it leads to another root.
fn assert_moved_proof_refused(
    verifier: &EnvelopeVerifier,
    moved: Result<SignedEnvelope, ValidationError>,
    what: &str,
) {
    let err = assert_refused(verifier, moved, what);
    assert!(
        matches!(
            err,
            Some(VerifyError::BadSignature | VerifyError::BadProof(_))
        ),
        "{what}: {err:?}"
    );
}

#[test]
fn verify_batch_gives_each_envelope_of_a_mixed_batch_its_own_result() {
    let net = Net::new();
    let mut batch = net.batch(6);
    let now = now_unix();
    let mut b = batch[1].envelope_bytes().to_vec();
    b[40] ^= 0x01;
    batch[1] = rebuilt(&batch[1], Some(b), None, None).unwrap();
    let mut sig = *batch[3].signature();
    sig[5] ^= 0x01;
    batch[3] = rebuilt(&batch[3], None, Some(sig), None).unwrap();
    let proof = proof_with(&batch[4], |_, _, path| path[0][0] ^= 0x01);
    batch[4] = rebuilt(&batch[4], None, None, Some(proof)).unwrap();
    let proof = proof_with(&batch[5], |_, _, path| {
        path.pop();
    });
    batch[5] = rebuilt(&batch[5], None, None, Some(proof)).unwrap();

    let verifier = net.verifier();
    // Twice: the root uncached, then cached.
    for round in 0..2 {
        let results = verifier.verify_batch(&batch, now);
        assert_eq!(results.len(), 6);
        assert!(results[0].is_ok() && results[2].is_ok(), "round {round}");
        for i in [1, 3, 4] {
            assert_eq!(
                results[i].as_ref().unwrap_err(),
                &VerifyError::BadSignature,
                "round {round}, envelope {i}"
            );
        }
        assert!(
            matches!(results[5], Err(VerifyError::BadProof(_))),
            "round {round}"
        );
        assert_eq!(verifier.cached_roots(), 1);
    }
}

#[test]
fn a_batch_mixing_signers_gives_each_envelope_its_own_signers_verdict() {
    // The verifier looks a certificate up once for a run of envelopes that carry it: a
    // stranger's certificate (same node name, another CA) between ours must not pass for
    // ours, nor ours after it be judged as the stranger's.
    let net = Net::new();
    let mut other_ca = CertificateAuthority::generate(3650).unwrap();
    let stranger = ncb(&mut other_ca, "FR");
    let ours = net.batch(3);
    let theirs = stranger.signer().sign_batch(net.notices(3, 300)).unwrap();
    let batch = [
        &ours[0], &ours[1], &theirs[0], &theirs[1], &ours[2], &theirs[2],
    ]
    .map(Clone::clone);

    let results = net.verifier().verify_batch(&batch, now_unix());
    for i in [0, 1, 4] {
        assert!(
            results[i].is_ok(),
            "envelope {i}: {:?}",
            results[i].as_ref().err()
        );
    }
    for i in [2, 3, 5] {
        assert!(
            matches!(results[i], Err(VerifyError::Untrusted(_))),
            "envelope {i}: {:?}",
            results[i].as_ref().err()
        );
    }
}

#[test]
fn the_root_cache_is_bounded_and_emptied_by_a_new_crl() {
    let mut net = Net::new();
    let de = ncb(&mut net.ca, "DE");
    let verifier = net.verifier();
    let now = now_unix();
    let signer = net.fr.signer();
    // Batches of one: each its own root. More than the cache holds, half verified alone,
    // half in batches of 64.
    let signed: Vec<SignedEnvelope> = net
        .notices(ROOT_CACHE_CAPACITY + 200, 10)
        .into_iter()
        .map(|bytes| signer.sign_bytes(bytes).unwrap())
        .collect();
    let (alone, together) = signed.split_at(signed.len() / 2);
    for s in alone {
        verifier.verify(s, now).unwrap();
        assert!(verifier.cached_roots() <= ROOT_CACHE_CAPACITY);
    }
    for chunk in together.chunks(64) {
        assert!(verifier.verify_batch(chunk, now).iter().all(Result::is_ok));
        assert!(verifier.cached_roots() <= ROOT_CACHE_CAPACITY);
    }
    assert_eq!(verifier.cached_roots(), ROOT_CACHE_CAPACITY);
    // Evicted roots verify again.
    assert!(verifier
        .verify_batch(&signed, now)
        .iter()
        .all(Result::is_ok));
    assert_eq!(verifier.cached_roots(), ROOT_CACHE_CAPACITY);

    // A new CRL (revoking another node) forgets every root.
    net.ca.revoke(de.node_cert_der(), None).unwrap();
    let crl = net.ca.crl(7).unwrap();
    verifier.set_crl(crl.as_bytes()).unwrap();
    assert_eq!(verifier.cached_roots(), 0);
    assert!(verifier.verify(&signed[0], now).is_ok());
    assert_eq!(verifier.cached_roots(), 1);
    verifier.replace_trust_store(net.ca.trust_store().unwrap());
    assert_eq!(verifier.cached_roots(), 0);
}

#[test]
fn a_revoked_signer_is_refused_although_its_root_is_cached() {
    let mut net = Net::new();
    let batch = net.batch(4);
    let verifier = net.verifier();
    let now = now_unix();
    assert!(verifier.verify(&batch[0], now).is_ok());
    assert_eq!(verifier.cached_roots(), 1);
    net.ca.revoke(net.fr.node_cert_der(), None).unwrap();
    let crl = net.ca.crl(7).unwrap();
    verifier.set_crl(crl.as_bytes()).unwrap();
    for signed in &batch {
        assert!(matches!(
            verifier.verify(signed, now),
            Err(VerifyError::Untrusted(_))
        ));
    }
    assert_eq!(verifier.cached_roots(), 0);
}

/// `bytes` signed alone by `signer`, as a bluehelm/6 node signed every envelope.
fn signed_alone(creds: &NodeCredentials, bytes: Vec<u8>) -> SignedEnvelope {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    use ed25519_dalek::Signer as _;
    let key =
        ed25519_dalek::SigningKey::from_pkcs8_der(creds.private_key_der().secret_der()).unwrap();
    let signature = key.sign(&alone_signing_input(&bytes)).to_bytes();
    SignedEnvelope::signed_alone(bytes, signature, creds.node_cert_der().to_vec()).unwrap()
}

#[test]
fn an_envelope_signed_alone_before_batch_signatures_still_verifies_alone_and_in_a_batch() {
    let net = Net::new();
    let now = now_unix();
    let bytes = net.notices(1, 300).remove(0);
    let old = signed_alone(&net.fr, bytes.clone());
    // As a bluehelm/6 node stored it: no proof on the wire.
    let stored = old.encode_to_vec();
    let read = SignedEnvelope::decode(&stored).unwrap();
    assert_eq!(read.proof(), None);
    assert_eq!(read, old);
    let verifier = net.verifier();
    let verified = verifier.verify(&read, now).unwrap();
    assert_eq!(verified.envelope().encode_to_vec(), bytes);
    // Among batch-signed envelopes, each gets its own result; nothing signed alone is cached.
    let mut mixed = net.batch(3);
    mixed.insert(1, read.clone());
    let results = net.verifier().verify_batch(&mixed, now);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(verifier.cached_roots(), 0);

    // A flipped bit or byte anywhere in it fails.
    for i in 0..stored.len() {
        for flip in [0x01, 0xff] {
            let mut tampered = stored.clone();
            tampered[i] ^= flip;
            if let Ok(tampered) = SignedEnvelope::decode(&tampered) {
                assert!(
                    verifier.verify(&tampered, now).is_err(),
                    "byte {i} ^ {flip:#x}"
                );
                assert!(
                    verifier.verify_batch(&[tampered], now)[0].is_err(),
                    "byte {i}"
                );
            }
        }
    }
}

#[test]
fn a_signature_made_alone_never_passes_for_a_batch_of_one_nor_the_other_way() {
    let net = Net::new();
    let now = now_unix();
    let bytes = net.notices(1, 300).remove(0);
    let old = signed_alone(&net.fr, bytes.clone());
    let single = net.fr.signer().sign_bytes(bytes.clone()).unwrap();
    let cert = net.fr.node_cert_der().to_vec();
    // The v1 signature with the proof of a batch of one.
    let disguised = SignedEnvelope::new(
        bytes.clone(),
        *old.signature(),
        cert.clone(),
        BatchProof::single(),
    )
    .unwrap();
    // A batch root's signature without a proof.
    let stripped = SignedEnvelope::signed_alone(bytes, *single.signature(), cert).unwrap();
    let verifier = net.verifier();
    for forged in [disguised, stripped] {
        assert_eq!(
            verifier.verify(&forged, now).unwrap_err(),
            VerifyError::BadSignature
        );
        assert_eq!(
            verifier.verify_batch(&[forged], now)[0]
                .clone()
                .unwrap_err(),
            VerifyError::BadSignature
        );
    }
}
