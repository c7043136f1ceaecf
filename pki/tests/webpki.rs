//! rustls/webpki (the daemon's TLS verifier) accepts our certificates and CRLs.

use std::sync::Arc;

use bluehelm_pki::{CertificateAuthority, IssueRequest, Role};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

fn issue(ca: &mut CertificateAuthority, node: &str, role: Role, country: Option<&str>) -> Vec<u8> {
    let req = IssueRequest {
        node: node.parse().unwrap(),
        role,
        country: country.map(str::to_owned),
        mission: None,
        home: None,
        days: 30,
    };
    ca.issue(&req).unwrap().cert_der
}

#[test]
fn webpki_accepts_node_certificates_and_honours_the_crl() {
    let mut ca = CertificateAuthority::generate(365).unwrap();
    let good = issue(&mut ca, "ncb.fr", Role::Ncb, Some("FR"));
    let bad = issue(&mut ca, "gs", Role::Hub, None);
    ca.revoke(&bad, None).unwrap();
    let crl_pem = ca.crl(7).unwrap();
    let trust = bluehelm_pki::TrustStore::new(ca.cert_der(), Some(crl_pem.as_bytes())).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(trust.ca_der().to_vec()))
        .unwrap();
    let roots = Arc::new(roots);
    let crls = vec![CertificateRevocationListDer::from(
        trust.crl_der().unwrap().to_vec(),
    )];
    let now = UnixTime::now();

    let client = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .with_crls(crls.clone())
        .build()
        .unwrap();
    client
        .verify_client_cert(&CertificateDer::from(good.clone()), &[], now)
        .unwrap();
    let err = client
        .verify_client_cert(&CertificateDer::from(bad.clone()), &[], now)
        .unwrap_err();
    assert!(format!("{err:?}").contains("Revoked"), "{err:?}");

    let server = WebPkiServerVerifier::builder_with_provider(roots, provider)
        .with_crls(crls)
        .build()
        .unwrap();
    let name = ServerName::try_from("ncb.fr.bluehelm.invalid").unwrap();
    server
        .verify_server_cert(&CertificateDer::from(good.clone()), &[], &name, &[], now)
        .unwrap();
    let other = ServerName::try_from("ncb.de.bluehelm.invalid").unwrap();
    assert!(server
        .verify_server_cert(&CertificateDer::from(good), &[], &other, &[], now)
        .is_err());
}
