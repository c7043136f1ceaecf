use bluehelm_proto::testing::{
    node, sample_diffusion, sample_envelope, sample_hit_notification, sample_non_delivery_report,
    sample_red_notice, sample_sltd_hit, sample_sltd_request, sample_text, service,
};
use bluehelm_proto::{Notice, Precedence};

use super::*;

fn unmiss_policy() -> Policy {
    let mut policy = Policy::default();
    policy
        .missions
        .insert("UNMISS".into(), [node("ncb.ke"), node("ncb.ug")].into());
    policy
}

fn party(id: &NodeId, role: Role) -> Party<'_> {
    Party {
        node: id,
        role,
        country: (role == Role::Ncb).then_some("FR"),
        mission: (role == Role::Mission).then_some("UNMISS"),
    }
}

fn to_node(to: &str, body: Body) -> Envelope {
    sample_envelope(
        node("x"),
        Destination::Node(node(to)),
        Precedence::Routine,
        1_000,
        body,
    )
}

fn notice(lifecycle: NoticeLifecycle, bureau: &str) -> Body {
    Body::Notice(Notice {
        lifecycle,
        requesting_bureau: node(bureau),
        ..sample_red_notice()
    })
}

fn rule_of(result: Result<(), PolicyRefusal>) -> Option<Rule> {
    result.err().map(|r| r.rule)
}

fn verdict(signer: (&str, Role), envelope: &Envelope) -> Option<Rule> {
    let id = node(signer.0);
    rule_of(check(&unmiss_policy(), party(&id, signer.1), envelope))
}

#[test]
fn only_the_hub_publishes_notices() {
    for lifecycle in [NoticeLifecycle::Published, NoticeLifecycle::Updated] {
        let published = to_node("mission.unmiss", notice(lifecycle, "ncb.fr"));
        assert_eq!(verdict(("gs", Role::Hub), &published), None);
    }
    let published = to_node(
        "mission.unmiss",
        notice(NoticeLifecycle::Published, "ncb.fr"),
    );
    assert_eq!(
        verdict(("ncb.fr", Role::Ncb), &published),
        Some(Rule::OnlyHubPublishesNotices)
    );
    assert_eq!(
        verdict(("mission.unmiss", Role::Mission), &published),
        Some(Rule::OnlyHubPublishesNotices)
    );
}

#[test]
fn ncbs_request_update_and_cancel_only_for_themselves_and_only_at_the_hub() {
    for lifecycle in [
        NoticeLifecycle::Requested,
        NoticeLifecycle::Updated,
        NoticeLifecycle::Cancelled,
    ] {
        let own = to_node("gs", notice(lifecycle, "ncb.ke"));
        assert_eq!(verdict(("ncb.ke", Role::Ncb), &own), None, "{lifecycle}");
        let other = to_node("gs", notice(lifecycle, "ncb.fr"));
        assert_eq!(
            verdict(("ncb.ke", Role::Ncb), &other),
            Some(Rule::NoticeRequestsFromNcbForOwnBureau),
            "{lifecycle}"
        );
        let elsewhere = to_node("ncb.fr", notice(lifecycle, "ncb.ke"));
        assert_eq!(
            verdict(("ncb.ke", Role::Ncb), &elsewhere),
            Some(Rule::NoticeRequestsGoToHub),
            "{lifecycle}"
        );
    }
}

#[test]
fn mission_posts_neither_request_nor_publish_nor_diffuse() {
    let mission = ("mission.unmiss", Role::Mission);
    for lifecycle in [
        NoticeLifecycle::Requested,
        NoticeLifecycle::Updated,
        NoticeLifecycle::Cancelled,
    ] {
        let request = to_node("gs", notice(lifecycle, "mission.unmiss"));
        assert_eq!(
            verdict(mission, &request),
            Some(Rule::NoticeRequestsFromNcbForOwnBureau)
        );
    }
    let diffusion = to_node("ncb.ke", Body::Diffusion(sample_diffusion()));
    assert_eq!(
        verdict(mission, &diffusion),
        Some(Rule::DiffusionsFromNcbOrHub)
    );
    assert_eq!(verdict(("ncb.fr", Role::Ncb), &diffusion), None);
    assert_eq!(verdict(("gs", Role::Hub), &diffusion), None);
}

#[test]
fn mission_posts_address_the_hub_services_and_their_mission_bureaus_only() {
    let mission = ("mission.unmiss", Role::Mission);
    let service_dest = |body| {
        sample_envelope(
            node("mission.unmiss"),
            Destination::Service(service("sltd.check")),
            Precedence::Routine,
            1_000,
            body,
        )
    };
    for (body, rule) in [
        (Body::Text(sample_text()), Rule::MessageScope),
        (
            Body::Request(sample_sltd_request()),
            Rule::ServiceRequestScope,
        ),
    ] {
        assert_eq!(verdict(mission, &to_node("gs", body.clone())), None);
        assert_eq!(verdict(mission, &to_node("ncb.ke", body.clone())), None);
        assert_eq!(verdict(mission, &service_dest(body.clone())), None);
        assert_eq!(
            verdict(mission, &to_node("ncb.fr", body.clone())),
            Some(rule)
        );
        let group = sample_envelope(
            node("mission.unmiss"),
            Destination::Group("all-ncb".parse().unwrap()),
            Precedence::Routine,
            1_000,
            body.clone(),
        );
        assert_eq!(verdict(mission, &group), Some(rule));
        // Another mission has no bureaus to address unless configured.
        let other = node("mission.minusca");
        let party = Party {
            node: &other,
            role: Role::Mission,
            country: None,
            mission: Some("MINUSCA"),
        };
        assert_eq!(
            rule_of(check(&unmiss_policy(), party, &to_node("ncb.ke", body))),
            Some(rule)
        );
    }
}

#[test]
fn ncbs_and_the_hub_message_anyone() {
    for signer in [("ncb.fr", Role::Ncb), ("gs", Role::Hub)] {
        assert_eq!(
            verdict(signer, &to_node("ncb.de", Body::Text(sample_text()))),
            None
        );
        assert_eq!(
            verdict(
                signer,
                &to_node("ncb.de", Body::Request(sample_sltd_request()))
            ),
            None
        );
    }
}

#[test]
fn terminals_sign_nothing() {
    let text = to_node("gs", Body::Text(sample_text()));
    assert_eq!(
        verdict(("term.fr1", Role::Terminal), &text),
        Some(Rule::TerminalsSignNothing)
    );
}

#[test]
fn answers_pass_the_role_check_from_every_signing_role() {
    for body in [
        Body::Response(sample_sltd_hit()),
        Body::NonDeliveryReport(sample_non_delivery_report()),
    ] {
        for signer in [
            ("gs", Role::Hub),
            ("ncb.fr", Role::Ncb),
            ("mission.unmiss", Role::Mission),
        ] {
            assert_eq!(verdict(signer, &to_node("ncb.de", body.clone())), None);
        }
    }
}

#[test]
fn a_refusal_names_its_rule_first() {
    let id = node("mission.unmiss");
    let refusal = check(
        &unmiss_policy(),
        party(&id, Role::Mission),
        &to_node("ncb.fr", Body::Text(sample_text())),
    )
    .unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "message-scope: mission.unmiss (mission UNMISS) may not address node:ncb.fr: \
         allowed hub, services, mission-bureaus"
    );
    let names: BTreeSet<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(names.len(), Rule::ALL.len());
}

#[test]
fn hit_notifications_go_to_one_node_from_any_node_that_answers_checks() {
    let hit = || Body::HitNotification(sample_hit_notification());
    let to_owner = to_node("ncb.fr", hit());
    // A replica at an NCB or a mission post answers checks too (issue 13).
    for signer in [
        ("gs", Role::Hub),
        ("ncb.ke", Role::Ncb),
        ("mission.unmiss", Role::Mission),
    ] {
        assert_eq!(verdict(signer, &to_owner), None, "{signer:?}");
    }
    let to_group = sample_envelope(
        node("gs"),
        Destination::Group("all-ncb".parse().unwrap()),
        Precedence::Routine,
        1_000,
        hit(),
    );
    assert_eq!(
        verdict(("gs", Role::Hub), &to_group),
        Some(Rule::HitNotificationsToOwner)
    );
}

#[test]
fn record_uploads_go_to_the_hub_only() {
    let upload = || {
        Body::RecordUpload(bluehelm_proto::RecordUpload {
            changes: Vec::new(),
            proofs: Vec::new(),
        })
    };
    assert_eq!(
        verdict(("ncb.fr", Role::Ncb), &to_node("gs", upload())),
        None
    );
    assert_eq!(
        verdict(("ncb.fr", Role::Ncb), &to_node("ncb.ke", upload())),
        Some(Rule::RecordUploadsGoToHub)
    );
}
