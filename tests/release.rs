//! Release markings on real nodes on loopback (issue 12, item 2): a marked message is copied
//! only to the nodes its list admits (fan-out at gs), a message for a node outside the list
//! is refused where that node is known (the hub, or the origin) with a non-delivery report
//! naming the rule, and a bad `--release-to` is one line and exit code 1.
//!
//! The network is the standard one plus ncb.de (Germany), which no list here names: it is a
//! member of `all-ncb` at gs, so only the marking keeps copies from it. Where a test shows
//! that something never arrived, a later unmarked message from gs arrives first as a barrier.

use bluehelm::api::pb;
use bluehelm_proto::{Precedence, RefusalReason};
use bluehelm_tests::release::*;
use bluehelm_tests::{
    api_client, api_failed_state, api_inbox_now, bluehelm_bin, eventually, id, inbox_at_least,
    linked, number_of, queues_empty, run_cli, text, TestNet,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_released_to_fr_and_ke_is_never_queued_for_unmiss_or_de() {
    let net = TestNet::with_specs(specs());
    let [gs, fr, ke, mission, de] = start_all_linked(&net).await;
    // gs has learned who they are; down, a copy queued for them would stay queued.
    stop(vec![mission, de]).await;
    unlinked(&gs, "mission.unmiss").await;
    unlinked(&gs, "ncb.de").await;

    let (code, out, err) = run_cli(
        bluehelm_bin!(),
        [
            "send",
            "notice",
            "--config",
            &config(&net, "ncb.fr"),
            "--to",
            "gs",
            "--ref",
            "R-1/2026",
            "--type",
            "red",
            "--family-name",
            "DOE",
            "--release-to",
            "FR,KE",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out} {err}");
    approve(&mut api_client(&gs).await, "R-1/2026").await;
    for node in [&fr, &ke] {
        let published = publication(node, "R-1/2026").await;
        assert_eq!(published.envelope.release_to, Some(list("FR,KE")));
    }
    // The publication was committed with all its copies at once: had one been made for
    // unmiss or de, it would be waiting here now.
    assert_eq!(gs.bureau().queue_depth(&id("mission.unmiss")), 0);
    assert_eq!(gs.bureau().queue_depth(&id("ncb.de")), 0);

    // Applications see the marking: the API's inbox and `bluehelm inbox --json`.
    let at_ke = api_inbox_now(&mut api_client(&ke).await).await;
    let marked = at_ke
        .iter()
        .find(|m| matches!(&m.body, Some(pb::inbox_message::Body::Notice(n)) if n.notice_ref == "R-1/2026"))
        .expect("the publication, through the API");
    let release = marked.release_to.as_ref().expect("release_to in the inbox");
    assert_eq!(release.countries, ["FR", "KE"]);
    let (code, out, err) = run_cli(
        bluehelm_bin!(),
        ["inbox", "--config", &config(&net, "ncb.ke"), "--json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.contains("R-1/2026"))
        .unwrap_or_else(|| panic!("the publication in `inbox --json`: {out}"));
    let json: serde_json::Value = serde_json::from_str(line).expect("one JSON object a line");
    assert_eq!(
        json["release_to"]["countries"],
        serde_json::json!(["FR", "KE"]),
        "{line}"
    );

    // Back up, they get gs's later messages and never the publication.
    let [mission, de] = start(&net, &["mission.unmiss", "ncb.de"])
        .await
        .try_into()
        .unwrap_or_else(|_| unreachable!());
    for (node, inbox) in [&mission, &de]
        .into_iter()
        .zip(after_barrier(&gs, &[&mission, &de]).await)
    {
        assert!(
            !inbox.iter().any(|m| is_notice(m, "R-1/2026")),
            "{} received the notice released to FR,KE",
            node.bureau().me()
        );
    }
    stop(vec![gs, fr, ke, mission, de]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_for_a_node_outside_the_list_is_refused_at_the_hub() {
    let net = TestNet::with_specs(specs());
    let [gs, fr, de] = start(&net, &["gs", "ncb.fr", "ncb.de"])
        .await
        .try_into()
        .unwrap_or_else(|_| unreachable!());
    linked(&gs, "ncb.fr").await;
    linked(&gs, "ncb.de").await;
    // ncb.fr has never linked with ncb.de: it cannot judge, and passes it to gs, which can.
    let (code, out, err) = run_cli(
        bluehelm_bin!(),
        [
            "send",
            "message",
            "--config",
            &config(&net, "ncb.fr"),
            "--to",
            "ncb.de",
            "--subject-line",
            "For FR eyes only",
            "--body",
            "x",
            "--release-to",
            "FR",
            "--report",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out} {err}");
    let message_id = out.trim().to_owned();
    let state = api_failed_state(&mut api_client(&fr).await, &message_id).await;
    assert_eq!(
        state.failure_reason,
        pb::NonDeliveryReason::Policy as i32,
        "{state:?}"
    );
    assert!(
        state.failure_detail.contains("release-marking"),
        "{state:?}"
    );
    assert!(state.failure_detail.contains("ncb.de"), "{state:?}");
    eprintln!("the origin's delivery state: {state:?}");
    // ncb.fr held it and gave it up when gs refused it.
    assert_eq!(state.reported_by, "ncb.fr");
    // The refusal was gs's: ncb.fr does not know who ncb.de is.
    let refused_at_gs = gs
        .bureau()
        .stats()
        .refusals()
        .find(|(reason, _)| *reason == RefusalReason::Policy)
        .map(|(_, count)| count);
    assert_eq!(refused_at_gs, Some(1));
    let inbox = &after_barrier(&gs, &[&de]).await[0];
    assert!(
        inbox.iter().all(|m| number_of(m).is_some()),
        "ncb.de received more than gs's barrier: {inbox:?}"
    );
    stop(vec![gs, fr, de]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_refuses_at_submission_when_it_knows_the_destination() {
    let net = TestNet::with_specs(specs());
    let [gs, de] = start(&net, &["gs", "ncb.de"])
        .await
        .try_into()
        .unwrap_or_else(|_| unreachable!());
    linked(&gs, "ncb.de").await;
    // Down, so that a copy gs took would stay in its queue.
    stop(vec![de]).await;
    unlinked(&gs, "ncb.de").await;

    let request = pb::SubmitRequest {
        destination: Some(pb::Destination {
            target: Some(pb::destination::Target::Node("ncb.de".into())),
        }),
        precedence: pb::Precedence::Routine as i32,
        ttl_seconds: 600,
        want_delivery_report: true,
        release_to: Some(pb::ReleaseList {
            countries: vec!["FR".into()],
            ..Default::default()
        }),
        correlation_id: String::new(),
        body: Some(pb::submit_request::Body::Text(pb::TextMessage {
            subject_line: "For FR eyes only".into(),
            body: "x".into(),
            attachments: vec![],
        })),
    };
    let status = api_client(&gs)
        .await
        .submit(request)
        .await
        .expect_err("refused at submission");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("release-marking"), "{status:?}");
    assert!(!status.message().contains('\n'), "{status:?}");

    let (code, out, err) = run_cli(
        bluehelm_bin!(),
        [
            "send",
            "message",
            "--config",
            &config(&net, "gs"),
            "--to",
            "ncb.de",
            "--subject-line",
            "For FR eyes only",
            "--release-to",
            "FR",
        ],
    )
    .await;
    assert_eq!(code, 5, "{out} {err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("release-marking"), "{err}");
    eprintln!("the CLI said: {}", err.trim());

    assert_eq!(gs.bureau().queue_depth(&id("ncb.de")), 0);
    assert_eq!(
        bluehelm::custody::Stats::get(&gs.bureau().stats().accepted),
        0
    );
    stop(vec![gs]).await;
}

/// `bluehelm send diffusion` from ncb.fr to `to`, released to `release`; returns its id.
async fn diffusion(net: &TestNet, to: &str, reference: &str, release: &str) -> String {
    let (code, out, err) = run_cli(
        bluehelm_bin!(),
        [
            "send",
            "diffusion",
            "--config",
            &config(net, "ncb.fr"),
            "--to",
            to,
            "--ref",
            reference,
            "--subject-line",
            "Border alert",
            "--body",
            "Check crossings",
            "--release-to",
            release,
        ],
    )
    .await;
    assert_eq!(code, 0, "{out} {err}");
    out.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_diffusion_released_to_ke_reaches_only_ncb_ke_and_the_hub() {
    let net = TestNet::with_specs(specs());
    let [gs, fr, ke, de] = start(&net, &["gs", "ncb.fr", "ncb.ke", "ncb.de"])
        .await
        .try_into()
        .unwrap_or_else(|_| unreachable!());
    for peer in ["ncb.fr", "ncb.ke", "ncb.de"] {
        linked(&gs, peer).await;
    }
    diffusion(&net, "group:all-ncb", "D-1/2026", "KE").await;
    // At gs from here on: every copy of it is made there, and the barrier drains gs.
    queues_empty(&[&fr]).await;
    let at_ke = eventually("the diffusion at ncb.ke", || async {
        let inbox = ke.bureau().inbox(None, 1_000).await.expect("inbox");
        inbox.into_iter().find(|m| is_diffusion(m, "D-1/2026"))
    })
    .await;
    assert_eq!(at_ke.envelope.release_to, Some(list("KE")));
    // The hub's record copy: the hub is admitted by every list.
    inbox_at_least(&gs, 1).await;
    let inboxes = after_barrier(&gs, &[&de, &fr]).await;
    assert!(
        !inboxes[0].iter().any(|m| is_diffusion(m, "D-1/2026")),
        "ncb.de received the diffusion released to KE"
    );
    let at_gs = gs.bureau().inbox(None, 1_000).await.expect("inbox");
    assert_eq!(
        at_gs.iter().filter(|m| is_diffusion(m, "D-1/2026")).count(),
        1,
        "{at_gs:?}"
    );
    stop(vec![gs, fr, ke, de]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_word_admits_every_ncb_but_not_the_mission_post() {
    let net = TestNet::with_specs(specs());
    let [gs, fr, ke, mission, de] = start_all_linked(&net).await;
    diffusion(&net, "group:everyone", "D-2/2026", "ncb").await;
    queues_empty(&[&fr]).await;
    let inboxes = after_barrier(&gs, &[&ke, &de, &mission]).await;
    for (node, inbox) in ["ncb.ke", "ncb.de"].into_iter().zip(&inboxes) {
        let copies = inbox.iter().filter(|m| is_diffusion(m, "D-2/2026")).count();
        assert_eq!(copies, 1, "{node}: {inbox:?}");
    }
    assert!(
        !inboxes[2].iter().any(|m| is_diffusion(m, "D-2/2026")),
        "mission.unmiss received the diffusion released to ncb"
    );
    // gs is a member of `everyone` and the hub: its copy, besides the hub's record copy.
    let at_gs = gs.bureau().inbox(None, 1_000).await.expect("inbox");
    assert_eq!(
        at_gs.iter().filter(|m| is_diffusion(m, "D-2/2026")).count(),
        2,
        "{at_gs:?}"
    );
    stop(vec![gs, fr, ke, mission, de]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_release_list_is_one_line_and_exit_code_1_and_sends_nothing() {
    let net = TestNet::with_specs(specs());
    let fr = net.start("ncb.fr").await;
    for bad in ["FR,,KE", "F", "UN MISS"] {
        let (code, out, err) = run_cli(
            bluehelm_bin!(),
            [
                "send",
                "message",
                "--config",
                &config(&net, "ncb.fr"),
                "--to",
                "gs",
                "--subject-line",
                "x",
                "--release-to",
                bad,
            ],
        )
        .await;
        assert_eq!(code, 1, "{bad}: {out} {err}");
        assert!(out.is_empty(), "{bad}: {out}");
        assert_eq!(err.trim().lines().count(), 1, "{bad}: {err}");
        assert!(err.contains("--release-to"), "{bad}: {err}");
        eprintln!("--release-to {bad:?}: {}", err.trim());
    }
    assert_eq!(
        bluehelm::custody::Stats::get(&fr.bureau().stats().accepted),
        0
    );
    assert_eq!(fr.bureau().queue_depth(&id("gs")), 0);
    fr.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_never_linked_with_the_destination_refuses_a_marked_message_for_it() {
    let net = TestNet::with_specs(specs());
    let [gs, fr] = start(&net, &["gs", "ncb.fr"])
        .await
        .try_into()
        .unwrap_or_else(|_| unreachable!());
    linked(&gs, "ncb.fr").await;
    // gs has never linked with ncb.de and would hand the copy to ncb.de itself: it cannot
    // tell who ncb.de is, so it does not release the message to it.
    let mut message = text(1, "ncb.de", Precedence::Routine);
    message.release_to = Some(list("FR"));
    let ids = fr
        .bureau()
        .submit(vec![message])
        .await
        .expect("fr takes it");
    let state = api_failed_state(&mut api_client(&fr).await, &ids[0].to_string()).await;
    assert_eq!(
        state.failure_reason,
        pb::NonDeliveryReason::Policy as i32,
        "{state:?}"
    );
    assert!(
        state.failure_detail.contains("release-marking")
            && state.failure_detail.contains("never linked with ncb.de"),
        "{state:?}"
    );
    assert_eq!(gs.bureau().queue_depth(&id("ncb.de")), 0);
    let de = net.start("ncb.de").await;
    let inbox = &after_barrier(&gs, &[&de]).await[0];
    assert!(
        inbox.iter().all(|m| number_of(m) == Some(900)),
        "ncb.de got a copy outside its release list: {inbox:?}"
    );
    stop(vec![gs, fr, de]).await;
}

/// A faulty hub hands ncb.de a message ncb.fr released to FR only: ncb.de refuses its own
/// copy, and says which rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_outside_the_list_refuses_its_own_copy() {
    use bluehelm_proto::{LinkFrame, Transfer};
    let net = TestNet::with_specs(specs());
    let de = net.start("ncb.de").await;
    let (gs, fr) = (net.credentials("gs"), net.credentials("ncb.fr"));
    let trust = net.trust();
    let link = bluehelm_tests::raw::RawLink::connect(
        &gs,
        &trust,
        net.spec("ncb.de").listen.unwrap(),
        &id("ncb.de"),
    )
    .await
    .unwrap();
    link.ping().await.unwrap();
    let offer = |release: &str| {
        let mut envelope = bluehelm_proto::testing::sample_envelope(
            id("ncb.fr"),
            bluehelm_proto::Destination::Node(id("ncb.de")),
            Precedence::Routine,
            bluehelm::custody::now_ms(),
            bluehelm_proto::Body::Text(bluehelm_proto::testing::sample_text()),
        );
        envelope.release_to = Some(list(release));
        Transfer {
            envelope: fr.signer().sign(&envelope).unwrap(),
            hops: 1,
            recipients: vec![],
        }
    };
    match &link.offer(vec![offer("FR")]).await.unwrap()[..] {
        [LinkFrame::Refused(refusal)] => {
            assert_eq!(refusal.reason, RefusalReason::Policy);
            assert!(
                refusal.detail.contains("release-marking: this node ncb.de"),
                "{refusal:?}"
            );
        }
        other => panic!("expected one refusal, got {other:?}"),
    }
    // Released to DE, the same kind of copy is taken.
    let answers = link.offer(vec![offer("DE")]).await.unwrap();
    assert!(
        matches!(&answers[..], [LinkFrame::Accepted(refs)] if refs.len() == 1),
        "{answers:?}"
    );
    let inbox = inbox_at_least(&de, 1).await;
    assert_eq!(inbox.len(), 1, "only the copy released to DE: {inbox:?}");
    de.shutdown().await;
}

/// gs remembers who its peers are across a restart: a mission post that was offline while gs
/// restarted still gets a marked message fanned out to it, once it links again. (Without the
/// stored directory gs would not know the post, and would withhold the copy.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_knows_an_offline_post_across_its_own_restart() {
    let net = TestNet::with_specs(specs());
    let gs = net.start("gs").await;
    let mission = net.start("mission.unmiss").await;
    linked(&gs, "mission.unmiss").await;
    mission.shutdown().await;
    gs.shutdown().await;

    let gs = net.start("gs").await;
    let marked = bluehelm::custody::Outgoing {
        destination: bluehelm_proto::Destination::Group("all-missions".parse().unwrap()),
        release_to: Some(list("UNMISS")),
        ..text(7, "gs", Precedence::Priority)
    };
    gs.bureau().submit(vec![marked]).await.expect("gs takes it");
    assert_eq!(
        gs.bureau().queue_depth(&id("mission.unmiss")),
        1,
        "a copy is queued for the post gs knew before it restarted"
    );
    let mission = net.start("mission.unmiss").await;
    let inbox = inbox_at_least(&mission, 1).await;
    assert_eq!(number_of(&inbox[0]), Some(7));
    assert_eq!(inbox[0].envelope.release_to, Some(list("UNMISS")));
    mission.shutdown().await;
    gs.shutdown().await;
}
