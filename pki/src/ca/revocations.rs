//! The CA's bookkeeping on disk: `revoked.json` (every revocation) and `crl_number` (the
//! number of the last CRL issued).
//!
//! `revoked.json`:
//! ```json
//! { "version": 1,
//!   "revoked": [ { "serial": "4f1c…", "node": "ncb.fr", "revoked_at": 1764340000,
//!                  "reason": 1, "invalidity_date": 1764336400, "fingerprint": "9a0b…" } ] }
//! ```
//! `serial` and `fingerprint` are lower-case hex, `revoked_at` unix seconds, `reason` the
//! RFC 5280 reason code or absent, `invalidity_date` (unix seconds: when the key may have been
//! compromised, RFC 5280 5.3.2) present only for key-compromise and ca-compromise (files
//! written before it existed have none: their CRL entries carry none either). `crl_number` holds one decimal integer and a newline.

use serde::{Deserialize, Serialize};

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationRecord {
    /// Serial number, lower-case hex of the big-endian magnitude.
    pub serial: String,
    /// The node the certificate named.
    pub node: String,
    /// When it was revoked, unix seconds.
    pub revoked_at: i64,
    /// RFC 5280 reason code, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<u8>,
    /// When the key is known or suspected to have been compromised, unix seconds (the CRL
    /// entry's invalidity date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidity_date: Option<i64>,
    /// SHA-256 of the certificate, lower-case hex.
    pub fingerprint: String,
}

/// The contents of `revoked.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevocationFile {
    pub(crate) version: u32,
    pub(crate) revoked: Vec<RevocationRecord>,
}

pub(crate) const REVOCATION_FILE_VERSION: u32 = 1;

impl RevocationFile {
    pub(crate) fn new() -> Self {
        Self {
            version: REVOCATION_FILE_VERSION,
            revoked: Vec::new(),
        }
    }

    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        let file: Self = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if file.version != REVOCATION_FILE_VERSION {
            return Err(format!("unsupported version {}", file.version));
        }
        for r in &file.revoked {
            if parse_hex(&r.serial).is_none() {
                return Err(format!("serial `{}` is not hex", r.serial));
            }
        }
        Ok(file)
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings and integers cannot fail.
        let mut out = serde_json::to_vec_pretty(self).expect("revocation file serialises");
        out.push(b'\n');
        out
    }
}

/// Parses lower-case or upper-case hex.
pub(crate) fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair)
                .ok()
                .filter(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))?;
            u8::from_str_radix(pair, 16).ok()
        })
        .collect()
}
