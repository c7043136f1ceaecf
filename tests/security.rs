//! Ways in that must stay shut: links without a proper certificate, forged origins, tampered
//! messages, oversized frames and garbage. Each test also shows that the node keeps serving.

use std::time::Duration;

use bluehelm::localnet::{free_loopback_addr, LocalNet, NodeSpec};
use bluehelm_pki::{IssueRequest, NodeCredentials, Role, TrustStore};
use bluehelm_proto::{
    Body, Destination, Envelope, LinkFrame, MessageId, Precedence, RefusalReason, SignedEnvelope,
    Transfer,
};
use bluehelm_tests::raw::RawLink;
use bluehelm_tests::{
    api_client, api_counter, api_inbox_now, api_submit, eventually, id, inbox_at_least, linked,
    text, TestNet,
};

fn trust(net: &TestNet) -> TrustStore {
    let pki = net.net.pki_dir();
    TrustStore::load(&pki.join("ca.pem"), Some(&pki.join("crl.pem"))).unwrap()
}

fn hub_addr(net: &TestNet) -> std::net::SocketAddr {
    net.spec("gs").listen.unwrap()
}

/// A certified node the hub does not list as a peer: the hub admits it because it accepts
/// certified unknown peers, like a real hub.
fn extra_node(net: &mut TestNet, node: &str, country: &str) -> NodeCredentials {
    let issued = net
        .net
        .ca()
        .issue(&IssueRequest {
            node: node.parse().unwrap(),
            role: Role::Ncb,
            country: Some(country.into()),
            mission: None,
            home: None,
            days: 30,
        })
        .unwrap();
    issued.credentials().unwrap()
}

/// A ROUTINE notice from ncb.de to ncb.ke with a fresh id, signed by ncb.de.
fn notice_from_de_to_ke(de: &NodeCredentials) -> SignedEnvelope {
    let now = bluehelm::custody::now_ms();
    // A diffusion: an NCB may send one to another bureau. A published notice from a bureau
    // is refused by the role policy before anything else this test looks at (issue 12).
    let envelope = bluehelm_proto::testing::sample_envelope(
        id("ncb.de"),
        Destination::Node(id("ncb.ke")),
        Precedence::Routine,
        now,
        Body::Diffusion(bluehelm_proto::testing::sample_diffusion()),
    );
    de.signer().sign(&envelope).unwrap()
}

/// Traffic still flows between the regular nodes.
async fn hub_still_serves(net: &TestNet, gs: &bluehelm::Node) {
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(gs, "ncb.ke").await;
    fr.bureau()
        .submit(vec![text(1, "ncb.ke", Precedence::Routine)])
        .await
        .unwrap();
    inbox_at_least(&ke, 1).await;
    fr.shutdown().await;
    ke.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_without_certificate_cannot_link() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let outcome = async {
        let link = RawLink::connect_anonymous(&trust(&net), hub_addr(&net), &id("gs")).await?;
        link.ping().await
    }
    .await;
    assert!(outcome.is_err(), "an anonymous client got a link");
    hub_still_serves(&net, &gs).await;
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_from_another_ca_cannot_link() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = LocalNet::create(other_dir.path()).unwrap();
    let hub = NodeSpec::hub("gs", free_loopback_addr());
    other.add(&NodeSpec::ncb("ncb.fr", "FR", &hub)).unwrap();
    let impostor = NodeCredentials::load(
        &other.pki_dir().join("ncb.fr.pem"),
        &other.pki_dir().join("ncb.fr.key"),
    )
    .unwrap();
    let outcome = async {
        let link = RawLink::connect(&impostor, &trust(&net), hub_addr(&net), &id("gs")).await?;
        link.ping().await
    }
    .await;
    assert!(outcome.is_err(), "a certificate of another CA got a link");
    assert!(!gs.is_linked(&id("ncb.fr")));
    hub_still_serves(&net, &gs).await;
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_certificate_cannot_link() {
    let mut net = TestNet::standard();
    // ncb.ke starts before its revocation (a node refuses to start with a CRL that revokes
    // it), then keeps dialling the hub, which starts with the new CRL.
    let ke = net.start("ncb.ke").await;
    let ke_cert = std::fs::read(net.net.pki_dir().join("ncb.ke.pem")).unwrap();
    net.net.ca().revoke(&ke_cert, None).unwrap();
    net.net.write_crl().unwrap();
    let gs = net.start("gs").await;
    let creds = NodeCredentials::load(
        &net.net.pki_dir().join("ncb.ke.pem"),
        &net.net.pki_dir().join("ncb.ke.key"),
    )
    .unwrap();
    let outcome = async {
        let link = RawLink::connect(&creds, &trust(&net), hub_addr(&net), &id("gs")).await?;
        link.ping().await
    }
    .await;
    assert!(outcome.is_err(), "a revoked certificate got a link");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !gs.is_linked(&id("ncb.ke")),
        "the revoked node's own dialler got in"
    );
    // The others still link.
    let fr = net.start("ncb.fr").await;
    linked(&gs, "ncb.fr").await;
    for node in [fr, ke, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_cannot_inject_a_message_claiming_another_origin() {
    let mut net = TestNet::standard();
    let gs = net.start("gs").await;
    let de = extra_node(&mut net, "ncb.de", "DE");
    let link = RawLink::connect(&de, &trust(&net), hub_addr(&net), &id("gs"))
        .await
        .unwrap();
    link.ping().await.unwrap();

    // ncb.de signs with its own key an envelope that claims ncb.fr as origin.
    let mut forged = bluehelm_proto::testing::sample_notice_envelope(
        id("ncb.fr"),
        Destination::Node(id("ncb.ke")),
        Precedence::Flash,
        bluehelm::custody::now_ms(),
        512,
    );
    forged.message_id = MessageId::generate(bluehelm::custody::now_ms() as u64);
    let signed = de.signer().sign(&forged).unwrap();
    let answers = link
        .offer(vec![Transfer {
            envelope: signed,
            hops: 0,
            recipients: vec![],
        }])
        .await
        .unwrap();
    match &answers[..] {
        [LinkFrame::Refused(refusal)] => {
            assert_eq!(refusal.reason, RefusalReason::BadSignature);
            assert!(refusal.detail.contains("ncb.fr"), "{}", refusal.detail);
        }
        other => panic!("forged origin was not refused: {other:?}"),
    }
    assert_eq!(
        bluehelm::custody::Stats::get(&gs.bureau().stats().rejected_signatures),
        1
    );
    assert_eq!(gs.bureau().queue_depth(&id("ncb.ke")), 0);
    hub_still_serves(&net, &gs).await;
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_message_is_refused_counted_and_a_good_one_still_accepted() {
    let mut net = TestNet::standard();
    let gs = net.start("gs").await;
    let de = extra_node(&mut net, "ncb.de", "DE");
    let link = RawLink::connect(&de, &trust(&net), hub_addr(&net), &id("gs"))
        .await
        .unwrap();
    let good = notice_from_de_to_ke(&de);
    let (bytes, signature, cert, proof) = notice_from_de_to_ke(&de).into_parts();
    let mut bytes = bytes.to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let tampered =
        SignedEnvelope::new(bytes, signature, cert, proof.expect("batch-signed")).unwrap();
    let answers = link
        .offer(vec![
            Transfer {
                envelope: tampered,
                hops: 0,
                recipients: vec![],
            },
            Transfer {
                envelope: good,
                hops: 0,
                recipients: vec![],
            },
        ])
        .await
        .unwrap();
    let refused: Vec<_> = answers
        .iter()
        .filter_map(|f| match f {
            LinkFrame::Refused(r) => Some(r.reason),
            _ => None,
        })
        .collect();
    let accepted: usize = answers
        .iter()
        .map(|f| match f {
            LinkFrame::Accepted(refs) => refs.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(refused, vec![RefusalReason::BadSignature]);
    assert_eq!(accepted, 1);
    assert_eq!(
        bluehelm::custody::Stats::get(&gs.bureau().stats().rejected_signatures),
        1
    );
    assert_eq!(gs.bureau().queue_depth(&id("ncb.ke")), 1);
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_closes_the_link_and_the_node_keeps_serving() {
    let mut net = TestNet::standard();
    let gs = net.start("gs").await;
    let de = extra_node(&mut net, "ncb.de", "DE");
    let link = RawLink::connect(&de, &trust(&net), hub_addr(&net), &id("gs"))
        .await
        .unwrap();
    let (mut send, _recv) = link.offer_stream(Precedence::Routine).await.unwrap();
    // A header announcing 64 MiB: refused before anything is allocated for it.
    send.write_all(&(64u32 << 20).to_be_bytes()).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), link.conn.closed()).await;
    assert!(
        closed.is_ok(),
        "the link stayed open after an oversized frame"
    );
    bluehelm_tests::eventually("protocol error counted", || async {
        (bluehelm::custody::Stats::get(&gs.bureau().stats().protocol_errors) >= 1).then_some(())
    })
    .await;
    hub_still_serves(&net, &gs).await;
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_a_stream_closes_the_link_and_the_node_keeps_serving() {
    let mut net = TestNet::standard();
    let gs = net.start("gs").await;
    let de = extra_node(&mut net, "ncb.de", "DE");
    let link = RawLink::connect(&de, &trust(&net), hub_addr(&net), &id("gs"))
        .await
        .unwrap();
    let (mut send, _recv) = link.offer_stream(Precedence::Routine).await.unwrap();
    let mut garbage = 200u32.to_be_bytes().to_vec();
    garbage.extend((0..200u32).map(|i| (i * 37 % 251) as u8));
    send.write_all(&garbage).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), link.conn.closed()).await;
    assert!(closed.is_ok(), "the link stayed open after garbage");
    hub_still_serves(&net, &gs).await;
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_crl_closes_the_revoked_peers_link_without_a_restart() {
    let mut net = TestNet::standard();
    let gs = net.start("gs").await;
    let ke = net.start("ncb.ke").await;
    let fr = net.start("ncb.fr").await;
    linked(&gs, "ncb.ke").await;
    linked(&gs, "ncb.fr").await;

    let crl_path = net.net.pki_dir().join("crl.pem");
    let old_crl = std::fs::read(&crl_path).unwrap();
    let ke_cert = std::fs::read(net.net.pki_dir().join("ncb.ke.pem")).unwrap();
    net.net.ca().revoke(&ke_cert, None).unwrap();
    net.net.write_crl().unwrap();

    bluehelm_tests::eventually("gs to drop the revoked ncb.ke", || async {
        (!gs.is_linked(&id("ncb.ke"))).then_some(())
    })
    .await;
    // Putting the older CRL back does not un-revoke anyone.
    std::fs::write(&crl_path, old_crl).unwrap();
    // ncb.ke keeps redialling; none of its attempts gets in.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!gs.is_linked(&id("ncb.ke")), "a revoked node linked again");
    assert!(
        gs.is_linked(&id("ncb.fr")),
        "an unrevoked peer lost its link"
    );
    for node in [fr, ke, gs] {
        node.shutdown().await;
    }
}

/// A replayed message takes the daemon's real path (link -> verification -> the ledger's
/// dedup decision against the store's seen table at commit), not only the ledger's unit tests:
/// the second offer of the same signed envelope is acknowledged, counted as a duplicate, and
/// not queued again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_offer_is_acknowledged_and_not_stored_again() {
    let mut net = TestNet::standard();
    let gs = net.start("gs").await;
    let (de, link) = link_as_de(&mut net).await;
    let signed = notice_from_de_to_ke(&de);
    let offer = || Transfer {
        envelope: signed.clone(),
        hops: 0,
        recipients: vec![],
    };
    for round in 0..2 {
        let answers = link.offer(vec![offer()]).await.unwrap();
        assert!(
            matches!(&answers[..], [LinkFrame::Accepted(refs)] if refs.len() == 1),
            "offer {round}: {answers:?}"
        );
    }
    let stats = gs.bureau().stats();
    assert_eq!(bluehelm::custody::Stats::get(&stats.accepted), 1);
    assert_eq!(bluehelm::custody::Stats::get(&stats.duplicates), 1);
    assert_eq!(gs.bureau().queue_depth(&id("ncb.ke")), 1);
    gs.shutdown().await;
}

/// `ncb.de`, a certified node the hub admits as an unknown peer, and its raw link to the hub.
async fn link_as_de(net: &mut TestNet) -> (NodeCredentials, RawLink) {
    let de = extra_node(net, "ncb.de", "DE");
    let link = RawLink::connect(&de, &trust(net), hub_addr(net), &id("gs"))
        .await
        .unwrap();
    (de, link)
}

/// An envelope from `ncb.de` to `to`, ROUTINE (the raw link offers on that stream), valid
/// for an hour.
fn from_de(to: &str, correlation: Option<MessageId>, body: Body) -> Envelope {
    let now = bluehelm::custody::now_ms();
    Envelope {
        message_id: MessageId::generate(now as u64),
        origin: id("ncb.de"),
        destination: Destination::Node(id(to)),
        precedence: Precedence::Routine,
        created_at_ms: now,
        expires_at_ms: now + 3_600_000,
        correlation_id: correlation,
        hop_limit: 16,
        want_delivery_report: false,
        release_to: None,
        body,
    }
}

fn transfer(envelope: SignedEnvelope) -> Transfer {
    Transfer {
        envelope,
        hops: 0,
        recipients: vec![],
    }
}

/// Issue 10, defect 1: a third node signs reports about another node's messages, naming
/// the destination (a delivery) and the hub (a non-delivery). The origin refuses both, and
/// one naming the forger itself, counts them, and its messages stay HELD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_reports_from_a_third_node_are_refused_and_the_message_stays_held() {
    use bluehelm::api::pb;
    use bluehelm_proto::{DeliveryReport, NonDeliveryReason, NonDeliveryReport, TextMessage};

    // ncb.fr also lists mission.unmiss as a direct peer, which never dials it: its messages
    // to the mission wait at ncb.fr (HELD) while the hub carries the forged reports in.
    let mut specs = bluehelm::localnet::standard_specs();
    specs[1].peers.push((id("mission.unmiss"), None));
    let mut net = TestNet::with_specs(specs);
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    let mission = net.start("mission.unmiss").await;
    linked(&gs, "ncb.fr").await;
    linked(&gs, "mission.unmiss").await;

    let mut api = api_client(&fr).await;
    let mut sent = Vec::new();
    for n in 0..2 {
        let id = api_submit(
            &mut api,
            pb::SubmitRequest {
                destination: Some(pb::Destination {
                    target: Some(pb::destination::Target::Node("mission.unmiss".into())),
                }),
                precedence: pb::Precedence::Routine as i32,
                ttl_seconds: 600,
                want_delivery_report: true,
                release_to: None,
                correlation_id: String::new(),
                body: Some(pb::submit_request::Body::Text(pb::TextMessage {
                    subject_line: format!("held {n}"),
                    body: "for the mission".into(),
                    attachments: vec![],
                })),
            },
        )
        .await;
        sent.push(id.parse::<MessageId>().unwrap());
    }

    let (de, link) = link_as_de(&mut net).await;
    let delivered = from_de(
        "ncb.fr",
        Some(sent[0]),
        Body::DeliveryReport(DeliveryReport {
            delivered_to: id("mission.unmiss"),
            delivered_at_ms: bluehelm::custody::now_ms(),
        }),
    );
    let failed_by = |by: &str| {
        from_de(
            "ncb.fr",
            Some(sent[1]),
            Body::NonDeliveryReport(NonDeliveryReport {
                reason: NonDeliveryReason::Expired,
                reported_by: id(by),
                detail: "expired at the hub".into(),
                original_destination: Destination::Node(id("mission.unmiss")),
            }),
        )
    };
    // Then a plain text: once the API shows it, the reports before it have been judged
    // (same stream and class all the way, and FollowInbox shows only judged messages).
    let marker = from_de(
        "ncb.fr",
        None,
        Body::Text(TextMessage {
            subject_line: "marker".into(),
            body: String::new(),
            attachments: vec![],
        }),
    );
    let forged = [delivered, failed_by("gs"), failed_by("ncb.de"), marker];
    let answers = link
        .offer(
            forged
                .iter()
                .map(|e| transfer(de.signer().sign(e).unwrap()))
                .collect(),
        )
        .await
        .unwrap();
    // All four accepted. In one answer frame or several: the hub decides the offers in the
    // batches it reads them in, and the four frames may reach it in more than one read.
    let accepted: usize = answers
        .iter()
        .map(|answer| match answer {
            LinkFrame::Accepted(refs) => refs.len(),
            _ => 0,
        })
        .sum();
    assert!(
        accepted == 4
            && answers
                .iter()
                .all(|answer| matches!(answer, LinkFrame::Accepted(_))),
        "the hub carries any certified node's reports: {answers:?}"
    );

    let inbox = eventually("the marker at ncb.fr", || {
        let mut api = api.clone();
        async move {
            let inbox = api_inbox_now(&mut api).await;
            inbox.iter().any(|m| m.origin == "ncb.de").then_some(inbox)
        }
    })
    .await;
    for id in &sent {
        let state = api
            .delivery_state(pb::DeliveryStateRequest {
                message_id: id.to_string(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(state.status, pb::DeliveryStatus::Held as i32, "{state:?}");
        assert_eq!(state.held_for, vec!["mission.unmiss".to_string()]);
    }
    assert_eq!(api_counter(&mut api, "reports_refused").await, Some(3));
    let left: Vec<_> = inbox.iter().map(|m| &m.message_id).collect();
    assert_eq!(left.len(), 1, "forged reports left in the inbox: {left:?}");

    drop(api);
    for node in [mission, ke, fr, gs] {
        node.shutdown().await;
    }
}

/// Issue 10, defects 6 and 7: a correctly signed envelope that decodes but breaks a rule is
/// refused as MALFORMED under its own reference, and counted as malformed, not as a
/// rejected signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_breaking_envelopes_are_refused_by_their_reference_and_counted_as_malformed() {
    use bluehelm_proto::limits::MAX_NAME_LEN;
    use bluehelm_proto::TextMessage;

    let mut net = TestNet::standard();
    let gs = net.start("gs").await;
    let (de, link) = link_as_de(&mut net).await;
    let text = |subject: String| {
        from_de(
            "ncb.ke",
            None,
            Body::Text(TextMessage {
                subject_line: subject,
                body: String::new(),
                attachments: vec![],
            }),
        )
    };
    let mut zero_hops = text("hop limit 0".into());
    zero_hops.hop_limit = 0;
    let mut many_hops = text("hop limit 33".into());
    many_hops.hop_limit = 33;
    let oversized = text("x".repeat(MAX_NAME_LEN + 1));
    let unknown_precedence = text("precedence 9".into());
    let mut offers = Vec::new();
    let mut refs = Vec::new();
    for (envelope, extra) in [
        (zero_hops, vec![]),
        (many_hops, vec![]),
        (oversized, vec![]),
        // Field 4 again: the last value wins, so the precedence reads 9.
        (unknown_precedence, vec![0x20, 0x09]),
    ] {
        let mut bytes = envelope.encode_to_vec();
        bytes.extend(extra);
        assert!(Envelope::decode(&bytes).is_err());
        refs.push(envelope.message_ref());
        offers.push(transfer(de.signer().sign_bytes(bytes).unwrap()));
    }
    let answers = link.offer(offers).await.unwrap();
    let mut api = api_client(&gs).await;
    assert_eq!(api_counter(&mut api, "rejected_signatures").await, Some(0));
    assert_eq!(api_counter(&mut api, "refused_malformed").await, Some(4));
    assert_eq!(api_counter(&mut api, "refused").await, Some(4));
    let refused: Vec<_> = answers
        .iter()
        .map(|f| match f {
            LinkFrame::Refused(r) => (r.message.clone(), r.reason),
            other => panic!("a rule-breaking envelope was not refused: {other:?}"),
        })
        .collect();
    let expected: Vec<_> = refs
        .into_iter()
        .map(|r| (r, RefusalReason::Malformed))
        .collect();
    assert_eq!(refused, expected);
    drop(api);
    gs.shutdown().await;
}

/// Issue 10, defect 1, for service responses: a third node that learnt a waiting request's
/// id answers it first; the call ignores that answer and ends with the hub's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_response_does_not_end_a_waiting_request() {
    use bluehelm::api::pb;
    use bluehelm_proto::{ResponseStatus, ServiceResponse};

    let mut net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&gs, "ncb.fr").await;
    let mut api = api_client(&fr).await;
    let call = tokio::spawn({
        let mut api = api.clone();
        async move {
            api.request(pb::ServiceCall {
                service: "sltd.check".into(),
                params: [("document_number".to_string(), "X1".to_string())].into(),
                timeout_seconds: 20,
                ttl_seconds: 0,
                precedence: pb::Precedence::Routine as i32,
                purpose: String::new(),
                local_only: false,
                attachment: None,
            })
            .await
        }
    });
    // Nobody serves sltd.check at the hub yet: the request waits in its inbox.
    let request = inbox_at_least(&gs, 1).await[0].envelope.message_id;
    let answer = |status, detail: &str| {
        Body::Response(ServiceResponse {
            service: "sltd.check".parse().unwrap(),
            status,
            fields: Default::default(),
            detail: detail.into(),
        })
    };

    let (de, link) = link_as_de(&mut net).await;
    let forged = from_de(
        "ncb.fr",
        Some(request),
        answer(ResponseStatus::NoHit, "forged"),
    );
    let answers = link
        .offer(vec![transfer(de.signer().sign(&forged).unwrap())])
        .await
        .unwrap();
    assert!(
        matches!(&answers[..], [LinkFrame::Accepted(_)]),
        "{answers:?}"
    );
    // The hub's own answer, queued behind the forged one on the same link and class.
    gs.bureau()
        .submit(vec![bluehelm::custody::Outgoing {
            destination: Destination::Node(id("ncb.fr")),
            precedence: Precedence::Routine,
            body: answer(ResponseStatus::Hit, "genuine"),
            ttl: Duration::from_secs(600),
            want_delivery_report: false,
            release_to: None,
            correlation_id: Some(request),
        }])
        .await
        .unwrap();

    let answered = call
        .await
        .unwrap()
        .expect("the request is answered")
        .into_inner();
    assert_eq!(answered.responder, "gs");
    assert_eq!(answered.response.unwrap().detail, "genuine");
    assert_eq!(api_counter(&mut api, "responses_refused").await, Some(1));
    drop(api);
    for node in [fr, gs] {
        node.shutdown().await;
    }
}
