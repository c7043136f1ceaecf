//! Envelope signatures: signing, verifying, tampering, origin binding, batches, caching.

use bluehelm_pki::ca::now_unix;
mod common;

use common::ncb;

use bluehelm_pki::{
    CertificateAuthority, EnvelopeVerifier, NodeCredentials, TrustError, VerifyError,
};
use bluehelm_proto::testing::{node, sample_notice_envelope};
use bluehelm_proto::{Destination, Envelope, Precedence, SignedEnvelope};

const DAY: i64 = 86_400;

struct Net {
    ca: CertificateAuthority,
    verifier: EnvelopeVerifier,
}

fn net() -> Net {
    let ca = CertificateAuthority::generate(3650).unwrap();
    let verifier = EnvelopeVerifier::new(ca.trust_store().unwrap());
    Net { ca, verifier }
}

fn notice(origin: &str, size: usize) -> Envelope {
    sample_notice_envelope(
        node(origin),
        Destination::Node(node("gs")),
        Precedence::Immediate,
        now_unix() * 1000,
        size,
    )
}

fn with_bytes(s: &SignedEnvelope, bytes: Vec<u8>) -> SignedEnvelope {
    SignedEnvelope::new(
        bytes,
        *s.signature(),
        s.signer_certificate().to_vec(),
        s.proof().unwrap().clone(),
    )
    .unwrap()
}

#[test]
fn signed_envelope_verifies_and_decodes_the_signed_bytes() {
    let mut net = net();
    let fr = ncb(&mut net.ca, "FR");
    let envelope = notice("ncb.fr", 1024);
    let signed = fr.signer().sign(&envelope).unwrap();
    assert_eq!(signed.envelope_bytes(), envelope.encode_to_vec().as_slice());
    assert_eq!(signed.signer_certificate(), fr.node_cert_der());
    let verified = net.verifier.verify(&signed, now_unix()).unwrap();
    assert_eq!(verified.envelope(), &envelope);
    assert_eq!(verified.signer().node, node("ncb.fr"));
    assert_eq!(verified.signed(), &signed);
}

#[test]
fn flipping_any_byte_of_the_envelope_or_signature_is_refused() {
    let mut net = net();
    let fr = ncb(&mut net.ca, "FR");
    let signed = fr.signer().sign(&notice("ncb.fr", 1024)).unwrap();
    let now = now_unix();
    let bytes = signed.envelope_bytes().to_vec();
    assert!(bytes.len() >= 1000);
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0xff;
        assert_eq!(
            net.verifier
                .verify(&with_bytes(&signed, b), now)
                .unwrap_err(),
            VerifyError::BadSignature,
            "envelope byte {i}"
        );
    }
    for i in 0..64 {
        let mut sig = *signed.signature();
        sig[i] ^= 0xff;
        let tampered = SignedEnvelope::new(
            bytes.clone(),
            sig,
            signed.signer_certificate().to_vec(),
            signed.proof().unwrap().clone(),
        )
        .unwrap();
        assert_eq!(
            net.verifier.verify(&tampered, now).unwrap_err(),
            VerifyError::BadSignature,
            "signature byte {i}"
        );
    }
    // And every byte of the attached certificate: the CA signature covers it.
    let cert = signed.signer_certificate().to_vec();
    for i in 0..cert.len() {
        let mut c = cert.clone();
        c[i] ^= 0xff;
        let tampered = SignedEnvelope::new(
            bytes.clone(),
            *signed.signature(),
            c,
            signed.proof().unwrap().clone(),
        )
        .unwrap();
        assert!(
            matches!(
                net.verifier.verify(&tampered, now),
                Err(VerifyError::Untrusted(_))
            ),
            "certificate byte {i}"
        );
    }
    assert!(net.verifier.verify(&signed, now).is_ok());
}

#[test]
fn envelope_signed_by_ncb_de_claiming_ncb_fr_is_origin_mismatch() {
    let mut net = net();
    let de = ncb(&mut net.ca, "DE");
    let forged = de.signer().sign(&notice("ncb.fr", 1024)).unwrap();
    assert_eq!(
        net.verifier.verify(&forged, now_unix()).unwrap_err(),
        VerifyError::OriginMismatch {
            claimed: node("ncb.fr"),
            certified: node("ncb.de"),
        }
    );
    let results = net.verifier.verify_batch(&[forged], now_unix());
    assert!(matches!(
        results[0],
        Err(VerifyError::OriginMismatch { .. })
    ));
}

#[test]
fn batch_of_64_with_one_bad_signature_flags_exactly_that_one() {
    let mut net = net();
    let nodes: Vec<(NodeCredentials, &str)> =
        [("FR", "ncb.fr"), ("DE", "ncb.de"), ("IT", "ncb.it")]
            .into_iter()
            .map(|(cc, id)| (ncb(&mut net.ca, cc), id))
            .collect();
    let mut batch: Vec<SignedEnvelope> = (0..64)
        .map(|i| {
            let (creds, id) = &nodes[i % nodes.len()];
            creds.signer().sign(&notice(id, 1024)).unwrap()
        })
        .collect();
    let now = now_unix();
    assert!(net
        .verifier
        .verify_batch(&batch, now)
        .iter()
        .all(Result::is_ok));

    let mut sig = *batch[37].signature();
    sig[10] ^= 0x01;
    batch[37] = SignedEnvelope::new(
        batch[37].envelope_bytes().to_vec(),
        sig,
        batch[37].signer_certificate().to_vec(),
        batch[37].proof().unwrap().clone(),
    )
    .unwrap();
    let results = net.verifier.verify_batch(&batch, now);
    assert_eq!(results.len(), 64);
    for (i, r) in results.iter().enumerate() {
        if i == 37 {
            assert_eq!(r.as_ref().unwrap_err(), &VerifyError::BadSignature);
        } else {
            assert!(r.is_ok(), "envelope {i}: {r:?}");
        }
    }
}

#[test]
fn batch_reports_untrusted_signers_in_place() {
    let mut net = net();
    let mut stranger_ca = CertificateAuthority::generate(365).unwrap();
    let fr = ncb(&mut net.ca, "FR");
    let stranger = ncb(&mut stranger_ca, "FR");
    let batch = vec![
        fr.signer().sign(&notice("ncb.fr", 600)).unwrap(),
        stranger.signer().sign(&notice("ncb.fr", 600)).unwrap(),
        fr.signer().sign(&notice("ncb.fr", 600)).unwrap(),
    ];
    let results = net.verifier.verify_batch(&batch, now_unix());
    assert!(results[0].is_ok() && results[2].is_ok());
    assert_eq!(
        results[1].as_ref().unwrap_err(),
        &VerifyError::Untrusted(TrustError::UnknownIssuer)
    );
    assert!(net.verifier.verify_batch(&[], now_unix()).is_empty());
}

#[test]
fn cached_signer_is_rechecked_for_expiry_and_dropped_on_a_new_crl() {
    let mut net = net();
    let fr = ncb(&mut net.ca, "FR");
    let signed = fr.signer().sign(&notice("ncb.fr", 600)).unwrap();
    let now = now_unix();
    assert!(net.verifier.verify(&signed, now).is_ok());
    // Cached now; a later `now` past the certificate's end is still refused.
    assert!(matches!(
        net.verifier.verify(&signed, now + 31 * DAY),
        Err(VerifyError::Untrusted(TrustError::Expired { .. }))
    ));
    assert!(matches!(
        net.verifier.verify(&signed, now - DAY),
        Err(VerifyError::Untrusted(TrustError::NotYetValid { .. }))
    ));

    net.ca.revoke(fr.node_cert_der(), None).unwrap();
    let crl = net.ca.crl(7).unwrap();
    net.verifier.set_crl(crl.as_bytes()).unwrap();
    assert!(matches!(
        net.verifier.verify(&signed, now),
        Err(VerifyError::Untrusted(TrustError::Revoked { .. }))
    ));
    assert_eq!(
        net.verifier.trust_store().crl_info().unwrap().entries.len(),
        1
    );
}

#[test]
fn validly_signed_garbage_is_a_decode_error() {
    let mut net = net();
    let fr = ncb(&mut net.ca, "FR");
    let signed = fr
        .signer()
        .sign_bytes(b"\xff\xff not an envelope".to_vec())
        .unwrap();
    assert!(matches!(
        net.verifier.verify(&signed, now_unix()),
        Err(VerifyError::Decode(_))
    ));
    assert!(fr.signer().sign_bytes(Vec::new()).is_err());
}

#[test]
fn credentials_expose_rustls_material() {
    let mut net = net();
    let fr = ncb(&mut net.ca, "FR");
    assert!(matches!(
        fr.private_key_der(),
        rustls_pki_types::PrivateKeyDer::Pkcs8(_)
    ));
    assert_eq!(fr.cert_chain().len(), 2);
    assert_eq!(fr.signer().node(), &node("ncb.fr"));
}
