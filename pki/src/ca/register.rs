//! The CA's register of issued certificates, `issued.json` (issue 14, item 2): every
//! certificate the CA issued, so that any of them can be revoked by node or serial long
//! after its files were overwritten by a reissue.
//!
//! ```json
//! { "version": 1, "complete": true, "started_at": 1764340000,
//!   "issued": [ { "serial": "4f1c…", "node": "ncb.fr", "role": "ncb", "country": "FR",
//!                 "not_before": 1764339700, "not_after": 1798640000,
//!                 "fingerprint": "9a0b…" } ] }
//! ```
//! `serial` and `fingerprint` are lower-case hex as in `revoked.json`, times unix seconds;
//! `country`, `mission` and `home` appear where the certificate has them. `complete` is true
//! when `pki init-ca` created the register with the CA, so that it lists every certificate the
//! CA issued; a CA created before the register existed gets one, `complete: false`, at its
//! next issue or revocation by file, and certificates issued before `started_at` are not in
//! it (a revocation by file adds its certificate).
//! Entries are only ever added.
//!
//! The pure decisions on the register (a certificate's status at a time, which certificates
//! `revoke --node` takes, what a typed serial means) live here; the files are read and
//! written by [`CertificateAuthority`](super::CertificateAuthority).

use serde::{Deserialize, Serialize};

use super::revocations::{parse_hex, RevocationRecord};
use crate::{NodeId, NodeIdentity, Role};

/// One certificate the CA issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedRecord {
    /// Serial number, lower-case hex of the big-endian magnitude (as in `revoked.json`).
    pub serial: String,
    /// The node (or terminal) the certificate names.
    pub node: String,
    /// Its role: `hub`, `ncb`, `mission` or `terminal`.
    pub role: String,
    /// ISO 3166 alpha-2 country, if the certificate has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Mission code, if the certificate has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
    /// A terminal's home node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// Start of validity, unix seconds.
    pub not_before: i64,
    /// End of validity (inclusive), unix seconds.
    pub not_after: i64,
    /// SHA-256 of the certificate's DER, lower-case hex.
    pub fingerprint: String,
}

impl IssuedRecord {
    /// The entry for a certificate whose identity has been parsed.
    pub(crate) fn of(identity: &NodeIdentity) -> Self {
        Self {
            serial: identity.serial_hex(),
            node: identity.node.to_string(),
            role: identity.role.as_str().to_owned(),
            country: identity.country.clone(),
            mission: identity.mission.clone(),
            home: identity.home.as_ref().map(ToString::to_string),
            not_before: identity.not_before,
            not_after: identity.not_after,
            fingerprint: identity.fingerprint_hex(),
        }
    }

    /// The revocation of this certificate at `now`.
    pub(crate) fn revocation(
        &self,
        now: i64,
        reason: Option<u8>,
        invalidity_date: Option<i64>,
    ) -> RevocationRecord {
        RevocationRecord {
            serial: self.serial.clone(),
            node: self.node.clone(),
            revoked_at: now,
            reason,
            invalidity_date,
            fingerprint: self.fingerprint.clone(),
        }
    }
}

/// Where a certificate of the register stands at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    /// Within its validity and not revoked.
    Valid,
    /// Not revoked, and its validity has not begun.
    NotYetValid,
    /// Not revoked, and its validity has ended.
    Expired,
    /// Revoked (whatever its validity: a revocation is what an operator needs to know).
    Revoked {
        /// When, unix seconds.
        revoked_at: i64,
        /// RFC 5280 reason code, if one was given.
        reason: Option<u8>,
    },
}

impl CertStatus {
    /// `valid`, `not-yet-valid`, `expired` or `revoked` (the `pki list --json` values).
    pub fn as_str(self) -> &'static str {
        match self {
            CertStatus::Valid => "valid",
            CertStatus::NotYetValid => "not-yet-valid",
            CertStatus::Expired => "expired",
            CertStatus::Revoked { .. } => "revoked",
        }
    }
}

/// The status of `record` at `now`, given the CA's revocations.
pub fn status_at(record: &IssuedRecord, revocations: &[RevocationRecord], now: i64) -> CertStatus {
    if let Some(r) = revocations.iter().find(|r| r.serial == record.serial) {
        return CertStatus::Revoked {
            revoked_at: r.revoked_at,
            reason: r.reason,
        };
    }
    if now < record.not_before {
        CertStatus::NotYetValid
    } else if now > record.not_after {
        CertStatus::Expired
    } else {
        CertStatus::Valid
    }
}

/// What `revoke --node` found for a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeSelection<'a> {
    /// The node's certificates that are neither revoked nor expired (at least one).
    Some(Vec<&'a IssuedRecord>),
    /// The register has no certificate of the node.
    Unknown,
    /// Every certificate of the node is already revoked or expired.
    NothingLeft,
}

/// The certificates of `node` that `revoke --node` revokes at `now`: every one that is not
/// revoked and not expired, including one not yet valid (it would become valid).
pub(crate) fn select_for_node<'a>(
    issued: &'a [IssuedRecord],
    revocations: &[RevocationRecord],
    node: &NodeId,
    now: i64,
) -> NodeSelection<'a> {
    let mut known = false;
    let mut chosen = Vec::new();
    for record in issued.iter().filter(|r| r.node == node.as_str()) {
        known = true;
        match status_at(record, revocations, now) {
            CertStatus::Valid | CertStatus::NotYetValid => chosen.push(record),
            CertStatus::Expired | CertStatus::Revoked { .. } => {}
        }
    }
    match (known, chosen.is_empty()) {
        (false, _) => NodeSelection::Unknown,
        (true, true) => NodeSelection::NothingLeft,
        (true, false) => NodeSelection::Some(chosen),
    }
}

/// A serial as an operator may type it (`4F1C…`, `0x4f1c…`, with leading zeros or not) in
/// the register's form: lower-case hex of the magnitude without leading zero bytes. `None`
/// if it is not hex.
pub fn normalize_serial(typed: &str) -> Option<String> {
    let digits = typed.trim();
    let digits = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
        .unwrap_or(digits);
    // An odd number of digits means a leading zero was left out.
    let padded = if digits.len() % 2 == 0 {
        digits.to_owned()
    } else {
        format!("0{digits}")
    };
    let bytes = parse_hex(&padded)?;
    let magnitude = crate::identity::strip_leading_zeros(&bytes);
    if magnitude.is_empty() {
        // Serial zero: never issued (serials are positive), and "" would match nothing anyway.
        return None;
    }
    Some(crate::identity::hex(magnitude))
}

/// The contents of `issued.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterFile {
    pub(crate) version: u32,
    pub(crate) complete: bool,
    pub(crate) started_at: i64,
    pub(crate) issued: Vec<IssuedRecord>,
}

pub(crate) const REGISTER_FILE_VERSION: u32 = 1;

impl RegisterFile {
    /// An empty register started at `now`; `complete` when it starts with the CA.
    pub(crate) fn new(complete: bool, now: i64) -> Self {
        Self {
            version: REGISTER_FILE_VERSION,
            complete,
            started_at: now,
            issued: Vec::new(),
        }
    }

    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        let file: Self = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if file.version != REGISTER_FILE_VERSION {
            return Err(format!("unsupported version {}", file.version));
        }
        for r in &file.issued {
            if normalize_serial(&r.serial).as_deref() != Some(r.serial.as_str()) {
                return Err(format!("serial `{}` is not lower-case hex", r.serial));
            }
            if r.node.parse::<NodeId>().is_err() {
                return Err(format!("`{}` is not a node id", r.node));
            }
            if r.role.parse::<Role>().is_err() {
                return Err(format!("`{}` is not a role", r.role));
            }
        }
        Ok(file)
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings, integers and booleans cannot fail.
        let mut out = serde_json::to_vec_pretty(self).expect("register serialises");
        out.push(b'\n');
        out
    }

    pub(crate) fn find(&self, serial: &str) -> Option<&IssuedRecord> {
        self.issued.iter().find(|r| r.serial == serial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(serial: &str, node: &str, not_before: i64, not_after: i64) -> IssuedRecord {
        IssuedRecord {
            serial: serial.into(),
            node: node.into(),
            role: "ncb".into(),
            country: Some("FR".into()),
            mission: None,
            home: None,
            not_before,
            not_after,
            fingerprint: "00".repeat(32),
        }
    }

    fn revoked(serial: &str, at: i64) -> RevocationRecord {
        RevocationRecord {
            serial: serial.into(),
            node: "ncb.fr".into(),
            revoked_at: at,
            reason: Some(1),
            invalidity_date: None,
            fingerprint: "00".repeat(32),
        }
    }

    #[test]
    fn status_follows_validity_and_revocation_wins() {
        let r = record("01", "ncb.fr", 100, 200);
        assert_eq!(status_at(&r, &[], 99), CertStatus::NotYetValid);
        assert_eq!(status_at(&r, &[], 100), CertStatus::Valid);
        // not_after is inclusive (RFC 5280).
        assert_eq!(status_at(&r, &[], 200), CertStatus::Valid);
        assert_eq!(status_at(&r, &[], 201), CertStatus::Expired);
        let revocations = [revoked("02", 150), revoked("01", 150)];
        for now in [99, 150, 300] {
            assert_eq!(
                status_at(&r, &revocations, now),
                CertStatus::Revoked {
                    revoked_at: 150,
                    reason: Some(1)
                }
            );
        }
    }

    #[test]
    fn revoke_by_node_takes_the_live_certificates_of_that_node_only() {
        let issued = [
            record("01", "ncb.fr", 0, 100),   // expired at 150
            record("02", "ncb.fr", 0, 1000),  // revoked below
            record("03", "ncb.fr", 0, 1000),  // taken
            record("04", "ncb.fr", 500, 900), // not yet valid: taken
            record("05", "ncb.de", 0, 1000),  // another node
        ];
        let revocations = [revoked("02", 120)];
        let fr: NodeId = "ncb.fr".parse().unwrap();
        let serials: Vec<&str> = match select_for_node(&issued, &revocations, &fr, 150) {
            NodeSelection::Some(chosen) => chosen.iter().map(|r| r.serial.as_str()).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(serials, vec!["03", "04"]);

        let it: NodeId = "ncb.it".parse().unwrap();
        assert_eq!(
            select_for_node(&issued, &revocations, &it, 150),
            NodeSelection::Unknown
        );
        let all_gone = [revoked("02", 120), revoked("03", 130), revoked("04", 140)];
        assert_eq!(
            select_for_node(&issued, &all_gone, &fr, 150),
            NodeSelection::NothingLeft
        );
    }

    #[test]
    fn typed_serials_are_normalised_to_the_register_form() {
        assert_eq!(normalize_serial("4F1C").as_deref(), Some("4f1c"));
        assert_eq!(normalize_serial("0x4f1c").as_deref(), Some("4f1c"));
        assert_eq!(normalize_serial("0X004F1C").as_deref(), Some("4f1c"));
        assert_eq!(normalize_serial("f1c").as_deref(), Some("0f1c"));
        assert_eq!(normalize_serial(" 7a ").as_deref(), Some("7a"));
        for bad in ["", "0x", "00", "xyz", "4f 1c", "-1"] {
            assert_eq!(normalize_serial(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_register_round_trips_and_refuses_what_it_does_not_know() {
        let mut file = RegisterFile::new(false, 42);
        file.issued.push(record("4f1c", "ncb.fr", 1, 2));
        assert_eq!(RegisterFile::parse(&file.to_json()).unwrap(), file);

        let text = String::from_utf8(file.to_json()).unwrap();
        for (bad, why) in [
            (text.replace("\"version\": 1", "\"version\": 2"), "version"),
            (text.replace("4f1c", "4F1C"), "lower-case hex"),
            (text.replace("\"ncb.fr\"", "\"NCB FR\""), "node id"),
            (text.replace("\"ncb\"", "\"boss\""), "role"),
            (
                text.replace("\"complete\"", "\"extra\": 1, \"complete\""),
                "unknown field",
            ),
            (text[..text.len() / 2].to_owned(), "EOF"),
        ] {
            let err = RegisterFile::parse(bad.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{why}: {err}");
        }
    }
}
