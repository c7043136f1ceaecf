//! Live configuration (issue 15, item 3): `bluehelm reload` and SIGHUP make a running node
//! read its config file again. Shown on a real network on loopback: a group gains a member
//! and the next group message reaches it while the links that did not change stay the same
//! QUIC connections (a redial would give a new one); a config that does not parse, or that
//! changes `node_id`, is refused and the node goes on with the old one; a removed peer's
//! link goes down and an added peer is dialled; a new certificate and key sign what the node
//! sends after the reload, its audit checkpoints included, and the log still verifies; a
//! new CRL named by the config alone closes the revoked peer's link and no other.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bluehelm::api::pb;
use bluehelm::engine::records::hex;
use bluehelm::localnet::{standard_specs, NodeSpec};
use bluehelm::Node;
use bluehelm_proto::{Destination, GroupName, Precedence};
use bluehelm_tests::{
    api_client_of, bluehelm_bin, certificate_der, eventually, id, inbox_at_least, linked,
    number_of, pki_cli, renew_in_place, run_cli, text, NodeProcess, TestNet,
};

/// The standard network, with a group `east` at gs that starts with ncb.fr alone.
fn net_with_group() -> TestNet {
    let mut specs: Vec<NodeSpec> = standard_specs();
    specs[0].groups.push(("east".into(), vec![id("ncb.fr")]));
    TestNet::with_specs(specs)
}

fn east() -> GroupName {
    "east".parse().expect("a group name")
}

const EAST_BEFORE: &str = "east = [\"ncb.fr\"]";
const EAST_AFTER: &str = "east = [\"ncb.fr\", \"ncb.ke\"]";

/// Replaces `from` by `to` in the config file at `path` (which must contain it).
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("config");
    assert!(text.contains(from), "{from} in\n{text}");
    std::fs::write(path, text.replacen(from, to, 1)).expect("config written");
}

/// `bluehelm reload --socket SOCKET [--json]` with the real binary.
async fn reload(socket: &Path, json: bool) -> (i32, String, String) {
    let mut args = vec![
        "reload".to_owned(),
        "--socket".to_owned(),
        socket.display().to_string(),
    ];
    if json {
        args.push("--json".into());
    }
    run_cli(bluehelm_bin!(), args).await
}

fn socket_of(node: &Node) -> PathBuf {
    node.bureau().config().api_socket.clone()
}

/// The QUIC connection id of `node`'s link with `peer`: a link that was dropped and dialled
/// again has another.
fn link_id(node: &Node, peer: &str) -> usize {
    node.links()
        .connection(&id(peer))
        .unwrap_or_else(|| panic!("{} has a link with {peer}", node.bureau().me()))
        .stable_id()
}

/// A text from gs's point of view to the group `east`, numbered `n`.
fn to_east(n: usize) -> bluehelm::custody::Outgoing {
    let mut message = text(n, "ncb.fr", Precedence::Priority);
    message.destination = Destination::Group(east());
    message
}

/// Waits until `node`'s inbox holds the message numbered `n`.
async fn received(node: &Node, n: usize) {
    eventually(
        &format!("{} to receive message {n}", node.bureau().me()),
        || async {
            let inbox = node.bureau().inbox(None, 1000).await.expect("inbox");
            inbox.iter().any(|m| number_of(m) == Some(n)).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_a_group_member_without_dropping_a_link() {
    let net = net_with_group();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(&gs, "ncb.fr").await;
    linked(&gs, "ncb.ke").await;
    linked(&fr, "gs").await;
    linked(&ke, "gs").await;
    let before = [
        link_id(&gs, "ncb.fr"),
        link_id(&gs, "ncb.ke"),
        link_id(&fr, "gs"),
        link_id(&ke, "gs"),
    ];

    gs.bureau().submit(vec![to_east(1)]).await.expect("taken");
    received(&fr, 1).await;

    edit(&net.config_path("gs"), EAST_BEFORE, EAST_AFTER);
    let (code, out, err) = reload(&socket_of(&gs), false).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("groups changed: east"), "{out}");
    assert!(out.contains("links to unchanged peers stay up"), "{out}");
    assert_eq!(
        gs.bureau().config().routing.groups[&east()],
        [id("ncb.fr"), id("ncb.ke")]
    );

    gs.bureau().submit(vec![to_east(2)]).await.expect("taken");
    received(&ke, 2).await;
    received(&fr, 2).await;
    // Message 1 went out before ncb.ke was a member.
    let ke_inbox = inbox_at_least(&ke, 1).await;
    assert_eq!(
        ke_inbox.iter().filter_map(number_of).collect::<Vec<_>>(),
        [2]
    );

    let after = [
        link_id(&gs, "ncb.fr"),
        link_id(&gs, "ncb.ke"),
        link_id(&fr, "gs"),
        link_id(&ke, "gs"),
    ];
    assert_eq!(before, after, "the links are the same connections");

    // The same file again: nothing changes, and --json says so.
    let (code, out, err) = reload(&socket_of(&gs), true).await;
    assert_eq!(code, 0, "{out}{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(json["groups_changed"], serde_json::json!([]), "{json}");
    assert!(json["config"]
        .as_str()
        .is_some_and(|c| c.ends_with("gs.toml")));

    for node in [ke, fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_node_process_without_dropping_a_link() {
    let net = net_with_group();
    let gs_config = net.config_path("gs");
    let (gs, log) = NodeProcess::start_logged(bluehelm_bin!(), &gs_config);
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(&fr, "gs").await;
    linked(&ke, "gs").await;
    let before = [link_id(&fr, "gs"), link_id(&ke, "gs")];
    let links_up = log.all().iter().filter(|l| l.contains("link up")).count();

    edit(&gs_config, EAST_BEFORE, EAST_AFTER);
    let status = std::process::Command::new("kill")
        .args(["-HUP", &gs.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let line = log.wait_for("config reloaded");
    assert!(line.contains("groups=east"), "{line}");

    let config = bluehelm::NodeConfig::load(&gs_config).expect("config");
    let mut client = api_client_of(&config).await;
    let request = pb::SubmitRequest {
        destination: Some(pb::Destination {
            target: Some(pb::destination::Target::Group("east".into())),
        }),
        precedence: pb::Precedence::Priority as i32,
        ttl_seconds: 600,
        want_delivery_report: false,
        release_to: None,
        correlation_id: String::new(),
        body: Some(pb::submit_request::Body::Text(pb::TextMessage {
            subject_line: "test message 7".into(),
            body: "after the hangup".into(),
            attachments: vec![],
        })),
    };
    client.submit(request).await.expect("submitted");
    received(&ke, 7).await;
    received(&fr, 7).await;

    assert_eq!(before, [link_id(&fr, "gs"), link_id(&ke, "gs")]);
    let links_up_after = log.all().iter().filter(|l| l.contains("link up")).count();
    assert_eq!(links_up, links_up_after, "no link came up again at gs");

    fr.shutdown().await;
    ke.shutdown().await;
    gs.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_is_refused_and_the_node_keeps_the_one_in_force() {
    let net = net_with_group();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&fr, "gs").await;
    let before = link_id(&fr, "gs");
    let path = net.config_path("gs");
    let good = std::fs::read_to_string(&path).expect("config");

    // Not TOML: refused, and said why.
    std::fs::write(&path, format!("{good}\nthis is not toml\n")).expect("written");
    let (code, out, err) = reload(&socket_of(&gs), false).await;
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("the config in force stays"), "{err}");
    assert!(err.contains("gs.toml"), "the file is named: {err}");

    // A group changed together with node_id: refused whole, node_id named.
    std::fs::write(
        &path,
        good.replacen("node_id = \"gs\"", "node_id = \"gs-b\"", 1)
            .replacen(EAST_BEFORE, EAST_AFTER, 1),
    )
    .expect("written");
    let (code, out, err) = reload(&socket_of(&gs), false).await;
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("`node_id` cannot change while the node runs"),
        "{err}"
    );
    assert_eq!(gs.bureau().config().node_id, id("gs"));
    assert_eq!(
        gs.bureau().config().routing.groups[&east()],
        [id("ncb.fr")],
        "nothing of the refused config is in force"
    );

    // Still serving, on the same link.
    gs.bureau()
        .submit(vec![text(3, "ncb.fr", Precedence::Routine)])
        .await
        .expect("taken");
    received(&fr, 3).await;
    assert_eq!(before, link_id(&fr, "gs"));

    fr.shutdown().await;
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_peer_is_unlinked_and_an_added_peer_is_dialled() {
    let net = net_with_group();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(&fr, "gs").await;
    linked(&ke, "gs").await;
    let fr_to_gs = link_id(&fr, "gs");
    let ke_to_gs = link_id(&ke, "gs");
    assert!(!fr.is_linked(&id("ncb.ke")));

    // ncb.ke accepts ncb.fr (no address: it waits to be dialled), then ncb.fr dials it.
    let ke_address = net.spec("ncb.ke").listen.expect("ncb.ke listens");
    edit(
        &net.config_path("ncb.ke"),
        "[[peers]]",
        "[[peers]]\nnode = \"ncb.fr\"\n\n[[peers]]",
    );
    let (code, out, err) = reload(&socket_of(&ke), false).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("peers added (dialled): ncb.fr"), "{out}");
    let fr_config = net.config_path("ncb.fr");
    let fr_before = std::fs::read_to_string(&fr_config).expect("config");
    edit(
        &fr_config,
        "[[peers]]",
        &format!("[[peers]]\nnode = \"ncb.ke\"\naddress = \"{ke_address}\"\n\n[[peers]]"),
    );
    let (code, out, err) = reload(&socket_of(&fr), false).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("peers added (dialled): ncb.ke"), "{out}");
    linked(&fr, "ncb.ke").await;
    linked(&ke, "ncb.fr").await;
    // Direct now: a message for ncb.ke goes over the new link.
    fr.bureau()
        .submit(vec![text(4, "ncb.ke", Precedence::Routine)])
        .await
        .expect("taken");
    received(&ke, 4).await;

    // Removed again: the link goes down and stays down; ncb.ke is reached through gs.
    std::fs::write(&fr_config, &fr_before).expect("written");
    let (code, out, err) = reload(&socket_of(&fr), false).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("peers removed"), "{out}");
    eventually("the link between ncb.fr and ncb.ke to go down", || async {
        (!fr.is_linked(&id("ncb.ke")) && !ke.is_linked(&id("ncb.fr"))).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!fr.is_linked(&id("ncb.ke")), "not redialled");
    fr.bureau()
        .submit(vec![text(5, "ncb.ke", Precedence::Routine)])
        .await
        .expect("taken");
    received(&ke, 5).await;

    assert_eq!(fr_to_gs, link_id(&fr, "gs"), "the link to gs stayed up");
    assert_eq!(ke_to_gs, link_id(&ke, "gs"), "the link to gs stayed up");
    for node in [ke, fr, gs] {
        node.shutdown().await;
    }
}

/// Runs `bluehelm pki ARGS` with the network's CA directory as `--ca`; it must succeed.
async fn pki(net: &TestNet, args: &[&str]) -> String {
    pki_cli(bluehelm_bin!(), net, args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_with_a_new_certificate_and_key_signs_what_follows_with_them() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(&fr, "gs").await;
    linked(&ke, "gs").await;

    fr.bureau()
        .submit(vec![text(1, "ncb.ke", Precedence::Routine)])
        .await
        .expect("taken");
    received(&ke, 1).await;

    // A new key and certificate for ncb.fr, installed over the files its config names.
    let (old_der, new_der) = renew_in_place(bluehelm_bin!(), &net, "ncb.fr").await;

    let (code, said, err) = reload(&socket_of(&fr), false).await;
    assert_eq!(code, 0, "{said}{err}");
    fr.bureau()
        .submit(vec![text(2, "ncb.ke", Precedence::Routine)])
        .await
        .expect("taken");
    received(&ke, 2).await;

    let inbox = inbox_at_least(&ke, 2).await;
    let signer_of = |n: usize| {
        let message = inbox
            .iter()
            .find(|m| number_of(m) == Some(n))
            .unwrap_or_else(|| panic!("message {n} at ncb.ke"));
        message.signed.signer_certificate().to_vec()
    };
    // (Compared with assert!: a mismatch would print two certificates byte by byte.)
    assert!(
        signer_of(1) == old_der,
        "signed before the reload: the old key"
    );
    assert!(
        signer_of(2) == new_der,
        "signed after the reload: the new certificate's key, not the one the node started with"
    );
    // Record changes are signed with the same one.
    assert!(fr.bureau().record_signer().certificate_der() == new_der.as_slice());

    for node in [ke, fr, gs] {
        node.shutdown().await;
    }
}

/// The standard network, every node signing an audit checkpoint every second.
fn net_with_checkpoints() -> TestNet {
    let mut specs = standard_specs();
    for spec in &mut specs {
        spec.audit = Some("checkpoint_seconds = 1".into());
    }
    TestNet::with_specs(specs)
}

fn storage(net: &TestNet, node: &str) -> PathBuf {
    net.dir().join("data").join(node)
}

/// The certificate (hex DER) on each signed checkpoint in `file`, in the file's order.
fn checkpoint_certificates(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .map(|line| {
            let checkpoint: serde_json::Value = serde_json::from_str(line).expect("a checkpoint");
            checkpoint["certificate"]
                .as_str()
                .expect("a certificate")
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_with_a_new_certificate_and_key_signs_the_next_audit_checkpoints_with_them() {
    let net = net_with_checkpoints();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&fr, "gs").await;
    let own = storage(&net, "ncb.fr").join("audit-checkpoints.log");
    let at_gs = storage(&net, "gs").join("audit-checkpoints-ncb.fr.log");
    let old = hex(&certificate_der(&net.net.pki_dir().join("ncb.fr.pem")));
    let kept_at_gs = |certificate: String| {
        let at_gs = at_gs.clone();
        move || {
            let found = checkpoint_certificates(&at_gs).contains(&certificate);
            async move { found.then_some(()) }
        }
    };

    fr.bureau()
        .submit(vec![text(1, "gs", Precedence::Routine)])
        .await
        .expect("taken");
    received(&gs, 1).await;
    eventually(
        "gs to keep a checkpoint of ncb.fr signed with its first certificate",
        kept_at_gs(old.clone()),
    )
    .await;

    let (_, new_der) = renew_in_place(bluehelm_bin!(), &net, "ncb.fr").await;
    let new = hex(&new_der);
    let (code, out, err) = reload(&socket_of(&fr), true).await;
    assert_eq!(code, 0, "{out}{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(json["identity_changed"], true, "{json}");

    fr.bureau()
        .submit(vec![text(2, "gs", Precedence::Routine)])
        .await
        .expect("taken");
    received(&gs, 2).await;
    // gs checks each checkpoint it receives against the certificate of the envelope that
    // carries it (signed with the new key now): one signed with the old key is dropped there.
    eventually(
        "gs to keep a checkpoint of ncb.fr signed with its new certificate",
        kept_at_gs(new.clone()),
    )
    .await;
    fr.shutdown().await;
    gs.shutdown().await;

    // The node's own file: the old certificate up to the reload, the new one from then on.
    let certificates = checkpoint_certificates(&own);
    let first_new = certificates
        .iter()
        .position(|c| *c == new)
        .expect("ncb.fr signed a checkpoint with its new certificate");
    assert!(first_new > 0, "and with the old one before the reload");
    assert!(certificates[..first_new].iter().all(|c| *c == old));
    assert!(
        certificates[first_new..].iter().all(|c| *c == new),
        "no checkpoint signed with the old key after the reload"
    );

    // `audit verify` checks each line with the certificate on it: the old lines and the new,
    // in the node's own file and in the copies gs kept, all hold.
    let config = net.config_path("ncb.fr");
    let (code, out, err) = run_cli(
        bluehelm_bin!(),
        [
            "audit",
            "verify",
            "--json",
            "--checkpoints",
            at_gs.to_str().expect("a UTF-8 path"),
            "--config",
            config.to_str().expect("a UTF-8 path"),
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let found: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let checked = certificates.len() + checkpoint_certificates(&at_gs).len();
    assert_eq!(found["checkpoints"], checked, "{found}");
    assert_eq!(found["ok"], true, "{found}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_names_a_new_crl_closes_only_the_revoked_peers_link() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    for (node, peer) in [(&gs, "ncb.fr"), (&gs, "ncb.ke"), (&fr, "gs"), (&ke, "gs")] {
        linked(node, peer).await;
    }
    let gs_fr = link_id(&gs, "ncb.fr");
    let fr_gs = link_id(&fr, "gs");
    let gs_ke = link_id(&gs, "ncb.ke");

    // A CRL that revokes ncb.ke, in a new file that only gs's config names: the file every
    // node watches stays as it was, so only the reload can put it in force.
    pki(&net, &["revoke", "--node", "ncb.ke"]).await;
    let new_crl = net.net.pki_dir().join("gs-next-crl.pem");
    pki(
        &net,
        &["crl", "--out", new_crl.to_str().expect("a UTF-8 path")],
    )
    .await;
    edit(
        &net.config_path("gs"),
        "crl = \"pki/crl.pem\"",
        "crl = \"pki/gs-next-crl.pem\"",
    );
    // Longer than the CRL watcher's period: without a reload, nothing changes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        gs_ke,
        link_id(&gs, "ncb.ke"),
        "not revoked before the reload"
    );

    let (code, out, err) = reload(&socket_of(&gs), true).await;
    assert_eq!(code, 0, "{out}{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(json["trust_changed"], true, "{json}");
    assert_eq!(json["identity_changed"], false, "{json}");
    for key in [
        "peers_added",
        "peers_removed",
        "peers_readdressed",
        "groups_changed",
        "keys_changed",
    ] {
        assert_eq!(json[key], serde_json::json!([]), "{key}: {json}");
    }

    eventually("gs to close the revoked ncb.ke's link", || async {
        (!gs.is_linked(&id("ncb.ke"))).then_some(())
    })
    .await;
    // ncb.ke keeps redialling gs; none of its attempts gets in.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !gs.is_linked(&id("ncb.ke")),
        "the revoked ncb.ke linked again"
    );

    // The link with ncb.fr is the same connection, and it still carries messages.
    assert_eq!(
        gs_fr,
        link_id(&gs, "ncb.fr"),
        "gs's link with ncb.fr stayed up"
    );
    assert_eq!(fr_gs, link_id(&fr, "gs"), "ncb.fr's link with gs stayed up");
    gs.bureau()
        .submit(vec![text(1, "ncb.fr", Precedence::Routine)])
        .await
        .expect("taken");
    received(&fr, 1).await;
    assert_eq!(gs_fr, link_id(&gs, "ncb.fr"));

    for node in [ke, fr, gs] {
        node.shutdown().await;
    }
}
