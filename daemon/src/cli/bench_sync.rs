//! `bluehelm bench --scenario sync|check-local` (issue 13): gs and a mission post as two
//! `bluehelm run` processes on loopback. `sync`: gs holds N SLTD records (default 1,000,000,
//! imported and signed at gs before the clock starts); a fresh replica at the post syncs them
//! all (`records_per_s`), then, after an outage during which gs sequenced 10,000 more changes,
//! catches up: `catchup_ms` from the link's return to level, as the replica timed it (its
//! `db status` "last caught up"), and `catchup_from_start_ms` from the post's process start,
//! store opening included. The post's resident memory is read from /proc when it is level.
//! With `--released P`, P % of the records are released to the post and the rest to `FR`
//! only: the post holds `held` of them, and each sync batch proves part of each signing batch
//! with a multiproof. `check-local`: `sltd.check` answered from the post's
//! replica through its local API, one at a time (`p50_ms`, `p99_ms`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bluehelm::api::pb;
use bluehelm::localnet::{LocalNet, NodeSpec};

use super::bench::Proc;
use super::out::outln;

/// Changes gs sequences while the post is away, for the catch-up.
const CATCH_UP: usize = 10_000;
/// Checks timed in `check-local`.
const CHECKS: usize = 2_000;

pub fn run(
    scenario: &str,
    dir: &Path,
    records: Option<usize>,
    released: u8,
    json: bool,
) -> anyhow::Result<()> {
    let local = scenario == "check-local";
    let n = records.unwrap_or(if local { 100_000 } else { 1_000_000 });
    let hub_proc = start_hub_and_post(dir, "sltd", "sltd.check")?;
    let config = |name: &str| dir.join(format!("{name}.toml")).display().to_string();
    let started = Instant::now();
    import(dir, &config("gs"), 0..n, released)?;
    let import_s = started.elapsed().as_secs_f64();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let post_config = bluehelm::NodeConfig::load(Path::new(&config("mission.unmiss")))?;
    let socket = post_config.api_socket.clone();

    let started = Instant::now();
    let (post_proc, _post_out, _post_in) =
        Proc::spawn("post", &["run", "--config", &config("mission.unmiss")])?;
    runtime.block_on(level(&socket, "sltd", n as u64))?;
    let sync_s = started.elapsed().as_secs_f64();
    let rss_mib = rss_mib(post_proc.pid());

    if local {
        let (p50, p99) = runtime.block_on(checks(&socket, n))?;
        let result = serde_json::json!({
            "scenario": "check-local", "records": n, "checks": CHECKS,
            "p50_ms": p50, "p99_ms": p99,
        });
        return print(json, &result, &format!(
            "check-local: {CHECKS} sltd.check from the replica of {n} records: p50 {p50:.3} ms, p99 {p99:.3} ms"
        ));
    }

    let held = state(&socket, "sltd");
    let held = runtime.block_on(held)?.map_or(0, |s| s.records);
    drop(post_proc);
    import(dir, &config("gs"), n..n + CATCH_UP, released)?;
    let started = Instant::now();
    // The clock the replica stamps a catch-up's `at_ms` with.
    let restarted_at_ms = bluehelm::custody::now_ms();
    let (_post_proc, _post_out, _post_in) =
        Proc::spawn("post", &["run", "--config", &config("mission.unmiss")])?;
    runtime.block_on(level(&socket, "sltd", (n + CATCH_UP) as u64))?;
    let catchup_from_start_ms = started.elapsed().as_secs_f64() * 1000.0;
    let catch_up = runtime.block_on(catch_up_since(&socket, "sltd", restarted_at_ms))?;
    anyhow::ensure!(
        catch_up.changes >= CATCH_UP as u64,
        "the replica's last catch-up applied {} changes, not the {CATCH_UP} of the outage",
        catch_up.changes
    );
    let catchup_ms = catch_up.ms as f64;
    let records_per_s = n as f64 / sync_s;
    let result = serde_json::json!({
        "scenario": "sync", "records": n, "records_per_s": records_per_s.round(),
        "sync_s": sync_s, "import_s": import_s, "catchup_changes": CATCH_UP,
        "catchup_ms": catchup_ms.round(), "catchup_from_start_ms": catchup_from_start_ms.round(),
        "replica_rss_mib": rss_mib, "released_percent": released, "held": held,
    });
    drop(hub_proc);
    print(json, &result, &format!(
        "sync: {n} records ({held} released to it) to a fresh replica in {sync_s:.1} s ({records_per_s:.0} records/s; replica RSS {rss_mib} MiB); catch-up of {CATCH_UP} changes in {catchup_ms:.0} ms from the link's return ({catchup_from_start_ms:.0} ms from the post's start; import at gs took {import_s:.1} s)"
    ))
}

/// A running hub process, with the pipes it was started with.
pub(super) type Running = (
    Proc,
    std::io::BufReader<std::process::ChildStdout>,
    std::process::ChildStdin,
);

/// Writes gs (hosting `service` from `database`) and mission.unmiss (replicating it) into
/// `dir`, and starts gs.
pub(super) fn start_hub_and_post(
    dir: &Path,
    database: &str,
    service: &str,
) -> anyhow::Result<Running> {
    let mut net = LocalNet::create(dir)?;
    let mut hub = NodeSpec::hub("gs", bluehelm::localnet::free_loopback_addr());
    let mut post = NodeSpec::mission("mission.unmiss", "UNMISS", &hub);
    post.replicate = vec![database.into()];
    hub.peers = vec![(post.id.clone(), None)];
    hub.services = vec![(service.into(), hub.id.clone())];
    hub.reference_services = vec![database.into()];
    for spec in [&hub, &post] {
        net.add(spec)?;
    }
    let config = dir.join("gs.toml").display().to_string();
    let (hub_proc, mut hub_out, hub_in) = Proc::spawn("hub", &["run", "--config", &config])?;
    hub_proc.wait_line(&mut hub_out, "listening on")?;
    Ok((hub_proc, hub_out, hub_in))
}

pub(super) fn print(json: bool, result: &serde_json::Value, text: &str) -> anyhow::Result<()> {
    if json {
        outln!("{result}")?;
    } else {
        outln!("{text}")?;
    }
    Ok(())
}

/// Imports gs-owned stolen passports numbered `range` at gs, through the real CLI;
/// `released` % of them (spread by a hash of the number) for everyone, the rest for FR only.
fn import(
    dir: &Path,
    config: &str,
    range: std::ops::Range<usize>,
    released: u8,
) -> anyhow::Result<()> {
    let mut csv = String::with_capacity(range.len() * 84);
    csv.push_str("document_number,issuing_country,document_type,status,owner_bureau,reported_at,instructions,release_to\n");
    for i in range {
        let spread = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57;
        let release = if spread * 100 / 128 < u64::from(released) {
            ""
        } else {
            "FR"
        };
        csv.push_str(&format!(
            "B{i:09},FR,passport,stolen,gs,2026-03-01,Seize the document,{release}\n"
        ));
    }
    let path = dir.join("import.csv");
    std::fs::write(&path, csv)?;
    let exe = std::env::current_exe().context("cannot find the bluehelm binary")?;
    let out = Command::new(exe)
        .args(["db", "import", "sltd"])
        .arg(&path)
        .args(["--config", config])
        .output()?;
    if !out.status.success() {
        bail!("import failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// The catch-up the replica noted after `since_ms`. It notes it just after it is level, so
/// right after `level` the note may still be the one before the restart (the first sync's).
async fn catch_up_since(
    socket: &Path,
    database: &str,
    since_ms: i64,
) -> anyhow::Result<pb::CatchUp> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let noted = state(socket, database).await?.and_then(|s| s.last_catch_up);
        match noted {
            Some(catch_up) if catch_up.at_ms >= since_ms => return Ok(catch_up),
            _ if Instant::now() > deadline => {
                bail!("the replica noted no catch-up within 10 s of being level again")
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// The post's state of `database`; none while its API is not up.
async fn state(socket: &Path, database: &str) -> anyhow::Result<Option<pb::DatabaseState>> {
    let Ok(mut api) = bluehelm::api::client::connect(socket).await else {
        return Ok(None);
    };
    let Ok(status) = api.database_status(pb::DatabaseStatusRequest {}).await else {
        return Ok(None);
    };
    Ok(status
        .into_inner()
        .databases
        .into_iter()
        .find(|d| d.database == database))
}

/// Waits until the post's replica of `database` has applied change `seq`.
pub(super) async fn level(socket: &Path, database: &str, seq: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        if state(socket, database).await?.is_some_and(|d| d.seq >= seq) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the replica did not reach change {seq} in 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Times `CHECKS` local-only checks of random held passports; (p50, p99) in ms.
async fn checks(socket: &Path, n: usize) -> anyhow::Result<(f64, f64)> {
    let mut api = bluehelm::api::client::connect(socket).await?;
    let mut ms = Vec::with_capacity(CHECKS);
    for i in 0..CHECKS {
        let number = format!("B{:09}", (i * 7919) % n);
        let call = pb::ServiceCall {
            service: "sltd.check".into(),
            params: [
                ("document_number".to_owned(), number),
                ("issuing_country".to_owned(), "FR".to_owned()),
            ]
            .into(),
            timeout_seconds: 5,
            local_only: true,
            ..Default::default()
        };
        let sent = Instant::now();
        let answer = api.request(call).await?.into_inner();
        ms.push(sent.elapsed().as_secs_f64() * 1000.0);
        let hit = answer.response.map(|r| r.status) == Some(pb::ResponseStatus::Hit as i32);
        anyhow::ensure!(hit, "check {i} found no record it should have");
    }
    ms.sort_by(f64::total_cmp);
    Ok((ms[ms.len() / 2], ms[ms.len() * 99 / 100]))
}

/// Resident memory of a process, MiB, from /proc (0 where unreadable).
pub(super) fn rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}
