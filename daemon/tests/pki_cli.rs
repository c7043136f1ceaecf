//! `bluehelm pki …` end to end: the real binary in a temporary directory, checked against
//! OpenSSL when it is installed.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{bluehelm, ca_with_fr, fails, issue_fr_args, list_json, ok, s};

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
    ca_with_fr(&ca, &nodes);
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

/// Issue 14, item 2: the CA keeps a register, so a node reissued with --force can still have
/// its old certificate revoked, by serial or with every other one of the node.
#[test]
fn the_register_lists_a_reissued_node_twice_and_revokes_by_serial_and_by_node() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let nodes = tmp.path().join("nodes");
    let issue_fr = |extra: &[&str]| bluehelm(&issue_fr_args(&ca, &nodes, extra));
    ok(&["init-ca", "--out", s(&ca)]);
    assert!(issue_fr(&[]).status.success());
    // Refused without --force before anything is issued: the register keeps one entry.
    let refused = issue_fr(&[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    assert_eq!(list_json(&ca).len(), 1);
    // The reissue overwrites nodes/ncb.fr.pem; the register keeps both.
    assert!(issue_fr(&["--force"]).status.success());
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

    let entries = list_json(&ca);
    assert_eq!(entries.len(), 3, "{entries:?}");
    for entry in &entries {
        let mut keys: Vec<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "compromised_at",
                "fingerprint",
                "node",
                "not_after",
                "not_before",
                "reason",
                "revoked_at",
                "role",
                "serial",
                "status"
            ]
        );
        assert_eq!(entry["status"], "valid", "{entry}");
        assert!(entry["revoked_at"].is_null() && entry["reason"].is_null());
    }
    let nodes_listed: Vec<&str> = entries
        .iter()
        .map(|e| e["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes_listed, ["ncb.fr", "ncb.fr", "gs"]);
    assert_eq!(entries[0]["role"], "ncb");
    let serial = |i: usize| entries[i]["serial"].as_str().unwrap().to_owned();
    let (first, second, gs) = (serial(0), serial(1), serial(2));
    assert_ne!(first, second);

    let text = ok(&["list", "--ca", s(&ca)]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "a header and one line each: {text}");
    assert!(lines[0].starts_with("serial"), "{text}");
    for (line, serial) in lines[1..].iter().zip([&first, &second, &gs]) {
        assert!(
            line.starts_with(serial.as_str()) && line.ends_with(" valid"),
            "{text}"
        );
    }
    assert!(
        !text.contains("note:"),
        "a register made by init-ca is complete: {text}"
    );

    // By serial, as an operator might type it.
    let typed = format!("0x{}", first.to_uppercase());
    let said = ok(&[
        "revoke",
        "--ca",
        s(&ca),
        "--serial",
        &typed,
        "--reason",
        "key-compromise",
    ]);
    assert!(
        said.starts_with(&format!("revoked ncb.fr (serial {first})")),
        "{said}"
    );
    let err = fails(&["revoke", "--ca", s(&ca), "--serial", &first]);
    assert!(err.contains("already revoked"), "{err}");
    let err = fails(&["revoke", "--ca", s(&ca), "--serial", &"7".repeat(32)]);
    assert!(err.contains("not in this CA's register"), "{err}");

    // By node: the one certificate of ncb.fr still live.
    let said = ok(&["revoke", "--ca", s(&ca), "--node", "ncb.fr"]);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains(&format!("(serial {second})")), "{said}");
    let err = fails(&["revoke", "--ca", s(&ca), "--node", "ncb.fr"]);
    assert!(err.contains("already revoked or expired"), "{err}");
    let err = fails(&["revoke", "--ca", s(&ca), "--node", "ncb.it"]);
    assert!(err.contains("no certificate of ncb.it"), "{err}");

    // By file, as before the register.
    let gs_pem = nodes.join("gs.pem");
    let said = ok(&["revoke", "--ca", s(&ca), "--cert", s(&gs_pem)]);
    assert!(
        said.contains(&format!("revoked gs (serial {gs})")),
        "{said}"
    );

    // Exactly one of --cert, --node, --serial: clap's usage errors exit 2.
    for args in [
        &["revoke", "--ca", s(&ca)][..],
        &[
            "revoke",
            "--ca",
            s(&ca),
            "--node",
            "ncb.fr",
            "--serial",
            first.as_str(),
        ][..],
        &[
            "revoke",
            "--ca",
            s(&ca),
            "--cert",
            s(&gs_pem),
            "--node",
            "gs",
        ][..],
    ] {
        let out = bluehelm(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }

    let entries = list_json(&ca);
    let statuses: Vec<(&str, Option<&str>)> = entries
        .iter()
        .map(|e| (e["status"].as_str().unwrap(), e["reason"].as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("revoked", Some("key-compromise")),
            ("revoked", None),
            ("revoked", None)
        ]
    );
    assert!(entries.iter().all(|e| e["revoked_at"].is_string()));
    let text = ok(&["list", "--ca", s(&ca)]);
    assert!(text.contains("revoked (key-compromise, at "), "{text}");

    // The next CRL lists all three.
    let crl = tmp.path().join("crl.pem");
    ok(&["crl", "--ca", s(&ca), "--out", s(&crl)]);
    let shown: serde_json::Value = serde_json::from_str(&ok(&["show", s(&crl), "--json"])).unwrap();
    let mut in_crl: Vec<&str> = shown["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["serial"].as_str().unwrap())
        .collect();
    in_crl.sort_unstable();
    let mut want = [first.as_str(), second.as_str(), gs.as_str()];
    want.sort_unstable();
    assert_eq!(in_crl, want);
}

#[test]
fn list_shows_expired_certificates_and_says_when_the_register_is_partial() {
    use bluehelm_pki::{ca::now_unix, CertificateAuthority, IssueRequest, Role};
    const DAY: i64 = 86_400;
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let mut authority = CertificateAuthority::init(&ca, 365, false).unwrap();
    let now = now_unix();
    let hub = IssueRequest {
        node: "gs".parse().unwrap(),
        role: Role::Hub,
        country: None,
        mission: None,
        home: None,
        days: 30,
    };
    authority
        .issue_with_validity(&hub, now - 10 * DAY, now - DAY)
        .unwrap();
    authority.issue(&hub).unwrap();

    let entries = list_json(&ca);
    let statuses: Vec<&str> = entries
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["expired", "valid"]);
    let text = ok(&["list", "--ca", s(&ca)]);
    assert!(text.lines().nth(1).unwrap().ends_with(" expired"), "{text}");
    // revoke --node leaves the expired one alone.
    let said = ok(&["revoke", "--ca", s(&ca), "--node", "gs"]);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.contains(entries[1]["serial"].as_str().unwrap()),
        "{said}"
    );

    // A CA directory from before the register: empty, and the listing says why.
    let register = ca.join(bluehelm_pki::ca::REGISTER_FILE);
    std::fs::remove_file(&register).unwrap();
    let text = ok(&["list", "--ca", s(&ca)]);
    assert!(
        text.starts_with("no certificates in the register"),
        "{text}"
    );
    assert!(
        text.contains("note:") && text.contains("--cert FILE"),
        "{text}"
    );
    let out = bluehelm(&["list", "--ca", s(&ca), "--json"]);
    assert!(out.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed, serde_json::json!([]));
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("--cert FILE"),
        "the note goes to stderr: {note}"
    );

    // A corrupt register is one clear error line.
    std::fs::write(&register, "{ not json").unwrap();
    let err = fails(&["list", "--ca", s(&ca)]);
    assert!(
        err.contains("issued.json") && err.contains("restore it from backup"),
        "{err}"
    );
}
