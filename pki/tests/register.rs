//! The CA's register of issued certificates (issue 14, item 2), on real CA directories:
//! a reissue never loses the old certificate, revocation by node and by serial, statuses,
//! and CA directories whose register is corrupt or missing.

use bluehelm_pki::ca::{now_unix, status_at, CertStatus, REGISTER_FILE};
use bluehelm_pki::{
    parse_crl, pem_or_der, CaError, CertificateAuthority, IssueRequest, IssuedNode, NodeId,
    RevocationReason, Role,
};

const DAY: i64 = 86_400;

fn ncb_fr() -> IssueRequest {
    IssueRequest {
        node: id("ncb.fr"),
        role: Role::Ncb,
        country: Some("FR".into()),
        mission: None,
        home: None,
        days: 30,
    }
}

fn hub() -> IssueRequest {
    IssueRequest {
        node: id("gs"),
        role: Role::Hub,
        country: None,
        mission: None,
        home: None,
        days: 30,
    }
}

fn id(s: &str) -> NodeId {
    s.parse().unwrap()
}

/// The serials a freshly signed CRL lists, sorted, as lower-case hex.
fn crl_serials(ca: &mut CertificateAuthority) -> Vec<String> {
    let pem = ca.crl(7).unwrap();
    let der = pem_or_der(pem.as_bytes(), "X509 CRL").unwrap().remove(0);
    let mut serials: Vec<String> = parse_crl(&der)
        .unwrap()
        .entries
        .iter()
        .map(|e| bluehelm_pki::ca::to_hex(&e.serial))
        .collect();
    serials.sort();
    serials
}

fn serial(issued: &IssuedNode) -> String {
    issued.identity.serial_hex()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn a_reissued_node_is_revoked_by_node_with_every_live_certificate() {
    let ca_dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut ca = CertificateAuthority::init(ca_dir.path(), 365, false).unwrap();
    // `pki issue --force` twice: the second overwrites the node's files.
    let first = ca.issue(&ncb_fr()).unwrap();
    first.write_to(out.path(), true).unwrap();
    let second = ca.issue(&ncb_fr()).unwrap();
    second.write_to(out.path(), true).unwrap();
    let gs = ca.issue(&hub()).unwrap();

    // What the register says survives reloading the CA (a later `pki revoke`).
    let mut ca = CertificateAuthority::load(ca_dir.path()).unwrap();
    assert_eq!(ca.issued().len(), 3);
    let records = ca
        .revoke_node(&id("ncb.fr"), Some(RevocationReason::Superseded))
        .unwrap();
    let revoked: Vec<String> = records.iter().map(|r| r.serial.clone()).collect();
    assert_eq!(revoked, vec![serial(&first), serial(&second)]);
    assert!(records
        .iter()
        .all(|r| r.node == "ncb.fr" && r.reason == Some(RevocationReason::Superseded as u8)));

    let mut ca = CertificateAuthority::load(ca_dir.path()).unwrap();
    assert_eq!(
        crl_serials(&mut ca),
        sorted(vec![serial(&first), serial(&second)])
    );
    assert!(!crl_serials(&mut ca).contains(&serial(&gs)));

    let again = ca.revoke_node(&id("ncb.fr"), None).unwrap_err();
    assert!(matches!(again, CaError::NothingToRevoke(_)), "{again:?}");
    assert!(
        again.to_string().contains("already revoked or expired"),
        "{again}"
    );
    let unknown = ca.revoke_node(&id("ncb.it"), None).unwrap_err();
    assert!(matches!(unknown, CaError::UnknownNode(_)), "{unknown:?}");
    assert!(unknown.to_string().contains("--cert FILE"), "{unknown}");
}

#[test]
fn revoke_by_serial_takes_exactly_that_certificate() {
    let ca_dir = tempfile::tempdir().unwrap();
    let mut ca = CertificateAuthority::init(ca_dir.path(), 365, false).unwrap();
    let first = ca.issue(&ncb_fr()).unwrap();
    let second = ca.issue(&ncb_fr()).unwrap();

    // As an operator may type it: upper case with 0x.
    let typed = format!("0x{}", serial(&first).to_uppercase());
    let mut ca = CertificateAuthority::load(ca_dir.path()).unwrap();
    let record = ca
        .revoke_serial(&typed, Some(RevocationReason::KeyCompromise))
        .unwrap();
    assert_eq!(record.serial, serial(&first));
    assert_eq!(record.fingerprint, first.identity.fingerprint_hex());
    assert_eq!(crl_serials(&mut ca), vec![serial(&first)]);

    match ca.revoke_serial(&serial(&first), None) {
        Err(e @ CaError::AlreadyRevoked { .. }) => {
            assert!(e.to_string().contains(&serial(&first)), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let unknown = "7".repeat(32);
    match ca.revoke_serial(&unknown, None) {
        Err(e @ CaError::UnknownSerial(_)) => {
            assert!(e.to_string().contains(&unknown), "{e}");
            assert!(e.to_string().contains("bluehelm pki list"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        ca.revoke_serial("not-hex", None),
        Err(CaError::BadSerial(_))
    ));
    // Nothing else was revoked along the way.
    assert_eq!(crl_serials(&mut ca), vec![serial(&first)]);
    assert!(!ca.revocations().iter().any(|r| r.serial == serial(&second)));
}

#[test]
fn each_certificate_of_the_register_has_its_status() {
    let ca_dir = tempfile::tempdir().unwrap();
    let mut ca = CertificateAuthority::init(ca_dir.path(), 365, false).unwrap();
    let now = now_unix();
    let valid = ca.issue(&ncb_fr()).unwrap();
    let revoked = ca.issue(&ncb_fr()).unwrap();
    let expired = ca
        .issue_with_validity(&hub(), now - 10 * DAY, now - DAY)
        .unwrap();
    let future = ca
        .issue_with_validity(&hub(), now + DAY, now + 10 * DAY)
        .unwrap();
    ca.revoke_serial(&serial(&revoked), Some(RevocationReason::KeyCompromise))
        .unwrap();

    let ca = CertificateAuthority::load(ca_dir.path()).unwrap();
    let status = |issued: &IssuedNode| {
        let record = ca
            .issued()
            .iter()
            .find(|r| r.serial == serial(issued))
            .expect("in the register");
        status_at(record, ca.revocations(), now_unix())
    };
    assert_eq!(status(&valid), CertStatus::Valid);
    assert!(matches!(
        status(&revoked),
        CertStatus::Revoked {
            reason: Some(1),
            ..
        }
    ));
    assert_eq!(status(&expired), CertStatus::Expired);
    assert_eq!(status(&future), CertStatus::NotYetValid);

    // The entry is what the certificate says.
    let entry = &ca.issued()[0];
    assert_eq!(entry.node, "ncb.fr");
    assert_eq!(entry.role, "ncb");
    assert_eq!(entry.country.as_deref(), Some("FR"));
    assert_eq!(entry.not_before, valid.identity.not_before);
    assert_eq!(entry.not_after, valid.identity.not_after);
    assert_eq!(entry.fingerprint, valid.identity.fingerprint_hex());
    assert!(ca.register_is_complete());
}

#[test]
fn a_corrupt_register_is_a_clear_error() {
    let ca_dir = tempfile::tempdir().unwrap();
    let mut ca = CertificateAuthority::init(ca_dir.path(), 365, false).unwrap();
    ca.issue(&ncb_fr()).unwrap();
    let path = ca_dir.path().join(REGISTER_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    for bad in [
        text[..text.len() / 2].to_owned(),
        text.replace("\"version\": 1", "\"version\": 9"),
        text.replace("\"ncb\"", "\"chief\""),
        String::new(),
    ] {
        std::fs::write(&path, &bad).unwrap();
        let err = CertificateAuthority::load(ca_dir.path()).unwrap_err();
        assert!(matches!(err, CaError::CorruptState { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("issued.json") && message.contains("restore it from backup"),
            "{message}"
        );
    }
}

#[test]
fn a_ca_from_before_the_register_still_issues_and_revokes() {
    let ca_dir = tempfile::tempdir().unwrap();
    let mut ca = CertificateAuthority::init(ca_dir.path(), 365, false).unwrap();
    let old = ca.issue(&ncb_fr()).unwrap();
    // A CA directory written before issue 14 has no register.
    let path = ca_dir.path().join(REGISTER_FILE);
    std::fs::remove_file(&path).unwrap();

    let mut ca = CertificateAuthority::load(ca_dir.path()).unwrap();
    assert!(ca.issued().is_empty());
    assert!(!ca.register_is_complete());
    assert!(!path.exists(), "loading writes nothing");
    assert!(matches!(
        ca.revoke_node(&id("ncb.fr"), None),
        Err(CaError::UnknownNode(_))
    ));

    // The next issue starts the register, marked incomplete.
    let new = ca.issue(&ncb_fr()).unwrap();
    assert!(path.exists());
    let mut ca = CertificateAuthority::load(ca_dir.path()).unwrap();
    assert!(!ca.register_is_complete());
    assert_eq!(ca.issued().len(), 1);
    let records = ca.revoke_node(&id("ncb.fr"), None).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].serial, serial(&new));

    // The older certificate is revocable with its file, and is then in the register.
    ca.revoke(old.cert_pem.as_bytes(), None).unwrap();
    let ca = CertificateAuthority::load(ca_dir.path()).unwrap();
    let registered: Vec<&str> = ca.issued().iter().map(|r| r.serial.as_str()).collect();
    assert_eq!(registered, vec![serial(&new), serial(&old)]);
    assert_eq!(ca.revocations().len(), 2);
}

#[test]
fn revoking_by_file_does_not_register_a_certificate_twice() {
    let mut ca = CertificateAuthority::generate(365).unwrap();
    let issued = ca.issue(&hub()).unwrap();
    assert_eq!(ca.issued().len(), 1);
    ca.revoke(issued.cert_pem.as_bytes(), None).unwrap();
    assert_eq!(ca.issued().len(), 1, "already registered: not added twice");
    assert!(matches!(
        ca.revoke(issued.cert_pem.as_bytes(), None),
        Err(CaError::AlreadyRevoked { .. })
    ));
}
