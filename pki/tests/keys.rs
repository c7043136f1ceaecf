//! Key files other tools can read (issue 10, defect 5): keys are written as PKCS#8 v1, what
//! `openssl genpkey -algorithm ed25519` writes, and both v1 and v2 (RFC 5958, with the public
//! key) are still read.

use std::path::Path;
use std::process::Command;

use bluehelm_pki::ca::CA_KEY_FILE;
use bluehelm_pki::{CertificateAuthority, IssueRequest, IssuedNode, NodeCredentials, Role};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, KeypairBytes, PublicKeyBytes};
use ed25519_dalek::SigningKey;

/// RFC 8410 section 7: SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING {
/// OCTET STRING (32 bytes) } }, then nothing: version 0 and no `[1] publicKey` field.
const V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

fn issued(ca: &mut CertificateAuthority) -> IssuedNode {
    ca.issue(&IssueRequest {
        node: "ncb.fr".parse().unwrap(),
        role: Role::Ncb,
        country: Some("FR".into()),
        mission: None,
        home: None,
        days: 30,
    })
    .unwrap()
}

fn der(pem: &str) -> Vec<u8> {
    pem::parse(pem).unwrap().into_contents()
}

/// The same key as PKCS#8 v2, as ring and earlier versions of this crate wrote it.
fn as_v2(v1_pem: &str) -> String {
    let key = SigningKey::from_pkcs8_der(&der(v1_pem)).unwrap();
    let v2 = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: Some(PublicKeyBytes(key.verifying_key().to_bytes())),
    };
    let der = v2.to_pkcs8_der().unwrap();
    assert_eq!(der.as_bytes()[4], 1, "the v2 form has version 1");
    pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_bytes().to_vec()))
}

fn assert_v1(pem: &str, what: &str) {
    let der = der(pem);
    // Only the header is printed: the rest is the secret key.
    let header = &der[..der.len().min(16)];
    assert_eq!(der.len(), 48, "{what}: {header:02x?}");
    assert_eq!(der[..16], V1_PREFIX, "{what}: {header:02x?}");
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (it is installed on CI): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn issued_and_ca_keys_are_pkcs8_v1_without_a_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut ca = CertificateAuthority::init(dir.path(), 30, false).unwrap();
    let ca_key = std::fs::read_to_string(dir.path().join(CA_KEY_FILE)).unwrap();
    assert_v1(&ca_key, "ca.key");
    assert_v1(&issued(&mut ca).key_pem, "node key");
}

#[test]
fn openssl_and_python_cryptography_load_issued_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut ca = CertificateAuthority::init(&dir.path().join("ca"), 30, false).unwrap();
    let (_, key_path) = issued(&mut ca)
        .write_to(&dir.path().join("out"), false)
        .unwrap();
    for key in [key_path, dir.path().join("ca").join(CA_KEY_FILE)] {
        run("openssl", &["pkey", "-in", s(&key), "-noout"]);
        run(
            "python3",
            &[
                "-c",
                "import sys; from cryptography.hazmat.primitives.serialization import \
                 load_pem_private_key; load_pem_private_key(open(sys.argv[1], 'rb').read(), None)",
                s(&key),
            ],
        );
    }
}

#[test]
fn v1_and_v2_keys_both_load_and_sign_for_tls() {
    let mut ca = CertificateAuthority::generate(30).unwrap();
    let node = issued(&mut ca);
    let v2 = as_v2(&node.key_pem);
    for key in [node.key_pem.as_str(), v2.as_str()] {
        let creds = NodeCredentials::from_pem(node.cert_pem.as_bytes(), key.as_bytes()).unwrap();
        rustls::crypto::ring::sign::any_supported_type(&creds.private_key_der())
            .expect("rustls (ring) takes the key");
    }

    // A CA directory whose key an earlier version wrote as v2 still loads and issues.
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::init(dir.path(), 30, false).unwrap();
    let key_path = dir.path().join(CA_KEY_FILE);
    let v2 = as_v2(&std::fs::read_to_string(&key_path).unwrap());
    std::fs::remove_file(&key_path).unwrap();
    std::os::unix::fs::OpenOptionsExt::mode(
        std::fs::OpenOptions::new().write(true).create_new(true),
        0o600,
    )
    .open(&key_path)
    .and_then(|mut f| std::io::Write::write_all(&mut f, v2.as_bytes()))
    .unwrap();
    let mut reloaded = CertificateAuthority::load(dir.path()).unwrap();
    assert_eq!(reloaded.cert_der(), ca.cert_der());
    issued(&mut reloaded);
}
