//! The node's log as an operator's tools read it (issue 15, item 2): with stderr sent to a
//! file, no colour codes in text; with `log_format = "json"`, one JSON object per line; and
//! a lost link reported at WARN with its reason.

use std::process::{Command, Stdio};
use std::time::Duration;

use bluehelm_tests::{bluehelm_bin, eventually, run_cli, TestNet};

/// Starts `bluehelm run` for `config` with stderr to `log` and the default log level; waits
/// for its ready line; returns the child.
fn start(config: &std::path::Path, log: &std::path::Path, verbose: bool) -> std::process::Child {
    use std::io::BufRead;
    let mut child = Command::new(bluehelm_bin!())
        .args(if verbose { &["-v"][..] } else { &[] })
        .args(["run", "--config"])
        .arg(config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("bluehelm run starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let ready = lines.next().expect("a ready line").unwrap();
    assert!(
        ready.contains("listening on") || ready.contains("running"),
        "{ready}"
    );
    std::thread::spawn(move || for _ in lines {});
    child
}

fn stop(mut child: std::process::Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_file_has_no_colour_codes_and_json_lines_parse() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let config = net.config_path("ncb.fr");

    // Text: no escape codes in a file.
    let text_log = net.dir().join("text.log");
    let node = start(&config, &text_log, false);
    eventually("the link to come up", || async {
        let log = std::fs::read_to_string(&text_log).ok()?;
        log.contains("link up").then_some(())
    })
    .await;
    stop(node);
    let log = std::fs::read_to_string(&text_log).unwrap();
    assert!(!log.contains('\x1b'), "escape codes in a log file:\n{log}");
    assert!(log.contains("INFO"), "{log}");

    // JSON with -v: every line an object; one debug line per message decision; the link's
    // loss at WARN with its reason; no debug line of a dependency.
    let original = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("log_format = \"json\"\n{original}")).unwrap();
    let json_log = net.dir().join("json.log");
    let node = start(&config, &json_log, true);
    eventually("the link to come up", || async {
        let log = std::fs::read_to_string(&json_log).ok()?;
        log.contains("link up").then_some(())
    })
    .await;
    let config_arg = config.to_str().unwrap();
    let (code, _, stderr) = run_cli(
        bluehelm_bin!(),
        [
            "send",
            "message",
            "--config",
            config_arg,
            "--to",
            "ncb.ke",
            "--subject-line",
            "logged",
            "--body",
            "x",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    eventually("the decision to be logged", || async {
        let log = std::fs::read_to_string(&json_log).ok()?;
        log.contains("message decision").then_some(())
    })
    .await;
    gs.shutdown().await;
    eventually("the link's loss to be logged", || async {
        let log = std::fs::read_to_string(&json_log).ok()?;
        log.contains("\"link down").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop(node);
    let log = std::fs::read_to_string(&json_log).unwrap();
    assert!(!log.contains('\x1b'), "{log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(lines
        .iter()
        .all(|l| l.is_object() && l["level"].is_string()));
    let down = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("link down"))
        })
        .unwrap_or_else(|| panic!("no link down line:\n{log}"));
    assert_eq!(down["level"], "WARN", "{down}");
    assert_eq!(down["peer"], "gs", "{down}");
    assert!(
        down["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{down}"
    );
    assert!(down["since"].is_string(), "{down}");
    let decision = lines
        .iter()
        .find(|l| l["message"] == "message decision")
        .unwrap_or_else(|| panic!("no decision line:\n{log}"));
    assert_eq!(decision["level"], "DEBUG", "{decision}");
    assert_eq!(decision["origin"], "ncb.fr", "{decision}");
    assert_eq!(decision["destination"], "node:ncb.ke", "{decision}");
    assert_eq!(decision["decision"], "relay to gs", "{decision}");
    assert_eq!(
        decision["id"].as_str().map(str::len),
        Some(32),
        "{decision}"
    );
    let foreign = lines.iter().find(|l| {
        l["level"] == "DEBUG"
            && !l["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("bluehelm"))
    });
    assert!(
        foreign.is_none(),
        "-v turned on a dependency's debug: {foreign:?}"
    );
}
