//! The notice register (issue 12, item 3) on real nodes on loopback: changes need a known
//! notice of their owner, a cancellation wins whatever order copies arrive in (also at a
//! mission post that was stopped during publication and cancellation), expiry is computed
//! when read, and a publication that does not carry its request is refused by the first
//! node that sees it.

use bluehelm::api::pb::{self, bureau_client::BureauClient};
use bluehelm::Node;
use bluehelm_proto::testing::{sample_envelope, sample_red_notice};
use bluehelm_proto::{
    Body, Destination, LinkFrame, NoticeLifecycle, Precedence, RefusalReason, Transfer,
};
use bluehelm_tests::raw::RawLink;
use bluehelm_tests::{
    api_client, api_failed_state, api_inbox_now as inbox_now, api_submit as submit, bluehelm_bin,
    eventually, id, linked, run_cli, TestNet,
};
use tonic::transport::Channel;
use tonic::Code;

type Client = BureauClient<Channel>;

fn notice(reference: &str, lifecycle: pb::NoticeLifecycle, valid_until: &str) -> pb::Notice {
    pb::Notice {
        notice_ref: reference.into(),
        notice_type: pb::NoticeType::Red as i32,
        lifecycle: lifecycle as i32,
        requesting_bureau: String::new(),
        subject: (lifecycle != pb::NoticeLifecycle::Cancelled).then(|| pb::Subject {
            family_name: "DUPONT".into(),
            given_names: vec!["Jean".into()],
            ..Default::default()
        }),
        offence_summary: "Armed robbery.".into(),
        legal_basis: "Arrest warrant 2025/778.".into(),
        remarks: String::new(),
        request: None,
        valid_until: valid_until.into(),
    }
}

fn to_gs(notice: pb::Notice, precedence: pb::Precedence) -> pb::SubmitRequest {
    pb::SubmitRequest {
        destination: Some(pb::Destination {
            target: Some(pb::destination::Target::Node("gs".into())),
        }),
        precedence: precedence as i32,
        ttl_seconds: 3600,
        want_delivery_report: false,
        release_to: None,
        correlation_id: String::new(),
        body: Some(pb::submit_request::Body::Notice(notice)),
    }
}

/// Submits a request at `bureau` and has gs approve it once it is in review.
async fn published(bureau: &mut Client, gs: &mut Client, request: pb::SubmitRequest) {
    let id = submit(bureau, request).await;
    eventually(&format!("request {id} in review"), || {
        let mut gs = gs.clone();
        let id = id.clone();
        async move {
            let list = gs.list_reviews(pb::ListReviewsRequest {}).await.ok()?;
            list.into_inner()
                .items
                .iter()
                .any(|i| i.message_id == id)
                .then_some(())
        }
    })
    .await;
    gs.approve_notice(pb::ApproveNoticeRequest {
        message_id: id,
        remarks: String::new(),
    })
    .await
    .expect("approved");
}

/// Waits until `client`'s register holds `reference` with `status`.
async fn registered(client: &mut Client, reference: &str, status: pb::NoticeStatus) {
    eventually(&format!("{reference} {status:?} in the register"), || {
        let mut client = client.clone();
        async move {
            let entry = client
                .show_notice(pb::NoticeRef {
                    notice_ref: reference.into(),
                })
                .await
                .ok()?
                .into_inner();
            (entry.status == status as i32).then_some(())
        }
    })
    .await
}

async fn cli(net: &TestNet, node: &str, args: &[&str]) -> (i32, String, String) {
    let config = net.config_path(node).display().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--config", &config]);
    run_cli(bluehelm_bin!(), all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_need_a_known_notice_of_their_owner_and_expiry_shows_when_read() {
    let net = TestNet::standard();
    let gs_node = net.start("gs").await;
    let fr_node = net.start("ncb.fr").await;
    let ke_node = net.start("ncb.ke").await;
    let (mut gs, mut fr, mut ke) = (
        api_client(&gs_node).await,
        api_client(&fr_node).await,
        api_client(&ke_node).await,
    );

    // An update of a notice never published: ncb.fr does not know it and lets it go; gs
    // refuses it, and the origin hears the rule.
    let update = notice("U-0/2026", pb::NoticeLifecycle::Updated, "");
    let update_id = submit(&mut fr, to_gs(update, pb::Precedence::Routine)).await;
    let state = api_failed_state(&mut fr, &update_id).await;
    assert_eq!(state.failure_reason, pb::NonDeliveryReason::Policy as i32);
    assert!(
        state
            .failure_detail
            .contains("notice-changes-need-a-known-notice"),
        "{state:?}"
    );
    assert!(gs
        .list_reviews(pb::ListReviewsRequest {})
        .await
        .unwrap()
        .into_inner()
        .items
        .is_empty());

    // Two notices of ncb.fr: one until cancelled, one whose last valid day has passed.
    let live = notice("A-7/2026", pb::NoticeLifecycle::Requested, "");
    let old = notice("X-8/2026", pb::NoticeLifecycle::Requested, "2020-01-31");
    published(&mut fr, &mut gs, to_gs(live, pb::Precedence::Routine)).await;
    published(&mut fr, &mut gs, to_gs(old, pb::Precedence::Routine)).await;
    registered(&mut ke, "A-7/2026", pb::NoticeStatus::Published).await;
    registered(&mut ke, "X-8/2026", pb::NoticeStatus::Expired).await;

    // `notices list --json` through the CLI, as a real process.
    let (code, out, err) = cli(&net, "ncb.ke", &["notices", "list", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    let status = |reference: &str| {
        list["notices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["notice_ref"] == reference)
            .map(|n| {
                (
                    n["status"].clone(),
                    n["owner"].clone(),
                    n["valid_until"].clone(),
                )
            })
    };
    assert_eq!(
        status("A-7/2026"),
        Some(("published".into(), "ncb.fr".into(), "".into()))
    );
    assert_eq!(
        status("X-8/2026"),
        Some(("expired".into(), "ncb.fr".into(), "2020-01-31".into()))
    );

    // ncb.ke asks, for itself, to cancel ncb.fr's notice: its own register knows the owner,
    // so it is refused at submission (API and CLI), and nothing goes to gs.
    let theirs = notice("A-7/2026", pb::NoticeLifecycle::Cancelled, "");
    let refused = ke
        .submit(to_gs(theirs, pb::Precedence::Routine))
        .await
        .expect_err("not the owner");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("notice-changes-by-owner"),
        "{refused:?}"
    );
    let (code, out, err) = cli(
        &net,
        "ncb.ke",
        &[
            "send",
            "notice",
            "--to",
            "gs",
            "--ref",
            "A-7/2026",
            "--type",
            "red",
            "--lifecycle",
            "updated",
            "--family-name",
            "DUPONT",
        ],
    )
    .await;
    assert_eq!(code, 5, "{out} {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("notice-changes-by-owner"), "{err}");
    assert_eq!(ke_node.bureau().queue_depth(&id("gs")), 0);

    // A reference nobody published: "not found", exit 6 (docs/bureau-guide.md).
    let (code, _, err) = cli(&net, "ncb.ke", &["notices", "show", "Z-0/2026"]).await;
    assert_eq!(code, 6, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let missing = ke
        .show_notice(pb::NoticeRef {
            notice_ref: "Z-0/2026".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    for node in [ke_node, fr_node, gs_node] {
        node.shutdown().await;
    }
}

/// The answers to one offer are one POLICY refusal naming `rule` and saying `what`.
fn refused_by_policy(answers: &[LinkFrame], rule: &str, what: &str) {
    match answers {
        [LinkFrame::Refused(refusal)] => {
            assert_eq!(refusal.reason, RefusalReason::Policy);
            assert!(
                refusal.detail.contains(rule) && refusal.detail.contains(what),
                "{refusal:?}"
            );
        }
        other => panic!("expected one refusal, got {other:?}"),
    }
}

fn notice_of(m: &pb::InboxMessage) -> Option<&pb::Notice> {
    match &m.body {
        Some(pb::inbox_message::Body::Notice(n)) => Some(n),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mission_post_stopped_during_publication_and_cancellation_shows_it_cancelled() {
    let net = TestNet::standard();
    let gs_node = net.start("gs").await;
    let fr_node = net.start("ncb.fr").await;
    // The mission post runs, then stops: offline for what follows.
    let mission_node = net.start("mission.unmiss").await;
    linked(&gs_node, "mission.unmiss").await;
    mission_node.shutdown().await;
    let (mut gs, mut fr) = (api_client(&gs_node).await, api_client(&fr_node).await);

    // Published as a ROUTINE request; the cancellation is asked FLASH, so when the mission
    // post comes back the cancellation overtakes the publication in the queue: it is
    // delivered first.
    let request = notice("C-9/2026", pb::NoticeLifecycle::Requested, "");
    published(&mut fr, &mut gs, to_gs(request, pb::Precedence::Routine)).await;
    let mut cancel = notice("C-9/2026", pb::NoticeLifecycle::Cancelled, "");
    cancel.remarks = "Subject arrested.".into();
    published(&mut fr, &mut gs, to_gs(cancel, pb::Precedence::Flash)).await;
    eventually("both publications queued for the mission post", || async {
        (gs_node.bureau().queue_depth(&id("mission.unmiss")) == 2).then_some(())
    })
    .await;

    let mission_node: Node = net.start("mission.unmiss").await;
    let mut mission = api_client(&mission_node).await;
    // (ncb.ke is not running: its copies stay queued at gs.)
    eventually("gs's queue for the mission post drained", || async {
        (gs_node.bureau().queue_depth(&id("mission.unmiss")) == 0).then_some(())
    })
    .await;
    registered(&mut mission, "C-9/2026", pb::NoticeStatus::Cancelled).await;
    // The order they arrived in: the cancellation first.
    let lifecycles: Vec<i32> = eventually("both copies in the inbox", || {
        let mut mission = mission.clone();
        async move {
            let seen: Vec<i32> = inbox_now(&mut mission)
                .await
                .iter()
                .filter_map(notice_of)
                .map(|n| n.lifecycle)
                .collect();
            (seen.len() == 2).then_some(seen)
        }
    })
    .await;
    assert_eq!(
        lifecycles,
        [
            pb::NoticeLifecycle::Cancelled as i32,
            pb::NoticeLifecycle::Published as i32
        ]
    );

    // Through the CLI, as a real process.
    let (code, out, err) = cli(
        &net,
        "mission.unmiss",
        &["notices", "show", "C-9/2026", "--json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(shown["status"], "cancelled", "{shown}");
    assert_eq!(shown["owner"], "ncb.fr");
    assert_eq!(shown["notice"]["lifecycle"], "cancelled");
    assert_eq!(shown["notice"]["remarks"], "Subject arrested.");
    assert!(shown["changed_at"]
        .as_str()
        .is_some_and(|t| t.contains('T')));

    // And after a restart: the register is loaded from the store.
    mission_node.shutdown().await;
    let mission_node = net.start("mission.unmiss").await;
    let mut mission = api_client(&mission_node).await;
    registered(&mut mission, "C-9/2026", pb::NoticeStatus::Cancelled).await;
    for node in [mission_node, fr_node, gs_node] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiving_node_refuses_a_publication_whose_request_does_not_match() {
    let net = TestNet::standard();
    let ke_node = net.start("ncb.ke").await;
    let mut ke = api_client(&ke_node).await;
    let (gs, fr) = (net.credentials("gs"), net.credentials("ncb.fr"));
    let trust = net.trust();
    // A link to ncb.ke as gs (gs itself is not running): what a faulty hub would send.
    let link = RawLink::connect(
        &gs,
        &trust,
        net.spec("ncb.ke").listen.unwrap(),
        &id("ncb.ke"),
    )
    .await
    .unwrap();
    link.ping().await.unwrap();

    let now = bluehelm::custody::now_ms();
    let mut asked = sample_red_notice();
    asked.lifecycle = NoticeLifecycle::Requested;
    let request = sample_envelope(
        id("ncb.fr"),
        Destination::Node(id("gs")),
        Precedence::Routine,
        now,
        Body::Notice(asked),
    );
    let request = fr.signer().sign(&request).unwrap();
    let publication = |offence: &str| {
        let mut notice = sample_red_notice();
        notice.offence_summary = offence.into();
        notice.request = Some(Box::new(request.clone()));
        let envelope = sample_envelope(
            id("gs"),
            Destination::Node(id("ncb.ke")),
            Precedence::Routine,
            now,
            Body::Notice(notice),
        );
        Transfer {
            envelope: gs.signer().sign(&envelope).unwrap(),
            hops: 0,
            recipients: vec![],
        }
    };
    let genuine = sample_red_notice().offence_summary;
    let answers = link
        .offer(vec![publication("Something else entirely.")])
        .await
        .unwrap();
    refused_by_policy(&answers, "publication-carries-its-request", "offence");
    // The same publication with the request's own offence is taken.
    let answers = link.offer(vec![publication(&genuine)]).await.unwrap();
    assert!(
        matches!(&answers[..], [LinkFrame::Accepted(refs)] if refs.len() == 1),
        "{answers:?}"
    );
    registered(&mut ke, "A-1234/5-2026", pb::NoticeStatus::Published).await;
    let inbox = inbox_now(&mut ke).await;
    assert_eq!(inbox.iter().filter_map(notice_of).count(), 1, "{inbox:?}");
    ke_node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gs_refuses_a_change_of_a_notice_from_a_bureau_that_does_not_own_it() {
    let net = TestNet::standard();
    let gs_node = net.start("gs").await;
    let fr_node = net.start("ncb.fr").await;
    let (mut gs, mut fr) = (api_client(&gs_node).await, api_client(&fr_node).await);
    let request = notice("K-1/2026", pb::NoticeLifecycle::Requested, "");
    published(&mut fr, &mut gs, to_gs(request, pb::Precedence::Routine)).await;
    registered(&mut gs, "K-1/2026", pb::NoticeStatus::Published).await;

    // ncb.ke (not running: its register never saw the notice) asks, for itself, to cancel
    // it, over a link of its own to gs.
    let (ke, trust) = (net.credentials("ncb.ke"), net.trust());
    let link = RawLink::connect(&ke, &trust, net.spec("gs").listen.unwrap(), &id("gs"))
        .await
        .unwrap();
    link.ping().await.unwrap();
    let mut cancel = sample_red_notice();
    cancel.notice_ref = "K-1/2026".into();
    cancel.lifecycle = NoticeLifecycle::Cancelled;
    cancel.requesting_bureau = id("ncb.ke");
    let envelope = sample_envelope(
        id("ncb.ke"),
        Destination::Node(id("gs")),
        Precedence::Routine,
        bluehelm::custody::now_ms(),
        Body::Notice(cancel),
    );
    let answers = link
        .offer(vec![Transfer {
            envelope: ke.signer().sign(&envelope).unwrap(),
            hops: 0,
            recipients: vec![],
        }])
        .await
        .unwrap();
    refused_by_policy(&answers, "notice-changes-by-owner", "ncb.fr");
    // Nothing entered review.
    assert!(gs
        .list_reviews(pb::ListReviewsRequest {})
        .await
        .unwrap()
        .into_inner()
        .items
        .is_empty());
    for node in [fr_node, gs_node] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_show_prints_every_field_of_the_request() {
    let net = TestNet::standard();
    let gs_node = net.start("gs").await;
    let fr_node = net.start("ncb.fr").await;
    let (gs, mut fr) = (api_client(&gs_node).await, api_client(&fr_node).await);
    let mut request = notice("R-1/2026", pb::NoticeLifecycle::Requested, "2027-06-30");
    request.subject = Some(pb::Subject {
        family_name: "DUPONT".into(),
        given_names: vec!["Jean".into(), "Marie".into()],
        date_of_birth: "1980-02".into(),
        place_of_birth: "Lyon".into(),
        nationalities: vec!["FR".into(), "BE".into()],
        sex: "M".into(),
        aliases: vec!["Le Borgne".into()],
        distinguishing_marks: "Scar above the left eye".into(),
        documents: vec![pb::IdentityDocument {
            kind: "passport".into(),
            number: "19AB12345".into(),
            issuing_country: "FR".into(),
        }],
    });
    request.remarks = "Urgent: seen near the border".into();
    let request_id = submit(&mut fr, to_gs(request, pb::Precedence::Routine)).await;
    eventually("the request in review", || {
        let mut gs = gs.clone();
        async move {
            let list = gs.list_reviews(pb::ListReviewsRequest {}).await.ok()?;
            (!list.into_inner().items.is_empty()).then_some(())
        }
    })
    .await;
    let (code, out, err) = cli(&net, "gs", &["review", "show", &request_id]).await;
    assert_eq!(code, 0, "{err}");
    for shown in [
        "R-1/2026",
        "ncb.fr",
        "DUPONT Jean Marie",
        "1980-02",
        "Lyon",
        "FR, BE",
        "Le Borgne",
        "Scar above the left eye",
        "passport 19AB12345 (FR)",
        "Armed robbery.",
        "Arrest warrant 2025/778.",
        "2027-06-30",
        "Urgent: seen near the border",
    ] {
        assert!(out.contains(shown), "{shown:?} missing from:\n{out}");
    }
    for node in [fr_node, gs_node] {
        node.shutdown().await;
    }
}
