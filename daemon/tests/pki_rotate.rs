//! `bluehelm pki rotate` and `pki revoke --compromised-at` end to end (issue 14, items 2 and
//! 6): the real binary on a CA in a temporary directory.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{fails, list_json, ok, s};

/// A CA with ncb.fr issued; returns (tmp, ca dir).
fn ca_with_fr() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    common::ca_with_fr(&ca, &tmp.path().join("nodes"));
    (tmp, ca)
}

/// The arguments of `pki rotate --ca CA --node ncb.fr --out OUT EXTRA…`.
fn rotate_fr<'a>(ca: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["rotate", "--ca", s(ca), "--node", "ncb.fr", "--out", s(out)];
    args.extend_from_slice(extra);
    args
}

/// The arguments of `pki revoke --ca CA --node ncb.fr --reason R --compromised-at T`.
fn revoke_fr<'a>(ca: &'a Path, reason: &'a str, at: &'a str) -> Vec<&'a str> {
    let node = [
        "--node",
        "ncb.fr",
        "--reason",
        reason,
        "--compromised-at",
        at,
    ];
    [&["revoke", "--ca", s(ca)][..], &node[..]].concat()
}

#[test]
fn revoke_by_node_after_a_rotation_takes_both_certificates_with_the_compromise_time() {
    let (tmp, ca) = ca_with_fr();
    let rotated = tmp.path().join("rotated");
    let said = ok(&rotate_fr(&ca, &rotated, &[]));
    assert!(said.contains("stays valid until"), "{said}");
    let key = rotated.join("ncb.fr.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let shown = ok(&["show", s(&rotated.join("ncb.fr.pem")), "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        (shown["role"].as_str(), shown["country"].as_str()),
        (Some("ncb"), Some("FR"))
    );

    // Refused without --force: the files are there.
    let err = fails(&rotate_fr(&ca, &rotated, &[]));
    assert!(err.contains("exists"), "{err}");
    assert_eq!(list_json(&ca).len(), 2, "a refused rotation issued nothing");

    // The register shows both, valid.
    let before = list_json(&ca);
    assert!(before
        .iter()
        .all(|r| r["node"] == "ncb.fr" && r["status"] == "valid"));

    // A compromise time in the future, with a benign reason, or without an offset is
    // refused.
    for (reason, at, why) in [
        ("key-compromise", "2999-01-01T00:00:00Z", "future"),
        ("superseded", "2020-01-01T00:00:00Z", "key-compromise"),
        ("key-compromise", "2020-01-01 00:00", "RFC 3339"),
    ] {
        let err = fails(&revoke_fr(&ca, reason, at));
        assert!(err.contains(why), "{reason} {at}: {err}");
    }

    let said = ok(&revoke_fr(
        &ca,
        "key-compromise",
        "2026-01-02T03:04:05+01:00",
    ));
    assert_eq!(said.lines().count(), 2, "{said}");
    assert!(
        said.lines().all(|l| l.contains("compromised since")),
        "{said}"
    );

    let after = list_json(&ca);
    assert_eq!(after.len(), 2);
    for row in &after {
        assert_eq!(row["status"], "revoked", "{row}");
        assert_eq!(row["reason"], "key-compromise", "{row}");
        assert_eq!(row["compromised_at"], "2026-01-02T02:04:05Z", "{row}");
    }
    let text = ok(&["list", "--ca", s(&ca)]);
    assert_eq!(text.matches("compromised since").count(), 2, "{text}");

    // The CRL carries the invalidity date; `pki show` says it.
    let crl = tmp.path().join("crl.pem");
    ok(&["crl", "--ca", s(&ca), "--out", s(&crl)]);
    let shown: serde_json::Value = serde_json::from_str(&ok(&["show", s(&crl), "--json"])).unwrap();
    let entries = shown["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for e in entries {
        assert_eq!(e["invalidity_date"], "2026-01-02T02:04:05Z", "{e}");
        assert_eq!(e["reason"], "key-compromise", "{e}");
    }
    let text = ok(&["show", s(&crl)]);
    assert_eq!(text.matches("invalid since").count(), 2, "{text}");
}

#[test]
fn rotate_with_revoke_old_supersedes_and_revoke_by_node_then_takes_the_new_one_only() {
    let (tmp, ca) = ca_with_fr();
    let rotated = tmp.path().join("rotated");
    let said = ok(&rotate_fr(&ca, &rotated, &["--revoke-old", "--days", "90"]));
    assert!(said.contains("as superseded"), "{said}");
    assert!(said.contains("pki crl"), "{said}");
    let rows = list_json(&ca);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["reason"].as_str()),
        (Some("revoked"), Some("superseded"))
    );
    assert!(rows[0]["compromised_at"].is_null());
    assert_eq!(rows[1]["status"], "valid");

    let said = ok(&["revoke", "--ca", s(&ca), "--node", "ncb.fr"]);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains(rows[1]["serial"].as_str().unwrap()), "{said}");

    let err = fails(&[
        "rotate",
        "--ca",
        s(&ca),
        "--node",
        "ncb.xx",
        "--out",
        s(&rotated),
    ]);
    assert!(err.contains("ncb.xx"), "{err}");
}
