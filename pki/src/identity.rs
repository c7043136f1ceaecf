//! What a node certificate says about its node: [`NodeIdentity`] and [`parse_certificate`].
//!
//! Parsing checks the certificate's shape only. Whether this network's CA issued it, whether
//! it is valid now and whether it was revoked is [`TrustStore`](crate::TrustStore)'s job.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::OID_SIG_ED25519;
use x509_parser::x509::X509Version;

use crate::defaults::{
    ENCRYPTION_EXTENSION_OID, ENCRYPTION_SCHEME, IDENTITY_EXTENSION_OID, NODE_DNS_SUFFIX,
    NODE_URI_PREFIX,
};
use crate::der::{write_tlv, Reader};
use crate::role::{check_home_rule, IdentityExtension, Role};
use crate::NodeId;

/// The identity a node certificate binds to its Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    /// The node id, identical in the CN, the URI SAN and the DNS SAN.
    pub node: NodeId,
    /// The node's role, from the identity extension.
    pub role: Role,
    /// ISO 3166 alpha-2 country (required for `ncb`).
    pub country: Option<String>,
    /// Mission code (required for `mission`).
    pub mission: Option<String>,
    /// For a `terminal` (and only then): the node whose terminal listener it may use.
    pub home: Option<NodeId>,
    /// Serial number: big-endian magnitude without leading zero bytes.
    pub serial: Vec<u8>,
    /// Start of validity, unix seconds.
    pub not_before: i64,
    /// End of validity (inclusive), unix seconds.
    pub not_after: i64,
    /// SHA-256 of the certificate's DER.
    pub fingerprint: [u8; 32],
    /// The Ed25519 subject key: the node's TLS key and the key that signs its envelopes.
    pub signing_key: [u8; 32],
    /// The X25519 key that sealed bodies are encrypted to (issue 14, item 4), from the
    /// encryption extension; `None` for a certificate issued before sealing existed (or a
    /// terminal's): that node cannot receive sealed messages.
    pub encryption_key: Option<[u8; 32]>,
}

impl NodeIdentity {
    /// The fingerprint as lower-case hex.
    pub fn fingerprint_hex(&self) -> String {
        hex(&self.fingerprint)
    }

    /// The serial number as lower-case hex.
    pub fn serial_hex(&self) -> String {
        hex(&self.serial)
    }
}

/// A certificate is not a well-formed Bluehelm node certificate.
///
/// All of these are the presenter's fault (or the issuing operator's): the fix is to reissue
/// the certificate with `bluehelm pki issue`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The bytes are not a DER X.509 certificate.
    #[error("certificate is not valid DER X.509 ({0}): check that the file is a certificate")]
    NotX509(String),
    /// Bytes follow the certificate.
    #[error("certificate has trailing bytes after its DER encoding")]
    TrailingBytes,
    /// Only X.509 v3 carries the extensions a node certificate needs.
    #[error("certificate is not X.509 version 3: reissue it with `bluehelm pki issue`")]
    NotVersion3,
    /// The subject key is not Ed25519.
    #[error("certificate key is not Ed25519: reissue it with `bluehelm pki issue`")]
    NotEd25519,
    /// The certificate does not end in exactly the DER of an Ed25519 signature (its
    /// algorithm identifier and a 64-byte value), which no signature covers.
    #[error(
        "certificate's outer signature is not Ed25519 in DER: reissue it with `bluehelm pki issue`"
    )]
    SignatureEncoding,
    /// A CA certificate was presented where a node certificate was expected.
    #[error("certificate is a CA certificate, not a node certificate")]
    IsCa,
    /// An X.509 extension could not be parsed.
    #[error("certificate extension could not be parsed ({0})")]
    BadExtension(String),
    /// The CN, the URI SAN or the DNS SAN is missing.
    #[error("certificate has no {0}: reissue it with `bluehelm pki issue`")]
    MissingIdentity(&'static str),
    /// The CN, the URI SAN or the DNS SAN appears more than once, or an unexpected name is present.
    #[error("certificate has more than one {0}: a node certificate names exactly one node")]
    DuplicateIdentity(&'static str),
    /// The CN, URI SAN and DNS SAN do not name the same node.
    #[error("certificate names disagree (CN `{cn}`, URI `{uri}`, DNS `{dns}`): reissue it")]
    IdentityMismatch {
        /// The common name.
        cn: String,
        /// The URI SAN.
        uri: String,
        /// The DNS SAN.
        dns: String,
    },
    /// The named node id is not a valid node id.
    #[error("certificate names an invalid node id `{0}`")]
    BadNodeId(String),
    /// The Bluehelm identity extension is absent.
    #[error(
        "certificate lacks the Bluehelm identity extension: reissue it with `bluehelm pki issue`"
    )]
    MissingExtension,
    /// The Bluehelm identity extension appears twice.
    #[error("certificate carries the Bluehelm identity extension twice")]
    DuplicateExtension,
    /// The encryption key extension is malformed or appears twice.
    #[error("certificate encryption key extension is invalid: {0}")]
    BadEncryptionExtension(String),
    /// The Bluehelm identity extension is malformed or breaks the role rules.
    #[error("certificate identity extension is invalid: {0}")]
    BadIdentityExtension(String),
}

/// Parses a node certificate and checks its shape: X.509 v3, Ed25519 subject key, not a CA,
/// exactly one CN, one `urn:bluehelm:node:` URI SAN and one `.bluehelm.invalid` DNS SAN that
/// all name the same valid node id, no other SANs, and exactly one identity extension whose
/// role and home rules hold. It does not check who signed it or when it is valid.
///
/// Terminal certificates have the same shape (their id is the terminal's) and parse here
/// too; [`TrustStore::verify_node`](crate::TrustStore::verify_node) refuses them and
/// [`TrustStore::verify_terminal`](crate::TrustStore::verify_terminal) takes only them.
pub fn parse_certificate(der: &[u8]) -> Result<NodeIdentity, CertError> {
    parse_x509(der).and_then(|cert| identity_of(&cert, der))
}

pub(crate) fn parse_x509(der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| CertError::NotX509(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertError::TrailingBytes);
    }
    Ok(cert)
}

/// The DER of what follows the signed part of an Ed25519 certificate: the algorithm identifier
/// (SEQUENCE { OID 1.3.101.112 }) and the header of a 64-byte BIT STRING with no unused bits.
const ED25519_SIGNATURE_DER: [u8; 10] =
    [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x41, 0x00];

/// Whether `der` ends, right after its signed part, in exactly an Ed25519 algorithm
/// identifier and signature. x509-parser reads the outer algorithm identifier leniently (an
/// OID under another tag passes), and no signature covers it: without this check one
/// certificate had many encodings, each with its own fingerprint.
fn ends_in_an_ed25519_signature(cert: &X509Certificate<'_>, der: &[u8]) -> bool {
    let tbs = cert.tbs_certificate.as_ref();
    // The signed part is a slice of `der`: where it ends there.
    let tbs_end = (tbs.as_ptr() as usize)
        .checked_sub(der.as_ptr() as usize)
        .and_then(|start| start.checked_add(tbs.len()));
    let expected_len = ED25519_SIGNATURE_DER.len() + bluehelm_proto::SIGNATURE_LEN;
    match tbs_end {
        Some(end) if der.len().checked_sub(end) == Some(expected_len) => {
            der[end..end + ED25519_SIGNATURE_DER.len()] == ED25519_SIGNATURE_DER
        }
        _ => false,
    }
}

/// Builds the identity of an already parsed certificate; `der` is the certificate's bytes.
pub(crate) fn identity_of(
    cert: &X509Certificate<'_>,
    der: &[u8],
) -> Result<NodeIdentity, CertError> {
    if cert.version() != X509Version::V3 {
        return Err(CertError::NotVersion3);
    }
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_SIG_ED25519 || spki.algorithm.parameters.is_some() {
        return Err(CertError::NotEd25519);
    }
    let signing_key: [u8; 32] = spki
        .subject_public_key
        .data
        .as_ref()
        .try_into()
        .map_err(|_| CertError::NotEd25519)?;
    if !ends_in_an_ed25519_signature(cert, der) {
        return Err(CertError::SignatureEncoding);
    }
    let bad_ext = |e: x509_parser::error::X509Error| CertError::BadExtension(e.to_string());
    if cert
        .basic_constraints()
        .map_err(bad_ext)?
        .is_some_and(|bc| bc.value.ca)
    {
        return Err(CertError::IsCa);
    }

    let node = node_from_names(cert)?;
    let ext = identity_extension(cert)?;
    check_home_rule(ext.role, &node, ext.home.as_ref())
        .map_err(|e| CertError::BadIdentityExtension(e.to_string()))?;

    Ok(NodeIdentity {
        node,
        role: ext.role,
        country: ext.country,
        mission: ext.mission,
        home: ext.home,
        serial: strip_leading_zeros(cert.raw_serial()).to_vec(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        fingerprint: fingerprint(der),
        signing_key,
        encryption_key: encryption_extension(cert)?,
    })
}

fn node_from_names(cert: &X509Certificate<'_>) -> Result<NodeId, CertError> {
    let mut cns = cert.subject().iter_common_name();
    let cn = cns
        .next()
        .ok_or(CertError::MissingIdentity("common name"))?;
    if cns.next().is_some() {
        return Err(CertError::DuplicateIdentity("common name"));
    }
    let cn = cn
        .as_str()
        .map_err(|_| CertError::BadNodeId("<common name is not a string>".into()))?;

    let san = cert
        .subject_alternative_name()
        .map_err(|e| CertError::BadExtension(e.to_string()))?
        .ok_or(CertError::MissingIdentity("subject alternative name"))?;
    let (mut uri, mut dns) = (None, None);
    for name in &san.value.general_names {
        match name {
            GeneralName::URI(u) if uri.is_none() => uri = Some(*u),
            GeneralName::URI(_) => return Err(CertError::DuplicateIdentity("URI name")),
            GeneralName::DNSName(d) if dns.is_none() => dns = Some(*d),
            GeneralName::DNSName(_) => return Err(CertError::DuplicateIdentity("DNS name")),
            // Any other name could let the certificate be accepted for something else.
            _ => {
                return Err(CertError::DuplicateIdentity(
                    "kind of subject alternative name",
                ))
            }
        }
    }
    let uri = uri.ok_or(CertError::MissingIdentity("urn:bluehelm:node: URI name"))?;
    let dns = dns.ok_or(CertError::MissingIdentity(".bluehelm.invalid DNS name"))?;

    let from_uri = uri.strip_prefix(NODE_URI_PREFIX);
    let from_dns = dns.strip_suffix(NODE_DNS_SUFFIX);
    if from_uri != Some(cn) || from_dns != Some(cn) {
        return Err(CertError::IdentityMismatch {
            cn: cn.to_owned(),
            uri: uri.to_owned(),
            dns: dns.to_owned(),
        });
    }
    cn.parse().map_err(|_| CertError::BadNodeId(cn.to_owned()))
}

fn identity_extension(cert: &X509Certificate<'_>) -> Result<IdentityExtension, CertError> {
    let mut found = find_extension(cert, IDENTITY_EXTENSION_OID);
    let ext = found.next().ok_or(CertError::MissingExtension)?;
    if found.next().is_some() {
        return Err(CertError::DuplicateExtension);
    }
    IdentityExtension::from_der(ext.value).map_err(CertError::BadIdentityExtension)
}

fn find_extension<'a>(
    cert: &'a X509Certificate<'_>,
    oid: &'static [u64],
) -> impl Iterator<Item = &'a x509_parser::extensions::X509Extension<'a>> {
    cert.iter_extensions().filter(move |ext| {
        ext.oid
            .iter()
            .is_some_and(|arcs| arcs.eq(oid.iter().copied()))
    })
}

/// The encryption key extension's key, if the certificate has one (see
/// [`ENCRYPTION_EXTENSION_OID`]).
fn encryption_extension(cert: &X509Certificate<'_>) -> Result<Option<[u8; 32]>, CertError> {
    let mut found = find_extension(cert, ENCRYPTION_EXTENSION_OID);
    let Some(ext) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(CertError::BadEncryptionExtension("it appears twice".into()));
    }
    decode_encryption_extension(ext.value)
        .map(Some)
        .map_err(|e| CertError::BadEncryptionExtension(e.into()))
}

/// The DER of the encryption key extension for `key`.
pub(crate) fn encode_encryption_extension(key: &[u8; 32]) -> Vec<u8> {
    let mut inner = Vec::new();
    write_tlv(&mut inner, TAG_UTF8_STRING, ENCRYPTION_SCHEME.as_bytes());
    write_tlv(&mut inner, TAG_OCTET_STRING, key);
    let mut out = Vec::new();
    write_tlv(&mut out, TAG_SEQUENCE, &inner);
    out
}

fn decode_encryption_extension(der: &[u8]) -> Result<[u8; 32], &'static str> {
    let mut outer = Reader::new(der);
    let mut seq = Reader::new(outer.read(TAG_SEQUENCE).map_err(|e| e.0)?);
    if !outer.is_empty() {
        return Err("trailing bytes");
    }
    let scheme = seq.read(TAG_UTF8_STRING).map_err(|e| e.0)?;
    if scheme != ENCRYPTION_SCHEME.as_bytes() {
        return Err("unknown scheme");
    }
    let key = seq.read(TAG_OCTET_STRING).map_err(|e| e.0)?;
    if !seq.is_empty() {
        return Err("trailing fields");
    }
    key.try_into().map_err(|_| "the key is not 32 bytes")
}

const TAG_SEQUENCE: u8 = 0x30;
const TAG_UTF8_STRING: u8 = 0x0c;
const TAG_OCTET_STRING: u8 = 0x04;

/// SHA-256 of a certificate's DER.
pub(crate) fn fingerprint(der: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

pub(crate) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// Lower-case hex of some bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}
