//! Record changes (issue 13): signed by their owner, verified with the owner's certificate,
//! every tampering refused; the hub's digest verified with the hub's certificate.

mod common;

use common::ncb;

use bluehelm_pki::{CertificateAuthority, EnvelopeVerifier, RecordVerifyError};
use bluehelm_proto::records::{Database, RecordChange, ReplicaDigest};

fn change(owner: &str) -> RecordChange {
    RecordChange {
        database: Database::Sltd,
        key: "FR/X1".into(),
        owner: owner.parse().unwrap(),
        version: 1,
        withdrawn: false,
        record: b"{}".to_vec(),
        release_to: None,
        changed_at_ms: bluehelm_pki::ca::now_unix() * 1000,
    }
}

#[test]
fn an_owners_change_verifies_and_any_tampering_or_other_signer_is_refused() {
    let mut ca = CertificateAuthority::generate(3650).unwrap();
    let verifier = EnvelopeVerifier::new(ca.trust_store().unwrap());
    let fr = ncb(&mut ca, "FR");
    let ke = ncb(&mut ca, "KE");
    let certs = [fr.node_cert_der().to_vec(), ke.node_cert_der().to_vec()];
    let lookup = |fp: &[u8; 32]| {
        certs
            .iter()
            .find(|der| fingerprint(der) == *fp)
            .map(Vec::as_slice)
    };

    let good = fr.signer().sign_record_change(&change("ncb.fr"));
    let mut flipped = good.clone();
    flipped.change[3] ^= 1;
    let mut bad_signature = good.clone();
    bad_signature.signature[10] ^= 1;
    // Kenya signs a change that names France as the owner.
    let impostor = ke.signer().sign_record_change(&change("ncb.fr"));
    let mut unknown = good.clone();
    unknown.signer = [7; 32];

    let results =
        verifier.verify_record_changes(&[good, flipped, bad_signature, impostor, unknown], lookup);
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(results[1].is_err(), "a flipped byte of the change");
    assert_eq!(
        results[2].as_ref().unwrap_err(),
        &RecordVerifyError::BadSignature
    );
    assert!(matches!(
        results[3],
        Err(RecordVerifyError::OwnerMismatch { .. })
    ));
    assert!(matches!(
        results[4],
        Err(RecordVerifyError::UnknownSigner(_))
    ));
}

#[test]
fn the_hubs_digest_verifies_only_with_the_hubs_certificate() {
    let mut ca = CertificateAuthority::generate(3650).unwrap();
    let verifier = EnvelopeVerifier::new(ca.trust_store().unwrap());
    let fr = ncb(&mut ca, "FR");
    let ke = ncb(&mut ca, "KE");
    let digest = ReplicaDigest {
        database: Database::Sltd,
        replica: "ncb.ke".parse().unwrap(),
        seq: 9,
        records: 3,
        root: [5; 32],
        computed_at_ms: 1,
    };
    let signed = fr.signer().sign_digest(&digest);
    let now = bluehelm_pki::ca::now_unix();
    assert_eq!(
        verifier
            .verify_digest(&signed, fr.node_cert_der(), now)
            .unwrap(),
        digest
    );
    assert!(verifier
        .verify_digest(&signed, ke.node_cert_der(), now)
        .is_err());
    let mut tampered = signed.clone();
    tampered.digest[0] ^= 1;
    assert!(verifier
        .verify_digest(&tampered, fr.node_cert_der(), now)
        .is_err());
}

fn fingerprint(der: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().try_into().unwrap()
}
