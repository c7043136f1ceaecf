//! Signed envelopes through the verifier a node checks every offer with
//! (`bluehelm_pki::EnvelopeVerifier`, trusting the fixture CA and CRL; see `src/pki.rs`).
//!
//! The first byte picks the mode:
//! - even: the rest is an encoded `SignedEnvelope` from a peer. `verify` and `verify_batch`
//!   must agree, and what verifies must be bound to its signer. The seed corpus holds
//!   envelopes the fixture nodes signed, so mutations reach the signature check.
//! - odd: the rest is envelope bytes that a fixture node (`ncb.fr`, or the revoked `ncb.de`
//!   if bit 1 is set) signs as they are, alone (a batch of one) or, if bit 2 is set, as the
//!   middle leaf of a batch of three (a path of two hashes): the fuzzer then explores what
//!   happens after a valid signature (decoding the signed bytes, origin binding, the
//!   revocation cutoff), the part an authenticated but hostile node reaches.
//!
//! The verifier lives across inputs, so its cache of verified batch roots (issue 16) is
//! exercised too: a root that verified once is found again by later inputs.
#![no_main]

use bluehelm_fuzz::pki;
use bluehelm_pki::VerifyError;
use bluehelm_proto::SignedEnvelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let pki = pki();
    let signed = if mode % 2 == 0 {
        match SignedEnvelope::decode(rest) {
            Ok(signed) => signed,
            Err(_) => return,
        }
    } else {
        let signer = if mode & 2 == 0 { &pki.fr } else { &pki.de }.signer();
        let signed = if mode & 4 == 0 {
            signer.sign_bytes(rest.to_vec()).ok()
        } else {
            let batch = vec![b"left".to_vec(), rest.to_vec(), b"right".to_vec()];
            signer
                .sign_batch(batch)
                .ok()
                .and_then(|mut signed| (signed.len() == 3).then(|| signed.swap_remove(1)))
        };
        match signed {
            Some(signed) => signed,
            None => return,
        }
    };

    let alone = pki.verifier.verify(&signed, pki.now);
    let batch = pki
        .verifier
        .verify_batch(std::slice::from_ref(&signed), pki.now)
        .pop()
        .expect("one result per envelope");
    match (&alone, &batch) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.envelope(), b.envelope());
            assert_eq!(a.signed(), &signed);
            assert_eq!(a.envelope().origin, a.signer().node);
            assert_eq!(a.signed().envelope_bytes(), signed.envelope_bytes());
        }
        // Batch verification is cofactored, single verification strict (see
        // `EnvelopeVerifier::verify_batch`): a signature a batch admits may fail alone.
        (Err(VerifyError::BadSignature), Ok(_)) => {}
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("verify and verify_batch disagree: {a:?} / {b:?}"),
    }
    if mode % 2 == 1 {
        // Signed here with the certified key: never a bad signature, never a bad proof.
        assert!(
            !matches!(
                alone,
                Err(VerifyError::BadSignature | VerifyError::BadProof(_))
            ),
            "{alone:?}"
        );
    }
});
