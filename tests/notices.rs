//! The notice workflow (issue 4, section 3) across the four standard nodes: a bureau
//! requests, `gs` reviews (API and CLI), approves or refuses; a publication carries the
//! bureau's signed request and the signature of `gs`, both checked at every node that takes
//! a copy; a forged publication is refused where it is submitted.

use std::process::Command;

use bluehelm::api::pb::{self, bureau_client::BureauClient};
use bluehelm::Node;
use bluehelm_proto::{Body, NoticeLifecycle, SignedEnvelope};
use bluehelm_tests::{
    api_client, api_inbox_now as inbox_now, api_submit as submit, bluehelm_bin, eventually,
    queues_empty, TestNet,
};
use prost::Message as _;
use tonic::transport::Channel;
use tonic::Code;

type Client = BureauClient<Channel>;

fn to_node(node: &str) -> Option<pb::Destination> {
    Some(pb::Destination {
        target: Some(pb::destination::Target::Node(node.into())),
    })
}

fn notice(reference: &str, lifecycle: pb::NoticeLifecycle) -> pb::Notice {
    let subject = (lifecycle != pb::NoticeLifecycle::Cancelled).then(|| pb::Subject {
        family_name: "DUPONT".into(),
        given_names: vec!["Jean".into()],
        date_of_birth: "1980-01-02".into(),
        nationalities: vec!["FR".into()],
        ..Default::default()
    });
    pb::Notice {
        notice_ref: reference.into(),
        notice_type: pb::NoticeType::Red as i32,
        lifecycle: lifecycle as i32,
        requesting_bureau: String::new(),
        subject,
        offence_summary: "Armed robbery, Paris, 2025-11-03.".into(),
        legal_basis: "Arrest warrant 2025/778.".into(),
        remarks: String::new(),
        request: None,
        valid_until: String::new(),
    }
}

fn submit_notice(to: &str, notice: pb::Notice) -> pb::SubmitRequest {
    pb::SubmitRequest {
        destination: to_node(to),
        precedence: pb::Precedence::Priority as i32,
        ttl_seconds: 600,
        want_delivery_report: false,
        release_to: None,
        correlation_id: String::new(),
        body: Some(pb::submit_request::Body::Notice(notice)),
    }
}

fn to_group(group: &str, notice: pb::Notice) -> pb::SubmitRequest {
    pb::SubmitRequest {
        destination: Some(pb::Destination {
            target: Some(pb::destination::Target::Group(group.into())),
        }),
        ..submit_notice("gs", notice)
    }
}

fn notice_of(m: &pb::InboxMessage) -> Option<&pb::Notice> {
    match &m.body {
        Some(pb::inbox_message::Body::Notice(n)) => Some(n),
        _ => None,
    }
}

/// Waits until the node's inbox (as applications see it) holds a notice `reference` with
/// `lifecycle`; returns that message.
async fn wait_notice(
    client: &mut Client,
    reference: &str,
    lifecycle: pb::NoticeLifecycle,
) -> pb::InboxMessage {
    eventually(&format!("{lifecycle:?} notice {reference}"), || {
        let mut client = client.clone();
        async move {
            inbox_now(&mut client).await.into_iter().find(|m| {
                notice_of(m)
                    .is_some_and(|n| n.notice_ref == reference && n.lifecycle == lifecycle as i32)
            })
        }
    })
    .await
}

/// Waits until `gs` holds exactly one request for review with this reference; returns it.
async fn wait_review(gs: &mut Client, reference: &str) -> pb::ReviewItem {
    eventually(&format!("request {reference} awaiting review"), || {
        let mut gs = gs.clone();
        async move {
            let list = gs.list_reviews(pb::ListReviewsRequest {}).await.ok()?;
            list.into_inner()
                .items
                .into_iter()
                .find(|i| i.notice.as_ref().is_some_and(|n| n.notice_ref == reference))
        }
    })
    .await
}

/// The API's SignedEnvelope is the wire's message, batch proof included: re-read its bytes.
fn signed(s: &pb::SignedEnvelope) -> SignedEnvelope {
    SignedEnvelope::decode(&s.encode_to_vec()).expect("signed envelope")
}

/// Checks, with `node`'s own verifier, both signatures of a publication received there:
/// the outer one from `gs`, the embedded request from `bureau` with `asked` lifecycle.
fn check_both_signatures(node: &Node, m: &pb::InboxMessage, bureau: &str, asked: NoticeLifecycle) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let verifier = node.bureau().verifier();
    let outer = verifier
        .verify(&signed(m.signed.as_ref().expect("signed")), now)
        .expect("gs signature verifies");
    assert_eq!(outer.envelope().origin.as_str(), "gs");
    let request = notice_of(m)
        .and_then(|n| n.request.as_ref())
        .expect("publication carries the request");
    let inner = verifier
        .verify(&signed(request), now)
        .expect("bureau signature verifies");
    assert_eq!(inner.envelope().origin.as_str(), bureau);
    match &inner.envelope().body {
        Body::Notice(n) => {
            assert_eq!(n.lifecycle, asked);
            assert_eq!(n.notice_ref, notice_of(m).unwrap().notice_ref);
        }
        other => panic!("embedded request is not a notice: {other:?}"),
    }
}

struct Net {
    net: TestNet,
    gs: Node,
    fr: Node,
    ke: Node,
    mission: Node,
}

async fn start() -> Net {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    let mission = net.start("mission.unmiss").await;
    Net {
        net,
        gs,
        fr,
        ke,
        mission,
    }
}

impl Net {
    async fn stop(self) {
        for node in [self.mission, self.ke, self.fr, self.gs] {
            node.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requested_red_notice_is_reviewed_approved_and_published_with_both_signatures() {
    let n = start().await;
    let mut fr = api_client(&n.fr).await;
    let mut gs = api_client(&n.gs).await;
    let mut ke = api_client(&n.ke).await;
    let mut mission = api_client(&n.mission).await;

    let request_id = submit(
        &mut fr,
        submit_notice("gs", notice("A-1/2026", pb::NoticeLifecycle::Requested)),
    )
    .await;
    let item = wait_review(&mut gs, "A-1/2026").await;
    assert_eq!(item.message_id, request_id);
    assert_eq!(item.origin, "ncb.fr");
    // In the review queue, not in the inbox of gs.
    assert!(inbox_now(&mut gs)
        .await
        .iter()
        .all(|m| notice_of(m).is_none()));
    let shown = gs
        .show_review(pb::ReviewId {
            message_id: request_id.clone(),
        })
        .await
        .expect("show")
        .into_inner();
    assert_eq!(shown, item);
    // Only gs reviews.
    let err = ke
        .list_reviews(pb::ListReviewsRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    let approved = gs
        .approve_notice(pb::ApproveNoticeRequest {
            message_id: request_id.clone(),
            remarks: "Published after review.".into(),
        })
        .await
        .expect("approve")
        .into_inner();
    assert_eq!(approved.published_ids.len(), 2);
    let list = gs.list_reviews(pb::ListReviewsRequest {}).await.unwrap();
    assert!(list.into_inner().items.is_empty());
    let err = gs
        .approve_notice(pb::ApproveNoticeRequest {
            message_id: request_id.clone(),
            remarks: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    for (node, client) in [(&n.ke, &mut ke), (&n.mission, &mut mission)] {
        let m = wait_notice(client, "A-1/2026", pb::NoticeLifecycle::Published).await;
        assert_eq!(m.origin, "gs");
        assert_eq!(m.correlation_id, request_id);
        let published = notice_of(&m).unwrap();
        assert_eq!(published.requesting_bureau, "ncb.fr");
        assert_eq!(published.remarks, "Published after review.");
        // The embedded request is the bureau's, byte for byte.
        assert_eq!(published.request, item.signed);
        check_both_signatures(node, &m, "ncb.fr", NoticeLifecycle::Requested);
    }
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_notice_reaches_no_bureau_and_the_requester_learns_why() {
    let n = start().await;
    let mut fr = api_client(&n.fr).await;
    let mut gs = api_client(&n.gs).await;
    let mut ke = api_client(&n.ke).await;
    let mut mission = api_client(&n.mission).await;

    let request_id = submit(
        &mut fr,
        submit_notice("gs", notice("B-2/2026", pb::NoticeLifecycle::Requested)),
    )
    .await;
    let item = wait_review(&mut gs, "B-2/2026").await;
    let err = gs
        .refuse_notice(pb::RefuseNoticeRequest {
            message_id: item.message_id.clone(),
            reason: "  ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let refused = gs
        .refuse_notice(pb::RefuseNoticeRequest {
            message_id: item.message_id.clone(),
            reason: "Legal basis insufficient: no warrant attached.".into(),
        })
        .await
        .expect("refuse")
        .into_inner();
    assert!(!refused.reply_id.is_empty());
    assert!(gs
        .list_reviews(pb::ListReviewsRequest {})
        .await
        .unwrap()
        .into_inner()
        .items
        .is_empty());

    // The requester learns the reason, correlated with its request.
    let reply = eventually("refusal at ncb.fr", || {
        let mut fr = fr.clone();
        let request_id = request_id.clone();
        async move {
            inbox_now(&mut fr)
                .await
                .into_iter()
                .find(|m| m.correlation_id == request_id)
        }
    })
    .await;
    assert_eq!(reply.origin, "gs");
    match &reply.body {
        Some(pb::inbox_message::Body::Text(t)) => {
            assert!(t.subject_line.contains("B-2/2026"), "{}", t.subject_line);
            assert!(t.body.contains("Legal basis insufficient"), "{}", t.body);
        }
        other => panic!("expected a text message, got {other:?}"),
    }

    // Nothing published: a marker sent by gs after the refusal arrives, the notice never.
    for (client, to) in [(&mut ke, "ncb.ke"), (&mut mission, "mission.unmiss")] {
        let marker = pb::SubmitRequest {
            body: Some(pb::submit_request::Body::Text(pb::TextMessage {
                subject_line: "marker".into(),
                body: String::new(),
                attachments: vec![],
            })),
            ..submit_notice(to, notice("x", pb::NoticeLifecycle::Requested))
        };
        let marker_id = submit(&mut gs, marker).await;
        let inbox = eventually(&format!("marker at {to}"), || {
            let mut client = client.clone();
            let marker_id = marker_id.clone();
            async move {
                let inbox = inbox_now(&mut client).await;
                inbox
                    .iter()
                    .any(|m| m.message_id == marker_id)
                    .then_some(inbox)
            }
        })
        .await;
        assert!(inbox.iter().all(|m| notice_of(m).is_none()), "{inbox:?}");
    }
    assert!(inbox_now(&mut fr)
        .await
        .iter()
        .all(|m| notice_of(m).is_none()));
    n.stop().await;
}

/// Submits at gs and expects the refusal `publication-carries-its-request` (issue 12, item
/// 5): the first node that would take a copy is gs itself.
async fn refused_at_gs(gs: &mut Client, group: &str, notice: pb::Notice, why: &str) {
    let refused = gs
        .submit(to_group(group, notice))
        .await
        .expect_err("a publication that does not carry its request is refused");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("publication-carries-its-request")
            && refused.message().contains(why),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_publications_are_refused_where_they_are_submitted() {
    let n = start().await;
    let mut fr = api_client(&n.fr).await;
    let mut gs = api_client(&n.gs).await;
    let mut ke = api_client(&n.ke).await;
    let mut mission = api_client(&n.mission).await;

    // A genuine request, as gs received it.
    submit(
        &mut fr,
        submit_notice("gs", notice("C-3/2026", pb::NoticeLifecycle::Requested)),
    )
    .await;
    let item = wait_review(&mut gs, "C-3/2026").await;
    let genuine = item.signed.clone().expect("signed request");

    // 1. A bureau publishes itself, with a genuine request inside: not from gs. Refused at
    //    submission by the role policy (issue 12), so it never reaches ncb.ke.
    let mut by_bureau = notice("C-3/2026", pb::NoticeLifecycle::Published);
    by_bureau.request = Some(genuine.clone());
    let refused = fr
        .submit(submit_notice("ncb.ke", by_bureau))
        .await
        .expect_err("a bureau's publication is refused at submission");
    assert!(
        refused.message().contains("only-hub-publishes-notices"),
        "{refused:?}"
    );

    // 2. gs (an application bypassing review) publishes with a tampered request: the
    //    bureau's signature no longer matches.
    let mut tampered = genuine.clone();
    let at = tampered
        .envelope
        .windows(8)
        .position(|w| w == b"C-3/2026")
        .expect("reference in the signed bytes");
    tampered.envelope[at] = b'D';
    let mut forged = notice("D-3/2026", pb::NoticeLifecycle::Published);
    forged.requesting_bureau = "ncb.fr".into();
    forged.request = Some(tampered);
    refused_at_gs(&mut gs, "all-ncb", forged, "does not verify").await;

    // 3. gs publishes another notice under a genuine request for a different one.
    let mut swapped = notice("E-4/2026", pb::NoticeLifecycle::Published);
    swapped.requesting_bureau = "ncb.fr".into();
    swapped.request = Some(genuine.clone());
    refused_at_gs(&mut gs, "all-missions", swapped, "reference").await;

    // 4. gs publishes the genuine request with details the bureau did not sign.
    let mut altered = notice("C-3/2026", pb::NoticeLifecycle::Published);
    altered.requesting_bureau = "ncb.fr".into();
    altered.offence_summary = "Something else entirely.".into();
    altered.request = Some(genuine.clone());
    refused_at_gs(&mut gs, "all-ncb", altered, "offence").await;

    // 5. A publication with no request at all.
    let mut bare = notice("F-5/2026", pb::NoticeLifecycle::Published);
    bare.requesting_bureau = "ncb.fr".into();
    refused_at_gs(&mut gs, "all-missions", bare, "does not carry").await;

    // Nothing was taken: no notice anywhere, no register entry.
    queues_empty(&[&n.gs, &n.fr, &n.ke, &n.mission]).await;
    for client in [&mut ke, &mut mission] {
        let inbox = inbox_now(client).await;
        assert!(inbox.iter().all(|m| notice_of(m).is_none()), "{inbox:?}");
        let register = client
            .list_notices(pb::ListNoticesRequest {})
            .await
            .expect("list notices")
            .into_inner();
        assert!(register.notices.is_empty(), "{register:?}");
    }
    // The genuine request is still waiting for review.
    assert_eq!(wait_review(&mut gs, "C-3/2026").await, item);
    n.stop().await;
}

/// `bluehelm review ARGS --config gs.toml`, run as a real process.
async fn review_cli(net: &TestNet, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(bluehelm_bin!());
    command
        .arg("review")
        .args(args)
        .arg("--config")
        .arg(net.config_path("gs"));
    tokio::task::spawn_blocking(move || command.output().expect("bluehelm runs"))
        .await
        .expect("review process")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_travels_the_same_way_and_shows_as_cancelled() {
    let n = start().await;
    let mut fr = api_client(&n.fr).await;
    let mut gs = api_client(&n.gs).await;
    let mut ke = api_client(&n.ke).await;
    let mut mission = api_client(&n.mission).await;

    submit(
        &mut fr,
        submit_notice("gs", notice("G-6/2026", pb::NoticeLifecycle::Requested)),
    )
    .await;
    let item = wait_review(&mut gs, "G-6/2026").await;

    // Reviewed with the CLI.
    let out = review_cli(&n.net, &["list"]).await;
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&item.message_id) && text.contains("G-6/2026"),
        "{text}"
    );
    let out = review_cli(&n.net, &["show", &item.message_id, "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["origin"], "ncb.fr");
    let out = review_cli(&n.net, &["approve", &item.message_id]).await;
    assert!(out.status.success(), "{out:?}");
    let out = review_cli(&n.net, &["approve", &item.message_id]).await;
    assert!(!out.status.success(), "approving twice: {out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().count(),
        1,
        "{out:?}"
    );
    wait_notice(&mut ke, "G-6/2026", pb::NoticeLifecycle::Published).await;

    // The bureau asks to cancel; gs reviews and publishes the cancellation.
    let mut cancel = notice("G-6/2026", pb::NoticeLifecycle::Cancelled);
    cancel.remarks = "Subject arrested 2026-02-01.".into();
    let cancel_id = submit(&mut fr, submit_notice("gs", cancel)).await;
    let out = eventually("cancellation awaiting review", || async {
        let out = review_cli(&n.net, &["list", "--json"]).await;
        String::from_utf8_lossy(&out.stdout)
            .contains(&cancel_id)
            .then_some(out)
    })
    .await;
    assert!(out.status.success());
    let out = review_cli(&n.net, &["approve", &cancel_id]).await;
    assert!(out.status.success(), "{out:?}");

    for (node, client) in [(&n.ke, &mut ke), (&n.mission, &mut mission)] {
        let m = wait_notice(client, "G-6/2026", pb::NoticeLifecycle::Cancelled).await;
        assert_eq!(m.origin, "gs");
        assert_eq!(
            notice_of(&m).unwrap().remarks,
            "Subject arrested 2026-02-01."
        );
        check_both_signatures(node, &m, "ncb.fr", NoticeLifecycle::Cancelled);
    }
    // A refusal through the CLI needs a reason.
    let out = review_cli(&n.net, &["refuse", &cancel_id, "--reason", ""]).await;
    assert!(!out.status.success());
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reviewers_approving_at_once_publish_the_notice_once() {
    let n = start().await;
    let mut fr = api_client(&n.fr).await;
    let mut gs = api_client(&n.gs).await;
    let mut ke = api_client(&n.ke).await;
    let request_id = submit(
        &mut fr,
        submit_notice("gs", notice("C-3/2026", pb::NoticeLifecycle::Requested)),
    )
    .await;
    wait_review(&mut gs, "C-3/2026").await;
    let approve = |mut client: Client| {
        let message_id = request_id.clone();
        async move {
            client
                .approve_notice(pb::ApproveNoticeRequest {
                    message_id,
                    remarks: String::new(),
                })
                .await
        }
    };
    let (a, b) = tokio::join!(approve(gs.clone()), approve(gs.clone()));
    let codes = [&a, &b].map(|r| r.as_ref().err().map(|e| e.code()));
    assert!(
        codes.contains(&None) && codes.contains(&Some(Code::NotFound)),
        "one approval wins, the other finds the request gone: {codes:?}"
    );
    wait_notice(&mut ke, "C-3/2026", pb::NoticeLifecycle::Published).await;
    // Count once nothing is queued anywhere: a second publication would have arrived by then.
    queues_empty(&[&n.gs, &n.fr, &n.ke, &n.mission]).await;
    let published = inbox_now(&mut ke)
        .await
        .into_iter()
        .filter(|m| notice_of(m).is_some_and(|n| n.notice_ref == "C-3/2026"))
        .count();
    assert_eq!(published, 1);
    n.stop().await;
}

fn diffusion_of(m: &pb::InboxMessage) -> Option<&pb::Diffusion> {
    match &m.body {
        Some(pb::inbox_message::Body::Diffusion(d)) => Some(d),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diffusion_goes_straight_to_its_addressee_and_gs_keeps_a_signed_copy() {
    let n = start().await;
    let mut fr = api_client(&n.fr).await;
    let gs = api_client(&n.gs).await;
    let mut ke = api_client(&n.ke).await;
    let mission = api_client(&n.mission).await;
    let diffusion = pb::Diffusion {
        reference: "D-9/2026".into(),
        subject_line: "Missing minor, border alert".into(),
        body: "Last seen at Roissy.".into(),
        addressees: vec!["ncb.ke".into()],
        subject: None,
    };
    let id = submit(
        &mut fr,
        pb::SubmitRequest {
            destination: to_node("ncb.ke"),
            precedence: pb::Precedence::Immediate as i32,
            ttl_seconds: 600,
            want_delivery_report: false,
            release_to: None,
            correlation_id: String::new(),
            body: Some(pb::submit_request::Body::Diffusion(diffusion.clone())),
        },
    )
    .await;
    let find = |client: &Client| {
        let client = client.clone();
        move || {
            let mut client = client.clone();
            async move {
                inbox_now(&mut client)
                    .await
                    .into_iter()
                    .find(|m| diffusion_of(m).is_some_and(|d| d.reference == "D-9/2026"))
            }
        }
    };
    let at_ke = eventually("the diffusion at ncb.ke", find(&ke)).await;
    assert_eq!(at_ke.message_id, id);
    assert_eq!(diffusion_of(&at_ke), Some(&diffusion));

    let copy = eventually("the copy of the diffusion at gs", find(&gs)).await;
    assert_eq!(copy.origin, "ncb.fr");
    assert_eq!(
        copy.correlation_id, id,
        "the copy names the diffusion it records"
    );
    assert_eq!(copy.destination, to_node("gs"));
    assert_eq!(copy.precedence, pb::Precedence::Immediate as i32);
    assert_eq!(diffusion_of(&copy), Some(&diffusion));
    // Signed by ncb.fr, checked with gs's own verifier.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let verified =
        n.gs.bureau()
            .verifier()
            .verify(&signed(copy.signed.as_ref().expect("signed")), now)
            .expect("the copy verifies at gs");
    assert_eq!(verified.envelope().origin.as_str(), "ncb.fr");

    // Nobody else: the mission post has none, ncb.ke has exactly one (counted once nothing is
    // queued anywhere, so nothing more can arrive).
    queues_empty(&[&n.gs, &n.fr, &n.ke, &n.mission]).await;
    assert!(find(&mission)().await.is_none());
    let at_ke = inbox_now(&mut ke)
        .await
        .into_iter()
        .filter(|m| diffusion_of(m).is_some())
        .count();
    assert_eq!(at_ke, 1);
    n.stop().await;
}
