//! Revocation that reaches every node in-band (issue 14, item 1), with real nodes on
//! loopback: each node has a CRL file of its own, as on separate machines, and only gs's is
//! written by hand. A revoked node is cut off everywhere within 5 s, also at a node that is not
//! linked to gs (the CRL is passed on); an offline post gets the
//! CRL first when it comes back; a CRL that is older, of another CA or garbage is refused
//! and costs the link nothing; a node whose own certificate is revoked takes no custody and
//! says so.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bluehelm::custody::{now_ms, SubmitError};
use bluehelm::localnet::{standard_specs, LocalNet, NodeSpec, STANDARD_POLICY};
use bluehelm::Node;
use bluehelm_pki::{pem_or_der, CrlInfo, TrustError, TrustStore, VerifyError};
use bluehelm_proto::{
    Body, Destination, LinkFrame, Precedence, RefusalReason, SignedEnvelope, Transfer,
};
use bluehelm_tests::raw::RawLink;
use bluehelm_tests::{
    api_client_of, api_inbox_now, bluehelm_bin, eventually, id, linked, run_cli, text, NodeProcess,
    TestNet,
};

/// Gives every node a CRL file of its own (a copy of the network's first CRL), so that no
/// node sees a CRL another node's operator wrote.
fn own_crl_files(net: &TestNet) {
    let pki = net.net.pki_dir();
    for spec in &net.specs {
        let node = spec.id.as_str();
        std::fs::copy(pki.join("crl.pem"), crl_file(net, node)).unwrap();
        let config = net.config_path(node);
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "crl = \"pki/crl.pem\"",
            &format!("crl = \"pki/{node}-crl.pem\""),
        );
        std::fs::write(&config, text).unwrap();
    }
}

fn crl_file(net: &TestNet, node: &str) -> PathBuf {
    net.net.pki_dir().join(format!("{node}-crl.pem"))
}

/// The number of the CRL in `file`, checked with the network's CA.
fn number_in(net: &TestNet, file: &Path) -> String {
    let trust = TrustStore::load(&net.net.pki_dir().join("ca.pem"), Some(file)).unwrap();
    trust
        .crl_info()
        .and_then(CrlInfo::crl_number)
        .unwrap()
        .to_string()
}

/// The number of the CRL a running node has in force.
fn in_force(node: &Node) -> String {
    node.bureau()
        .verifier()
        .trust_store()
        .crl_info()
        .and_then(CrlInfo::crl_number)
        .map_or_else(|| "none".into(), |n| n.to_string())
}

/// Runs `bluehelm pki SUBCOMMAND --ca <the network's CA folder> ARGS`, which must succeed.
async fn pki(net: &TestNet, subcommand: &str, args: &[&str]) {
    let ca = net.net.pki_dir();
    let mut argv = vec!["pki", subcommand, "--ca", ca.to_str().unwrap()];
    argv.extend_from_slice(args);
    let (code, stdout, stderr) = run_cli(bluehelm_bin!(), argv).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
}

/// `bluehelm pki crl --out FILE`: the CA's next CRL.
async fn publish(net: &TestNet, out: &Path) {
    pki(net, "crl", &["--out", out.to_str().unwrap()]).await;
}

/// `bluehelm pki revoke --node NODE`, then the new CRL written to gs's CRL file only: the
/// publication.
async fn revoke_and_publish_at_gs(net: &TestNet, node: &str) {
    pki(net, "revoke", &["--node", node]).await;
    publish(net, &crl_file(net, "gs")).await;
}

/// A diffusion from ncb.fr to `to`, signed by ncb.fr.
fn signed_by_fr(net: &TestNet, to: &str) -> SignedEnvelope {
    let envelope = bluehelm_proto::testing::sample_envelope(
        id("ncb.fr"),
        Destination::Node(id(to)),
        Precedence::Routine,
        now_ms(),
        Body::Diffusion(bluehelm_proto::testing::sample_diffusion()),
    );
    net.credentials("ncb.fr").signer().sign(&envelope).unwrap()
}

fn der_of(pem: &[u8]) -> Vec<u8> {
    pem_or_der(pem, "X509 CRL").unwrap().remove(0)
}

/// The standard network and ncb.de, linked to ncb.ke only: a CRL reaches it through ncb.ke.
fn net_with_a_node_behind_ke() -> TestNet {
    let mut specs = standard_specs();
    let ke = specs
        .iter_mut()
        .find(|s| s.id.as_str() == "ncb.ke")
        .unwrap();
    ke.peers.push((id("ncb.de"), None));
    let mut de = NodeSpec::ncb("ncb.de", "DE", ke);
    de.listen = None;
    de.policy = Some(STANDARD_POLICY.to_owned());
    specs.push(de);
    TestNet::with_specs(specs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_node_is_cut_off_at_every_node_within_5_s_of_publication_at_gs_only() {
    let net = net_with_a_node_behind_ke();
    own_crl_files(&net);
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    let post = net.start("mission.unmiss").await;
    let de = net.start("ncb.de").await;
    for peer in ["ncb.fr", "ncb.ke", "mission.unmiss"] {
        linked(&gs, peer).await;
    }
    linked(&ke, "ncb.de").await;
    let fr_creds = net.credentials("ncb.fr");
    let fr_cert = fr_creds.node_cert_der().to_vec();
    let envelope = signed_by_fr(&net, "ncb.ke");

    revoke_and_publish_at_gs(&net, "ncb.fr").await;
    let published = Instant::now();
    let others = [
        ("gs", &gs),
        ("ncb.ke", &ke),
        ("mission.unmiss", &post),
        ("ncb.de", &de),
    ];
    eventually("every other node to revoke ncb.fr", || async {
        let now = now_ms() / 1000;
        let revoked = others.iter().all(|(_, node)| {
            matches!(
                node.bureau()
                    .verifier()
                    .trust_store()
                    .verify_node(&fr_cert, now),
                Err(TrustError::Revoked { .. })
            )
        });
        (revoked && !gs.is_linked(&id("ncb.fr"))).then_some(())
    })
    .await;
    let elapsed = published.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "ncb.fr was cut off {elapsed:?} after the publication"
    );

    // Its envelopes are refused everywhere.
    for (name, node) in others {
        let verified = node
            .bureau()
            .verifier()
            .verify_batch(std::slice::from_ref(&envelope), now_ms() / 1000);
        assert!(
            matches!(
                verified.first(),
                Some(Err(VerifyError::Untrusted(TrustError::Revoked { .. })))
            ),
            "{name} still takes envelopes from ncb.fr"
        );
    }
    // Its handshakes are refused by gs and by ncb.ke, which listens too.
    for node in ["gs", "ncb.ke"] {
        let address = net.spec(node).listen.unwrap();
        let outcome = async {
            let link = RawLink::connect(&fr_creds, &net.trust(), address, &id(node)).await?;
            link.ping().await
        }
        .await;
        assert!(outcome.is_err(), "{node} took a link from revoked ncb.fr");
    }
    // Nobody copied a file: the nodes wrote the CRL that reached them to their own file.
    for node in ["ncb.ke", "mission.unmiss", "ncb.de"] {
        assert_eq!(number_in(&net, &crl_file(&net, node)), "2", "{node}");
    }
    assert_eq!(number_in(&net, &crl_file(&net, "ncb.fr")), "1");
    assert!(
        !gs.is_linked(&id("ncb.fr")),
        "the revoked node linked again"
    );
    assert!(gs.is_linked(&id("ncb.ke")) && gs.is_linked(&id("mission.unmiss")));
    assert!(ke.is_linked(&id("ncb.de")));
    for node in [de, fr, ke, post, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_post_gets_the_crl_first_when_it_reconnects() {
    let net = TestNet::standard();
    own_crl_files(&net);
    let gs = net.start("gs").await;
    let config = net.config_path("mission.unmiss");
    let post = NodeProcess::start(bluehelm_bin!(), &config);
    linked(&gs, "mission.unmiss").await;
    post.stop();
    eventually("gs to see the post go", || async {
        (!gs.is_linked(&id("mission.unmiss"))).then_some(())
    })
    .await;

    // While the post is down: a message for it waits at gs, and ncb.ke is revoked.
    gs.bureau()
        .submit(vec![text(1, "mission.unmiss", Precedence::Routine)])
        .await
        .unwrap();
    revoke_and_publish_at_gs(&net, "ncb.ke").await;
    eventually("gs to put CRL 2 in force", || async {
        (in_force(&gs) == "2").then_some(())
    })
    .await;
    assert_eq!(number_in(&net, &crl_file(&net, "mission.unmiss")), "1");

    // The post comes back with its old CRL file.
    let (post, log) = NodeProcess::start_logged(bluehelm_bin!(), &config);
    let mut client = api_client_of(&bluehelm::NodeConfig::load(&config).unwrap()).await;
    // The inbox is read before the CRL number: a message delivered while CRL 1 was still in
    // force would be seen with "1".
    let number_when_delivered = eventually("the queued message at the post", || {
        let mut client = client.clone();
        async move {
            if api_inbox_now(&mut client).await.is_empty() {
                return None;
            }
            let status = client
                .status(bluehelm::api::pb::StatusRequest {})
                .await
                .unwrap()
                .into_inner();
            Some(status.crl_number)
        }
    })
    .await;
    assert_eq!(
        number_when_delivered, "2",
        "a message reached the post before the CRL"
    );
    let line = log.wait_for("new CRL in force (sent by a peer)");
    assert!(line.contains("crl_number=2"), "{line}");
    assert_eq!(number_in(&net, &crl_file(&net, "mission.unmiss")), "2");
    let applied =
        std::fs::read_to_string(net.dir().join("data/mission.unmiss/applied_crl")).unwrap();
    assert!(applied.contains("crl_number 02"), "{applied}");
    let inbox = api_inbox_now(&mut client).await;
    assert_eq!(inbox.len(), 1);
    post.stop();
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_foreign_or_garbage_crl_sent_in_band_is_refused_after_a_restart_and_the_link_stays(
) {
    let net = TestNet::standard();
    own_crl_files(&net);
    let one = der_of(&std::fs::read(crl_file(&net, "gs")).unwrap());
    let gs = net.start("gs").await;
    publish(&net, &crl_file(&net, "gs")).await;
    eventually("gs to put CRL 2 in force", || async {
        (in_force(&gs) == "2").then_some(())
    })
    .await;
    gs.shutdown().await;
    let gs = net.start("gs").await;
    assert_eq!(in_force(&gs), "2");

    let address = net.spec("gs").listen.unwrap();
    let link = RawLink::connect(&net.credentials("ncb.ke"), &net.trust(), address, &id("gs"))
        .await
        .unwrap();
    link.ping().await.unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let other = LocalNet::create(other_dir.path()).unwrap();
    let foreign = der_of(&std::fs::read(other.pki_dir().join("crl.pem")).unwrap());
    for (what, der) in [
        ("older", one),
        ("of another CA", foreign),
        ("garbage", b"not a CRL at all".to_vec()),
    ] {
        link.send_crl(der).await.unwrap();
        assert_eq!(in_force(&gs), "2", "gs took a CRL {what}");
        link.ping().await.unwrap();
    }
    assert_eq!(number_in(&net, &crl_file(&net, "gs")), "2");
    assert!(gs.is_linked(&id("ncb.ke")), "a refused CRL cost the link");
    assert_eq!(
        gs.bureau()
            .stats()
            .protocol_errors
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );

    // A newer one on the same path is taken, and written to gs's file.
    let three = net.dir().join("three.pem");
    publish(&net, &three).await;
    link.send_crl(der_of(&std::fs::read(&three).unwrap()))
        .await
        .unwrap();
    assert_eq!(in_force(&gs), "3");
    assert_eq!(number_in(&net, &crl_file(&net, "gs")), "3");
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_own_certificate_is_revoked_takes_no_custody_and_says_so() {
    let net = TestNet::standard();
    own_crl_files(&net);
    let ke = net.start("ncb.ke").await;
    // gs's credentials over a raw link: the CRL reaches ncb.ke in-band.
    let address = net.spec("ncb.ke").listen.unwrap();
    let link = RawLink::connect(&net.credentials("gs"), &net.trust(), address, &id("ncb.ke"))
        .await
        .unwrap();
    link.ping().await.unwrap();
    pki(&net, "revoke", &["--node", "ncb.ke"]).await;
    let revoking = net.dir().join("revoking.pem");
    publish(&net, &revoking).await;
    link.send_crl(der_of(&std::fs::read(&revoking).unwrap()))
        .await
        .unwrap();
    assert_eq!(in_force(&ke), "2");

    // Its applications cannot send.
    let refused = ke
        .bureau()
        .submit(vec![text(1, "ncb.fr", Precedence::Routine)])
        .await;
    match refused {
        Err(err @ SubmitError::CertificateRevoked(_)) => {
            assert!(err.to_string().contains("is revoked"), "{err}")
        }
        other => panic!("a revoked node took a submission: {other:?}"),
    }
    // Its peers' offers are refused for now: the sender keeps the message.
    let answers = link
        .offer(vec![Transfer {
            envelope: signed_by_fr(&net, "ncb.ke"),
            hops: 1,
            recipients: vec![],
        }])
        .await
        .unwrap();
    match answers.as_slice() {
        [LinkFrame::Refused(refusal)] => {
            assert_eq!(refusal.reason, RefusalReason::StorageUnavailable);
            assert!(!refusal.reason.is_permanent());
            assert!(refusal.detail.contains("is revoked"), "{}", refusal.detail);
        }
        other => panic!("a revoked node answered {other:?}"),
    }
    assert_eq!(ke.bureau().inbox_len().await.unwrap(), 0);
    // `bluehelm status` says so.
    let config = net.config_path("ncb.ke");
    let (code, stdout, stderr) = run_cli(
        bluehelm_bin!(),
        ["status", "--config", config.to_str().unwrap()],
    )
    .await;
    // Not ready while revoked (issue 15): `status` exits 8 and says why.
    assert_eq!(code, 8, "{stderr}");
    assert!(
        stderr.contains("not ready: this node's certificate"),
        "{stderr}"
    );
    assert!(stdout.contains("CERTIFICATE REVOKED"), "{stdout}");
    assert!(stdout.contains("crl: number 2"), "{stdout}");
    ke.shutdown().await;
}
