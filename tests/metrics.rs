//! Metrics and health (issue 15, item 1), with real nodes on loopback and real HTTP: gs
//! serves `/metrics` and `/healthz` on `metrics_listen`, fetched with `curl` (its output is
//! printed); the series follow the traffic; `/healthz` turns 503 once the CRL in force has
//! expired; `bluehelm status` exits 8 while a configured peer is down and 0 once all are up;
//! a replica's lag is nil while it is level and grows while the hub is away.

use std::net::SocketAddr;
use std::process::Command;

use bluehelm::custody::now_ms;
use bluehelm::localnet::standard_specs;
use bluehelm_proto::Precedence;
use bluehelm_tests::records::{hub_at_least, import_sltd, replica_level, sltd_row};
use bluehelm_tests::{
    bluehelm_bin, eventually, linked, queues_empty, run_cli, specs_with_reference_services, text,
    TestNet,
};

/// A TCP port on loopback that was free a moment ago.
fn free_tcp_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// The standard network, gs with `metrics_listen`; returns it and the address.
fn net_with_metrics_at_gs() -> (TestNet, SocketAddr) {
    let address = free_tcp_addr();
    let mut specs = standard_specs();
    specs[0].metrics_listen = Some(address);
    (TestNet::with_specs(specs), address)
}

/// `curl -s -i URL` (the status line and headers, then the body), printed; returns the HTTP
/// status code and the body.
async fn curl(address: SocketAddr, path: &str) -> (u16, String) {
    let url = format!("http://{address}{path}");
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-s", "-i", "--max-time", "10", &url])
            .output()
    })
    .await
    .expect("curl ran")
    .expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!(
        "$ curl -s -i http://{address}{path}   # {} ms with curl's start\n{text}",
        started.elapsed().as_millis()
    );
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (code, body)
}

/// The value of the series `name{labels}` (labels as written, in order), if present.
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_the_traffic_and_status_fails_while_a_peer_is_down() {
    let (net, address) = net_with_metrics_at_gs();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&gs, "ncb.fr").await;

    let (code, body) = curl(address, "/healthz").await;
    assert_eq!((code, body.as_str()), (200, "ok\n"));

    // ncb.ke is down: what ncb.fr sends it waits at gs.
    let batch: Vec<_> = (0..5)
        .map(|n| text(n, "ncb.ke", Precedence::Flash))
        .collect();
    fr.bureau().submit(batch).await.expect("ncb.fr takes them");
    let routine: Vec<_> = (5..7)
        .map(|n| text(n, "ncb.ke", Precedence::Routine))
        .collect();
    fr.bureau()
        .submit(routine)
        .await
        .expect("ncb.fr takes them");
    eventually("gs to queue 7 copies for ncb.ke", || async {
        (gs.bureau().queue_depths().get(&"ncb.ke".parse().unwrap()) == Some(&7)).then_some(())
    })
    .await;

    let (code, metrics) = curl(address, "/metrics").await;
    assert_eq!(code, 200);
    for series in [
        "bluehelm_ready",
        "bluehelm_links_up",
        "bluehelm_handshake_failures_total{reason=\"tls\"}",
        "bluehelm_messages_refused_total{reason=\"hop-limit\",precedence=\"flash\"}",
        "bluehelm_custody_latency_seconds_count",
        "bluehelm_custody_latency_seconds_bucket{le=\"+Inf\"}",
        "bluehelm_fsync_latency_seconds_count",
        "bluehelm_store_size_bytes",
        "bluehelm_crl_number",
        "bluehelm_crl_next_update_timestamp_seconds",
        "bluehelm_review_queue_size",
    ] {
        assert!(value(&metrics, series).is_some(), "{series} missing");
    }
    assert_eq!(value(&metrics, "bluehelm_ready"), Some(1.0));
    assert_eq!(value(&metrics, "bluehelm_links_up"), Some(1.0));
    // gs has no alternates: nothing given up (tests/failover.rs shows a failover in `status`).
    assert_eq!(value(&metrics, "bluehelm_failover_given_up"), Some(0.0));
    assert_eq!(
        value(
            &metrics,
            "bluehelm_link_up{peer=\"ncb.fr\",configured=\"true\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &metrics,
            "bluehelm_link_up{peer=\"ncb.ke\",configured=\"true\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&metrics, "bluehelm_messages_in_total{precedence=\"flash\"}"),
        Some(5.0)
    );
    assert_eq!(
        value(
            &metrics,
            "bluehelm_messages_in_total{precedence=\"routine\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &metrics,
            "bluehelm_queue_depth{next_hop=\"ncb.ke\",precedence=\"flash\"}"
        ),
        Some(5.0)
    );
    assert_eq!(
        value(
            &metrics,
            "bluehelm_queue_depth{next_hop=\"ncb.ke\",precedence=\"routine\"}"
        ),
        Some(2.0)
    );
    let age = value(
        &metrics,
        "bluehelm_queue_oldest_age_seconds{next_hop=\"ncb.ke\",precedence=\"flash\"}",
    )
    .expect("an oldest age");
    assert!(age > 0.0 && age < 60.0, "{age}");
    assert!(value(&metrics, "bluehelm_custody_latency_seconds_count") >= Some(7.0));
    assert!(value(&metrics, "bluehelm_fsync_latency_seconds_count") >= Some(1.0));
    assert!(value(&metrics, "bluehelm_store_size_bytes") > Some(0.0));
    let expires = value(&metrics, "bluehelm_crl_next_update_timestamp_seconds").unwrap();
    assert!(expires > (now_ms() / 1000) as f64, "{expires}");

    // A configured peer down: status says so and exits 8.
    let gs_config = net.config_path("gs").display().to_string();
    let (code, out, err) = run_cli(bluehelm_bin!(), ["status", "--config", &gs_config]).await;
    println!("$ bluehelm status --config gs.toml\n{out}{err}(exit {code})");
    assert_eq!(code, 8, "{out}{err}");
    assert!(err.contains("configured peer ncb.ke is down"), "{err}");
    assert!(out.contains("flash"), "{out}");
    // A queue older than --max-age is a reason of its own.
    let (code, _, err) = run_cli(
        bluehelm_bin!(),
        ["status", "--config", &gs_config, "--max-age", "0"],
    )
    .await;
    assert_eq!(code, 8);
    assert!(err.contains("the oldest copy queued for ncb.ke"), "{err}");

    // Every configured peer up: the queue drains, status exits 0.
    let ke = net.start("ncb.ke").await;
    let post = net.start("mission.unmiss").await;
    for peer in ["ncb.ke", "mission.unmiss"] {
        linked(&gs, peer).await;
    }
    queues_empty(&[&gs, &fr]).await;
    let (code, out, err) = run_cli(bluehelm_bin!(), ["status", "--config", &gs_config]).await;
    println!("$ bluehelm status --config gs.toml\n{out}{err}(exit {code})");
    assert_eq!(code, 0, "{out}{err}");

    let (_, metrics) = curl(address, "/metrics").await;
    assert_eq!(value(&metrics, "bluehelm_links_up"), Some(3.0));
    assert_eq!(
        value(
            &metrics,
            "bluehelm_messages_out_total{precedence=\"flash\"}"
        ),
        Some(5.0)
    );
    assert_eq!(
        value(
            &metrics,
            "bluehelm_queue_depth{next_hop=\"ncb.ke\",precedence=\"flash\"}"
        ),
        Some(0.0)
    );

    for node in [post, ke, fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_once_the_crl_has_expired() {
    let (mut net, address) = net_with_metrics_at_gs();
    // Signed two days ago, due again one day ago.
    let two_days_ago = now_ms() / 1000 - 2 * 86_400;
    let crl = net.net.ca().crl_issued_at(two_days_ago, 1).expect("a CRL");
    std::fs::write(net.net.pki_dir().join("crl.pem"), crl).expect("CRL written");
    let gs = net.start("gs").await;

    let (code, body) = curl(address, "/healthz").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("CRL expired"), "{body}");
    let (code, metrics) = curl(address, "/metrics").await;
    assert_eq!(code, 200);
    assert_eq!(value(&metrics, "bluehelm_ready"), Some(0.0));
    let expires = value(&metrics, "bluehelm_crl_next_update_timestamp_seconds").unwrap();
    assert!(expires < (now_ms() / 1000) as f64, "{expires}");

    let gs_config = net.config_path("gs").display().to_string();
    let (code, out, err) = run_cli(bluehelm_bin!(), ["status", "--config", &gs_config]).await;
    assert_eq!(code, 8, "{out}{err}");
    assert!(out.contains("ready: NO"), "{out}");
    assert!(err.contains("not ready: CRL expired"), "{err}");
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_metrics_address_stops_the_start_and_names_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let mut specs = standard_specs();
    specs[0].metrics_listen = Some(address);
    let net = TestNet::with_specs(specs);
    let config = net.net.config("gs").unwrap();
    let err = match bluehelm::Node::start(config).await {
        Ok(_) => panic!("gs started on a taken metrics address"),
        Err(err) => err,
    };
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(
        chain.contains(&format!("metrics_listen = \"{address}\"")),
        "{chain}"
    );
    // The store was closed: gs starts on the same storage once the address is free.
    drop(taken);
    net.start("gs").await.shutdown().await;
}

/// `bluehelm_replica_lag_seconds` of `database` in `metrics`.
fn lag_seconds(metrics: &str, database: &str) -> f64 {
    value(
        metrics,
        &format!("bluehelm_replica_lag_seconds{{database=\"{database}\"}}"),
    )
    .unwrap_or_else(|| panic!("no replica lag in seconds for {database}:\n{metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_lag_is_nil_when_level_and_grows_while_the_hub_is_away() {
    let address = free_tcp_addr();
    let mut specs = specs_with_reference_services();
    let post_spec = specs
        .iter_mut()
        .find(|s| s.id.as_str() == "mission.unmiss")
        .expect("the standard network has a mission post");
    post_spec.metrics_listen = Some(address);
    let net = TestNet::with_specs(specs);
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&fr, "gs").await;
    let rows: Vec<String> = (0..50)
        .map(|i| sltd_row(&format!("P{i:06}"), "ncb.fr", ""))
        .collect();
    let report = import_sltd(&fr, &rows).await;
    assert_eq!((report.imported, report.rejected), (50, 0), "{report:?}");
    hub_at_least(&gs, "sltd", 50).await;
    let post = net.start("mission.unmiss").await;
    replica_level(&post, "sltd", 50).await;

    let (code, metrics) = curl(address, "/metrics").await;
    assert_eq!(code, 200);
    assert_eq!(
        value(&metrics, "bluehelm_replica_lag_changes{database=\"sltd\"}"),
        Some(0.0),
        "{metrics}"
    );
    // Level, and told so at least every heartbeat (15 s) while the hub is there.
    assert!(lag_seconds(&metrics, "sltd") < 16.0, "{metrics}");

    // The hub goes away: nothing says the replica is level any more, so the lag grows
    // with the clock.
    gs.shutdown().await;
    let (_, before) = curl(address, "/metrics").await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (_, after) = curl(address, "/metrics").await;
    let (before, after) = (lag_seconds(&before, "sltd"), lag_seconds(&after, "sltd"));
    assert!(
        after >= before + 2.5,
        "the lag grew from {before} s to only {after} s in 3 s"
    );
    drop(post);
}
