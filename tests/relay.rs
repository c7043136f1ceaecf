//! The relay end to end: real nodes, real QUIC on loopback, real sled in temporary folders.

use std::time::Duration;

use bluehelm::custody::{Outgoing, Stats};
use bluehelm_proto::{Body, Destination, Kind, NonDeliveryReason, Precedence};
use bluehelm_tests::{eventually, id, inbox_at_least, linked, number_of, text, TestNet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ncb_to_mission_through_the_hub() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let mission = net.start("mission.unmiss").await;
    linked(&gs, "ncb.fr").await;
    linked(&gs, "mission.unmiss").await;

    let ids = fr
        .bureau()
        .submit(vec![text(1, "mission.unmiss", Precedence::Immediate)])
        .await
        .unwrap();
    let inbox = inbox_at_least(&mission, 1).await;
    assert_eq!(inbox.len(), 1);
    let got = &inbox[0];
    assert_eq!(got.envelope.message_id, ids[0]);
    assert_eq!(got.envelope.origin, id("ncb.fr"));
    // The signed bytes arrived untouched: the origin's certificate travels with them.
    assert_eq!(got.signed.decode_envelope().unwrap(), got.envelope);

    for node in [mission, fr, gs] {
        node.shutdown().await;
    }
}

/// Issue 16, item 1: one submission is one batch, one signature over the Merkle root of its
/// envelopes. Each goes its own way and verifies at its destination without the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_submitted_together_share_one_batch_signature_and_travel_apart() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(&gs, "ncb.fr").await;
    linked(&gs, "ncb.ke").await;

    let ids = fr
        .bureau()
        .submit(vec![
            text(1, "ncb.ke", Precedence::Routine),
            text(2, "gs", Precedence::Flash),
            text(3, "ncb.ke", Precedence::Immediate),
        ])
        .await
        .unwrap();
    let at_ke = inbox_at_least(&ke, 2).await;
    let at_gs = inbox_at_least(&gs, 1).await;
    let at_gs: Vec<_> = at_gs
        .iter()
        .filter(|m| m.envelope.origin == id("ncb.fr"))
        .collect();
    assert_eq!(at_gs.len(), 1);
    let mut received: Vec<_> = at_ke.iter().chain(at_gs).collect();
    received.sort_by_key(|m| m.signed.proof().map(|p| p.leaf_index()));
    let signature = received[0].signed.signature();
    for (i, m) in received.iter().enumerate() {
        assert_eq!(m.envelope.message_id, ids[i]);
        let proof = m.signed.proof().expect("batch-signed");
        assert_eq!((proof.leaf_index(), proof.tree_size()), (i as u64, 3));
        // Leaves 0 and 1 pair up; leaf 2 goes up alone and meets their node.
        assert_eq!(proof.path().len(), if i == 2 { 1 } else { 2 });
        assert_eq!(
            m.signed.signature(),
            signature,
            "one signature for the batch"
        );
    }
    // ncb.ke took leaves 0 and 2 without ever seeing leaf 1; alone, each still verifies.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fresh =
        bluehelm_pki::EnvelopeVerifier::new(ke.bureau().verifier().trust_store().as_ref().clone());
    for m in &received {
        assert!(fresh.verify(&m.signed, now).is_ok());
    }

    for node in [ke, fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_mission_gets_its_queue_once_flash_first() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&gs, "ncb.fr").await;

    let order = [
        Precedence::Routine,
        Precedence::Priority,
        Precedence::Routine,
        Precedence::Flash,
        Precedence::Immediate,
        Precedence::Routine,
        Precedence::Flash,
        Precedence::Priority,
    ];
    let mut sent = Vec::new();
    for round in 0..25 {
        for (i, p) in order.iter().enumerate() {
            sent.push(text(round * order.len() + i, "mission.unmiss", *p));
        }
    }
    let total = sent.len();
    fr.bureau().submit(sent).await.unwrap();
    bluehelm_tests::eventually("gs to hold the mission's queue", || async {
        (gs.bureau().queue_depth(&id("mission.unmiss")) == total).then_some(())
    })
    .await;

    let mission = net.start("mission.unmiss").await;
    let inbox = inbox_at_least(&mission, total).await;
    let ranks: Vec<u8> = inbox.iter().map(|m| m.envelope.precedence.rank()).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "queue did not drain in precedence order: {ranks:?}"
    );
    // Within a class, arrival order is kept.
    for class in Precedence::ALL {
        let numbers: Vec<usize> = inbox
            .iter()
            .filter(|m| m.envelope.precedence == *class)
            .filter_map(number_of)
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "{class}: {numbers:?}"
        );
    }
    // Exactly once: the hub's queue empties, and then (nothing is left to offer) the inbox
    // holds each message once.
    bluehelm_tests::eventually("gs queue for the mission to empty", || async {
        (gs.bureau().queue_depth(&id("mission.unmiss")) == 0).then_some(())
    })
    .await;
    assert_eq!(
        mission.bureau().inbox(None, 10_000).await.unwrap().len(),
        total
    );

    for node in [mission, fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_survives_a_hub_restart() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&gs, "ncb.fr").await;
    let sent: Vec<_> = (0..50)
        .map(|n| text(n, "mission.unmiss", Precedence::Routine))
        .collect();
    fr.bureau().submit(sent).await.unwrap();
    bluehelm_tests::eventually("gs to hold 50", || async {
        (gs.bureau().queue_depth(&id("mission.unmiss")) == 50).then_some(())
    })
    .await;
    gs.shutdown().await;

    let gs = net.start("gs").await;
    assert_eq!(gs.bureau().queue_depth(&id("mission.unmiss")), 50);
    let mission = net.start("mission.unmiss").await;
    let inbox = inbox_at_least(&mission, 50).await;
    let mut numbers: Vec<usize> = inbox.iter().filter_map(number_of).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..50).collect::<Vec<_>>());
    for node in [mission, fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_message_fans_out_at_the_hub_and_reports_delivery() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(&gs, "ncb.fr").await;
    linked(&gs, "ncb.ke").await;

    let mut message = text(1, "ncb.ke", Precedence::Priority);
    message.destination = Destination::Group("all-ncb".parse().unwrap());
    fr.bureau().submit(vec![message]).await.unwrap();
    let inbox = inbox_at_least(&ke, 1).await;
    assert_eq!(
        inbox[0].envelope.destination,
        Destination::Group("all-ncb".parse().unwrap())
    );

    let mut message = text(2, "ncb.ke", Precedence::Routine);
    message.want_delivery_report = true;
    let ids = fr.bureau().submit(vec![message]).await.unwrap();
    let reports = inbox_at_least(&fr, 1).await;
    // The sender is a member of all-ncb but gets no copy of its own group message.
    assert_eq!(reports.len(), 1);
    let report = &reports[0].envelope;
    assert_eq!(report.kind(), Kind::DeliveryReport);
    assert_eq!(report.origin, id("ncb.ke"));
    assert_eq!(report.correlation_id, Some(ids[0]));
    // Issue 10: delivery reports are counted as sent, apart from non-delivery ones.
    // (Counted once the commit returns, which may be just after the report left.)
    let stats = ke.bureau().stats();
    eventually("ncb.ke to count its delivery report", || async {
        (Stats::get(&stats.delivery_reports_sent) == 1).then_some(())
    })
    .await;
    assert_eq!(Stats::get(&stats.non_delivery_reports_sent), 0);
    for node in [ke, fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_in_the_hub_queue_reports_non_delivery_to_the_origin() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&gs, "ncb.fr").await;
    let mut message = text(1, "mission.unmiss", Precedence::Flash);
    message.ttl = Duration::from_millis(800);
    let ids = fr.bureau().submit(vec![message]).await.unwrap();

    let inbox = inbox_at_least(&fr, 1).await;
    let report = &inbox[0].envelope;
    assert_eq!(report.origin, id("gs"));
    assert_eq!(report.correlation_id, Some(ids[0]));
    match &report.body {
        Body::NonDeliveryReport(ndr) => {
            assert_eq!(ndr.reason, NonDeliveryReason::Expired);
            assert_eq!(
                ndr.original_destination,
                Destination::Node(id("mission.unmiss"))
            );
        }
        other => panic!("expected a non-delivery report, got {other:?}"),
    }
    assert_eq!(gs.bureau().queue_depth(&id("mission.unmiss")), 0);
    let stats = gs.bureau().stats();
    eventually("gs to count its non-delivery report", || async {
        (Stats::get(&stats.non_delivery_reports_sent) == 1).then_some(())
    })
    .await;
    assert_eq!(Stats::get(&stats.delivery_reports_sent), 0);
    for node in [fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_message_is_refused_by_the_hub_and_reported() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&gs, "ncb.fr").await;
    fr.bureau()
        .submit(vec![text(1, "ncb.zz", Precedence::Routine)])
        .await
        .unwrap();
    let inbox = inbox_at_least(&fr, 1).await;
    match &inbox[0].envelope.body {
        Body::NonDeliveryReport(ndr) => assert_eq!(ndr.reason, NonDeliveryReason::NoRoute),
        other => panic!("expected a non-delivery report, got {other:?}"),
    }
    assert_eq!(fr.bureau().queue_depth(&id("gs")), 0);
    for node in [fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_acknowledgement_removes_exactly_once() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(&gs, "ncb.ke").await;
    fr.bureau()
        .submit(
            (0..3)
                .map(|n| text(n, "ncb.ke", Precedence::Routine))
                .collect(),
        )
        .await
        .unwrap();
    let inbox = inbox_at_least(&ke, 3).await;
    let first = inbox[0].seq;
    assert_eq!(ke.bureau().ack_inbox(&[first]).await.unwrap(), 1);
    assert_eq!(ke.bureau().ack_inbox(&[first]).await.unwrap(), 0);
    assert_eq!(ke.bureau().inbox(None, 10).await.unwrap().len(), 2);
    for node in [ke, fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_is_refused_at_submission_and_the_link_keeps_working() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(&gs, "ncb.ke").await;
    let mut big = text(1, "ncb.ke", Precedence::Routine);
    if let Body::Text(t) = &mut big.body {
        t.attachments = (0..16)
            .map(|i| bluehelm_proto::Attachment {
                filename: format!("scan-{i}.jpg"),
                media_type: "image/jpeg".into(),
                // Sixteen of these are just over the largest envelope.
                content: vec![0xAB; bluehelm_proto::limits::MAX_ENVELOPE_LEN / 16 + 1],
            })
            .collect();
    }
    let err = fr.bureau().submit(vec![big]).await.unwrap_err();
    assert!(
        err.to_string().contains("signed_envelope.envelope"),
        "{err}"
    );
    fr.bureau()
        .submit(vec![text(2, "ncb.ke", Precedence::Routine)])
        .await
        .unwrap();
    let inbox = inbox_at_least(&ke, 1).await;
    assert_eq!(number_of(&inbox[0]), Some(2));
    for node in [ke, fr, gs] {
        node.shutdown().await;
    }
}

/// Copies leave the hub as soon as they are staged (cut-through, handed to the link before
/// the hub's fsync) and the link also reads its queue: each message must still be offered to
/// the next hop once, paced one by one and in a burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handed_off_copies_are_offered_to_the_next_hop_once() {
    use std::sync::atomic::Ordering::Relaxed;
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(&gs, "ncb.fr").await;
    linked(&gs, "ncb.ke").await;

    let paced = 150;
    for n in 0..paced {
        fr.bureau()
            .submit(vec![text(n, "ncb.ke", Precedence::Routine)])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let burst: Vec<_> = (paced..paced + 1000)
        .map(|n| text(n, "ncb.ke", Precedence::Priority))
        .collect();
    fr.bureau().submit(burst).await.unwrap();
    let total = paced + 1000;
    let inbox = inbox_at_least(&ke, total).await;
    assert_eq!(inbox.len(), total);
    bluehelm_tests::eventually("the hub's queue for ncb.ke to empty", || async {
        (gs.bureau().queue_depth(&id("ncb.ke")) == 0).then_some(())
    })
    .await;
    for (node, name) in [(&gs, "gs"), (&ke, "ncb.ke")] {
        let stats = node.bureau().stats();
        assert_eq!(
            stats.duplicates.load(Relaxed),
            0,
            "{name} was offered a copy it already held"
        );
        assert_eq!(
            stats.accepted.load(Relaxed),
            total as u64,
            "{name} accepted"
        );
    }
    assert_eq!(gs.bureau().stats().forwarded.load(Relaxed), total as u64);

    for node in [ke, fr, gs] {
        node.shutdown().await;
    }
}

/// A node upgraded from `bluehelm/6` (one signature per envelope) to batch signatures keeps
/// what its store held: a copy queued at the hub goes on to its destination, which verifies
/// it, and a message left in a bureau's inbox is still read. Both stores are written as the
/// old version wrote them (the same record, the signed bytes without a proof).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_store_held_before_batch_signatures_is_relayed_and_read_after_the_upgrade() {
    use bluehelm::engine::Hop;
    use bluehelm::store::{Custody, Provenance, StoredMessage, Write, WriteOutcome};
    use bluehelm_proto::testing::sample_envelope;
    use std::collections::BTreeMap;

    let net = TestNet::standard();
    let now = bluehelm_pki::ca::now_unix() * 1000;
    let old = |n: usize| {
        let Outgoing { body, .. } = text(n, "ncb.ke", Precedence::Routine);
        let envelope = sample_envelope(
            id("ncb.fr"),
            Destination::Node(id("ncb.ke")),
            Precedence::Routine,
            now,
            body,
        );
        let signed = net.signed_alone("ncb.fr", &envelope);
        (envelope, signed)
    };
    let hold = |node: &str, hop: Hop, (envelope, signed), hops: u8| {
        let custody = Custody {
            message: StoredMessage::taken(&envelope, signed, hops, now),
            copies: BTreeMap::from([(hop, vec![])]),
            report: None,
            provenance: Provenance::Relayed { from: id("ncb.fr") },
        };
        let store = net.open_store(node);
        async move {
            let outcomes = store.commit(vec![Write::Accept(custody)]).await.unwrap();
            assert_eq!(outcomes, vec![WriteOutcome::Stored]);
            store.shutdown().await.unwrap();
        }
    };
    // Queued at gs for ncb.ke, and in ncb.ke's inbox.
    hold("gs", Hop::Next(id("ncb.ke")), old(1), 0).await;
    hold("ncb.ke", Hop::Local, old(2), 1).await;

    let gs = net.start("gs").await;
    let ke = net.start("ncb.ke").await;
    linked(&gs, "ncb.ke").await;
    let inbox = inbox_at_least(&ke, 2).await;
    let mut numbers: Vec<_> = inbox.iter().filter_map(number_of).collect();
    numbers.sort();
    assert_eq!(numbers, [1, 2]);
    for message in &inbox {
        assert_eq!(message.envelope.origin, id("ncb.fr"));
        assert_eq!(message.signed.proof(), None, "still signed alone");
    }
    let refused = Stats::get(&ke.bureau().stats().rejected_signatures);
    assert_eq!(refused, 0);
}
