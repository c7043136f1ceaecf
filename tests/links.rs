//! The link session at its edges: a peer that ends the answer side of an offer stream
//! (docs/protocol.md 7.2), and what a node says about its endpoint when it starts.

use std::time::Duration;

use bluehelm::Node;
use bluehelm_pki::{NodeCredentials, TrustStore};
use bluehelm_proto::Precedence;
use bluehelm_tests::raw::{NodeOffers, RawLink};
use bluehelm_tests::{bluehelm_bin, eventually, id, text, NodeProcess, TestNet};

fn trust(net: &TestNet) -> TrustStore {
    let pki = net.net.pki_dir();
    TrustStore::load(&pki.join("ca.pem"), Some(&pki.join("crl.pem"))).unwrap()
}

/// A raw link to gs with the credentials of ncb.ke (a configured peer of gs that is not
/// running), proven by a ping, and the four offer streams gs opened on it.
async fn link_as_ncb_ke(net: &TestNet) -> (RawLink, Vec<NodeOffers>) {
    let pki = net.net.pki_dir();
    let creds = NodeCredentials::load(&pki.join("ncb.ke.pem"), &pki.join("ncb.ke.key")).unwrap();
    let addr = net.spec("gs").listen.unwrap();
    let link = RawLink::connect(&creds, &trust(net), addr, &id("gs"))
        .await
        .unwrap();
    link.ping().await.unwrap();
    let mut streams = Vec::new();
    for _ in 0..4 {
        streams.push(link.accept_offer_stream().await.unwrap());
    }
    (link, streams)
}

fn take_class(streams: &mut Vec<NodeOffers>, precedence: Precedence) -> NodeOffers {
    let at = streams
        .iter()
        .position(|s| s.precedence == precedence)
        .expect("gs opened one offer stream per class");
    streams.swap_remove(at)
}

async fn queue_drained(gs: &Node) {
    eventually("gs to forget the copy ncb.ke took", || async {
        (gs.bureau().queue_depth(&id("ncb.ke")) == 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_stream_ended_with_nothing_unanswered_leaves_the_link_up() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let (ke, mut streams) = link_as_ncb_ke(&net).await;
    let mut ended = take_class(&mut streams, Precedence::Routine);
    ended.answers.finish().unwrap();
    // Time for gs to read the end before it has anything to offer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        ke.conn.close_reason().is_none(),
        "gs closed the link: {:?}",
        ke.conn.close_reason()
    );

    let sent = gs
        .bureau()
        .submit(vec![text(1, "ncb.ke", Precedence::Routine)])
        .await
        .unwrap();
    let mut fresh = ke.accept_offer_stream().await.expect("a new offer stream");
    assert_eq!(fresh.precedence, Precedence::Routine);
    let offer = fresh.next_offer().await.unwrap();
    assert_eq!(offer.id, sent[0]);
    fresh.accept(vec![offer]).await.unwrap();
    queue_drained(&gs).await;
    ke.ping().await.unwrap();
    assert!(gs.is_linked(&id("ncb.ke")));
    drop(streams);
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_stream_ended_with_an_offer_unanswered_closes_the_link_and_it_is_offered_again() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let (ke, mut streams) = link_as_ncb_ke(&net).await;
    let sent = gs
        .bureau()
        .submit(vec![text(1, "ncb.ke", Precedence::Routine)])
        .await
        .unwrap();
    let mut routine = take_class(&mut streams, Precedence::Routine);
    let offer = routine.next_offer().await.unwrap();
    assert_eq!(offer.id, sent[0]);
    routine.answers.finish().unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), ke.conn.closed())
        .await
        .expect("gs closes the link");
    match closed {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(close.error_code, quinn::VarInt::from_u32(1), "{close:?}")
        }
        other => panic!("expected a protocol-violation close: {other}"),
    }
    assert_eq!(
        gs.bureau().queue_depth(&id("ncb.ke")),
        1,
        "the copy stays queued"
    );

    // The next link offers it again.
    let (again, mut streams) = link_as_ncb_ke(&net).await;
    let mut routine = take_class(&mut streams, Precedence::Routine);
    let offer = routine.next_offer().await.unwrap();
    assert_eq!(offer.id, sent[0]);
    routine.accept(vec![offer]).await.unwrap();
    queue_drained(&gs).await;
    drop((again, streams));
    gs.shutdown().await;
}

#[test]
fn a_dial_only_node_does_not_claim_to_listen() {
    let net = TestNet::standard();
    let (_gs, line) = NodeProcess::start_with_ready_line(bluehelm_bin!(), &net.config_path("gs"));
    let listen = net.spec("gs").listen.unwrap();
    assert!(
        line.contains(&format!("listening on {listen}")),
        "gs says: {line}"
    );
    // mission.unmiss has no listen address: it only dials gs.
    let (_post, line) =
        NodeProcess::start_with_ready_line(bluehelm_bin!(), &net.config_path("mission.unmiss"));
    assert!(
        !line.contains("listening"),
        "a dial-only post claims to listen: {line}"
    );
}

/// How a refused dialler learns it was refused (docs/protocol.md 6.1): with TLS 1.3 its
/// handshake completes before the listener has checked its certificate, so `connect`
/// succeeds and the refusal closes the connection afterwards.
async fn refusal_after_handshake(link: anyhow::Result<RawLink>) -> quinn::ConnectionError {
    let link = link.expect("the client's handshake completes");
    assert!(link.ping().await.is_err(), "a refused client got a pong");
    link.conn.close_reason().expect("the connection is closed")
}

/// The TLS alert a connection was closed with, if it was.
fn alert(closed: &quinn::ConnectionError) -> Option<quinn::TransportErrorCode> {
    match closed {
        quinn::ConnectionError::ConnectionClosed(close) => Some(close.error_code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_arrive_after_the_clients_handshake_as_the_documented_alerts() {
    let mut net = TestNet::standard();
    let pki = net.net.pki_dir();
    let ke_cert = std::fs::read(pki.join("ncb.ke.pem")).unwrap();
    net.net.ca().revoke(&ke_cert, None).unwrap();
    net.net.write_crl().unwrap();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let load = |n: &str| {
        NodeCredentials::load(&pki.join(format!("{n}.pem")), &pki.join(format!("{n}.key"))).unwrap()
    };
    let crypto = quinn::TransportErrorCode::crypto;
    let gs_addr = net.spec("gs").listen.unwrap();

    let anonymous = RawLink::connect_anonymous(&trust(&net), gs_addr, &id("gs")).await;
    let closed = refusal_after_handshake(anonymous).await;
    assert_eq!(
        alert(&closed),
        Some(crypto(116)),
        "certificate_required: {closed}"
    );

    let revoked = RawLink::connect(&load("ncb.ke"), &trust(&net), gs_addr, &id("gs")).await;
    let closed = refusal_after_handshake(revoked).await;
    assert_eq!(
        alert(&closed),
        Some(crypto(44)),
        "certificate_revoked: {closed}"
    );

    // A CA of the same name but another key: the issuer is found by name, its signature fails.
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = bluehelm::localnet::LocalNet::create(other_dir.path()).unwrap();
    let hub = bluehelm::localnet::NodeSpec::hub("gs", net.spec("gs").listen.unwrap());
    other
        .add(&bluehelm::localnet::NodeSpec::ncb("ncb.fr", "FR", &hub))
        .unwrap();
    let impostor = NodeCredentials::load(
        &other.pki_dir().join("ncb.fr.pem"),
        &other.pki_dir().join("ncb.fr.key"),
    )
    .unwrap();
    let forged = RawLink::connect(&impostor, &trust(&net), gs_addr, &id("gs")).await;
    let closed = refusal_after_handshake(forged).await;
    assert_eq!(alert(&closed), Some(crypto(51)), "decrypt_error: {closed}");

    // ncb.fr admits only its configured peer gs: the node's own check, after TLS.
    let fr_addr = net.spec("ncb.fr").listen.unwrap();
    let stranger = RawLink::connect(
        &load("mission.unmiss"),
        &trust(&net),
        fr_addr,
        &id("ncb.fr"),
    )
    .await;
    match refusal_after_handshake(stranger).await {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(close.error_code, quinn::VarInt::from_u32(2), "{close:?}")
        }
        other => panic!("expected an application close with code 2: {other}"),
    }

    fr.shutdown().await;
    gs.shutdown().await;
}
