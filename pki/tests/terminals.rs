//! Terminal certificates (issue 4): bound to one node by the CA's signature, accepted only by
//! that node's terminal listener, never as a node (no link, no envelope signature, no TLS
//! server).

use std::sync::Arc;

use bluehelm_pki::ca::now_unix;
use bluehelm_pki::{
    parse_certificate, CaError, CertificateAuthority, EnvelopeVerifier, IssueRequest, IssuedNode,
    NodeId, Role, RoleRuleError, TrustError, TrustStore,
};
use bluehelm_proto::testing::sample_notice_envelope;
use bluehelm_proto::{Destination, Precedence};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

fn id(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn terminal_request(node: &str, home: Option<&str>) -> IssueRequest {
    IssueRequest {
        node: id(node),
        role: Role::Terminal,
        country: None,
        mission: None,
        home: home.map(id),
        days: 30,
    }
}

fn mission(ca: &mut CertificateAuthority) -> IssuedNode {
    ca.issue(&IssueRequest {
        node: id("mission.unmiss"),
        role: Role::Mission,
        country: None,
        mission: Some("UNMISS".into()),
        home: None,
        days: 30,
    })
    .unwrap()
}

fn ca() -> CertificateAuthority {
    CertificateAuthority::generate(365).unwrap()
}

#[test]
fn terminal_certificate_names_its_node_and_verifies_only_for_it() {
    let mut ca = ca();
    let trust = ca.trust_store().unwrap();
    let term = ca
        .issue(&terminal_request("term1.unmiss", Some("mission.unmiss")))
        .unwrap();
    let parsed = parse_certificate(&term.cert_der).unwrap();
    assert_eq!(parsed.role, Role::Terminal);
    assert_eq!(parsed.node, id("term1.unmiss"));
    assert_eq!(parsed.home, Some(id("mission.unmiss")));
    assert_eq!(term.identity, parsed);

    let ok = trust
        .verify_terminal(&term.cert_der, now_unix(), &id("mission.unmiss"))
        .unwrap();
    assert_eq!(ok.node, id("term1.unmiss"));
    assert_eq!(
        trust.verify_terminal(&term.cert_der, now_unix(), &id("gs")),
        Err(TrustError::OtherHome {
            terminal: id("term1.unmiss"),
            home: id("mission.unmiss"),
            expected: id("gs"),
        })
    );
}

#[test]
fn terminal_certificate_is_never_a_node_certificate() {
    let mut ca = ca();
    let trust = ca.trust_store().unwrap();
    let term = ca
        .issue(&terminal_request("term1.unmiss", Some("mission.unmiss")))
        .unwrap();
    assert_eq!(
        trust.verify_node(&term.cert_der, now_unix()),
        Err(TrustError::TerminalNotANode {
            terminal: id("term1.unmiss"),
            home: id("mission.unmiss"),
        })
    );
    // And a node certificate is not a terminal's.
    let node = mission(&mut ca);
    assert_eq!(
        trust.verify_terminal(&node.cert_der, now_unix(), &id("mission.unmiss")),
        Err(TrustError::NotATerminal {
            node: id("mission.unmiss"),
            role: Role::Mission,
        })
    );
}

#[test]
fn envelopes_signed_with_a_terminal_key_are_refused() {
    let mut ca = ca();
    let term = ca
        .issue(&terminal_request("term1.unmiss", Some("mission.unmiss")))
        .unwrap();
    let signer = term.credentials().unwrap().signer();
    let envelope = sample_notice_envelope(
        id("term1.unmiss"),
        Destination::Node(id("gs")),
        Precedence::Immediate,
        now_unix() * 1000,
        256,
    );
    let signed = signer.sign(&envelope).unwrap();
    let verifier = EnvelopeVerifier::new(ca.trust_store().unwrap());
    let err = verifier.verify(&signed, now_unix()).unwrap_err();
    assert!(err.to_string().contains("not a node certificate"), "{err}");
}

#[test]
fn issuing_enforces_the_home_rule() {
    let mut ca = ca();
    let mut rule = |r: &IssueRequest| match ca.issue(r) {
        Err(CaError::RoleRules(rule)) => rule,
        other => panic!("expected a role rule error, got {other:?}"),
    };
    assert_eq!(
        rule(&terminal_request("term1.unmiss", None)),
        RoleRuleError::HomeRequired
    );
    assert_eq!(
        rule(&terminal_request("term1.unmiss", Some("term1.unmiss"))),
        RoleRuleError::HomeIsSelf(id("term1.unmiss"))
    );
    let mut node = terminal_request("ncb.fr", Some("gs"));
    node.role = Role::Ncb;
    node.country = Some("FR".into());
    assert_eq!(rule(&node), RoleRuleError::HomeNotAllowed(Role::Ncb));
}

#[test]
fn the_home_node_cannot_be_changed_without_the_ca() {
    let mut ca = ca();
    let trust = ca.trust_store().unwrap();
    let term = ca
        .issue(&terminal_request("term1.unmiss", Some("mission.unmiss")))
        .unwrap();
    // Rewrite the home node (same length, so the DER stays well-formed) to another node.
    let mut forged = term.cert_der.clone();
    let at = forged
        .windows(b"mission.unmiss".len())
        .position(|w| w == b"mission.unmiss")
        .expect("home node in the certificate");
    forged[at..at + 14].copy_from_slice(b"mission.unmisz");
    assert_eq!(
        parse_certificate(&forged).unwrap().home,
        Some(id("mission.unmisz"))
    );
    assert_eq!(
        trust.verify_terminal(&forged, now_unix(), &id("mission.unmisz")),
        Err(TrustError::UnknownIssuer)
    );
}

#[test]
fn revoked_terminal_is_refused() {
    let mut ca = ca();
    let term = ca
        .issue(&terminal_request("term1.unmiss", Some("mission.unmiss")))
        .unwrap();
    let record = ca.revoke(term.cert_pem.as_bytes(), None).unwrap();
    assert_eq!(record.node, "term1.unmiss");
    let crl = ca.crl(7).unwrap();
    let trust = TrustStore::new(ca.cert_der(), Some(crl.as_bytes())).unwrap();
    assert!(matches!(
        trust.verify_terminal(&term.cert_der, now_unix(), &id("mission.unmiss")),
        Err(TrustError::Revoked { .. })
    ));
}

#[test]
fn webpki_takes_a_terminal_as_client_but_never_as_server() {
    let mut ca = ca();
    let term = ca
        .issue(&terminal_request("term1.unmiss", Some("mission.unmiss")))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca.cert_der().to_vec()))
        .unwrap();
    let roots = Arc::new(roots);
    let now = UnixTime::now();
    let cert = CertificateDer::from(term.cert_der.clone());

    let client = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .unwrap();
    client.verify_client_cert(&cert, &[], now).unwrap();

    // Extended key usage clientAuth only: a node dialling "term1.unmiss" refuses it.
    let server = WebPkiServerVerifier::builder_with_provider(roots, provider)
        .build()
        .unwrap();
    let name = ServerName::try_from("term1.unmiss.bluehelm.invalid").unwrap();
    let err = server
        .verify_server_cert(&cert, &[], &name, &[], now)
        .unwrap_err();
    assert!(format!("{err:?}").contains("Purpose"), "{err:?}");
}
