//! Reading certificate revocation lists.

use x509_parser::revocation_list::CertificateRevocationList;

use crate::identity::strip_leading_zeros;

/// What a CRL says. Produced by [`parse_crl`] (no signature check) or held by a
/// [`TrustStore`](crate::TrustStore) (signature checked against its CA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlInfo {
    /// The issuer's distinguished name, as text.
    pub issuer: String,
    /// When the CRL was issued, unix seconds.
    pub this_update: i64,
    /// When its successor is due, unix seconds.
    pub next_update: Option<i64>,
    /// The CRL number (big-endian magnitude), if present.
    pub number: Option<Vec<u8>>,
    /// The revoked certificates.
    pub entries: Vec<RevokedEntry>,
}

/// One revoked certificate in a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Serial number: big-endian magnitude without leading zero bytes.
    pub serial: Vec<u8>,
    /// When the CA revoked it, unix seconds.
    pub revoked_at: i64,
    /// RFC 5280 reason code, if the CRL gives one.
    pub reason: Option<u8>,
}

impl CrlInfo {
    /// The CRL number as a decimal-free hex string, or `None`.
    pub fn number_hex(&self) -> Option<String> {
        self.number.as_deref().map(crate::identity::hex)
    }
}

/// A CRL that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CRL is not valid DER X.509 ({0}): regenerate it with `bluehelm pki crl`")]
pub struct CrlParseError(pub String);

/// Parses a DER CRL without checking its signature.
pub fn parse_crl(der: &[u8]) -> Result<CrlInfo, CrlParseError> {
    parse_x509_crl(der).map(|crl| info_of(&crl))
}

pub(crate) fn parse_x509_crl(der: &[u8]) -> Result<CertificateRevocationList<'_>, CrlParseError> {
    let (rest, crl) = x509_parser::parse_x509_crl(der).map_err(|e| CrlParseError(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CrlParseError("trailing bytes after the CRL".into()));
    }
    Ok(crl)
}

pub(crate) fn info_of(crl: &CertificateRevocationList<'_>) -> CrlInfo {
    CrlInfo {
        issuer: crl.issuer().to_string(),
        this_update: crl.last_update().timestamp(),
        next_update: crl.next_update().map(|t| t.timestamp()),
        number: crl.crl_number().map(|n| n.to_bytes_be()),
        entries: crl
            .iter_revoked_certificates()
            .map(|r| RevokedEntry {
                serial: strip_leading_zeros(r.raw_serial()).to_vec(),
                revoked_at: r.revocation_date.timestamp(),
                reason: r.reason_code().map(|(_, code)| code.0),
            })
            .collect(),
    }
}

/// The RFC 5280 name of a CRL reason code.
pub fn reason_name(code: u8) -> &'static str {
    match code {
        0 => "unspecified",
        1 => "key-compromise",
        2 => "ca-compromise",
        3 => "affiliation-changed",
        4 => "superseded",
        5 => "cessation-of-operation",
        6 => "certificate-hold",
        8 => "remove-from-crl",
        9 => "privilege-withdrawn",
        10 => "aa-compromise",
        _ => "unknown",
    }
}
