//! Running the real `bluehelm pki` binary, shared by the CLI tests of this folder.

use std::path::Path;
use std::process::{Command, Output};

pub fn bluehelm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bluehelm"))
        .arg("pki")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run bluehelm")
}

pub fn ok(args: &[&str]) -> String {
    let out = bluehelm(args);
    assert!(
        out.status.success(),
        "bluehelm pki {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail and returns its single error line.
pub fn fails(args: &[&str]) -> String {
    let out = bluehelm(args);
    assert!(
        !out.status.success(),
        "bluehelm pki {args:?} unexpectedly succeeded"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {stderr}");
    lines[0].to_owned()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `pki list --ca CA --json`, which must be one array.
pub fn list_json(ca: &Path) -> Vec<serde_json::Value> {
    let out = ok(&["list", "--ca", s(ca), "--json"]);
    match serde_json::from_str(&out) {
        Ok(serde_json::Value::Array(entries)) => entries,
        other => panic!("not a JSON array: {other:?}: {out}"),
    }
}

/// The arguments of `pki issue --ca CA` for ncb.fr (role ncb, country FR) into `nodes`, then
/// `extra`.
pub fn issue_fr_args<'a>(ca: &'a Path, nodes: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "issue",
        "--ca",
        s(ca),
        "--node",
        "ncb.fr",
        "--role",
        "ncb",
        "--country",
        "FR",
        "--out",
        s(nodes),
    ];
    args.extend_from_slice(extra);
    args
}

/// `pki init-ca --out CA`, then ncb.fr issued into `nodes`.
pub fn ca_with_fr(ca: &Path, nodes: &Path) {
    ok(&["init-ca", "--out", s(ca)]);
    ok(&issue_fr_args(ca, nodes, &[]));
}
