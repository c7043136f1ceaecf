//! Field databases and their replicas (issue 13), over real nodes on loopback: records
//! imported and signed at their owner's node, sequenced by `gs`, synced to the replica at
//! mission.unmiss, compared by digest, checked from the replica with the link down, and
//! withdrawn everywhere.

use bluehelm_proto::{Body, HitNotification};
use bluehelm_tests::records::{
    check_sltd, db_state, export, hub_at_least, import_sltd, is_hit, replica_level, sltd_row,
    sltd_withdrawal,
};
use bluehelm_tests::{eventually, id, linked, specs_with_reference_services, TestNet};

/// The standard network, with gs answering sltd.check and smv.check and mission.unmiss
/// keeping replicas of both.
fn net() -> TestNet {
    TestNet::with_specs(specs_with_reference_services())
}

fn rows(range: std::ops::Range<usize>, owner: &str) -> Vec<String> {
    range
        .map(|i| sltd_row(&format!("P{i:06}"), owner, ""))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_gets_a_snapshot_then_only_what_changed_after_an_outage_and_matches_the_hub() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&fr, "gs").await;

    // 200 records for everyone, and one France keeps to itself.
    let mut first = rows(0..200, "ncb.fr");
    first.push(sltd_row("F000001", "ncb.fr", "FR"));
    let report = import_sltd(&fr, &first).await;
    assert_eq!((report.imported, report.rejected), (201, 0), "{report:?}");
    assert!(report.uploads >= 1 && report.hub == "gs", "{report:?}");
    let hub = hub_at_least(&gs, "sltd", 201).await;
    assert_eq!(hub.records, 201);

    let post = net.start("mission.unmiss").await;
    let level = replica_level(&post, "sltd", 201).await;
    assert_eq!(level.role, "replica");
    assert_eq!(
        level.records, 200,
        "the FR-only record stays out of the UNMISS replica"
    );
    let digest = level.digest.expect("a digest check");
    assert!(digest.matches, "{digest:?}");
    assert_eq!(digest.records, 200);
    assert!(
        level.freshness.contains("level with gs"),
        "{}",
        level.freshness
    );
    let exported = export(&post, "sltd").await;
    assert_eq!(exported.len(), 200);
    assert!(
        exported.iter().all(|r| r["key"] != "FR/F000001"),
        "a record released to FR is never present in the replica of mission.unmiss"
    );

    // The post goes dark; France adds 50, updates 10 and withdraws 5 meanwhile.
    post.shutdown().await;
    let mut second = rows(200..250, "ncb.fr");
    second.extend(
        (0..10).map(|i| {
            sltd_row(&format!("P{i:06}"), "ncb.fr", "").replace("Seize", "Seize urgently")
        }),
    );
    second.extend((10..15).map(|i| sltd_withdrawal(&format!("P{i:06}"), "ncb.fr")));
    let report = import_sltd(&fr, &second).await;
    assert_eq!((report.imported, report.rejected), (65, 0), "{report:?}");
    let hub = hub_at_least(&gs, "sltd", 266).await;
    assert_eq!(hub.records, 246, "201 + 50 - 5 withdrawn");

    let post = net.start("mission.unmiss").await;
    let level = replica_level(&post, "sltd", 266).await;
    assert_eq!(level.records, 245);
    assert!(level.digest.expect("a digest check").matches);

    // The withdrawal reached the replica: it stops hitting there, and at the hub.
    let withdrawn = check_sltd(&post, "P000010", true).await;
    assert!(!is_hit(&withdrawn), "{withdrawn:?}");
    assert_eq!(withdrawn.answered_by, "replica");
    let updated = check_sltd(&post, "P000003", true).await;
    assert!(is_hit(&updated), "{updated:?}");
    let detail = &updated.response.as_ref().expect("a response").detail;
    assert!(detail.contains("Seize urgently"), "{detail}");
    let at_hub = check_sltd(&fr, "P000010", false).await;
    assert!(!is_hit(&at_hub) && at_hub.responder == "gs", "{at_hub:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_offline_is_answered_by_the_replica_and_its_owner_told_when_the_link_returns() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let post = net.start("mission.unmiss").await;
    linked(&fr, "gs").await;
    linked(&post, "gs").await;
    import_sltd(&fr, &[sltd_row("X1234567", "ncb.fr", "")]).await;
    replica_level(&post, "sltd", 1).await;

    // Online: the hub answers, the replica's answer rides along and agrees.
    let online = check_sltd(&post, "X1234567", false).await;
    assert_eq!(
        (online.answered_by.as_str(), online.responder.as_str()),
        ("hub", "gs")
    );
    assert!(is_hit(&online) && !online.differs, "{online:?}");
    assert!(online.replica_response.is_some());

    // The link goes down: the replica answers at once, and says how old its copy is.
    gs.shutdown().await;
    eventually("the post to see the link down", || async {
        (!post.is_linked(&id("gs"))).then_some(())
    })
    .await;
    let checked_at = bluehelm::custody::now_ms();
    let offline = check_sltd(&post, "X1234567", false).await;
    assert!(is_hit(&offline), "{offline:?}");
    assert_eq!(offline.answered_by, "replica");
    assert!(
        offline.freshness.starts_with("as of change 1"),
        "{}",
        offline.freshness
    );
    let fields = &offline.response.as_ref().expect("a response").fields;
    assert_eq!(fields["answered_by"], "replica");
    assert_eq!(fields["as_of_change"], "1");

    // The owner hears of the hit once the link is back, with the time of the check.
    let fr_inbox_before = fr.bureau().inbox(None, 1000).await.expect("inbox").len();
    let _gs = net.start("gs").await;
    let hit: HitNotification = eventually("ncb.fr to be told of the offline hit", || async {
        let inbox = fr.bureau().inbox(None, 1000).await.expect("inbox");
        inbox.iter().find_map(|m| match &m.envelope.body {
            Body::HitNotification(h) if m.envelope.origin == id("mission.unmiss") => {
                Some(h.clone())
            }
            _ => None,
        })
    })
    .await;
    assert!(fr.bureau().inbox(None, 1000).await.expect("inbox").len() > fr_inbox_before);
    assert_eq!(hit.requester, id("mission.unmiss"));
    assert_eq!(hit.record_key, "sltd/FR/X1234567");
    assert_eq!(hit.purpose, "border check, case 2026/114");
    assert!(
        (hit.requested_at_ms - checked_at).abs() < 5_000,
        "the notification carries the time of the check"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_imported_only_at_their_owners_node() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&fr, "gs").await;
    // France cannot sign Kenya's records, and gs cannot import them on Kenya's behalf.
    for node in [&fr, &gs] {
        let report = import_sltd(node, &[sltd_row("K1", "ncb.ke", "")]).await;
        assert_eq!((report.imported, report.rejected), (0, 1), "{report:?}");
        assert!(
            report.errors[0].message.contains("own records"),
            "{report:?}"
        );
    }
    // gs imports its own, and a replica verifies them with gs's certificate.
    let report = import_sltd(&gs, &[sltd_row("G1", "gs", "")]).await;
    assert_eq!((report.imported, report.uploads), (1, 0), "{report:?}");
    assert_eq!(db_state(&gs, "sltd").await.records, 1);
    let post = net.start("mission.unmiss").await;
    assert_eq!(replica_level(&post, "sltd", 1).await.records, 1);
}

/// What a hub (here: a raw link holding gs's credentials) sends a replica on its sync stream,
/// and whether the replica applies it.
mod refusals {
    use std::time::Duration;

    use bluehelm::net::frames::{read_frame, write_frames};
    use bluehelm_pki::record_leaf_hash;
    use bluehelm_proto::framing::DEFAULT_MAX_FRAME;
    use bluehelm_proto::records::{RecordBatchProof, SyncBatch, SyncChanges, SyncItem};
    use bluehelm_proto::{Database, LinkFrame, RecordChange};
    use bluehelm_tests::raw::RawLink;
    use bluehelm_tests::records::db_state;
    use bluehelm_tests::{eventually, id, TestNet};

    /// ncb.ke keeps a replica of sltd; gs is not running, so the test plays gs.
    fn net() -> TestNet {
        let mut specs = bluehelm::localnet::standard_specs();
        let ke = specs
            .iter_mut()
            .find(|s| s.id.as_str() == "ncb.ke")
            .expect("ncb.ke");
        ke.replicate = vec!["sltd".into()];
        TestNet::with_specs(specs)
    }

    fn change(release: Option<&str>) -> RecordChange {
        RecordChange {
            database: Database::Sltd,
            key: "FR/X1".into(),
            owner: id("ncb.fr"),
            version: 1,
            withdrawn: false,
            record: br#"{"document_number":"X1"}"#.to_vec(),
            release_to: release.map(|r| r.parse().expect("release list")),
            changed_at_ms: bluehelm::custody::now_ms(),
        }
    }

    /// Connects as gs, takes the replica's sync stream and sends it one batch; returns
    /// whether the replica kept the stream (it resets a stream whose batch it refuses).
    async fn offer(net: &TestNet, batch: SyncBatch) -> bool {
        let addr = net.spec("ncb.ke").listen.expect("ncb.ke listens");
        let link = RawLink::connect(&net.credentials("gs"), &net.trust(), addr, &id("ncb.ke"))
            .await
            .expect("link as gs");
        // The node may open offer streams and a CRL stream too (it sends its CRL first on
        // every link); its sync stream starts with SyncRequest.
        let (mut send, _recv) = loop {
            let (send, mut recv) =
                tokio::time::timeout(Duration::from_secs(10), link.conn.accept_bi())
                    .await
                    .expect("the replica opens its sync stream")
                    .expect("a stream");
            match read_frame(&mut recv, DEFAULT_MAX_FRAME).await {
                Ok(Some(LinkFrame::SyncRequest(_))) => break (send, recv),
                Ok(Some(LinkFrame::Open { .. } | LinkFrame::Crl(_))) => continue,
                other => panic!("unexpected first frame {other:?}"),
            }
        };
        write_frames(&mut send, &[LinkFrame::SyncBatch(batch)])
            .await
            .expect("batch sent");
        // A refused batch resets the stream: the hub's next write fails, its read ends.
        let refused = tokio::time::timeout(Duration::from_secs(5), send.stopped())
            .await
            .is_ok();
        link.conn.close(0u32.into(), b"test done");
        !refused
    }

    fn batch(
        after: u64,
        through: u64,
        items: Vec<SyncItem>,
        certificates: Vec<Vec<u8>>,
        proofs: Vec<RecordBatchProof>,
    ) -> SyncBatch {
        let raw = SyncChanges {
            items,
            certificates,
            proofs,
        }
        .encode_to_vec();
        SyncBatch {
            database: Database::Sltd,
            after_seq: after,
            through_seq: through,
            head_seq: through,
            sent_at_ms: bluehelm::custody::now_ms(),
            compressed: zstd::bulk::compress(&raw, 1).expect("zstd"),
            digest: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replica_refuses_forged_out_of_order_and_unreleased_changes() {
        let net = net();
        let ke = net.start("ncb.ke").await;
        let fr = net.credentials("ncb.fr");
        let certificate = fr.node_cert_der().to_vec();
        let signer = fr.signer();

        // France signs a batch of two changes; KE may hold only the first. What the hub
        // sends KE: the first change, and the second's leaf hash as the proof's one node.
        let (signed, whole) = signer.sign_record_batch(&[change(None), change(Some("FR"))]);
        let (good, unreleased) = (signed[0].clone(), signed[1].clone());
        let proof_of = |leaf: usize| RecordBatchProof {
            nodes: vec![record_leaf_hash(&signed[1 - leaf])],
            ..whole.clone()
        };
        let proof = proof_of(0);
        let mut forged_signature = proof.clone();
        forged_signature.signature[0] ^= 1;
        let mut forged_node = proof.clone();
        forged_node.nodes[0][5] ^= 1;
        let item = |change| SyncItem::Change { seq: 1, change };
        let offered = |proofs: Vec<RecordBatchProof>| {
            batch(
                0,
                1,
                vec![item(good.clone())],
                vec![certificate.clone()],
                proofs,
            )
        };
        let cases = [
            ("a forged signature", offered(vec![forged_signature])),
            ("a forged node", offered(vec![forged_node])),
            (
                "a change without its batch's signature",
                offered(Vec::new()),
            ),
            (
                "a change without the rest of its batch and no node for it",
                offered(vec![whole.clone()]),
            ),
            (
                "an unknown signer",
                batch(
                    0,
                    1,
                    vec![item(good.clone())],
                    Vec::new(),
                    vec![proof.clone()],
                ),
            ),
            (
                "a batch out of order",
                batch(
                    5,
                    6,
                    vec![SyncItem::Change {
                        seq: 6,
                        change: good.clone(),
                    }],
                    vec![certificate.clone()],
                    vec![proof.clone()],
                ),
            ),
            (
                "a change not released to KE",
                batch(
                    0,
                    1,
                    vec![item(unreleased)],
                    vec![certificate.clone()],
                    vec![proof_of(1)],
                ),
            ),
        ];
        for (what, batch) in cases {
            assert!(!offer(&net, batch).await, "{what} must be refused");
            let state = db_state(&ke, "sltd").await;
            assert_eq!(
                (state.records, state.seq),
                (0, 0),
                "{what} left a trace: {state:?}"
            );
        }

        // The same change, signed and in order, is taken, though its batch-mate stayed behind.
        assert!(offer(&net, offered(vec![proof])).await);
        eventually("the good change to be applied", || async {
            let state = db_state(&ke, "sltd").await;
            (state.records == 1 && state.seq == 1).then_some(())
        })
        .await;
        // A change signed alone, as before batch signatures, is still taken.
        let mut older = change(None);
        older.key = "FR/X2".into();
        let alone = SyncItem::Change {
            seq: 2,
            change: signer.sign_record_change_alone(&older),
        };
        assert!(
            offer(
                &net,
                batch(1, 2, vec![alone], vec![certificate], Vec::new())
            )
            .await
        );
        eventually("the change signed alone to be applied", || async {
            let state = db_state(&ke, "sltd").await;
            (state.records == 2 && state.seq == 2).then_some(())
        })
        .await;
    }
}
