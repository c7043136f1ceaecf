//! Reading certificate revocation lists, and what a revocation means for what the revoked key
//! signed ([`cutoff`]).

mod cutoff;

pub use cutoff::{signing_cutoff, SigningCutoff};

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
    /// The invalidity date (RFC 5280 5.3.2: when the key is known or suspected to have been
    /// compromised), unix seconds, if the CRL gives one.
    pub invalidity_date: Option<i64>,
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
                invalidity_date: r.invalidity_date().map(|(_, date)| date.timestamp()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{issue_test_ncb as issue, now_unix, Revocation, Revokee};
    use crate::{CertificateAuthority, RevocationReason};

    fn entries(ca: &mut CertificateAuthority) -> Vec<RevokedEntry> {
        let pem = ca.crl(7).unwrap();
        let der = crate::pem_or_der(pem.as_bytes(), "X509 CRL")
            .unwrap()
            .remove(0);
        parse_crl(&der).unwrap().entries
    }

    #[test]
    fn the_invalidity_date_goes_into_the_crl_and_comes_back_out() {
        let mut ca = CertificateAuthority::generate(365).unwrap();
        let stolen = issue(&mut ca, "ncb.fr");
        let superseded = issue(&mut ca, "ncb.ke");
        let plain = issue(&mut ca, "ncb.de");
        let compromised_at = now_unix() - 3_600;
        ca.revoke_with(
            Revokee::Cert(&stolen.cert_der),
            &Revocation::key_compromise(Some(compromised_at)),
        )
        .unwrap();
        ca.revoke_with(
            Revokee::Cert(&superseded.cert_der),
            &Revocation::reason(RevocationReason::Superseded),
        )
        .unwrap();
        ca.revoke(&plain.cert_der, None).unwrap();

        let entries = entries(&mut ca);
        let of = |issued: &crate::IssuedNode| {
            entries
                .iter()
                .find(|e| e.serial == issued.identity.serial)
                .cloned()
                .unwrap()
        };
        let stolen = of(&stolen);
        assert_eq!(stolen.reason, Some(1));
        assert_eq!(stolen.invalidity_date, Some(compromised_at));
        let superseded = of(&superseded);
        assert_eq!(superseded.reason, Some(4));
        assert_eq!(superseded.invalidity_date, None);
        let plain = of(&plain);
        assert_eq!((plain.reason, plain.invalidity_date), (None, None));
    }

    #[test]
    fn key_compromise_without_a_time_is_dated_at_the_revocation() {
        let mut ca = CertificateAuthority::generate(365).unwrap();
        let node = issue(&mut ca, "ncb.fr");
        ca.revoke(&node.cert_der, Some(RevocationReason::KeyCompromise))
            .unwrap();
        let entry = entries(&mut ca).remove(0);
        assert_eq!(entry.invalidity_date, Some(entry.revoked_at));
    }
}
