//! `bluehelm pki …` end to end: the real binary in a temporary directory, checked against
//! OpenSSL when it is installed.

use std::path::Path;
use std::process::{Command, Output};

fn bluehelm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bluehelm"))
        .arg("pki")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run bluehelm")
}

fn ok(args: &[&str]) -> String {
    let out = bluehelm(args);
    assert!(
        out.status.success(),
        "bluehelm pki {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail and returns its single error line.
fn fails(args: &[&str]) -> String {
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

fn openssl_available() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn pki_lifecycle_and_openssl_interop() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let nodes = tmp.path().join("nodes");
    let crl = tmp.path().join("crl.pem");

    ok(&["init-ca", "--out", s(&ca)]);
    let err = fails(&["init-ca", "--out", s(&ca)]);
    assert!(err.contains("--force"), "{err}");
    ok(&["init-ca", "--out", s(&ca), "--force", "--days", "100"]);

    ok(&[
        "issue",
        "--ca",
        s(&ca),
        "--node",
        "gs",
        "--role",
        "hub",
        "--out",
        s(&nodes),
    ]);
    ok(&[
        "issue",
        "--ca",
        s(&ca),
        "--node",
        "ncb.fr",
        "--role",
        "ncb",
        "--country",
        "fr",
        "--out",
        s(&nodes),
    ]);
    ok(&[
        "issue",
        "--ca",
        s(&ca),
        "--node",
        "mission.unmiss",
        "--role",
        "mission",
        "--mission",
        "UNMISS",
        "--out",
        s(&nodes),
        "--days",
        "30",
    ]);
    let err = fails(&[
        "issue",
        "--ca",
        s(&ca),
        "--node",
        "gs",
        "--role",
        "hub",
        "--out",
        s(&nodes),
    ]);
    assert!(err.contains("--force"), "{err}");

    use std::os::unix::fs::PermissionsExt;
    for node in ["gs", "ncb.fr", "mission.unmiss"] {
        let mode = std::fs::metadata(nodes.join(format!("{node}.key")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{node}.key");
    }
    assert_eq!(
        std::fs::metadata(ca.join("ca.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    let shown = ok(&["show", s(&nodes.join("ncb.fr.pem"))]);
    for want in [
        "ncb.fr",
        "ncb",
        "FR",
        "serial",
        "fingerprint",
        "valid until",
    ] {
        assert!(shown.contains(want), "{want} missing from {shown}");
    }
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "show",
        s(&nodes.join("mission.unmiss.pem")),
        "--json",
    ]))
    .unwrap();
    assert_eq!(json["node"], "mission.unmiss");
    assert_eq!(json["role"], "mission");
    assert_eq!(json["mission"], "UNMISS");
    assert_eq!(json["serial"].as_str().unwrap().len(), 32);
    let shown_ca = ok(&["show", s(&ca.join("ca.pem"))]);
    assert!(shown_ca.contains("Bluehelm Network Root CA"), "{shown_ca}");

    ok(&[
        "revoke",
        "--ca",
        s(&ca),
        "--cert",
        s(&nodes.join("ncb.fr.pem")),
        "--reason",
        "key-compromise",
    ]);
    let err = fails(&[
        "revoke",
        "--ca",
        s(&ca),
        "--cert",
        s(&nodes.join("ncb.fr.pem")),
    ]);
    assert!(err.contains("already revoked"), "{err}");
    ok(&["crl", "--ca", s(&ca), "--out", s(&crl), "--days", "3"]);

    let revoked_serial = serde_json::from_str::<serde_json::Value>(&ok(&[
        "show",
        s(&nodes.join("ncb.fr.pem")),
        "--json",
    ]))
    .unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let crl_json: serde_json::Value =
        serde_json::from_str(&ok(&["show", s(&crl), "--json"])).unwrap();
    assert_eq!(crl_json["kind"], "crl");
    assert_eq!(crl_json["entries"][0]["serial"], revoked_serial.as_str());
    assert_eq!(crl_json["entries"][0]["reason"], "key-compromise");
    assert!(crl_json["next_update"].is_string());
    let crl_text = ok(&["show", s(&crl)]);
    assert!(
        crl_text.contains("next update") && crl_text.contains(&revoked_serial),
        "{crl_text}"
    );

    if !openssl_available() {
        println!("note: openssl not found on PATH; skipping the OpenSSL interoperability checks");
        return;
    }
    let ca_pem = ca.join("ca.pem");
    for node in ["gs", "mission.unmiss"] {
        let out = openssl(&[
            "verify",
            "-CAfile",
            s(&ca_pem),
            "-crl_check",
            "-CRLfile",
            s(&crl),
            s(&nodes.join(format!("{node}.pem"))),
        ]);
        assert!(
            out.status.success(),
            "openssl rejected {node}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = openssl(&[
        "verify",
        "-CAfile",
        s(&ca_pem),
        "-crl_check",
        "-CRLfile",
        s(&crl),
        s(&nodes.join("ncb.fr.pem")),
    ]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() && said.contains("revoked"),
        "openssl accepted a revoked cert: {said}"
    );

    let text = openssl(&[
        "x509",
        "-text",
        "-noout",
        "-in",
        s(&nodes.join("ncb.fr.pem")),
    ]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    for want in [
        "ED25519",
        "URI:urn:bluehelm:node:ncb.fr",
        "DNS:ncb.fr.bluehelm.invalid",
        "CA:FALSE",
        "TLS Web Server Authentication",
        "TLS Web Client Authentication",
        "1.3.6.1.4.1.59541.1.1",
    ] {
        assert!(
            text.contains(want),
            "{want} missing from openssl x509 output:\n{text}"
        );
    }
    let text = openssl(&["x509", "-text", "-noout", "-in", s(&ca_pem)]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("CA:TRUE, pathlen:0") && text.contains("Certificate Sign, CRL Sign"),
        "{text}"
    );
    let text = openssl(&["crl", "-text", "-noout", "-in", s(&crl)]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Next Update") && text.contains("Key Compromise"),
        "{text}"
    );
}

#[test]
fn input_mistakes_give_one_error_line_and_a_failure_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let out = tmp.path().join("out");
    ok(&["init-ca", "--out", s(&ca)]);
    let issue = |extra: &[&str]| {
        let mut args = vec!["issue", "--ca", s(&ca), "--out", s(&out)];
        args.extend_from_slice(extra);
        fails(&args)
    };
    let err = issue(&["--node", "ncb.fr", "--role", "police"]);
    assert!(err.contains("unknown role"), "{err}");
    let err = issue(&["--node", "ncb.fr", "--role", "ncb"]);
    assert!(err.contains("--country"), "{err}");
    let err = issue(&["--node", "Not A Node!", "--role", "hub"]);
    assert!(err.contains("Not A Node!"), "{err}");
    let err = issue(&["--node", "mission.x", "--role", "mission"]);
    assert!(err.contains("--mission"), "{err}");
    let err = issue(&["--node", "gs", "--role", "hub", "--days", "0"]);
    assert!(err.contains("days"), "{err}");
    let err = fails(&[
        "issue",
        "--ca",
        s(&tmp.path().join("nope")),
        "--node",
        "gs",
        "--role",
        "hub",
        "--out",
        s(&out),
    ]);
    assert!(err.contains("cannot read"), "{err}");
    let err = fails(&["show", s(&ca.join("ca.key"))]);
    assert!(err.contains("private key"), "{err}");
    assert!(!out.exists(), "failed commands must not write files");
}

#[test]
fn terminal_certificates_are_bound_to_a_node_and_client_only() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let out = tmp.path().join("out");
    ok(&["init-ca", "--out", s(&ca)]);
    let (ca_dir, out_dir) = (s(&ca).to_owned(), s(&out).to_owned());
    let issue = |extra: &[&'static str]| -> Vec<String> {
        let mut args: Vec<String> = ["issue", "--ca", &ca_dir, "--out", &out_dir]
            .iter()
            .map(|a| (*a).to_owned())
            .collect();
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    };
    let fails_with =
        |args: Vec<String>| fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let ok_with = |args: Vec<String>| ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let err = fails_with(issue(&["--node", "term1.unmiss", "--role", "terminal"]));
    assert!(err.contains("--for-node"), "{err}");
    let err = fails_with(issue(&[
        "--node",
        "gs",
        "--role",
        "hub",
        "--for-node",
        "gs",
    ]));
    assert!(err.contains("drop --for-node"), "{err}");
    let err = fails_with(issue(&[
        "--node",
        "term1.unmiss",
        "--role",
        "terminal",
        "--for-node",
        "term1.unmiss",
    ]));
    assert!(err.contains("itself"), "{err}");
    let err = fails_with(issue(&[
        "--node",
        "term1.unmiss",
        "--role",
        "terminal",
        "--for-node",
        "Mission!",
    ]));
    assert!(err.contains("--for-node"), "{err}");
    assert!(!out.exists(), "failed commands must not write files");

    let said = ok_with(issue(&[
        "--node",
        "term1.unmiss",
        "--role",
        "terminal",
        "--for-node",
        "mission.unmiss",
    ]));
    assert!(said.contains("for node mission.unmiss"), "{said}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join("term1.unmiss.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let cert = out.join("term1.unmiss.pem");
    let json: serde_json::Value = serde_json::from_str(&ok(&["show", s(&cert), "--json"])).unwrap();
    assert_eq!(json["kind"], "terminal-certificate");
    assert_eq!(json["role"], "terminal");
    assert_eq!(json["for_node"], "mission.unmiss");

    if !openssl_available() {
        println!("note: openssl not found on PATH; skipping the OpenSSL interoperability checks");
        return;
    }
    let ca_pem = ca.join("ca.pem");
    let verify = |purpose: &str| {
        openssl(&[
            "verify",
            "-CAfile",
            s(&ca_pem),
            "-purpose",
            purpose,
            s(&cert),
        ])
        .status
        .success()
    };
    assert!(
        verify("sslclient"),
        "openssl refuses the terminal as a client"
    );
    assert!(!verify("sslserver"), "openssl takes a terminal as a server");
}

/// Issue 10, defect 2b: directories made to hold keys are the owner's alone.
#[test]
fn init_ca_and_issue_create_their_directories_0700() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("secure").join("ca");
    let nodes = tmp.path().join("deploy").join("ncb.fr");
    ok(&["init-ca", "--out", s(&ca)]);
    ok(&[
        "issue",
        "--ca",
        s(&ca),
        "--node",
        "ncb.fr",
        "--role",
        "ncb",
        "--country",
        "FR",
        "--out",
        s(&nodes),
    ]);
    let mode = |p: &Path| {
        let mode = std::fs::metadata(p).unwrap().permissions().mode();
        format!("{:o}", mode & 0o777)
    };
    for dir in [&ca, &nodes] {
        assert_eq!(mode(dir), "700", "{}", dir.display());
    }
    assert_eq!(mode(&ca.join("ca.key")), "600");
    assert_eq!(mode(&nodes.join("ncb.fr.key")), "600");
}
