//! Ways in that must stay shut: links without a proper certificate, forged origins, tampered
//! messages, oversized frames and garbage. Each test also shows that the node keeps serving.

use std::time::Duration;

use bluehelm::localnet::{free_loopback_addr, LocalNet, NodeSpec};
use bluehelm_pki::{IssueRequest, NodeCredentials, Role, TrustStore};
use bluehelm_proto::{
    Destination, LinkFrame, MessageId, Precedence, RefusalReason, SignedEnvelope, Transfer,
};
use bluehelm_tests::raw::RawLink;
use bluehelm_tests::{id, inbox_at_least, linked, text, TestNet};

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

/// Traffic still flows between the regular nodes.
async fn hub_still_serves(net: &TestNet, gs: &bluehelm::Node) {
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(gs, "ncb.ke").await;
    fr.core()
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
    assert!(!gs.core().is_linked(&id("ncb.fr")));
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
        !gs.core().is_linked(&id("ncb.ke")),
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
        bluehelm::node::core::now_ms(),
        512,
    );
    forged.message_id = MessageId::generate(bluehelm::node::core::now_ms() as u64);
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
        bluehelm::node::core::Stats::get(&gs.core().stats.rejected_signatures),
        1
    );
    assert_eq!(gs.core().store.depth(&id("ncb.ke")), 0);
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
    let now = bluehelm::node::core::now_ms();
    let make = || {
        let mut envelope = bluehelm_proto::testing::sample_notice_envelope(
            id("ncb.de"),
            Destination::Node(id("ncb.ke")),
            Precedence::Routine,
            now,
            512,
        );
        envelope.message_id = MessageId::generate(now as u64);
        de.signer().sign(&envelope).unwrap()
    };
    let good = make();
    let (mut bytes, signature, cert) = make().into_parts();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let tampered = SignedEnvelope::new(bytes, signature, cert).unwrap();
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
        bluehelm::node::core::Stats::get(&gs.core().stats.rejected_signatures),
        1
    );
    assert_eq!(gs.core().store.depth(&id("ncb.ke")), 1);
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
        (bluehelm::node::core::Stats::get(&gs.core().stats.protocol_errors) >= 1).then_some(())
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
        (!gs.core().is_linked(&id("ncb.ke"))).then_some(())
    })
    .await;
    // Putting the older CRL back does not un-revoke anyone.
    std::fs::write(&crl_path, old_crl).unwrap();
    // ncb.ke keeps redialling; none of its attempts gets in.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !gs.core().is_linked(&id("ncb.ke")),
        "a revoked node linked again"
    );
    assert!(
        gs.core().is_linked(&id("ncb.fr")),
        "an unrevoked peer lost its link"
    );
    for node in [fr, ke, gs] {
        node.shutdown().await;
    }
}
