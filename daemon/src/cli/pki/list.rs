//! `bluehelm pki list`: the CA's register of issued certificates and where each stands now
//! (issue 14, item 2).

use std::path::Path;

use bluehelm::human_time::{local_from_secs, utc_from_secs};
use bluehelm_pki::ca::{self, status_at, CertStatus, CertificateAuthority, IssuedRecord};
use bluehelm_pki::{reason_name, RevocationRecord};
use serde_json::json;

use crate::cli::out::outln;

/// Prints the register of the CA in `ca_dir`, one line (or JSON object) per certificate, oldest
/// first.
pub fn run(ca_dir: &Path, json: bool) -> anyhow::Result<()> {
    let authority = CertificateAuthority::load(ca_dir)?;
    let now = ca::now_unix();
    let rows = rows(authority.issued(), authority.revocations(), now);
    // A CA from before the register (issue 14): say which certificates are missing.
    let note = (!authority.register_is_complete()).then(|| {
        let since = if ca_dir.join(ca::REGISTER_FILE).exists() {
            format!(
                "this CA's register started at {}, after the CA: certificates issued before then are not listed",
                local_from_secs(authority.register_started_at())
            )
        } else {
            format!(
                "this CA has no register yet ({}; the next `pki issue` starts it): the certificates it issued are not listed",
                ca::REGISTER_FILE
            )
        };
        format!(
            "note: {since}; revoke them with `bluehelm pki revoke --ca {} --cert FILE`",
            ca_dir.display()
        )
    });
    if json {
        outln!("{}", as_json(&rows))?;
        if let Some(note) = note {
            // stdout stays one JSON array for scripts.
            eprintln!("{note}");
        }
    } else {
        outln!("{}", as_text(&rows))?;
        if let Some(note) = note {
            outln!("{note}")?;
        }
    }
    Ok(())
}

/// A register entry with its status at the time of listing.
struct Row<'a> {
    record: &'a IssuedRecord,
    status: CertStatus,
    /// For a compromised key: since when (the CRL's invalidity date), unix seconds.
    compromised_at: Option<i64>,
}

fn rows<'a>(issued: &'a [IssuedRecord], revoked: &[RevocationRecord], now: i64) -> Vec<Row<'a>> {
    issued
        .iter()
        .map(|record| Row {
            record,
            status: status_at(record, revoked, now),
            compromised_at: revoked
                .iter()
                .find(|r| r.serial == record.serial)
                .and_then(|r| r.invalidity_date),
        })
        .collect()
}

fn status_text(row: &Row<'_>) -> String {
    let since = row
        .compromised_at
        .map(|t| format!(", compromised since {}", local_from_secs(t)))
        .unwrap_or_default();
    match row.status {
        CertStatus::Revoked {
            revoked_at,
            reason: Some(reason),
        } => format!(
            "revoked ({}, at {}{since})",
            reason_name(reason),
            local_from_secs(revoked_at)
        ),
        CertStatus::Revoked {
            revoked_at,
            reason: None,
        } => format!("revoked (at {}{since})", local_from_secs(revoked_at)),
        other => other.as_str().to_owned(),
    }
}

fn as_text(rows: &[Row<'_>]) -> String {
    if rows.is_empty() {
        return "no certificates in the register".into();
    }
    let header = [
        "serial",
        "node",
        "role",
        "valid from",
        "valid until",
        "status",
    ];
    let mut table = vec![header.map(String::from)];
    table.extend(rows.iter().map(|row| {
        let r = row.record;
        [
            r.serial.clone(),
            r.node.clone(),
            r.role.clone(),
            local_from_secs(r.not_before),
            local_from_secs(r.not_after),
            status_text(row),
        ]
    }));
    // Every column but the last (the status) is padded to its widest cell.
    let mut widths = [0usize; 5];
    for line in &table {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    table
        .iter()
        .map(|line| {
            let mut text = String::new();
            for (cell, width) in line.iter().zip(widths) {
                text += &format!("{cell:<width$}  ");
            }
            text + &line[5]
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn as_json(rows: &[Row<'_>]) -> serde_json::Value {
    rows.iter()
        .map(|row| {
            let r = row.record;
            let (revoked_at, reason) = match row.status {
                CertStatus::Revoked { revoked_at, reason } => {
                    (Some(utc_from_secs(revoked_at)), reason.map(reason_name))
                }
                _ => (None, None),
            };
            json!({
                "serial": r.serial,
                "node": r.node,
                "role": r.role,
                "not_before": utc_from_secs(r.not_before),
                "not_after": utc_from_secs(r.not_after),
                "status": row.status.as_str(),
                "revoked_at": revoked_at,
                "reason": reason,
                "compromised_at": row.compromised_at.map(utc_from_secs),
                "fingerprint": r.fingerprint,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(serial: &str, node: &str, not_after: i64) -> IssuedRecord {
        IssuedRecord {
            serial: serial.into(),
            node: node.into(),
            role: "ncb".into(),
            country: Some("FR".into()),
            mission: None,
            home: None,
            not_before: 1_000,
            not_after,
            fingerprint: "ab".repeat(32),
        }
    }

    #[test]
    fn each_certificate_gets_a_line_with_its_status() {
        let issued = [
            record("0a", "ncb.fr", 2_000_000_000),
            record("0b", "ncb.fr", 2_000_000_000),
            record("0c", "mission.unmiss", 2_000),
        ];
        let revoked = [RevocationRecord {
            serial: "0a".into(),
            node: "ncb.fr".into(),
            revoked_at: 5_000,
            reason: Some(1),
            invalidity_date: Some(4_000),
            fingerprint: "ab".repeat(32),
        }];
        let rows = rows(&issued, &revoked, 10_000);
        let text = as_text(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("serial  "), "{text}");
        assert!(
            lines[1].starts_with("0a      ncb.fr          ncb   ")
                && lines[1].ends_with(&format!(
                    "revoked (key-compromise, at {}, compromised since {})",
                    local_from_secs(5_000),
                    local_from_secs(4_000)
                )),
            "{text}"
        );
        assert!(lines[2].ends_with("  valid"), "{text}");
        assert!(lines[3].ends_with("  expired"), "{text}");

        let json = as_json(&rows);
        let array = json.as_array().unwrap();
        assert_eq!(array.len(), 3);
        assert_eq!(array[0]["status"], "revoked");
        assert_eq!(array[0]["reason"], "key-compromise");
        assert_eq!(array[0]["revoked_at"], utc_from_secs(5_000));
        assert_eq!(array[0]["compromised_at"], utc_from_secs(4_000));
        assert_eq!(array[1]["status"], "valid");
        assert!(array[1]["revoked_at"].is_null() && array[1]["reason"].is_null());
        assert!(array[1]["compromised_at"].is_null());
        assert_eq!(array[2]["status"], "expired");
    }

    #[test]
    fn an_empty_register_says_so() {
        assert_eq!(as_text(&[]), "no certificates in the register");
        assert_eq!(as_json(&[]), json!([]));
    }
}
