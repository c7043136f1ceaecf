//! Step 8 of the demo (issue 12): the role policy refuses at the origin, and a release
//! marking decides who gets a copy.

use bluehelm::custody::{Outgoing, SubmitError};
use bluehelm::Node;
use bluehelm_proto::{Body, Destination, Diffusion, Kind, NoticeLifecycle, Precedence};

use super::{check, describe, drain, id, text, wait_inbox};
use crate::cli::out::outln;

pub(super) async fn policy_and_release(fr: &Node, ke: &Node, mission: &Node) -> anyhow::Result<()> {
    outln!("\n8. Who may say what, and who may see it:")?;
    let mut request = bluehelm_proto::testing::sample_red_notice();
    request.lifecycle = NoticeLifecycle::Requested;
    request.requesting_bureau = id("mission.unmiss");
    let refused = mission
        .bureau()
        .submit(vec![Outgoing {
            body: Body::Notice(request),
            ..text("", Precedence::Priority, Destination::Node(id("gs")), false)
        }])
        .await;
    let why = match refused {
        Err(SubmitError::Refused(refusal)) => refusal.detail,
        other => anyhow::bail!("a mission post's notice request was not refused: {other:?}"),
    };
    outln!("   mission.unmiss requests a notice: refused at submission: {why}")?;
    check(
        why.starts_with("notice-requests-from-ncb-for-own-bureau"),
        "a mission post may not request notices (role policy, at the origin)",
    )?;

    let marked = |to: Destination, subject: &str, release: &str| -> anyhow::Result<Outgoing> {
        Ok(Outgoing {
            release_to: Some(release.parse()?),
            ..text(subject, Precedence::Priority, to, false)
        })
    };
    let diffusion = Outgoing {
        body: Body::Diffusion(Diffusion {
            reference: "DIFF-2026-0043".into(),
            subject_line: "Diffusion released to KE only".into(),
            body: "For NCB Nairobi.".into(),
            addressees: vec![],
            subject: None,
        }),
        ..marked(Destination::Group("all-ncb".parse()?), "", "KE")?
    };
    let to_mission = marked(
        Destination::Node(id("mission.unmiss")),
        "Liaison note released to KE",
        "KE",
    )?;
    fr.bureau().submit(vec![diffusion, to_mission]).await?;
    outln!("   ncb.fr sends a diffusion to all-ncb and a message to mission.unmiss, both --release-to KE:")?;
    for m in wait_inbox(ke, 1).await? {
        outln!(
            "   ncb.ke inbox: {} (REL TO {})",
            describe(&m),
            m.envelope
                .release_to
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        )?;
    }
    let ndr = wait_inbox(fr, 1).await?;
    for m in &ndr {
        outln!("   ncb.fr inbox: {}", describe(m))?;
    }
    check(
        ndr.iter().any(|m| {
            m.envelope.kind() == Kind::NonDeliveryReport
                && matches!(&m.envelope.body, Body::NonDeliveryReport(r)
                    if r.detail.contains("release-marking"))
        }),
        "gs refused custody of the message for the mission post (outside the release list); the non-delivery report names the rule",
    )?;
    let at_mission = mission.bureau().inbox(None, 100).await?;
    check(at_mission.is_empty(), "mission.unmiss got no copy")?;
    drain(fr).await?;
    drain(ke).await?;
    Ok(())
}
