//! Envelopes signed by a revoked certificate (issue 14, item 2): accepted only when created
//! before the cutoff the revocation's reason and dates set, through the verifier's cache
//! and its batches; links (`verify_node`) still refuse every revoked certificate.

mod common;

use common::ncb;

use bluehelm_pki::ca::{now_unix, Revocation, Revokee};
use bluehelm_pki::{
    CertificateAuthority, EnvelopeVerifier, NodeCredentials, RecordVerifyError, RevocationReason,
    TrustError, VerifyError,
};
use bluehelm_proto::records::{Database, RecordChange};
use bluehelm_proto::testing::{node, sample_notice_envelope};
use bluehelm_proto::{Destination, Precedence, SignedEnvelope};

const HOUR: i64 = 3_600;

/// An envelope from ncb.fr created at `created_secs`, signed by `creds`.
fn signed_at(creds: &NodeCredentials, created_secs: i64) -> SignedEnvelope {
    let envelope = sample_notice_envelope(
        node("ncb.fr"),
        Destination::Node(node("gs")),
        Precedence::Routine,
        created_secs * 1000,
        600,
    );
    creds.signer().sign(&envelope).unwrap()
}

/// A CA with ncb.fr, and a verifier that knows no revocation yet.
fn setup() -> (CertificateAuthority, NodeCredentials, EnvelopeVerifier) {
    let mut ca = CertificateAuthority::generate(365).unwrap();
    let fr = ncb(&mut ca, "FR");
    let verifier = EnvelopeVerifier::new(ca.trust_store().unwrap());
    (ca, fr, verifier)
}

fn publish(ca: &mut CertificateAuthority, verifier: &EnvelopeVerifier) {
    verifier.set_crl(ca.crl(7).unwrap().as_bytes()).unwrap();
}

#[test]
fn a_compromise_time_splits_what_the_stolen_key_signed() {
    let (mut ca, fr, verifier) = setup();
    let now = now_unix();
    let compromised_at = now - HOUR;
    let before = signed_at(&fr, compromised_at - 60);
    let after = signed_at(&fr, compromised_at + 60);
    // Both verify before the CRL, and the signer is cached.
    assert!(verifier.verify(&before, now).is_ok());
    assert!(verifier.verify(&after, now).is_ok());

    ca.revoke_with(
        Revokee::Cert(fr.node_cert_der()),
        &Revocation::key_compromise(Some(compromised_at)),
    )
    .unwrap();
    publish(&mut ca, &verifier);

    // Either order: the cache keeps the revocation, not a verdict.
    for _ in 0..2 {
        match verifier.verify(&after, now) {
            Err(VerifyError::Untrusted(TrustError::SignedAfterRevocation {
                reason,
                cutoff,
                created_at_ms,
                ..
            })) => {
                assert_eq!(reason, 1);
                assert_eq!(cutoff, compromised_at);
                assert_eq!(created_at_ms, (compromised_at + 60) * 1000);
            }
            other => panic!("the envelope signed after the compromise passed: {other:?}"),
        }
        assert!(verifier.verify(&before, now).is_ok());
    }
    let refusal = verifier.verify(&after, now).unwrap_err().to_string();
    assert!(refusal.contains("key-compromise"), "{refusal}");
    assert!(refusal.len() < 200, "cut on the wire: {refusal}");

    let batch = verifier.verify_batch(&[after.clone(), before.clone(), after], now);
    assert!(batch[0].is_err() && batch[1].is_ok() && batch[2].is_err());

    // A link is still refused.
    assert!(matches!(
        verifier.trust_store().verify_node(fr.node_cert_der(), now),
        Err(TrustError::Revoked { .. })
    ));
}

#[test]
fn a_superseded_key_s_earlier_messages_stay_valid() {
    let (mut ca, fr, verifier) = setup();
    let earlier = signed_at(&fr, now_unix() - 60);
    ca.revoke_with(
        Revokee::Cert(fr.node_cert_der()),
        &Revocation::reason(RevocationReason::Superseded),
    )
    .unwrap();
    publish(&mut ca, &verifier);
    let now = now_unix();
    assert!(verifier.verify(&earlier, now).is_ok());
    let later = signed_at(&fr, now + 5);
    assert!(matches!(
        verifier.verify(&later, now),
        Err(VerifyError::Untrusted(TrustError::SignedAfterRevocation {
            reason: 4,
            ..
        }))
    ));
}

#[test]
fn other_reasons_refuse_everything_and_a_new_crl_empties_the_cache() {
    for reason in [
        None,
        Some(RevocationReason::Unspecified),
        Some(RevocationReason::PrivilegeWithdrawn),
        Some(RevocationReason::CertificateHold),
    ] {
        let (mut ca, fr, verifier) = setup();
        let old = signed_at(&fr, now_unix() - 10 * HOUR);
        // Verified, so cached as unrevoked.
        assert!(verifier.verify(&old, now_unix()).is_ok());
        ca.revoke(fr.node_cert_der(), reason).unwrap();
        publish(&mut ca, &verifier);
        let err = verifier.verify(&old, now_unix()).unwrap_err();
        match reason {
            // RFC 5280 5.3.1: the CRL leaves the reason out rather than say unspecified.
            None | Some(RevocationReason::Unspecified) => assert!(
                matches!(err, VerifyError::Untrusted(TrustError::Revoked { .. })),
                "{err:?}"
            ),
            Some(_) => assert!(
                matches!(
                    err,
                    VerifyError::Untrusted(TrustError::RevokedSigner { .. })
                ),
                "{err:?}"
            ),
        }
    }
}

#[test]
fn a_key_compromise_without_a_time_is_dated_at_the_revocation() {
    let (mut ca, fr, verifier) = setup();
    let old = signed_at(&fr, now_unix() - 10 * HOUR);
    ca.revoke(fr.node_cert_der(), Some(RevocationReason::KeyCompromise))
        .unwrap();
    publish(&mut ca, &verifier);
    assert!(verifier.verify(&old, now_unix()).is_ok());
    let later = signed_at(&fr, now_unix() + 5);
    assert!(verifier.verify(&later, now_unix()).is_err());
}

#[test]
fn record_changes_signed_by_a_superseded_key_are_still_refused() {
    // Record changes are checked at the time they say they were made, which their signer
    // chooses: no cutoff applies to them, any revocation refuses (as before reasons).
    let (mut ca, fr, verifier) = setup();
    let change = RecordChange {
        database: Database::Sltd,
        key: "FR/X1".into(),
        owner: "ncb.fr".parse().unwrap(),
        version: 1,
        withdrawn: false,
        record: b"{}".to_vec(),
        release_to: None,
        changed_at_ms: (now_unix() - 60) * 1000,
    };
    let (signed, proof) = fr.signer().sign_record_batch(std::slice::from_ref(&change));
    let proofs = [proof];
    let cert = fr.node_cert_der().to_vec();
    let lookup = |_: &[u8; 32]| Some(cert.as_slice());
    assert!(verifier.verify_record_changes(&signed, &proofs, lookup)[0].is_ok());
    ca.revoke_with(
        Revokee::Cert(fr.node_cert_der()),
        &Revocation::reason(RevocationReason::Superseded),
    )
    .unwrap();
    publish(&mut ca, &verifier);
    assert!(matches!(
        verifier.verify_record_changes(&signed, &proofs, lookup)[0],
        Err(RecordVerifyError::Untrusted(TrustError::Revoked { .. }))
    ));
}
