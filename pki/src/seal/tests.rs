//! Seal and open (issue 14, item 4): round trips, the wrong key, the wrong envelope.

use bluehelm_proto::testing::{sample_diffusion, sample_text};
use bluehelm_proto::{Body, MessageId, NodeId, SealedKind};

use super::*;
use crate::{CertificateAuthority, IssueRequest, Role};

fn node(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn binding_for(origin: &str) -> SealBinding {
    SealBinding {
        message_id: MessageId::generate(1_780_000_000_000),
        origin: node(origin),
    }
}

fn recipient(name: &str) -> (SealRecipient, DecryptionKey) {
    let key = DecryptionKey::generate();
    (
        SealRecipient {
            node: node(name),
            public_key: key.public_key(),
        },
        key,
    )
}

#[test]
fn a_sealed_diffusion_opens_for_its_recipient_and_hides_its_text() {
    let (ke, ke_key) = recipient("ncb.ke");
    let at = binding_for("ncb.fr");
    let body = Body::Diffusion(sample_diffusion());
    let sealed = seal(&body, &at, &[ke]).unwrap();
    assert_eq!(sealed.kind, SealedKind::Diffusion);
    assert_eq!(sealed.keys.len(), 1);
    let Body::Diffusion(d) = &body else {
        unreachable!()
    };
    let needle = d.body.as_bytes();
    assert!(!sealed.ciphertext.windows(needle.len()).any(|w| w == needle));
    assert_eq!(open(&sealed, &at, &node("ncb.ke"), &ke_key).unwrap(), body);
}

#[test]
fn a_group_seal_encrypts_the_body_once_and_opens_for_every_member() {
    let members: Vec<_> = ["ncb.ke", "ncb.de", "ncb.it"].map(recipient).into();
    let at = binding_for("ncb.fr");
    let body = Body::Text(sample_text());
    let list: Vec<_> = members.iter().map(|(r, _)| r.clone()).collect();
    let sealed = seal(&body, &at, &list).unwrap();
    let (_, plaintext) = body.sealing_plaintext().unwrap();
    // One ciphertext, the plaintext's length plus one tag: not one copy per member.
    assert_eq!(
        sealed.ciphertext.len(),
        plaintext.len() + bluehelm_proto::SEALED_TAG_LEN
    );
    assert_eq!(sealed.keys.len(), 3);
    for (r, key) in &members {
        assert_eq!(open(&sealed, &at, &r.node, key).unwrap(), body);
    }
}

#[test]
fn a_node_not_among_the_recipients_is_told_so() {
    let (ke, _) = recipient("ncb.ke");
    let (_, gs_key) = recipient("gs");
    let at = binding_for("ncb.fr");
    let sealed = seal(&Body::Text(sample_text()), &at, &[ke]).unwrap();
    let err = open(&sealed, &at, &node("gs"), &gs_key).unwrap_err();
    assert!(matches!(err, OpenError::NotARecipient { .. }), "{err}");
    assert!(err.to_string().contains("ncb.ke"), "{err}");
}

#[test]
fn the_wrong_key_of_a_recipient_is_named() {
    let (ke, _) = recipient("ncb.ke");
    let other = DecryptionKey::generate();
    let at = binding_for("ncb.fr");
    let sealed = seal(&Body::Text(sample_text()), &at, &[ke]).unwrap();
    let err = open(&sealed, &at, &node("ncb.ke"), &other).unwrap_err();
    assert!(matches!(err, OpenError::OtherKey { .. }), "{err}");
}

#[test]
fn a_sealed_body_moved_to_another_envelope_does_not_open() {
    let (ke, ke_key) = recipient("ncb.ke");
    let at = binding_for("ncb.fr");
    let sealed = seal(&Body::Text(sample_text()), &at, &[ke]).unwrap();
    let other_id = SealBinding {
        message_id: MessageId::generate(1_780_000_000_001),
        ..at.clone()
    };
    let other_origin = SealBinding {
        origin: node("ncb.de"),
        ..at.clone()
    };
    for moved in [other_id, other_origin] {
        let err = open(&sealed, &moved, &node("ncb.ke"), &ke_key).unwrap_err();
        assert!(matches!(err, OpenError::Tampered), "{err}");
    }
    // The kind is bound too: a text relabelled as a diffusion does not open.
    let mut relabelled = sealed.clone();
    relabelled.kind = SealedKind::Diffusion;
    assert!(matches!(
        open(&relabelled, &at, &node("ncb.ke"), &ke_key),
        Err(OpenError::Tampered)
    ));
}

#[test]
fn a_tampered_ciphertext_or_sealed_key_does_not_open() {
    let (ke, ke_key) = recipient("ncb.ke");
    let at = binding_for("ncb.fr");
    let sealed = seal(&Body::Text(sample_text()), &at, &[ke]).unwrap();
    let mut body_flipped = sealed.clone();
    body_flipped.ciphertext[3] ^= 1;
    let mut key_flipped = sealed.clone();
    key_flipped.keys[0].sealed_key[0] ^= 1;
    for bad in [body_flipped, key_flipped] {
        assert!(matches!(
            open(&bad, &at, &node("ncb.ke"), &ke_key),
            Err(OpenError::Tampered)
        ));
    }
}

#[test]
fn notices_requests_and_empty_recipient_lists_are_not_sealed() {
    let (ke, _) = recipient("ncb.ke");
    let at = binding_for("ncb.fr");
    let notice = Body::Notice(bluehelm_proto::testing::sample_red_notice());
    let err = seal(&notice, &at, std::slice::from_ref(&ke)).unwrap_err();
    assert!(matches!(err, SealError::NotSealable(_)), "{err}");
    assert!(err.to_string().contains("hub"), "{err}");
    assert!(matches!(
        seal(&Body::Text(sample_text()), &at, &[]),
        Err(SealError::Recipients(0))
    ));
}

#[test]
fn a_decryption_key_survives_its_pem_file() {
    let key = DecryptionKey::generate();
    let again = DecryptionKey::from_pem(key.to_pem().as_bytes()).unwrap();
    assert_eq!(again.public_key(), key.public_key());
    // An Ed25519 node key is refused with a clear error.
    let ed = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBHu0Rm+0k7Gq6fSQXQrN0Y2Zk3pMJaD8cT6LGTuQ1ne\n-----END PRIVATE KEY-----\n";
    assert!(matches!(
        DecryptionKey::from_pem(ed.as_bytes()),
        Err(KeyFileError::NotX25519)
    ));
}

fn ncb(ca: &mut CertificateAuthority, id: &str) -> crate::IssuedNode {
    ca.issue(&IssueRequest {
        node: node(id),
        role: Role::Ncb,
        country: Some("FR".into()),
        mission: None,
        home: None,
        days: 30,
    })
    .unwrap()
}

#[test]
fn issued_certificates_carry_the_key_and_the_directory_checks_the_crl() {
    let dir = tempfile::tempdir().unwrap();
    let mut ca = CertificateAuthority::init(&dir.path().join("ca"), 30, false).unwrap();
    let fr = ncb(&mut ca, "ncb.fr");
    let key = DecryptionKey::from_pem(fr.encryption_key_pem.as_ref().unwrap().as_bytes()).unwrap();
    assert_eq!(fr.identity.encryption_key, Some(key.public_key()));

    let now = crate::ca::now_unix();
    let contents = ca.sealing_directory(now).unwrap();
    assert_eq!(contents.listed.len(), 1);
    let directory = SealDirectory::from_pem(contents.pem.as_bytes()).unwrap();
    let trust = ca.trust_store().unwrap();
    let found = directory.recipient(&trust, now, &node("ncb.fr")).unwrap();
    assert_eq!(found.public_key, key.public_key());
    assert!(matches!(
        directory.recipient(&trust, now, &node("ncb.ke")),
        Err(DirectoryError::Unknown(_))
    ));

    // The directory still lists it, but the node's CRL says revoked: no seal to it.
    ca.revoke(fr.cert_pem.as_bytes(), None).unwrap();
    let trust = ca.trust_store().unwrap();
    let err = directory
        .recipient(&trust, now, &node("ncb.fr"))
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Untrusted { .. }), "{err}");
    assert!(ca.sealing_directory(now).unwrap().listed.is_empty());
}
