//! Input validation where data enters (issue 12 item 5), through the real `bluehelm` binary
//! against real nodes on loopback: each bad input is refused with one line on stderr that
//! names it, and the exit code docs/bureau-guide.md documents for it.

use bluehelm_tests::{bluehelm_bin, linked, run_cli, specs_with_reference_services, TestNet};

/// The standard network, with `gs` answering `sltd` itself, where records imported at their
/// owner's node are sequenced.
fn net() -> TestNet {
    TestNet::with_specs(specs_with_reference_services())
}

/// Runs `bluehelm args`, and checks the exit code and that stderr is exactly one line
/// holding `needle`.
async fn refused(args: &[&str], code: i32, needle: &str) {
    let (got, stdout, stderr) = run_cli(bluehelm_bin!(), args).await;
    assert_eq!(got, code, "{args:?}\nstdout: {stdout}\nstderr: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{args:?}: not one line:\n{stderr}"
    );
    assert!(
        stderr.contains(needle),
        "{args:?}: {needle:?} not in: {stderr}"
    );
    println!("{} -> exit {got}: {}", args[1], stderr.trim_end());
}

fn diffusion<'a>(config: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "send",
        "diffusion",
        "--config",
        config,
        "--to",
        "group:all-ncb",
        "--ref",
        "D-1/2026",
        "--subject-line",
        "Border alert",
        "--body",
        "Check crossings",
        "--family-name",
        "DOE",
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_dates_are_refused_with_one_line_and_exit_1() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&gs, "ncb.fr").await;
    let config = net.config_path("ncb.fr").display().to_string();

    for bad in ["1980-02-30", "1981-02-29", "1980-13", "80-01-01"] {
        refused(
            &diffusion(&config, &["--birth-date", bad]),
            1,
            "subject.date_of_birth",
        )
        .await;
    }
    refused(
        &diffusion(&config, &["--birth-date", "2999-01-01"]),
        1,
        "is in the future",
    )
    .await;
    // Partial dates and a leap day that exists are taken.
    for good in ["1980", "1980-02", "1984-02-29"] {
        let args = diffusion(&config, &["--birth-date", good]);
        let (code, _, stderr) = run_cli(bluehelm_bin!(), &args).await;
        assert_eq!(code, 0, "{good}: {stderr}");
    }
    fr.shutdown().await;
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_diffusion_addressee_is_refused_with_exit_5() {
    let net = net();
    let gs = net.start("gs").await;
    let config = net.config_path("gs").display().to_string();
    // gs knows the members of all-ncb: a mission post, or a node it cannot reach, is not one.
    for addressee in ["mission.unmiss", "ncb.zz"] {
        refused(
            &diffusion(&config, &["--addressee", addressee]),
            5,
            &format!("unknown addressee: addressee {addressee} is not a member of group all-ncb"),
        )
        .await;
    }
    // Sent to a node, the addressee must be one gs routes to.
    let mut args = diffusion(&config, &["--addressee", "ncb.zz"]);
    args[5] = "ncb.fr";
    refused(
        &args,
        5,
        "addressee ncb.zz is a node this node has no route to",
    )
    .await;
    gs.shutdown().await;
}

/// A node imports only its own records (issue 13): ncb.fr refuses a row owned by another
/// bureau, and a row with an impossible date, each by its line, keeps the good one, exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_other_bureaus_records_and_bad_dates_by_line_with_exit_1() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&fr, "gs").await;
    let scratch = tempfile::tempdir().expect("temporary directory");
    let file = scratch.path().join("sltd.csv");
    std::fs::write(
        &file,
        "document_number,issuing_country,document_type,status,owner_bureau,reported_at,instructions\n\
         X1,FR,passport,stolen,ncb.fr,2026-03-01,Seize\n\
         X2,FR,passport,stolen,ncb.zz,2026-03-01,Seize\n\
         X3,FR,passport,stolen,ncb.fr,2026-02-30,Seize\n",
    )
    .expect("test file");
    let config = net.config_path("ncb.fr").display().to_string();
    let path = file.display().to_string();
    let (code, stdout, stderr) = run_cli(
        bluehelm_bin!(),
        ["db", "import", "sltd", path.as_str(), "--config", &config],
    )
    .await;
    println!("import -> exit {code}:\n{stderr}");
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("imported 1 sltd record(s)"), "{stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.contains(&format!(
            "{path}:3: owner_bureau \"ncb.zz\": a node imports only its own records, which it signs; import this row at ncb.zz's node (this node is ncb.fr)"
        ).as_str()),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{path}:4: reported_at \"2026-02-30\""))),
        "{stderr}"
    );
    fr.shutdown().await;
    gs.shutdown().await;
}
