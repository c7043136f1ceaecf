//! End-to-end confidentiality (issue 14, item 4) on real nodes: a sealed body crosses gs,
//! which routes it without being able to read it (nothing of it in gs's store or log), and
//! its recipients read it through their inbox; a group is sealed to once; what cannot be
//! opened is reported to the application; a notice cannot be sealed.

use std::path::Path;

use bluehelm::api::pb;
use bluehelm::custody::now_ms;
use bluehelm::localnet::standard_specs;
use bluehelm::NodeConfig;
use bluehelm_pki::seal::{seal, SealBinding, SealDirectory};
use bluehelm_proto::testing::{sample_envelope, sample_text};
use bluehelm_proto::{
    Body, Destination, Envelope, MessageId, Precedence, SignedEnvelope, Transfer,
};
use bluehelm_tests::raw::RawLink;
use bluehelm_tests::{
    api_client, api_inbox_now, bluehelm_bin, eventually, id, linked, run_cli, NodeProcess, TestNet,
};

/// In the sealed diffusion's body only: found nowhere at gs.
const SEALED_MARKER: &str = "SEALED-MARKER-4f1c9e27d0";
/// In a diffusion sent in clear the same way: found at gs, so the search can find things.
const CLEAR_MARKER: &str = "CLEAR-MARKER-8b2d7a31c5";

/// Every regular file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)
            .expect("storage folder")
            .flatten()
        {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                folders.push(entry.path());
            } else if kind.is_file() {
                let bytes = std::fs::read(entry.path()).expect("storage file");
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(entry.path());
                }
            }
        }
    }
    found
}

/// A text message carrying [`SEALED_MARKER`], for `SubmitSealed`.
fn sealed_text(target: pb::destination::Target) -> pb::SubmitRequest {
    pb::SubmitRequest {
        destination: Some(pb::Destination {
            target: Some(target),
        }),
        precedence: pb::Precedence::Priority as i32,
        ttl_seconds: 600,
        want_delivery_report: false,
        release_to: None,
        correlation_id: String::new(),
        body: Some(pb::submit_request::Body::Text(pb::TextMessage {
            subject_line: "liaison".into(),
            body: SEALED_MARKER.into(),
            attachments: vec![],
        })),
    }
}

/// gs, ncb.fr and ncb.ke, linked; ncb.fr has sent ncb.ke a sealed message (its id).
async fn fr_seals_to_ke(net: &TestNet) -> ([bluehelm::Node; 3], String) {
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(&gs, "ncb.fr").await;
    linked(&gs, "ncb.ke").await;
    let id = api_client(&fr)
        .await
        .submit_sealed(sealed_text(pb::destination::Target::Node("ncb.ke".into())))
        .await
        .expect("sealed: ncb.ke's certificate has a key")
        .into_inner()
        .message_id;
    ([gs, fr, ke], id)
}

/// Waits until `node`'s inbox, as the API shows it, holds the message `id`; returns it.
async fn inbox_message(node: &bluehelm::Node, id: &str) -> pb::InboxMessage {
    let client = api_client(node).await;
    eventually(
        &format!("{} shows message {id}", node.bureau().me()),
        || {
            let mut client = client.clone();
            async move {
                api_inbox_now(&mut client)
                    .await
                    .into_iter()
                    .find(|m| m.message_id == id)
            }
        },
    )
    .await
}

fn diffusion_args(config: &Path, reference: &str, body: &str, seal: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "send",
        "diffusion",
        "--config",
        &config.display().to_string(),
        "--to",
        "ncb.ke",
        "--ref",
        reference,
        "--subject-line",
        "Border alert",
        "--body",
        body,
    ]
    .map(String::from)
    .into();
    if seal {
        args.push("--seal".into());
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_diffusion_is_read_by_its_addressee_and_appears_nowhere_at_gs() {
    let net = TestNet::standard();
    let bin = bluehelm_bin!();
    let (gs, gs_log) = NodeProcess::start_logged(bin, &net.config_path("gs"));
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    linked(&fr, "gs").await;
    linked(&ke, "gs").await;

    let fr_config = net.config_path("ncb.fr");
    for (reference, body, seal) in [
        ("D-1/2026", CLEAR_MARKER, false),
        ("D-2/2026", SEALED_MARKER, true),
    ] {
        let (code, _, stderr) =
            run_cli(bin, diffusion_args(&fr_config, reference, body, seal)).await;
        assert_eq!(code, 0, "send {reference}: {stderr}");
    }

    // The addressee reads the plaintext, with the CLI and through the API.
    let ke_config = net.config_path("ncb.ke").display().to_string();
    let shown = eventually("ncb.ke's inbox shows the sealed diffusion", || async {
        let (_, out, _) = run_cli(bin, ["inbox", "--config", &ke_config]).await;
        (out.contains(SEALED_MARKER) && out.contains(CLEAR_MARKER)).then_some(out)
    })
    .await;
    assert!(shown.contains("sealed diffusion"), "{shown}");
    let (_, json, _) = run_cli(bin, ["inbox", "--config", &ke_config, "--json"]).await;
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let sealed_line = lines
        .iter()
        .find(|l| l["body"]["diffusion"]["body"] == SEALED_MARKER)
        .expect("the sealed diffusion as JSON");
    assert_eq!(sealed_line["sealed"], true);
    assert!(sealed_line.get("seal_error").is_none(), "{sealed_line}");
    let clear_line = lines
        .iter()
        .find(|l| l["body"]["diffusion"]["body"] == CLEAR_MARKER)
        .expect("the clear diffusion as JSON");
    assert!(clear_line.get("sealed").is_none(), "{clear_line}");
    let inbox = api_inbox_now(&mut api_client(&ke).await).await;
    let sealed = inbox
        .iter()
        .find(|m| m.sealed)
        .expect("the sealed diffusion in the API's inbox");
    assert!(sealed.seal_error.is_empty(), "{}", sealed.seal_error);
    match &sealed.body {
        Some(pb::inbox_message::Body::Diffusion(d)) => {
            assert_eq!(d.body, SEALED_MARKER);
            assert_eq!(d.reference, "D-2/2026");
        }
        other => panic!("expected the diffusion in clear, got {other:?}"),
    }
    // What travelled is the ciphertext: the signed bytes do not hold the marker.
    let signed = sealed.signed.as_ref().expect("signed envelope");
    let needle = SEALED_MARKER.as_bytes();
    assert!(!signed.envelope.windows(needle.len()).any(|w| w == needle));

    // gs relayed both; stopped, its whole store has the clear one and not the sealed one.
    gs.stop();
    let storage = NodeConfig::load(&net.config_path("gs"))
        .expect("gs config")
        .storage;
    assert!(
        !files_containing(&storage, CLEAR_MARKER.as_bytes()).is_empty(),
        "the search finds what gs could read (its copy of the clear diffusion)"
    );
    assert_eq!(
        files_containing(&storage, SEALED_MARKER.as_bytes()),
        Vec::<std::path::PathBuf>::new(),
        "the sealed body's plaintext is in gs's store"
    );
    let log = gs_log.all();
    assert!(!log.is_empty(), "gs logged nothing at all");
    assert!(log.iter().all(|line| !line.contains(SEALED_MARKER)));
    fr.stop().await.expect("stops");
    ke.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_message_to_a_group_is_encrypted_once_and_read_by_every_member() {
    let mut specs = standard_specs();
    let fr = specs
        .iter_mut()
        .find(|s| s.id.as_str() == "ncb.fr")
        .expect("ncb.fr");
    fr.groups = vec![("liaison".into(), vec![id("ncb.ke"), id("mission.unmiss")])];
    let net = TestNet::with_specs(specs);
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    let mission = net.start("mission.unmiss").await;
    for node in ["ncb.fr", "ncb.ke", "mission.unmiss"] {
        linked(&gs, node).await;
    }
    let request = sealed_text(pb::destination::Target::Group("liaison".into()));
    let id = api_client(&fr)
        .await
        .submit_sealed(request)
        .await
        .expect("sealed to the group")
        .into_inner()
        .message_id;

    let mut envelopes = Vec::new();
    for member in [&ke, &mission] {
        let message = inbox_message(member, &id).await;
        assert!(
            message.sealed && message.seal_error.is_empty(),
            "{message:?}"
        );
        match &message.body {
            Some(pb::inbox_message::Body::Text(t)) => assert_eq!(t.body, SEALED_MARKER),
            other => panic!("expected the text in clear, got {other:?}"),
        }
        envelopes.push(message.signed.expect("signed").envelope);
    }
    // One envelope, one ciphertext, the content key sealed once per member.
    assert_eq!(envelopes[0], envelopes[1]);
    let envelope = Envelope::decode(&envelopes[0]).expect("valid envelope");
    let Body::Sealed(sealed) = &envelope.body else {
        panic!("the body travelled in clear");
    };
    let recipients: Vec<&str> = sealed.recipients().map(|n| n.as_str()).collect();
    assert_eq!(recipients, ["ncb.ke", "mission.unmiss"]);
    for node in [gs, fr, ke, mission] {
        node.stop().await.expect("stops");
    }
}

/// Signs `envelope` as ncb.fr (whose key the test holds) and wraps it for a raw offer.
fn as_fr(net: &TestNet, envelope: &Envelope) -> Transfer {
    let signed: SignedEnvelope = net
        .credentials("ncb.fr")
        .signer()
        .sign(envelope)
        .expect("signed");
    Transfer {
        envelope: signed,
        hops: 0,
        recipients: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_moved_or_misaddressed_sealed_body_is_reported_to_the_application() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let ke = net.start("ncb.ke").await;
    linked(&gs, "ncb.ke").await;
    let directory =
        SealDirectory::load(&net.net.pki_dir().join("directory.pem")).expect("directory");
    let to_ke = directory
        .recipient(&net.trust(), now_ms() / 1000, &id("ncb.ke"))
        .expect("ncb.ke's certified key");

    // ncb.fr seals a text to ncb.ke and signs the envelope after sealing, as a node does.
    let sealed_envelope = |destination: &str, message_id: Option<MessageId>| {
        let mut envelope = sample_envelope(
            id("ncb.fr"),
            Destination::Node(id(destination)),
            Precedence::Routine,
            now_ms(),
            Body::Text(sample_text()),
        );
        if let Some(message_id) = message_id {
            envelope.message_id = message_id;
        }
        let at = SealBinding {
            message_id: envelope.message_id,
            origin: envelope.origin.clone(),
        };
        envelope.body =
            Body::Sealed(seal(&envelope.body, &at, std::slice::from_ref(&to_ke)).expect("seal"));
        envelope
    };
    let genuine = sealed_envelope("ncb.ke", None);
    let mut altered = sealed_envelope("ncb.ke", None);
    if let Body::Sealed(s) = &mut altered.body {
        s.ciphertext[0] ^= 0x01;
    }
    // The genuine body in a new envelope (another id), signed anew by the same origin.
    let mut moved = sealed_envelope("ncb.ke", None);
    moved.body = genuine.body.clone();
    // Sealed to ncb.ke only, but addressed to gs.
    let misaddressed = sealed_envelope("gs", None);

    let link = RawLink::connect(
        &net.credentials("ncb.fr"),
        &net.trust(),
        net.spec("gs").listen.expect("gs listens"),
        &id("gs"),
    )
    .await
    .expect("ncb.fr's link to gs");
    let transfers = [&genuine, &altered, &moved, &misaddressed].map(|e| as_fr(&net, e));
    let answers = link.offer(transfers.into()).await.expect("offered");
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, bluehelm_proto::LinkFrame::Accepted(_))),
        "gs routes sealed bodies it cannot read: {answers:?}"
    );

    let ke_client = api_client(&ke).await;
    let inbox = eventually("ncb.ke holds the three", || {
        let mut client = ke_client.clone();
        async move {
            let inbox = api_inbox_now(&mut client).await;
            (inbox.len() >= 3).then_some(inbox)
        }
    })
    .await;
    let find = |envelope: &Envelope| {
        inbox
            .iter()
            .find(|m| m.message_id == envelope.message_id.to_string())
            .expect("in ncb.ke's inbox")
    };
    let opened = find(&genuine);
    assert!(opened.sealed && opened.seal_error.is_empty() && opened.body.is_some());
    for bad in [&altered, &moved] {
        let message = find(bad);
        assert!(message.sealed && message.body.is_none(), "{message:?}");
        assert!(
            message.seal_error.contains("altered on the way or moved"),
            "{}",
            message.seal_error
        );
    }
    let gs_inbox = eventually("gs holds the misaddressed one", || {
        let client = api_client(&gs);
        let wanted = misaddressed.message_id.to_string();
        async move {
            let inbox = api_inbox_now(&mut client.await).await;
            inbox.into_iter().find(|m| m.message_id == wanted)
        }
    })
    .await;
    assert!(gs_inbox.body.is_none());
    assert!(
        gs_inbox
            .seal_error
            .contains("this node (gs) is not among the recipients of the sealed body (ncb.ke)"),
        "{}",
        gs_inbox.seal_error
    );
    gs.stop().await.expect("stops");
    ke.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealing_a_notice_is_refused_with_the_reason() {
    let net = TestNet::standard();
    let fr = net.start("ncb.fr").await;
    let notice = pb::Notice {
        notice_ref: "A-1/2026".into(),
        notice_type: pb::NoticeType::Red as i32,
        lifecycle: pb::NoticeLifecycle::Requested as i32,
        subject: Some(pb::Subject {
            family_name: "DUPONT".into(),
            ..Default::default()
        }),
        offence_summary: "Armed robbery.".into(),
        legal_basis: "Warrant 1/2026.".into(),
        ..Default::default()
    };
    let request = pb::SubmitRequest {
        destination: Some(pb::Destination {
            target: Some(pb::destination::Target::Node("gs".into())),
        }),
        precedence: pb::Precedence::Routine as i32,
        ttl_seconds: 600,
        want_delivery_report: false,
        release_to: None,
        correlation_id: String::new(),
        body: Some(pb::submit_request::Body::Notice(notice)),
    };
    let err = api_client(&fr)
        .await
        .submit_sealed(request)
        .await
        .expect_err("a notice is not sealed");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(
        err.message().contains("notices stay readable by gs"),
        "{}",
        err.message()
    );
    // The same through the CLI, and nothing was queued.
    let config = net.config_path("ncb.fr").display().to_string();
    let (code, _, stderr) = run_cli(
        bluehelm_bin!(),
        [
            "send",
            "notice",
            "--config",
            &config,
            "--to",
            "gs",
            "--ref",
            "A-2/2026",
            "--type",
            "red",
            "--family-name",
            "DOE",
            "--offence",
            "armed robbery",
            "--legal-basis",
            "warrant 2026/17",
            "--seal",
        ],
    )
    .await;
    assert_ne!(code, 0);
    assert!(stderr.contains("notices stay readable by gs"), "{stderr}");
    assert_eq!(fr.bureau().queue_depth(&id("gs")), 0);
    fr.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_configured_without_its_encryption_key_says_it_cannot_read_sealed_messages() {
    let net = TestNet::standard();
    // An operator's config from before sealing: no `encryption_key` under [tls].
    let ke_config = net.config_path("ncb.ke");
    let text = std::fs::read_to_string(&ke_config).expect("ke config");
    let old: String = text
        .lines()
        .filter(|l| !l.starts_with("encryption_key"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(old, text);
    std::fs::write(&ke_config, old).expect("ke config rewritten");
    let ([gs, fr, ke], id) = fr_seals_to_ke(&net).await;
    let message = inbox_message(&ke, &id).await;
    assert!(message.sealed && message.body.is_none());
    assert!(
        message
            .seal_error
            .contains("has no encryption key configured"),
        "{}",
        message.seal_error
    );
    for node in [gs, fr, ke] {
        node.stop().await.expect("stops");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sealed_before_a_rotation_is_read_with_the_previous_key_listed() {
    let net = TestNet::standard();
    let ([gs, fr, ke], id) = fr_seals_to_ke(&net).await;
    let before = inbox_message(&ke, &id).await;
    assert!(before.seal_error.is_empty(), "{}", before.seal_error);
    ke.stop().await.expect("stops");

    // ncb.ke gets a new key pair; the old encryption key is kept beside the new files.
    let pki_dir = net.net.pki_dir();
    let kept = pki_dir.join("ncb.ke.previous.enc.key");
    std::fs::copy(pki_dir.join("ncb.ke.enc.key"), &kept).expect("keep the old key");
    let out = tempfile::tempdir().expect("temp");
    let out = out.path().join("ncb.ke");
    let (code, said, err) = run_cli(
        bluehelm_bin!(),
        &[
            "pki",
            "rotate",
            "--ca",
            pki_dir.to_str().expect("utf-8"),
            "--node",
            "ncb.ke",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        said.contains("ncb.ke.enc.key"),
        "rotate names the new key: {said}"
    );
    assert!(said.contains("install the three files"), "{said}");
    for file in ["ncb.ke.pem", "ncb.ke.key", "ncb.ke.enc.key"] {
        std::fs::copy(out.join(file), pki_dir.join(file)).expect("install");
    }

    // Without the old key the message cannot be read, and the node says why.
    let ke = net.start("ncb.ke").await;
    let unread = inbox_message(&ke, &id).await;
    assert!(unread.body.is_none());
    assert!(
        unread.seal_error.contains("another encryption key"),
        "{}",
        unread.seal_error
    );
    ke.stop().await.expect("stops");

    // Listed under previous_encryption_keys, it opens what was sealed to it.
    let config = net.config_path("ncb.ke");
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replacen(
        "[tls]\n",
        &format!("[tls]\nprevious_encryption_keys = [{:?}]\n", kept),
        1,
    );
    std::fs::write(&config, text).expect("config rewritten");
    let ke = net.start("ncb.ke").await;
    let read = inbox_message(&ke, &id).await;
    assert!(read.seal_error.is_empty(), "{}", read.seal_error);
    match &read.body {
        Some(pb::inbox_message::Body::Text(t)) => assert_eq!(t.body, SEALED_MARKER),
        other => panic!("expected the text in clear, got {other:?}"),
    }
    for node in [gs, fr, ke] {
        node.stop().await.expect("stops");
    }
}
