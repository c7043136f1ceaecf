//! The audit log (issue 14, item 5), over real nodes on loopback and the real `bluehelm`
//! binary: every custody decision and every database query leaves an entry at each node it
//! touched, `audit verify` finds each kind of tampering, and a node that rewrites its log
//! after gs has its signed checkpoint is caught.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bluehelm::engine::audit::{Chain, Entry};
use bluehelm_proto::Precedence;
use bluehelm_tests::records::{check_sltd, import_sltd, replica_level, sltd_row};
use bluehelm_tests::{
    bluehelm_bin, id, inbox_at_least, linked, run_cli, specs_with_reference_services, text, TestNet,
};

/// The standard network with gs answering the reference checks, every node signing an
/// audit checkpoint every second.
fn net() -> TestNet {
    let mut specs = specs_with_reference_services();
    for spec in &mut specs {
        spec.audit = Some("checkpoint_seconds = 1".into());
    }
    TestNet::with_specs(specs)
}

fn storage(net: &TestNet, node: &str) -> PathBuf {
    net.dir().join("data").join(node)
}

async fn audit_cli(net: &TestNet, args: &[&str], node: &str) -> (i32, String, String) {
    let config = net.config_path(node);
    let mut all: Vec<&str> = vec!["audit"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--config", config.to_str().expect("a UTF-8 path")]);
    run_cli(bluehelm_bin!(), all).await
}

/// `audit trace ID --json` at `node`: the entries, as (event, decision).
async fn trace(net: &TestNet, node: &str, id: &str) -> Vec<(String, String)> {
    let (code, out, err) = audit_cli(net, &["trace", id, "--json"], node).await;
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).expect("a JSON entry");
            (
                entry["event"].as_str().unwrap_or_default().to_owned(),
                entry["decision"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn has(entries: &[(String, String)], event: &str, decision_part: &str) -> bool {
    entries
        .iter()
        .any(|(e, d)| e == event && d.contains(decision_part))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_a_message_passes_records_what_it_did_and_verify_passes() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    let post = net.start("mission.unmiss").await;
    for node in [&fr, &ke, &post] {
        linked(node, "gs").await;
    }
    let ids = fr
        .bureau()
        .submit(vec![text(1, "ncb.ke", Precedence::Routine)])
        .await
        .expect("submitted");
    let id = ids[0].to_string();
    let inbox = inbox_at_least(&ke, 1).await;
    assert_eq!(
        ke.bureau().ack_inbox(&[inbox[0].seq]).await.expect("ack"),
        1
    );
    // The post's mission may address ncb.ke only (the standard policy): refused at once.
    let refused = post
        .bureau()
        .submit(vec![text(2, "ncb.fr", Precedence::Routine)])
        .await;
    assert!(refused.is_err());
    for node in [post, ke, fr, gs] {
        node.shutdown().await;
    }

    let at_fr = trace(&net, "ncb.fr", &id).await;
    assert!(
        has(&at_fr, "accepted", "originated here; copies for gs"),
        "{at_fr:?}"
    );
    assert!(has(&at_fr, "relayed", "to gs"), "{at_fr:?}");
    let at_gs = trace(&net, "gs", &id).await;
    assert!(
        has(&at_gs, "accepted", "from ncb.fr; copies for ncb.ke"),
        "{at_gs:?}"
    );
    assert!(has(&at_gs, "relayed", "to ncb.ke"), "{at_gs:?}");
    let at_ke = trace(&net, "ncb.ke", &id).await;
    assert!(
        has(&at_ke, "accepted", "from gs; copies for inbox"),
        "{at_ke:?}"
    );
    assert!(has(&at_ke, "delivered", "in the inbox"), "{at_ke:?}");
    assert!(has(&at_ke, "read", "acknowledged"), "{at_ke:?}");

    let post_log = std::fs::read_to_string(storage(&net, "mission.unmiss").join("audit.log"))
        .expect("the post's log");
    assert!(
        post_log.contains("\"event\":\"refused\"") && post_log.contains("message-scope"),
        "{post_log}"
    );
    for node in ["gs", "ncb.fr", "ncb.ke", "mission.unmiss"] {
        let log = storage(&net, node).join("audit.log");
        let mode = std::fs::metadata(&log).expect("log").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{node}'s audit log is private");
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(!text.contains("xxxxxxxx"), "{node}'s log holds no body");
        let (code, out, err) = audit_cli(&net, &["verify"], node).await;
        assert_eq!(code, 0, "{node}: {out}{err}");
        assert!(out.contains("intact"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_of_a_bureaus_records_are_listed_at_gs_and_at_the_replica_that_answered() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let post = net.start("mission.unmiss").await;
    linked(&fr, "gs").await;
    linked(&post, "gs").await;
    import_sltd(&fr, &[sltd_row("X1234567", "ncb.fr", "")]).await;
    replica_level(&post, "sltd", 1).await;
    // Link up: the replica answers at once and the hub answers too; both are queries.
    let answer = check_sltd(&post, "X1234567", false).await;
    assert_eq!(answer.answered_by, "hub");
    for node in [post, fr, gs] {
        node.shutdown().await;
    }

    let queries = |out: String| -> Vec<serde_json::Value> {
        out.lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect()
    };
    let (code, out, err) = audit_cli(&net, &["queries", "--owner", "ncb.fr", "--json"], "gs").await;
    assert_eq!(code, 0, "{err}");
    let at_gs = queries(out);
    assert_eq!(at_gs.len(), 1, "{at_gs:?}");
    assert_eq!(at_gs[0]["origin"], "mission.unmiss");
    assert_eq!(at_gs[0]["kind"], "sltd.check");
    assert_eq!(at_gs[0]["decision"], "answered: hit");

    let (code, out, err) = audit_cli(
        &net,
        &["queries", "--owner", "ncb.fr", "--json"],
        "mission.unmiss",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let at_post = queries(out);
    assert_eq!(at_post.len(), 1, "{at_post:?}");
    assert_eq!(
        at_post[0]["decision"],
        "answered from this node's replica: hit"
    );
    let text = std::fs::read_to_string(storage(&net, "gs").join("audit.log")).expect("log");
    assert!(!text.contains("X1234567"), "no query parameters in the log");

    let (code, out, _) = audit_cli(&net, &["queries", "--owner", "ncb.ke"], "gs").await;
    assert_eq!((code, out.trim()), (0, "(no entries)"));
}

/// A log of a few entries at ncb.fr, its node stopped; returns its lines.
async fn some_history(net: &TestNet) -> Vec<String> {
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&fr, "gs").await;
    let batch = (0..4).map(|n| text(n, "gs", Precedence::Routine)).collect();
    fr.bureau().submit(batch).await.expect("submitted");
    inbox_at_least(&gs, 4).await;
    // ncb.fr logs "relayed" when gs's acknowledgement reaches it, after gs's inbox has them.
    let hub = id("gs");
    bluehelm_tests::eventually("gs to acknowledge all four to ncb.fr", || async {
        (fr.bureau().queue_depth(&hub) == 0).then_some(())
    })
    .await;
    fr.shutdown().await;
    gs.shutdown().await;
    let log = std::fs::read_to_string(storage(net, "ncb.fr").join("audit.log")).expect("log");
    let lines: Vec<String> = log.lines().map(str::to_owned).collect();
    assert!(
        lines.len() >= 8,
        "accepted and relayed, four times: {lines:?}"
    );
    lines
}

fn write_log(net: &TestNet, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(storage(net, "ncb.fr").join("audit.log"), text).expect("log written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_an_edited_removed_inserted_reordered_or_cut_entry_and_says_where() {
    let net = net();
    let original = some_history(&net).await;
    let (code, out, err) = audit_cli(&net, &["verify"], "ncb.fr").await;
    assert_eq!(code, 0, "untouched: {out}{err}");

    let mut edited = original.clone();
    edited[2] = edited[2].replacen("\"origin\":\"ncb.fr\"", "\"origin\":\"ncb.ke\"", 1);
    assert_ne!(edited[2], original[2]);
    let mut removed = original.clone();
    removed.remove(1);
    let mut inserted = original.clone();
    inserted.insert(2, original[1].clone());
    let mut reordered = original.clone();
    reordered.swap(1, 2);
    let cut = original[..original.len() - 2].to_vec();
    for (what, lines, expect) in [
        ("edited", edited, "line 3: entry 3 was changed"),
        (
            "removed",
            removed,
            "line 2: entry 3 where entry 2 should be",
        ),
        (
            "inserted",
            inserted,
            "line 3: entry 2 where entry 3 should be",
        ),
        (
            "reordered",
            reordered,
            "line 2: entry 3 where entry 2 should be",
        ),
        ("cut", cut, "the log was cut"),
    ] {
        write_log(&net, &lines);
        let (code, out, err) = audit_cli(&net, &["verify"], "ncb.fr").await;
        assert_eq!(code, 1, "{what}: {out}{err}");
        assert!(err.contains(expect), "{what}: {err}");
    }
    write_log(&net, &original);
    let (code, _, err) = audit_cli(&net, &["verify"], "ncb.fr").await;
    assert_eq!(code, 0, "restored: {err}");
}

/// `lines` without entry `drop` (1-based), renumbered and chained again from the node's
/// genesis: a rewrite that the log alone cannot tell from the truth.
fn rewritten(node: &str, lines: &[String], drop: usize) -> Vec<String> {
    let mut chain = Chain::new(node);
    lines
        .iter()
        .enumerate()
        .filter(|(i, _)| i + 1 != drop)
        .map(|(_, line)| {
            let (_, json) = line.split_once(' ').expect("hash and entry");
            let entry: Entry = serde_json::from_str(json).expect("an entry");
            chain.append(entry).trim_end().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_rewritten_after_its_checkpoint_reached_gs_is_caught_with_gss_copy() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&fr, "gs").await;
    let batch = (0..4).map(|n| text(n, "gs", Precedence::Routine)).collect();
    fr.bureau().submit(batch).await.expect("submitted");
    inbox_at_least(&gs, 4).await;
    let at_gs = storage(&net, "gs").join("audit-checkpoints-ncb.fr.log");
    bluehelm_tests::eventually(
        "gs to keep a checkpoint of ncb.fr covering 8 entries",
        || {
            let at_gs = at_gs.clone();
            async move {
                let text = std::fs::read_to_string(&at_gs).ok()?;
                text.lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .any(|c| c["seq"].as_u64() >= Some(8))
                    .then_some(())
            }
        },
    )
    .await;
    fr.shutdown().await;
    gs.shutdown().await;

    // ncb.fr rewrites history: entry 2 never happened, and its own checkpoints go too.
    let fr_storage = storage(&net, "ncb.fr");
    let log = std::fs::read_to_string(fr_storage.join("audit.log")).expect("log");
    let lines: Vec<String> = log.lines().map(str::to_owned).collect();
    write_log(&net, &rewritten("ncb.fr", &lines, 2));
    std::fs::remove_file(fr_storage.join("audit-checkpoints.log")).expect("removed");
    let (code, out, err) = audit_cli(&net, &["verify"], "ncb.fr").await;
    assert_eq!(code, 0, "alone, the rewrite holds together: {out}{err}");

    let copy: &Path = &at_gs;
    let (code, out, err) = audit_cli(
        &net,
        &["verify", "--checkpoints", copy.to_str().expect("UTF-8")],
        "ncb.fr",
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("differs from the checkpoint") || err.contains("the log was cut"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubs_full_log_file_is_set_aside_and_verify_and_trace_read_across_files() {
    let mut specs = specs_with_reference_services();
    specs[0].audit = Some("checkpoint_seconds = 1\nrotate_mib = 1".into());
    let net = TestNet::with_specs(specs);
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    for node in [&fr, &ke] {
        linked(node, "gs").await;
    }
    // About two entries of some 300 bytes per message at gs: 1 MiB is some 1,800 messages.
    let mut first = None;
    for batch in 0..6 {
        let messages = (0..500)
            .map(|i| text(batch * 500 + i, "ncb.ke", Precedence::Routine))
            .collect();
        let ids = fr.bureau().submit(messages).await.expect("submitted");
        first.get_or_insert(ids[0].to_string());
    }
    inbox_at_least(&ke, 3_000).await;
    let gs_storage = storage(&net, "gs");
    let set_aside = || {
        std::fs::read_dir(&gs_storage)
            .expect("gs's storage")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("audit.log."))
            .collect::<Vec<_>>()
    };
    bluehelm_tests::eventually("gs to set a full audit log file aside", || async {
        (!set_aside().is_empty()).then_some(())
    })
    .await;
    let mode = std::fs::metadata(gs_storage.join(&set_aside()[0]))
        .expect("the file set aside")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let (code, out, err) = audit_cli(&net, &["verify", "--json"], "gs").await;
    assert_eq!(code, 0, "{out}{err}");
    let found: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(found["ok"], true);
    assert_eq!(found["first_entry"], 1);
    assert!(
        found["entries"].as_u64().expect("entries") >= 6_000,
        "{found}"
    );
    // The first message's entries are in the file set aside.
    let entries = trace(&net, "gs", first.as_deref().expect("a first id")).await;
    assert!(
        has(&entries, "accepted", "") && has(&entries, "relayed", ""),
        "{entries:?}"
    );
    drop((gs, fr, ke));
}
