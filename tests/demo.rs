//! The README's first command: `bluehelm demo --once` runs the whole story on real nodes and
//! exits 0 only if every step checked out.

use bluehelm_tests::bluehelm_bin;

#[test]
fn demo_once_checks_every_step_and_exits_zero() {
    let out = std::process::Command::new(bluehelm_bin())
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
}

/// `bluehelm bench` end to end at a small size: every scenario's messages arrive at the
/// destination (a message dropped on the way fails the run) and the JSON has the keys that
/// operators' scripts read.
#[test]
fn bench_runs_every_scenario_small_and_prints_json() {
    let out = std::process::Command::new(bluehelm_bin())
        .args(["bench", "--scenario", "all", "--messages", "400", "--json"])
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
    }
    assert_eq!(results[0]["messages"], 400);
    assert_eq!(results[1]["messages"], 400);
    assert_eq!(results[2]["messages"], 200, "the FLASH messages");
    assert_eq!(results[2]["backlog_messages"], 400);
}
