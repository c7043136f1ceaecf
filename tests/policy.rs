//! The role policy on real nodes on loopback (issue 12, item 1): refused at submission (API
//! and CLI), refused by a relay and by the destination with a non-delivery report naming the
//! rule, and what the defaults allow still flows.

use std::time::Duration;

use bluehelm::api::pb::{self, bureau_client::BureauClient};
use bluehelm::localnet::{standard_specs, STANDARD_POLICY};
use bluehelm_tests::{
    api_client, api_failed_state, bluehelm_bin, drained, id, inbox_at_least, linked, run_cli, text,
    TestNet,
};
use tonic::transport::Channel;

type Client = BureauClient<Channel>;

fn notice(lifecycle: pb::NoticeLifecycle, bureau: &str) -> pb::Notice {
    pb::Notice {
        notice_ref: "P-1/2026".into(),
        notice_type: pb::NoticeType::Red as i32,
        lifecycle: lifecycle as i32,
        requesting_bureau: bureau.into(),
        subject: (lifecycle != pb::NoticeLifecycle::Cancelled).then(|| pb::Subject {
            family_name: "DOE".into(),
            given_names: vec!["John".into()],
            ..Default::default()
        }),
        offence_summary: "Armed robbery.".into(),
        legal_basis: "Warrant 1/2026.".into(),
        remarks: String::new(),
        request: None,
        valid_until: String::new(),
    }
}

fn submit_request(to: &str, body: pb::submit_request::Body) -> pb::SubmitRequest {
    pb::SubmitRequest {
        destination: Some(pb::Destination {
            target: Some(pb::destination::Target::Node(to.into())),
        }),
        precedence: pb::Precedence::Routine as i32,
        ttl_seconds: 600,
        want_delivery_report: true,
        release_to: None,
        correlation_id: String::new(),
        body: Some(body),
    }
}

/// Submits and expects a refusal by `rule`: permission denied, one line naming it.
async fn refused_by(client: &mut Client, request: pb::SubmitRequest, rule: &str) {
    let status = client
        .submit(request)
        .await
        .expect_err("the policy refuses it at submission");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains(rule), "{status:?}");
    assert!(!status.message().contains('\n'), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mission_post_can_neither_publish_nor_request_a_notice() {
    let net = TestNet::standard();
    let mission = net.start("mission.unmiss").await;
    let mut api = api_client(&mission).await;
    use pb::submit_request::Body::Notice;
    refused_by(
        &mut api,
        submit_request(
            "ncb.ke",
            Notice(notice(pb::NoticeLifecycle::Published, "ncb.fr")),
        ),
        "only-hub-publishes-notices",
    )
    .await;
    refused_by(
        &mut api,
        submit_request("gs", Notice(notice(pb::NoticeLifecycle::Requested, ""))),
        "notice-requests-from-ncb-for-own-bureau",
    )
    .await;

    // The CLI, as a real process: one line and exit code 5 (refused).
    let config = net.config_path("mission.unmiss").display().to_string();
    for (lifecycle, rule) in [
        ("requested", "notice-requests-from-ncb-for-own-bureau"),
        ("published", "only-hub-publishes-notices"),
    ] {
        let (code, out, err) = run_cli(
            bluehelm_bin!(),
            [
                "send",
                "notice",
                "--config",
                &config,
                "--to",
                "gs",
                "--ref",
                "P-2/2026",
                "--type",
                "red",
                "--family-name",
                "DOE",
                "--lifecycle",
                lifecycle,
                "--bureau",
                "ncb.fr",
            ],
        )
        .await;
        assert_eq!(code, 5, "{lifecycle}: {out} {err}");
        assert!(out.is_empty(), "{out}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(rule), "{err}");
    }
    // Nothing was queued.
    assert_eq!(mission.bureau().queue_depth(&id("gs")), 0);
    assert_eq!(
        bluehelm::custody::Stats::get(&mission.bureau().stats().accepted),
        0
    );
    mission.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ncb_cannot_request_update_or_cancel_a_notice_for_another_bureau() {
    let net = TestNet::standard();
    let ke = net.start("ncb.ke").await;
    let mut api = api_client(&ke).await;
    for lifecycle in [
        pb::NoticeLifecycle::Requested,
        pb::NoticeLifecycle::Updated,
        pb::NoticeLifecycle::Cancelled,
    ] {
        let body = pb::submit_request::Body::Notice(notice(lifecycle, "ncb.fr"));
        refused_by(
            &mut api,
            submit_request("gs", body),
            "notice-requests-from-ncb-for-own-bureau",
        )
        .await;
    }
    assert_eq!(ke.bureau().queue_depth(&id("gs")), 0);
    // For itself, to the hub: taken.
    let own = pb::submit_request::Body::Notice(notice(pb::NoticeLifecycle::Requested, ""));
    api.submit(submit_request("gs", own))
        .await
        .expect("own request");
    ke.shutdown().await;
}

/// A network whose `nodes` have `extra` policy on top of the standard one.
fn net_with_lax(nodes: &[&str], extra: &str) -> TestNet {
    let mut specs = standard_specs();
    for spec in &mut specs {
        if nodes.contains(&spec.id.as_str()) {
            spec.policy = Some(format!("{STANDARD_POLICY}\n{extra}"));
        }
    }
    TestNet::with_specs(specs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_refuses_a_forbidden_publication_and_the_origin_learns_the_rule() {
    // mission.unmiss lets itself publish; gs keeps the defaults.
    let net = net_with_lax(
        &["mission.unmiss"],
        "[policy.mission]\npublish_notices = true",
    );
    let gs = net.start("gs").await;
    let mission = net.start("mission.unmiss").await;
    linked(&gs, "mission.unmiss").await;
    let mut api = api_client(&mission).await;
    // With a genuine request of ncb.fr inside, so that only the role is wrong (a publication
    // without one is refused at the origin already: publication-carries-its-request).
    let publication = bluehelm_tests::notices::genuine_publication(&net, "ncb.fr", "P-1/2026");
    let body = pb::submit_request::Body::Notice(publication);
    let id = api
        .submit(submit_request("ncb.ke", body))
        .await
        .expect("the lax origin takes it")
        .into_inner()
        .message_id;
    let state = api_failed_state(&mut api, &id).await;
    assert_eq!(state.failure_reason, pb::NonDeliveryReason::Policy as i32);
    assert!(
        state.failure_detail.contains("only-hub-publishes-notices"),
        "{state:?}"
    );
    assert_eq!(state.reported_by, "mission.unmiss");
    assert_eq!(state.failure_signed_by, "mission.unmiss");
    assert_eq!(gs.bureau().queue_depth(&bluehelm_tests::id("ncb.ke")), 0);
    mission.shutdown().await;
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_destination_refuses_what_lax_nodes_let_through() {
    // mission.unmiss and gs let missions message anyone; ncb.fr (not an UNMISS bureau)
    // keeps the defaults.
    let lax = "[policy.mission]\nmessages_to = [\"any\"]";
    let net = net_with_lax(&["mission.unmiss", "gs"], lax);
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let mission = net.start("mission.unmiss").await;
    linked(&gs, "mission.unmiss").await;
    linked(&gs, "ncb.fr").await;
    let mut api = api_client(&mission).await;
    let body = pb::submit_request::Body::Text(pb::TextMessage {
        subject_line: "hello".into(),
        body: "to a bureau outside the mandate".into(),
        attachments: vec![],
    });
    let id = api
        .submit(submit_request("ncb.fr", body))
        .await
        .expect("the lax origin takes it")
        .into_inner()
        .message_id;
    let state = api_failed_state(&mut api, &id).await;
    assert_eq!(state.failure_reason, pb::NonDeliveryReason::Policy as i32);
    assert!(state.failure_detail.contains("message-scope"), "{state:?}");
    // gs held it and gave it up when ncb.fr refused it.
    assert_eq!(state.reported_by, "gs");
    assert_eq!(state.failure_signed_by, "gs");
    assert_eq!(fr.bureau().inbox_len().await.unwrap(), 0);
    for node in [mission, fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_defaults_allow_still_flows() {
    let net = TestNet::standard();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    let mission = net.start("mission.unmiss").await;
    for peer in ["ncb.fr", "ncb.ke", "mission.unmiss"] {
        linked(&gs, peer).await;
    }
    // A mission post's message to the hub and to a bureau of its mission.
    mission
        .bureau()
        .submit(vec![
            text(1, "gs", bluehelm_proto::Precedence::Routine),
            text(2, "ncb.ke", bluehelm_proto::Precedence::Routine),
        ])
        .await
        .expect("allowed messages");
    inbox_at_least(&gs, 1).await;
    inbox_at_least(&ke, 1).await;
    // A service request to a hosted service.
    let mut request = text(3, "gs", bluehelm_proto::Precedence::Routine);
    request.destination = bluehelm_proto::Destination::Service("sltd.check".parse().unwrap());
    request.body = bluehelm_proto::Body::Request(bluehelm_proto::ServiceRequest {
        service: "sltd.check".parse().unwrap(),
        params: [("number".to_owned(), "X1".to_owned())].into(),
        purpose: String::new(),
        terminal: None,
        attachment: None,
    });
    mission
        .bureau()
        .submit(vec![request])
        .await
        .expect("a service request");
    // An NCB's diffusion.
    let mut diffusion = text(4, "ncb.ke", bluehelm_proto::Precedence::Routine);
    diffusion.body = bluehelm_proto::Body::Diffusion(bluehelm_proto::testing::sample_diffusion());
    fr.bureau()
        .submit(vec![diffusion])
        .await
        .expect("a diffusion");
    inbox_at_least(&ke, 2).await;
    drained(&mission, &gs, "ncb.ke").await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    for node in [mission, ke, fr, gs] {
        node.shutdown().await;
    }
}
