//! `bluehelm bench --scenario nominal` (issue 13): gs holds N synthetic persons (default
//! 1,000,000, `engine::nominal::synthetic`, imported and signed at gs before the clock
//! starts); the post's replica syncs them; then 700 `nominal.check` queries, each a variant
//! of a recorded person (another script, swapped names, typos, dropped diacritics, a partial
//! date of birth), are answered from the replica through the post's local API, one at a
//! time. Prints `p50_ms`, `p99_ms`, the share found at rank 1 and the replica's memory.
//! With `--dir D --reuse`, the queries run again on the replica an earlier run left in D
//! (the post alone, answering from its replica): minutes instead of half an hour at a
//! million persons, so that a figure can be measured more than once.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use bluehelm::api::pb;
use bluehelm::engine::nominal::synthetic::{self, SyntheticPerson, VARIANT_KINDS};
use rand::{Rng, SeedableRng};

use super::bench::Proc;
use super::bench_sync::{level, print, rss_mib, start_hub_and_post};

const SEED: u64 = 13;
const QUERIES_PER_KIND: usize = 100;

pub fn run(dir: &Path, records: Option<usize>, reuse: bool, json: bool) -> anyhow::Result<()> {
    let n = records.unwrap_or(1_000_000);
    let config = |name: &str| dir.join(format!("{name}.toml")).display().to_string();
    let (hub_proc, import_s) = match reuse {
        true => {
            anyhow::ensure!(
                dir.join("mission.unmiss.toml").exists(),
                "--reuse: {} holds no network from an earlier run",
                dir.display()
            );
            (None, None)
        }
        false => {
            let hub = start_hub_and_post(dir, "persons", "nominal.check")?;
            (Some(hub), Some(import(dir, n, &config("gs"))?))
        }
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let socket = bluehelm::NodeConfig::load(Path::new(&config("mission.unmiss")))?.api_socket;
    let started = Instant::now();
    let (post_proc, _post_out, _post_in) =
        Proc::spawn("post", &["run", "--config", &config("mission.unmiss")])?;
    runtime.block_on(level(&socket, "persons", n as u64))?;
    let sync_s = (!reuse).then(|| started.elapsed().as_secs_f64());
    let rss = rss_mib(post_proc.pid());

    let people: Vec<SyntheticPerson> = synthetic::population(SEED, n).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED + 1);
    let (mut ms, mut first) = (Vec::new(), 0usize);
    runtime.block_on(async {
        let mut api = bluehelm::api::client::connect(&socket).await?;
        for kind in VARIANT_KINDS {
            for _ in 0..QUERIES_PER_KIND {
                let i = rng.gen_range(0..n);
                let q = synthetic::variant(&people[i], kind, &mut rng);
                let mut params = vec![("family_name", q.family_name.clone())];
                params.push(("given_names", q.given_names.join(" ")));
                params.push(("date_of_birth", q.date_of_birth.clone()));
                let call = pb::ServiceCall {
                    service: "nominal.check".into(),
                    params: params
                        .into_iter()
                        .filter(|(_, v)| !v.is_empty())
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                    timeout_seconds: 10,
                    local_only: true,
                    ..Default::default()
                };
                let sent = Instant::now();
                let answer = api.request(call).await?.into_inner();
                ms.push(sent.elapsed().as_secs_f64() * 1000.0);
                let key = answer
                    .response
                    .and_then(|r| r.fields.get("candidate.1.key").cloned());
                if key.as_deref() == Some(format!("gs/P{i}").as_str()) {
                    first += 1;
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    ms.sort_by(f64::total_cmp);
    let (p50, p99) = (ms[ms.len() / 2], ms[ms.len() * 99 / 100]);
    let share = first as f64 / ms.len() as f64;
    drop((post_proc, hub_proc));
    let result = serde_json::json!({
        "scenario": "nominal", "records": n, "queries": ms.len(), "p50_ms": p50, "p99_ms": p99,
        "found_first": share, "replica_rss_mib": rss, "import_s": import_s, "sync_s": sync_s,
        "reused": reuse,
    });
    let setup = match (import_s, sync_s) {
        (Some(import_s), Some(sync_s)) => {
            format!("sync {sync_s:.0} s, import at gs {import_s:.0} s")
        }
        _ => "replica reused".to_owned(),
    };
    print(json, &result, &format!(
        "nominal: {} queries over {n} persons at the replica: p50 {p50:.2} ms, p99 {p99:.2} ms; the person asked about ranked first in {:.1} %; replica RSS {rss} MiB ({setup})",
        ms.len(), share * 100.0
    ))
}

/// Writes `n` synthetic persons as a CSV and imports them at gs through the real CLI; the
/// seconds it took.
fn import(dir: &Path, n: usize, gs_config: &str) -> anyhow::Result<f64> {
    let path = dir.join("persons.csv");
    let mut csv = csv::Writer::from_path(&path)?;
    csv.write_record(bluehelm::services::person::PERSON_COLUMNS)?;
    for (i, p) in synthetic::population(SEED, n).enumerate() {
        csv.write_record([
            &format!("P{i}"),
            &p.family_name,
            &p.given_names.join(" "),
            &p.date_of_birth,
            &p.sex,
            &p.nationalities.join(" "),
            "",
            "gs",
            "2026-03-01",
            "Inform gs",
        ])?;
    }
    csv.flush()?;
    drop(csv);
    let started = Instant::now();
    let exe = std::env::current_exe().context("cannot find the bluehelm binary")?;
    let out = std::process::Command::new(exe)
        .args(["db", "import", "persons"])
        .arg(&path)
        .args(["--config", gs_config])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(started.elapsed().as_secs_f64())
}
