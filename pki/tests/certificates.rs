//! Issuing, parsing and trusting node certificates; CRLs; key files.

use std::os::unix::fs::PermissionsExt;

use bluehelm_pki::ca::now_unix;
use bluehelm_pki::{
    parse_certificate, parse_crl, CaError, CertError, CertificateAuthority, IssueRequest,
    NodeCredentials, ReadError, Role, TrustError, TrustStore, TrustStoreError, WriteError,
};

const DAY: i64 = 86_400;

fn request(node: &str, role: Role, country: Option<&str>, mission: Option<&str>) -> IssueRequest {
    IssueRequest {
        node: node.parse().unwrap(),
        role,
        country: country.map(str::to_owned),
        mission: mission.map(str::to_owned),
        home: None,
        days: 30,
    }
}

fn hub() -> IssueRequest {
    request("gs", Role::Hub, None, None)
}
fn ncb_fr() -> IssueRequest {
    request("ncb.fr", Role::Ncb, Some("FR"), None)
}
fn unmiss() -> IssueRequest {
    request("mission.unmiss", Role::Mission, None, Some("UNMISS"))
}

/// A CA valid from 100 days ago for a year, so tests can move `now` into the past.
fn ca() -> CertificateAuthority {
    CertificateAuthority::generate_with_validity(now_unix() - 100 * DAY, now_unix() + 365 * DAY)
        .unwrap()
}

#[test]
fn a_valid_certificate_of_each_role_verifies() {
    let mut ca = ca();
    let trust = ca.trust_store().unwrap();
    for req in [hub(), ncb_fr(), unmiss()] {
        let issued = ca.issue(&req).unwrap();
        let id = trust.verify_node(&issued.cert_der, now_unix()).unwrap();
        assert_eq!(id.node, req.node);
        assert_eq!(id.role, req.role);
        assert_eq!(id.country, req.country);
        assert_eq!(id.mission, req.mission);
        assert_eq!(id.serial.len(), 16);
        assert_eq!(id, parse_certificate(&issued.cert_der).unwrap());
        assert_eq!(id.fingerprint_hex().len(), 64);
        // Backdated five minutes, valid 30 days.
        assert!((now_unix() - id.not_before - 300).abs() < 60);
        assert!((id.not_after - id.not_before - 30 * DAY - 300).abs() < 60);
    }
}

#[test]
fn every_byte_after_the_signed_part_must_be_exactly_an_ed25519_signature() {
    let mut ca = ca();
    let trust = ca.trust_store().unwrap();
    let der = ca.issue(&ncb_fr()).unwrap().cert_der;
    // SEQUENCE { OID 1.3.101.112 }, then BIT STRING of 65 bytes (no unused bits) and the
    // 64-byte signature: the last 74 bytes.
    let tail = der.len() - 74;
    assert_eq!(
        &der[tail..tail + 10],
        &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x41, 0x00]
    );
    // x509-parser read the OID under another tag (0x07) as Ed25519's: one certificate, two
    // encodings, two fingerprints. Every change in these bytes is refused now.
    for at in tail..tail + 10 {
        for flip in [0x01, 0xff] {
            let mut bent = der.clone();
            bent[at] ^= flip;
            assert!(
                parse_certificate(&bent).is_err(),
                "byte {} ^ {flip:#x}",
                at - tail
            );
            assert!(
                trust.verify_node(&bent, now_unix()).is_err(),
                "byte {}",
                at - tail
            );
        }
    }
    let mut bent = der.clone();
    bent[tail + 2] = 0x07;
    assert_eq!(parse_certificate(&bent), Err(CertError::SignatureEncoding));
}

#[test]
fn serials_are_random_and_positive() {
    let mut ca = ca();
    let a = ca.issue(&hub()).unwrap().identity.serial;
    let b = ca.issue(&hub()).unwrap().identity.serial;
    assert_ne!(a, b);
    assert!(a[0] != 0 && a[0] < 0x80);
}

#[test]
fn certificate_from_another_ca_is_unknown_issuer() {
    let ours = ca();
    let mut theirs = ca();
    let foreign = theirs.issue(&ncb_fr()).unwrap();
    let err = ours
        .trust_store()
        .unwrap()
        .verify_node(&foreign.cert_der, now_unix());
    assert_eq!(err, Err(TrustError::UnknownIssuer));
}

#[test]
fn certificate_with_a_tampered_signature_is_unknown_issuer() {
    let mut ca = ca();
    let mut der = ca.issue(&ncb_fr()).unwrap().cert_der;
    let last = der.len() - 1;
    der[last] ^= 1;
    let err = ca.trust_store().unwrap().verify_node(&der, now_unix());
    assert_eq!(err, Err(TrustError::UnknownIssuer));
}

#[test]
fn expired_and_not_yet_valid_certificates_are_refused_distinctly() {
    let mut ca = ca();
    let trust = ca.trust_store().unwrap();
    let now = now_unix();
    let cert = ca
        .issue_with_validity(&ncb_fr(), now - 10 * DAY, now - DAY)
        .unwrap();
    assert_eq!(
        trust.verify_node(&cert.cert_der, now),
        Err(TrustError::Expired {
            not_after: now - DAY,
            now
        })
    );
    assert!(trust.verify_node(&cert.cert_der, now - 2 * DAY).is_ok());

    let cert = ca
        .issue_with_validity(&ncb_fr(), now + DAY, now + 10 * DAY)
        .unwrap();
    assert_eq!(
        trust.verify_node(&cert.cert_der, now),
        Err(TrustError::NotYetValid {
            not_before: now + DAY,
            now
        })
    );
    assert!(trust.verify_node(&cert.cert_der, now + 2 * DAY).is_ok());
}

#[test]
fn revoked_certificate_is_refused_and_others_still_verify() {
    let mut ca = ca();
    let revoked = ca.issue(&ncb_fr()).unwrap();
    let kept = ca.issue(&hub()).unwrap();
    let record = ca.revoke(revoked.cert_pem.as_bytes(), None).unwrap();
    assert_eq!(record.node, "ncb.fr");
    assert_eq!(record.serial, revoked.identity.serial_hex());
    let crl = ca.crl(7).unwrap();
    let trust = TrustStore::new(ca.cert_der(), Some(crl.as_bytes())).unwrap();
    assert_eq!(
        trust.verify_node(&revoked.cert_der, now_unix()),
        Err(TrustError::Revoked {
            serial: revoked.identity.serial_hex()
        })
    );
    assert!(trust.verify_node(&kept.cert_der, now_unix()).is_ok());
    // Without the CRL the same certificate passes: revocation comes from the CRL alone.
    let bare = TrustStore::new(ca.cert_der(), None).unwrap();
    assert!(bare.verify_node(&revoked.cert_der, now_unix()).is_ok());
    assert!(matches!(
        ca.revoke(revoked.cert_pem.as_bytes(), None),
        Err(CaError::AlreadyRevoked { .. })
    ));
}

#[test]
fn each_refusal_has_its_own_message() {
    let now = 1_800_000_000;
    let errors = [
        TrustError::Malformed(CertError::MissingExtension),
        TrustError::UnknownIssuer,
        TrustError::NotYetValid {
            not_before: now,
            now,
        },
        TrustError::Expired {
            not_after: now,
            now,
        },
        TrustError::Revoked {
            serial: "01".into(),
        },
    ];
    let messages: std::collections::HashSet<String> =
        errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(messages.len(), errors.len());
}

#[test]
fn crl_carries_entries_times_and_increasing_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut ca = CertificateAuthority::init(dir.path(), 365, false).unwrap();
    let node = ca.issue(&unmiss()).unwrap();
    ca.revoke(
        node.cert_der.as_slice(),
        Some(bluehelm_pki::RevocationReason::KeyCompromise),
    )
    .unwrap();
    let first = ca.crl(7).unwrap();
    // Numbers and revocations survive reloading the CA from disk.
    let mut ca = CertificateAuthority::load(dir.path()).unwrap();
    assert_eq!(ca.revocations().len(), 1);
    let second = ca.crl(3).unwrap();

    let der = |pem: &str| {
        bluehelm_pki::pem_or_der(pem.as_bytes(), "X509 CRL")
            .unwrap()
            .remove(0)
    };
    let first = parse_crl(&der(&first)).unwrap();
    let second = parse_crl(&der(&second)).unwrap();
    assert_eq!(first.number, Some(vec![1]));
    assert_eq!(second.number, Some(vec![2]));
    assert_eq!(second.entries.len(), 1);
    assert_eq!(second.entries[0].serial, node.identity.serial);
    assert_eq!(second.entries[0].reason, Some(1));
    assert!((second.entries[0].revoked_at - now_unix()).abs() < 60);
    assert_eq!(second.next_update, Some(second.this_update + 3 * DAY));
    assert!(first.issuer.contains("Bluehelm Network Root CA"));
}

/// A CRL that came in-band is written to the node's CRL file (issue 14): PEM, public, whole,
/// and the same CRL when read back; the file it replaces goes.
#[test]
fn a_crl_saved_to_a_file_reads_back_the_same_and_is_public() {
    let mut ca = ca();
    let crl = ca.crl(7).unwrap();
    let trust = TrustStore::new(ca.cert_der(), Some(crl.as_bytes())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crl.pem");
    std::fs::write(&path, b"the old CRL").unwrap();
    trust.save_crl(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("-----BEGIN X509 CRL-----"), "{text}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let back = TrustStore::new(ca.cert_der(), Some(text.as_bytes())).unwrap();
    assert_eq!(back.crl_der(), trust.crl_der());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "a temporary file was left"
    );
}

#[test]
fn crl_from_another_ca_is_refused() {
    let ours = ca();
    let mut theirs = ca();
    let crl = theirs.crl(7).unwrap();
    assert!(matches!(
        TrustStore::new(ours.cert_der(), Some(crl.as_bytes())),
        Err(TrustStoreError::CrlNotFromCa)
    ));
    let mut crl_der =
        bluehelm_pki::pem_or_der(ours.trust_store().unwrap().crl_der().unwrap(), "X509 CRL")
            .unwrap()
            .remove(0);
    let last = crl_der.len() - 1;
    crl_der[last] ^= 1;
    assert!(matches!(
        TrustStore::new(ours.cert_der(), Some(&crl_der)),
        Err(TrustStoreError::CrlNotFromCa)
    ));
}

#[test]
fn ca_certificate_is_not_a_node_certificate() {
    let ca = ca();
    assert_eq!(parse_certificate(ca.cert_der()), Err(CertError::IsCa));
}

#[test]
fn issuing_enforces_role_rules() {
    let mut ca = ca();
    for bad in [
        request("ncb.fr", Role::Ncb, None, None),
        request("ncb.fr", Role::Ncb, Some("fra"), None),
        request("mission.unmiss", Role::Mission, None, None),
        request("gs", Role::Hub, Some("FR"), None),
    ] {
        assert!(
            matches!(ca.issue(&bad), Err(CaError::RoleRules(_))),
            "{bad:?}"
        );
    }
}

/// Certificates that rcgen can make but that are not Bluehelm node certificates.
mod foreign_shapes {
    use super::*;
    use rcgen::{CertificateParams, CustomExtension, DnType, KeyPair, SanType};

    fn self_signed(params: CertificateParams, key: &KeyPair) -> Vec<u8> {
        params.self_signed(key).unwrap().der().to_vec()
    }

    fn base(cn: &str, uri: &str, dns: &str) -> CertificateParams {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.subject_alt_names = vec![
            SanType::URI(uri.to_string().try_into().unwrap()),
            SanType::DnsName(dns.to_string().try_into().unwrap()),
        ];
        p
    }

    fn ext(der: Vec<u8>) -> CustomExtension {
        CustomExtension::from_oid_content(bluehelm_pki::IDENTITY_EXTENSION_OID, der)
    }

    fn ed25519() -> KeyPair {
        KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap()
    }

    // ncb with country FR, as documented in the crate docs.
    fn ncb_ext() -> Vec<u8> {
        let mut v = vec![0x30, 30, 0x0c, 3];
        v.extend_from_slice(b"ncb");
        v.extend_from_slice(&[0x80, 2]);
        v.extend_from_slice(b"FR");
        v.extend_from_slice(&[0x0c, 19]);
        v.extend_from_slice(b"ed25519-subject-key");
        v
    }

    #[test]
    fn well_formed_foreign_certificate_parses() {
        let mut p = base(
            "ncb.fr",
            "urn:bluehelm:node:ncb.fr",
            "ncb.fr.bluehelm.invalid",
        );
        p.custom_extensions = vec![ext(ncb_ext())];
        let id = parse_certificate(&self_signed(p, &ed25519())).unwrap();
        assert_eq!(id.country.as_deref(), Some("FR"));
    }

    #[test]
    fn missing_or_duplicated_extension_is_refused() {
        let p = base(
            "ncb.fr",
            "urn:bluehelm:node:ncb.fr",
            "ncb.fr.bluehelm.invalid",
        );
        assert_eq!(
            parse_certificate(&self_signed(p.clone(), &ed25519())),
            Err(CertError::MissingExtension)
        );
        let mut twice = p;
        twice.custom_extensions = vec![ext(ncb_ext()), ext(ncb_ext())];
        // x509-parser itself may refuse duplicate extensions; either way it is refused.
        assert!(parse_certificate(&self_signed(twice, &ed25519())).is_err());
    }

    #[test]
    fn names_that_disagree_are_refused() {
        for (cn, uri, dns) in [
            (
                "ncb.de",
                "urn:bluehelm:node:ncb.fr",
                "ncb.fr.bluehelm.invalid",
            ),
            (
                "ncb.fr",
                "urn:bluehelm:node:ncb.de",
                "ncb.fr.bluehelm.invalid",
            ),
            (
                "ncb.fr",
                "urn:bluehelm:node:ncb.fr",
                "ncb.de.bluehelm.invalid",
            ),
            ("ncb.fr", "urn:other:ncb.fr", "ncb.fr.bluehelm.invalid"),
        ] {
            let mut p = base(cn, uri, dns);
            p.custom_extensions = vec![ext(ncb_ext())];
            assert!(
                matches!(
                    parse_certificate(&self_signed(p, &ed25519())),
                    Err(CertError::IdentityMismatch { .. })
                ),
                "{cn} {uri} {dns}"
            );
        }
    }

    #[test]
    fn second_dns_name_is_refused() {
        let mut p = base(
            "ncb.fr",
            "urn:bluehelm:node:ncb.fr",
            "ncb.fr.bluehelm.invalid",
        );
        p.subject_alt_names.push(SanType::DnsName(
            "gs.bluehelm.invalid".to_string().try_into().unwrap(),
        ));
        p.custom_extensions = vec![ext(ncb_ext())];
        assert_eq!(
            parse_certificate(&self_signed(p, &ed25519())),
            Err(CertError::DuplicateIdentity("DNS name"))
        );
    }

    #[test]
    fn missing_identity_is_refused() {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, "ncb.fr");
        p.custom_extensions = vec![ext(ncb_ext())];
        assert!(matches!(
            parse_certificate(&self_signed(p, &ed25519())),
            Err(CertError::MissingIdentity(_))
        ));
    }

    #[test]
    fn non_ed25519_key_is_refused() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = base(
            "ncb.fr",
            "urn:bluehelm:node:ncb.fr",
            "ncb.fr.bluehelm.invalid",
        );
        p.custom_extensions = vec![ext(ncb_ext())];
        assert_eq!(
            parse_certificate(&self_signed(p, &key)),
            Err(CertError::NotEd25519)
        );
    }

    #[test]
    fn broken_role_rules_in_the_extension_are_refused() {
        // ncb without a country.
        let mut der = vec![0x30, 26, 0x0c, 3];
        der.extend_from_slice(b"ncb");
        der.extend_from_slice(&[0x0c, 19]);
        der.extend_from_slice(b"ed25519-subject-key");
        let mut p = base(
            "ncb.fr",
            "urn:bluehelm:node:ncb.fr",
            "ncb.fr.bluehelm.invalid",
        );
        p.custom_extensions = vec![ext(der)];
        assert!(matches!(
            parse_certificate(&self_signed(p, &ed25519())),
            Err(CertError::BadIdentityExtension(_))
        ));
    }
}

#[test]
fn init_ca_writes_a_0600_key_and_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let first = CertificateAuthority::init(dir.path(), 365, false).unwrap();
    let mode = |name: &str| {
        std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("ca.key"), 0o600);
    assert_eq!(mode("ca.pem"), 0o644);
    assert!(matches!(
        CertificateAuthority::init(dir.path(), 365, false),
        Err(CaError::Write(WriteError::Exists(_)))
    ));
    // Untouched by the refused attempt.
    assert_eq!(
        CertificateAuthority::load(dir.path()).unwrap().cert_der(),
        first.cert_der()
    );
    let second = CertificateAuthority::init(dir.path(), 365, true).unwrap();
    assert_ne!(second.cert_der(), first.cert_der());
    assert_eq!(mode("ca.key"), 0o600);
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    // ca.pem, ca.key, issued.json, revoked.json, crl_number.
    assert_eq!(names.len(), 5, "{names:?}");
    assert_eq!(mode("issued.json"), 0o644);
}

#[test]
fn issued_files_are_0600_keys_and_load_as_credentials() {
    let ca_dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut ca = CertificateAuthority::init(ca_dir.path(), 365, false).unwrap();
    let issued = ca.issue(&ncb_fr()).unwrap();
    let (cert_path, key_path) = issued.write_to(out.path(), false).unwrap();
    assert_eq!(cert_path, out.path().join("ncb.fr.pem"));
    assert_eq!(
        std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(matches!(
        issued.write_to(out.path(), false),
        Err(WriteError::Exists(_))
    ));

    let creds = NodeCredentials::load(&cert_path, &key_path).unwrap();
    assert_eq!(creds.identity(), &issued.identity);
    assert_eq!(creds.cert_chain().len(), 2);
    assert_eq!(creds.cert_chain()[1].as_ref(), ca.cert_der());

    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = NodeCredentials::load(&cert_path, &key_path).unwrap_err();
    assert!(matches!(
        err,
        bluehelm_pki::CredentialsError::Read(ReadError::KeyFileTooOpen { .. })
    ));
    assert!(err.to_string().contains("chmod 600"), "{err}");

    // A CA key that others can read is refused too.
    let ca_key = ca_dir.path().join("ca.key");
    std::fs::set_permissions(&ca_key, std::fs::Permissions::from_mode(0o604)).unwrap();
    assert!(matches!(
        CertificateAuthority::load(ca_dir.path()),
        Err(CaError::Read(ReadError::KeyFileTooOpen { .. }))
    ));
}

#[test]
fn key_of_another_node_does_not_load_with_this_certificate() {
    let mut ca = ca();
    let fr = ca.issue(&ncb_fr()).unwrap();
    let gs = ca.issue(&hub()).unwrap();
    assert!(matches!(
        NodeCredentials::from_pem(fr.cert_pem.as_bytes(), gs.key_pem.as_bytes()),
        Err(bluehelm_pki::CredentialsError::KeyMismatch)
    ));
}
