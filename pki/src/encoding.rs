//! PEM-or-DER input and small text helpers shared by the loaders.

/// PEM label of certificates.
pub const PEM_CERTIFICATE: &str = "CERTIFICATE";
/// PEM label of certificate revocation lists.
pub const PEM_CRL: &str = "X509 CRL";
/// PEM label of PKCS#8 private keys.
pub const PEM_PRIVATE_KEY: &str = "PRIVATE KEY";

/// What a PEM file holds, judged by the label of its first block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemKind {
    /// One or more certificates.
    Certificate,
    /// A certificate revocation list.
    Crl,
    /// A PKCS#8 private key.
    PrivateKey,
}

/// Input that is neither DER nor PEM with the expected label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    /// The PEM armour is broken.
    #[error("PEM is malformed ({0}): check that the file was copied whole")]
    BadPem(String),
    /// The PEM has no block with the expected label.
    #[error("PEM holds no `{0}` block: check that you passed the right file")]
    Missing(&'static str),
    /// The PEM's first block has a label this crate does not handle.
    #[error("PEM block `{0}` is not a certificate, CRL or private key")]
    UnknownLabel(String),
}

pub(crate) fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().starts_with(b"-----BEGIN")
}

/// Returns the contents of every PEM block labelled `label`, or `bytes` itself when the
/// input is DER. Blocks with other labels are skipped.
pub fn pem_or_der(bytes: &[u8], label: &'static str) -> Result<Vec<Vec<u8>>, EncodingError> {
    if !looks_like_pem(bytes) {
        return Ok(vec![bytes.to_vec()]);
    }
    let blocks = pem::parse_many(bytes).map_err(|e| EncodingError::BadPem(e.to_string()))?;
    let found: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == label)
        .map(pem::Pem::into_contents)
        .collect();
    if found.is_empty() {
        return Err(EncodingError::Missing(label));
    }
    Ok(found)
}

/// Tells a certificate file from a CRL or key file by the label of its first PEM block.
pub fn pem_kind(bytes: &[u8]) -> Result<PemKind, EncodingError> {
    let first = pem::parse_many(bytes)
        .map_err(|e| EncodingError::BadPem(e.to_string()))?
        .into_iter()
        .next()
        .ok_or_else(|| EncodingError::BadPem("no PEM block found".into()))?;
    match first.tag() {
        PEM_CERTIFICATE => Ok(PemKind::Certificate),
        PEM_CRL => Ok(PemKind::Crl),
        PEM_PRIVATE_KEY => Ok(PemKind::PrivateKey),
        other => Err(EncodingError::UnknownLabel(other.to_owned())),
    }
}

pub(crate) fn to_pem(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}
