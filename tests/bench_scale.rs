//! The scale scenarios of `bluehelm bench` (issue 15, item 10) at a small size, end to end on
//! real processes: `drain` (a backlog for an offline post; with `--restart-hub`, the hub
//! killed and started again with it queued), `fanout` (a notice published to
//! a group of NCBs) and `links` (many peers at one hub). Each must complete with every
//! message or link accounted for, and print the JSON keys that docs/performance.md quotes.

use bluehelm_tests::bluehelm_bin;
use serde_json::Value;

/// Runs `bluehelm bench --json` with `args`; its one JSON object.
fn bench(args: &[&str]) -> Value {
    let out = std::process::Command::new(bluehelm_bin!())
        .args(["bench", "--json"])
        .args(args)
        .output()
        .expect("bluehelm bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Progress (a line rewritten with carriage returns) goes to a terminal only: a pipe gets
    // the result alone.
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains('\r'),
        "progress written to a pipe"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON object: {stdout}");
    serde_json::from_str(lines[0]).expect("JSON")
}

fn positive(result: &Value, key: &str) -> f64 {
    let value = result[key].as_f64().unwrap_or(f64::NAN);
    assert!(value > 0.0, "{key} in {result}");
    value
}

#[test]
fn drain_delivers_every_queued_message_once_and_reports_the_rate() {
    let r = bench(&["--scenario", "drain", "--messages", "2000"]);
    assert_eq!(r["scenario"], "drain");
    assert_eq!(r["messages"], 2000, "{r}");
    assert_eq!(r["lost"], 0, "{r}");
    assert_eq!(r["duplicated"], 0, "{r}");
    let seconds = positive(&r, "seconds");
    let rate = positive(&r, "msg_per_s");
    assert!((rate * seconds - 2000.0).abs() < 2.0, "{r}");
    let peak = positive(&r, "hub_max_rss_mib");
    assert!(peak >= positive(&r, "hub_rss_after_fill_mib"), "{r}");
    positive(&r, "fill_seconds");
    assert!(r["drain_cpu_s"]["hub"].as_f64().is_some(), "{r}");
}

#[test]
fn a_hub_killed_with_the_backlog_queued_restarts_and_delivers_every_message_once() {
    let r = bench(&["--scenario", "drain", "--messages", "3000", "--restart-hub"]);
    assert_eq!(r["messages"], 3000, "{r}");
    assert_eq!(r["lost"], 0, "{r}");
    assert_eq!(r["duplicated"], 0, "{r}");
    positive(&r, "hub_restart_s");
    positive(&r, "hub_rss_after_restart_mib");
    // Without the flag, no restart is reported.
    let plain = bench(&["--scenario", "drain", "--messages", "500"]);
    assert!(plain.get("hub_restart_s").is_none(), "{plain}");
}

#[test]
fn fanout_reaches_every_ncb_and_reports_the_last_one() {
    let r = bench(&["--scenario", "fanout", "--peers", "10"]);
    assert_eq!(r["scenario"], "fanout");
    assert_eq!(r["ncbs"], 10, "{r}");
    let last = positive(&r, "last_ms");
    let p50 = positive(&r, "p50_ms");
    assert!(p50 <= last && positive(&r, "first_ms") <= p50, "{r}");
    positive(&r, "hub_max_rss_mib");
}

#[test]
fn links_brings_every_peer_up_and_reports_memory_per_link() {
    let r = bench(&["--scenario", "links", "--peers", "20"]);
    assert_eq!(r["scenario"], "links");
    assert_eq!(r["peers"], 20, "{r}");
    positive(&r, "handshakes_per_s");
    positive(&r, "hub_rss_mib");
    assert!(r["rss_per_link_kib"].as_f64().is_some(), "{r}");
    assert!(
        positive(&r, "handshake_p50_ms") <= positive(&r, "handshake_p99_ms"),
        "{r}"
    );
}

/// Runs `bluehelm bench` with `args`, which it must refuse saying `message`.
fn refused(args: &[&str], message: &str) {
    let out = std::process::Command::new(bluehelm_bin!())
        .arg("bench")
        .args(args)
        .output()
        .expect("bluehelm bench runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(message), "{stderr}");
}

#[test]
fn restart_hub_is_refused_where_it_means_nothing() {
    refused(
        &["--scenario", "throughput", "--restart-hub"],
        "--restart-hub works with --scenario drain only",
    );
}

#[test]
fn peers_is_refused_where_it_means_nothing() {
    refused(
        &["--scenario", "drain", "--peers", "5"],
        "--peers works with --scenario fanout or links only",
    );
}

#[test]
fn a_sync_of_records_released_in_part_gives_the_replica_its_share_only() {
    let r = bench(&[
        "--scenario",
        "sync",
        "--messages",
        "3000",
        "--released",
        "10",
    ]);
    assert_eq!(r["scenario"], "sync");
    assert_eq!(r["records"], 3000, "{r}");
    assert_eq!(r["released_percent"], 10, "{r}");
    // About a tenth, spread through every signed batch: each sync batch proves a part.
    let held = r["held"].as_u64().unwrap_or(0);
    assert!((200..=400).contains(&held), "{r}");
    positive(&r, "records_per_s");
    positive(&r, "catchup_ms");
}

#[test]
fn released_is_refused_where_it_means_nothing() {
    let out = std::process::Command::new(bluehelm_bin!())
        .args(["bench", "--scenario", "drain", "--released", "50"])
        .output()
        .expect("bluehelm bench runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--released works with --scenario sync only")
    );
}
