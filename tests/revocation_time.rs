//! Revocation reasons and dates on real nodes (issue 14, items 2 and 6): a key-compromise time
//! splits what the stolen key signed at a node that has the CRL, and a node whose key is
//! rotated (the old certificate revoked as superseded) delivers every message it had queued
//! under the old key exactly once. The CA is driven through the real `bluehelm pki` commands.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use bluehelm::api::pb;
use bluehelm::custody::now_ms;
use bluehelm::human_time::utc_from_secs;
use bluehelm_pki::{IssueRequest, NodeCredentials, Role, TrustStore};
use bluehelm_proto::{
    Body, Destination, Envelope, LinkFrame, MessageId, Precedence, RefusalReason, Transfer,
};
use bluehelm_tests::raw::RawLink;
use bluehelm_tests::{
    api_client_of, api_queue_depth, api_submit, bluehelm_bin, eventually, id, inbox_at_least,
    linked, pki_cli, queues_empty, NodeProcess, TestNet,
};

/// Runs `bluehelm pki ARGS` with the network's CA directory as `--ca`; it must succeed.
async fn pki(net: &TestNet, args: &[&str]) -> String {
    pki_cli(bluehelm_bin!(), net, args).await
}

/// Writes the CA's next CRL where every node of the network reads it.
async fn publish_crl(net: &TestNet) {
    let out = net.net.pki_dir().join("crl.pem");
    pki(net, &["crl", "--out", out.to_str().unwrap()]).await;
}

/// A diffusion from ncb.fr to ncb.ke created at `created_secs`, living an hour from now.
fn from_fr_at(created_secs: i64) -> Envelope {
    Envelope {
        message_id: MessageId::generate(now_ms() as u64),
        origin: id("ncb.fr"),
        destination: Destination::Node(id("ncb.ke")),
        precedence: Precedence::Routine,
        created_at_ms: created_secs * 1000,
        expires_at_ms: now_ms() + 3_600_000,
        correlation_id: None,
        hop_limit: 16,
        want_delivery_report: false,
        release_to: None,
        body: Body::Diffusion(bluehelm_proto::testing::sample_diffusion()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_compromise_time_splits_what_the_stolen_key_signed() {
    let mut net = TestNet::standard();
    // ncb.de relays what the thief hands it: a certified node the hub admits as an unknown
    // peer (a revoked certificate gets no link of its own). Issued before the CLI takes over
    // the CA directory.
    let de = net
        .net
        .ca()
        .issue(&IssueRequest {
            node: id("ncb.de"),
            role: Role::Ncb,
            country: Some("DE".into()),
            mission: None,
            home: None,
            days: 30,
        })
        .unwrap()
        .credentials()
        .unwrap();
    let stolen: NodeCredentials = net.credentials("ncb.fr");

    let now = now_ms() / 1000;
    let compromised_at = now - 600;
    let said = pki(
        &net,
        &[
            "revoke",
            "--node",
            "ncb.fr",
            "--reason",
            "key-compromise",
            "--compromised-at",
            &utc_from_secs(compromised_at),
        ],
    )
    .await;
    assert!(said.contains("compromised since"), "{said}");
    publish_crl(&net).await;

    let gs = net.start("gs").await;
    let trust = TrustStore::load(
        &net.net.pki_dir().join("ca.pem"),
        Some(&net.net.pki_dir().join("crl.pem")),
    )
    .unwrap();
    let link = RawLink::connect(&de, &trust, net.spec("gs").listen.unwrap(), &id("gs"))
        .await
        .unwrap();
    // Signed by the stolen key: one before the compromise, one after it (but before the
    // revocation: the window a thief has).
    let before = from_fr_at(compromised_at - 300);
    let after = from_fr_at(compromised_at + 300);
    let answers = link
        .offer(
            [&before, &after]
                .into_iter()
                .map(|e| Transfer {
                    envelope: stolen.signer().sign(e).unwrap(),
                    hops: 1,
                    recipients: vec![],
                })
                .collect(),
        )
        .await
        .unwrap();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for frame in answers {
        match frame {
            LinkFrame::Accepted(refs) => accepted.extend(refs),
            LinkFrame::Refused(r) => refused.push(r),
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(accepted, vec![before.message_ref()]);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].message, after.message_ref());
    assert_eq!(refused[0].reason, RefusalReason::UntrustedSigner);
    let detail = &refused[0].detail;
    assert!(detail.contains("key-compromise"), "{detail}");
    assert!(detail.contains(&utc_from_secs(compromised_at)), "{detail}");

    // The earlier message reaches its destination, which has the CRL too.
    let ke = net.start("ncb.ke").await;
    linked(&gs, "ncb.ke").await;
    queues_empty(&[&gs]).await;
    let inbox = inbox_at_least(&ke, 1).await;
    let ids: Vec<_> = inbox.iter().map(|m| m.envelope.message_id).collect();
    assert_eq!(ids, vec![before.message_id]);
    ke.shutdown().await;
    gs.shutdown().await;
}

fn text_to_ke(n: usize) -> pb::SubmitRequest {
    pb::SubmitRequest {
        destination: Some(pb::Destination {
            target: Some(pb::destination::Target::Node("ncb.ke".into())),
        }),
        precedence: pb::Precedence::Routine as i32,
        ttl_seconds: 3600,
        want_delivery_report: false,
        release_to: None,
        correlation_id: String::new(),
        body: Some(pb::submit_request::Body::Text(pb::TextMessage {
            subject_line: format!("queued {n}"),
            body: "x".repeat(100),
            attachments: vec![],
        })),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_node_delivers_every_message_it_queued_under_its_old_key_once() {
    const QUEUED: usize = 30;
    let net = TestNet::standard();
    let fr_config = net.config_path("ncb.fr");
    let old_cert = std::fs::read(net.net.pki_dir().join("ncb.fr.pem")).unwrap();

    // ncb.fr runs alone: its hub is down, so everything it takes queues for gs.
    let fr = NodeProcess::start(bluehelm_bin!(), &fr_config);
    let config = net.net.config("ncb.fr").unwrap();
    let mut client = api_client_of(&config).await;
    for n in 0..QUEUED {
        api_submit(&mut client, text_to_ke(n)).await;
    }
    assert_eq!(api_queue_depth(&mut client, "gs").await, QUEUED as u64);
    drop(client);
    fr.stop();
    // CRL times have a resolution of a second: the revocation comes in a later second than
    // the last message's creation.
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    // New key and certificate; the old one revoked as superseded.
    let new_dir = tempfile::tempdir().unwrap();
    let out = new_dir.path().join("ncb.fr");
    let said = pki(
        &net,
        &[
            "rotate",
            "--node",
            "ncb.fr",
            "--out",
            out.to_str().unwrap(),
            "--revoke-old",
        ],
    )
    .await;
    assert!(said.contains("as superseded"), "{said}");
    let (new_cert, new_key) = (out.join("ncb.fr.pem"), out.join("ncb.fr.key"));
    assert_eq!(mode(&new_key), 0o600);
    // Installed where the node's config points; `copy` keeps the key's mode.
    let pki_dir = net.net.pki_dir();
    std::fs::copy(&new_cert, pki_dir.join("ncb.fr.pem")).unwrap();
    std::fs::copy(&new_key, pki_dir.join("ncb.fr.key")).unwrap();
    assert_eq!(mode(&pki_dir.join("ncb.fr.key")), 0o600);
    assert_ne!(std::fs::read(pki_dir.join("ncb.fr.pem")).unwrap(), old_cert);
    publish_crl(&net).await;

    // The register shows both: the old one superseded, the new one valid.
    let list: serde_json::Value =
        serde_json::from_str(&pki(&net, &["list", "--json"]).await).unwrap();
    let fr_rows: Vec<&serde_json::Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["node"] == "ncb.fr")
        .collect();
    assert_eq!(fr_rows.len(), 2, "{list}");
    assert_eq!(fr_rows[0]["status"], "revoked");
    assert_eq!(fr_rows[0]["reason"], "superseded");
    assert_eq!(fr_rows[1]["status"], "valid");

    // Restarted with the new files and the CRL that revokes its old certificate.
    let fr = NodeProcess::start(bluehelm_bin!(), &fr_config);
    let gs = net.start("gs").await;
    let ke = net.start("ncb.ke").await;
    linked(&gs, "ncb.fr").await;
    let mut client = api_client_of(&config).await;
    eventually("ncb.fr's queue for gs drained", || {
        let mut client = client.clone();
        async move { (api_queue_depth(&mut client, "gs").await == 0).then_some(()) }
    })
    .await;
    queues_empty(&[&gs]).await;
    let inbox = inbox_at_least(&ke, QUEUED).await;
    let subjects: Vec<String> = inbox
        .iter()
        .filter_map(|m| match &m.envelope.body {
            Body::Text(t) => Some(t.subject_line.clone()),
            _ => None,
        })
        .collect();
    let distinct: BTreeSet<&String> = subjects.iter().collect();
    assert_eq!(subjects.len(), QUEUED, "{subjects:?}");
    assert_eq!(
        distinct.len(),
        QUEUED,
        "a message arrived twice: {subjects:?}"
    );
    // Each was signed with the old key: the superseded certificate's earlier messages.
    let old_der = bluehelm_pki::pem_or_der(&old_cert, "CERTIFICATE")
        .unwrap()
        .remove(0);
    assert!(inbox
        .iter()
        .all(|m| m.signed.signer_certificate() == old_der.as_slice()));

    // What the node signs now carries the new certificate and passes too.
    api_submit(&mut client, text_to_ke(QUEUED)).await;
    let inbox = inbox_at_least(&ke, QUEUED + 1).await;
    let newest = inbox.last().unwrap();
    assert_ne!(newest.signed.signer_certificate(), old_der.as_slice());
    assert_eq!(inbox.len(), QUEUED + 1);
    drop(client);
    ke.shutdown().await;
    gs.shutdown().await;
    fr.stop();
}
