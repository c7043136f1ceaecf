//! The newest CRL a node has put in force, remembered across restarts: an older CRL would
//! un-revoke the certificates revoked since, so a node refuses to go back, at start-up as
//! well as when its CRL file changes while it runs (issue 10, defect 3).
//!
//! The decision ([`AppliedCrl::admit`]) is pure; [`AppliedCrl::load`] and
//! [`AppliedCrl::save`] are the file it lives in (the daemon keeps it in the node's storage
//! directory). The record names the CA its number belongs to: CRL numbers count per CA, so
//! a network that moves to a new CA starts again from that CA's first CRL.

use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::ca::parse_hex;
use crate::files::{read_file, write_file, ReadError, WriteError, KEY_FILE_MODE};
use crate::identity::{hex, strip_leading_zeros};
use crate::{CrlInfo, TrustStore};

/// A CRL number (RFC 5280 section 5.2.3: a non-negative integer of up to 20 octets),
/// ordered by value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CrlNumber(Vec<u8>);

impl CrlNumber {
    /// From a big-endian magnitude; leading zero bytes are ignored.
    pub fn from_be_bytes(bytes: &[u8]) -> Self {
        Self(strip_leading_zeros(bytes).to_vec())
    }
}

impl Ord for CrlNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        // Without leading zeros, the longer magnitude is the larger number.
        (self.0.len(), &self.0).cmp(&(other.0.len(), &other.0))
    }
}

impl PartialOrd for CrlNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Decimal, as `bluehelm pki crl` prints it; hex (`0x…`) beyond 128 bits.
impl fmt::Display for CrlNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= 16 {
            let value = self
                .0
                .iter()
                .fold(0u128, |acc, b| acc << 8 | u128::from(*b));
            write!(f, "{value}")
        } else {
            write!(f, "0x{}", hex(&self.0))
        }
    }
}

impl CrlInfo {
    /// The CRL number, if the CRL has one.
    pub fn crl_number(&self) -> Option<CrlNumber> {
        self.number.as_deref().map(CrlNumber::from_be_bytes)
    }
}

/// A CRL that may not be put in force because it would undo revocations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlRollbackError {
    /// The CRL is older than one this node has already put in force.
    #[error("the CRL has number {offered}, older than CRL number {in_force} already in force on this node: install the CA's latest CRL (`bluehelm pki crl`)")]
    Older {
        /// The number of the CRL refused.
        offered: CrlNumber,
        /// The highest number put in force so far.
        in_force: CrlNumber,
    },
    /// The CRL has no number, so nothing shows it is not older than the one in force.
    #[error("the CRL has no CRL number, and CRL number {in_force} is already in force on this node: install a CRL made by `bluehelm pki crl`")]
    Unnumbered {
        /// The highest number put in force so far.
        in_force: CrlNumber,
    },
}

/// The file that remembers the applied CRL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AppliedCrlError {
    /// It could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// It could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// It does not hold a record this module wrote.
    #[error("{} is corrupt ({reason}): restore it from a backup, or delete it if the CRL file in the config is the CA's latest", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The newest CRL put in force: its CA (SHA-256 of the CA certificate) and its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedCrl {
    /// SHA-256 of the DER of the CA certificate that signed the CRL.
    pub ca_fingerprint: [u8; 32],
    /// The CRL's number.
    pub number: CrlNumber,
}

const HEADER: &str =
    "# bluehelm: the newest CRL this node has put in force; a CRL with a lower number is refused\n";

impl AppliedCrl {
    /// Decides whether the CRL of `trust` may be put in force on a node that has applied
    /// `applied` so far. `Ok(Some(record))`: allowed, and `record` must be saved before the
    /// CRL is used; `Ok(None)`: allowed, nothing new to remember (the same number, or a CRL
    /// without a number where none was ever applied).
    pub fn admit(
        applied: Option<&AppliedCrl>,
        trust: &TrustStore,
    ) -> Result<Option<AppliedCrl>, CrlRollbackError> {
        let ca_fingerprint = trust.ca_info().fingerprint;
        let offered = trust.crl_info().and_then(CrlInfo::crl_number);
        // A record of another CA says nothing about this CA's numbers.
        let in_force = applied
            .filter(|a| a.ca_fingerprint == ca_fingerprint)
            .map(|a| a.number.clone());
        match (offered, in_force) {
            (Some(offered), Some(in_force)) if offered < in_force => {
                Err(CrlRollbackError::Older { offered, in_force })
            }
            (Some(offered), Some(in_force)) if offered == in_force => Ok(None),
            (Some(number), _) => Ok(Some(AppliedCrl {
                ca_fingerprint,
                number,
            })),
            (None, Some(in_force)) => Err(CrlRollbackError::Unnumbered { in_force }),
            (None, None) => Ok(None),
        }
    }

    /// Reads the record at `path`; `None` if there is none yet (a new node).
    pub fn load(path: &Path) -> Result<Option<Self>, AppliedCrlError> {
        let bytes = match read_file(path) {
            Ok(bytes) => bytes,
            Err(ReadError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        };
        Self::parse(&bytes)
            .map(Some)
            .map_err(|reason| AppliedCrlError::Corrupt {
                path: path.to_owned(),
                reason,
            })
    }

    /// Writes the record to `path` durably (file and directory synced) before returning.
    pub fn save(&self, path: &Path) -> Result<(), AppliedCrlError> {
        // It lives in the node's storage directory, where every file is private (issue 10).
        write_file(path, self.to_text().as_bytes(), KEY_FILE_MODE, true)?;
        Ok(())
    }

    fn to_text(&self) -> String {
        let number = match hex(&self.number.0) {
            zero if zero.is_empty() => "00".to_owned(),
            number => number,
        };
        format!(
            "{HEADER}ca_sha256 {}\ncrl_number {number}\n",
            hex(&self.ca_fingerprint)
        )
    }

    fn parse(bytes: &[u8]) -> Result<Self, &'static str> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not text")?;
        let mut fields = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.split_once(' ').unwrap_or((l, "")));
        let (Some(("ca_sha256", ca)), Some(("crl_number", number)), None) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err("expected the lines ca_sha256 and crl_number");
        };
        let ca_fingerprint = parse_hex(ca)
            .and_then(|ca| <[u8; 32]>::try_from(ca).ok())
            .ok_or("ca_sha256 is not 64 hex digits")?;
        let number = parse_hex(number)
            .filter(|n| n.len() <= 20)
            .ok_or("crl_number is not at most 40 hex digits")?;
        Ok(Self {
            ca_fingerprint,
            number: CrlNumber::from_be_bytes(&number),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CertificateAuthority;

    fn number(n: u64) -> CrlNumber {
        CrlNumber::from_be_bytes(&n.to_be_bytes())
    }

    /// A trust store with CRL number `n` of `ca`, which has issued fewer than `n` CRLs.
    fn trust_with_crl(ca: &mut CertificateAuthority, n: u64) -> TrustStore {
        loop {
            let crl = ca.crl(7).unwrap();
            let trust = TrustStore::new(ca.cert_der(), Some(crl.as_bytes())).unwrap();
            let issued = trust.crl_info().and_then(CrlInfo::crl_number).unwrap();
            assert!(issued <= number(n), "the CA is past CRL {n}");
            if issued == number(n) {
                return trust;
            }
        }
    }

    #[test]
    fn numbers_compare_by_value_and_print_in_decimal() {
        assert!(number(2) < number(10));
        assert!(number(255) < number(256));
        assert_eq!(CrlNumber::from_be_bytes(&[0, 0, 1]), number(1));
        assert_eq!(number(1234).to_string(), "1234");
        assert_eq!(CrlNumber::from_be_bytes(&[]).to_string(), "0");
        assert_eq!(
            CrlNumber::from_be_bytes(&[1; 17]).to_string(),
            format!("0x{}", "01".repeat(17))
        );
    }

    #[test]
    fn an_older_crl_is_refused_the_same_kept_a_newer_recorded() {
        let mut ca = CertificateAuthority::generate(30).unwrap();
        let three = trust_with_crl(&mut ca, 3);
        let first = AppliedCrl::admit(None, &three).unwrap().unwrap();
        assert_eq!(first.number, number(3));
        assert_eq!(AppliedCrl::admit(Some(&first), &three), Ok(None));
        let four = trust_with_crl(&mut ca, 4);
        assert_eq!(
            AppliedCrl::admit(Some(&first), &four)
                .unwrap()
                .map(|a| a.number),
            Some(number(4))
        );
        let applied = AppliedCrl {
            number: number(5),
            ..first.clone()
        };
        let err = AppliedCrl::admit(Some(&applied), &four).unwrap_err();
        assert_eq!(
            err,
            CrlRollbackError::Older {
                offered: number(4),
                in_force: number(5)
            }
        );
        assert!(
            err.to_string()
                .contains("number 4, older than CRL number 5"),
            "{err}"
        );
        // Without a CRL there is nothing to show it is not older.
        let none = TrustStore::new(ca.cert_der(), None).unwrap();
        assert!(matches!(
            AppliedCrl::admit(Some(&applied), &none),
            Err(CrlRollbackError::Unnumbered { .. })
        ));
        assert_eq!(AppliedCrl::admit(None, &none), Ok(None));
    }

    #[test]
    fn a_record_of_another_ca_does_not_hold_back_a_new_ca() {
        let mut old = CertificateAuthority::generate(30).unwrap();
        let applied = AppliedCrl::admit(None, &trust_with_crl(&mut old, 9))
            .unwrap()
            .unwrap();
        let mut new = CertificateAuthority::generate(30).unwrap();
        let admitted = AppliedCrl::admit(Some(&applied), &trust_with_crl(&mut new, 1))
            .unwrap()
            .unwrap();
        assert_eq!(admitted.number, number(1));
        assert_eq!(
            admitted.ca_fingerprint,
            new.trust_store().unwrap().ca_info().fingerprint
        );
    }

    #[test]
    fn the_record_survives_a_round_trip_and_corruption_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("applied_crl");
        assert!(AppliedCrl::load(&path).unwrap().is_none());
        for n in [0, 1, 300, u64::MAX] {
            let record = AppliedCrl {
                ca_fingerprint: [7; 32],
                number: number(n),
            };
            record.save(&path).unwrap();
            assert_eq!(AppliedCrl::load(&path).unwrap(), Some(record));
        }
        for bad in [
            "",
            "ca_sha256 07\ncrl_number 01\n",
            "crl_number 01\nca_sha256 0707070707070707070707070707070707070707070707070707070707070707\n",
            "ca_sha256 0707070707070707070707070707070707070707070707070707070707070707\ncrl_number x1\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = AppliedCrl::load(&path).unwrap_err();
            assert!(matches!(err, AppliedCrlError::Corrupt { .. }), "{bad:?}: {err}");
        }
    }
}
