//! The README's first command: `bluehelm demo --once` runs the whole story on real nodes and
//! exits 0 only if every step checked out.

use bluehelm_tests::bluehelm_bin;

#[test]
fn demo_once_checks_every_step_and_exits_zero() {
    let out = std::process::Command::new(bluehelm_bin!())
        .args(["demo", "--once"])
        .output()
        .expect("bluehelm demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("demo: every step checked: OK"), "{stdout}");
    assert!(stdout.contains("the queue drained FLASH first"), "{stdout}");
    assert!(
        stdout.contains("learned that mission.unmiss checked its record"),
        "{stdout}"
    );
    // Issue 12: one refusal by policy and one release marking at work.
    assert!(
        stdout.contains("refused at submission: notice-requests-from-ncb-for-own-bureau"),
        "{stdout}"
    );
    assert!(stdout.contains("(REL TO KE)"), "{stdout}");
    assert!(
        stdout.contains("release-marking: the destination mission.unmiss"),
        "{stdout}"
    );
    // Issue 13: the record imported at its owner's node reaches the post's replica, which
    // answers while the link is down; the owner hears of that hit later; a withdrawal ends it.
    for step in [
        "its digest matches the one gs signed",
        "answered by hub (gs): HIT owner=ncb.fr",
        "answered by the replica in",
        "hit-notification from mission.unmiss sltd.check hit on sltd/FR/X1234567",
        "learned of the offline hit when the link returned",
        "its replica says no hit; gs says no hit",
    ] {
        assert!(stdout.contains(step), "{step:?} missing from: {stdout}");
    }
}

/// `bluehelm bench` end to end at a small size: every scenario's messages arrive at the
/// destination (a message dropped on the way fails the run) and the JSON has the keys that
/// operators' scripts read.
#[test]
fn bench_runs_every_scenario_small_and_prints_json() {
    let out = std::process::Command::new(bluehelm_bin!())
        // Enough messages that each process uses several of /proc's 10 ms clock ticks: at
        // 400, the origin of `throughput` (some 20 us per message) used less than one, and
        // read as 0.
        .args(["bench", "--scenario", "all", "--messages", "4000", "--json"])
        .output()
        .expect("bluehelm bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["scenario"].as_str().expect("scenario"))
        .collect();
    assert_eq!(names, ["throughput", "latency", "flash-under-backlog"]);
    for r in &results {
        for key in ["msgs_per_s", "p50_ms", "p99_ms"] {
            assert!(r[key].as_f64().is_some_and(|v| v > 0.0), "{key} in {r}");
        }
        // Each process's CPU per message from /proc (issue 16, item 3): every process
        // started a node and handled messages, so none used nothing, and the sum adds up.
        let cpu = &r["cpu_us_per_msg"];
        let mut sum = 0.0;
        for process in ["origin", "hub", "destination"] {
            let user = cpu[process]["user"].as_f64().expect("user CPU");
            let system = cpu[process]["system"].as_f64().expect("system CPU");
            assert!(user + system > 0.0, "{process} in {cpu}");
            sum += user + system;
        }
        let total = cpu["total"].as_f64().expect("total CPU");
        assert!(
            (total - sum).abs() < 0.5,
            "total {total} against {sum} in {cpu}"
        );
    }
    assert_eq!(results[0]["messages"], 4000);
    assert_eq!(results[1]["messages"], 4000);
    assert_eq!(results[2]["messages"], 200, "the FLASH messages");
    assert_eq!(results[2]["backlog_messages"], 4000);
}

/// Runs `bluehelm demo` (not `--once`) until it asks for Ctrl-C, sends SIGINT, and returns
/// what it printed.
fn demo_until_ctrl_c(extra: &[&str]) -> String {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(bluehelm_bin!())
        .arg("demo")
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("bluehelm demo runs");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut printed = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("utf-8 output");
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("Press Ctrl-C") {
            break;
        }
    }
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let exit = child.wait().expect("reaped");
    assert!(exit.success(), "demo exited with {exit}: {printed}");
    printed
}

/// The config files that the demo's closing text tells the operator to run.
fn advertised_configs(printed: &str) -> Vec<std::path::PathBuf> {
    printed
        .lines()
        .filter_map(|l| l.trim().strip_prefix("bluehelm run --config "))
        .map(std::path::PathBuf::from)
        .collect()
}

/// Issue 10: the demo told the operator to run configs by hand after Ctrl-C from a folder it
/// deleted at Ctrl-C. Without `--dir` it says up front that the folder goes away (and how to
/// keep it); what it tells the operator to run still exists after it stops.
#[test]
fn demo_hints_name_only_files_that_outlive_it() {
    let printed = demo_until_ctrl_c(&[]);
    let first = printed.lines().next().unwrap_or_default();
    assert!(first.contains("--dir"), "{printed}");
    for config in advertised_configs(&printed) {
        assert!(config.exists(), "{} is gone: {printed}", config.display());
    }

    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("net");
    let printed = demo_until_ctrl_c(&["--dir", kept.to_str().unwrap()]);
    let configs = advertised_configs(&printed);
    assert_eq!(configs.len(), 4, "{printed}");
    for config in configs {
        assert!(config.exists(), "{} is gone: {printed}", config.display());
    }
}
