//! `bluehelm demo [--once]`: a throwaway local network on loopback (hub `gs`, `ncb.fr`,
//! `ncb.ke`, mission post `mission.unmiss`), real QUIC links and real sled stores, and a
//! story that shows custody, fan-out, reports, an offline mission post that receives its
//! queue FLASH first when it joins, notices, checks, policy with release markings, and the
//! field databases (issue 13): a record imported at its owner's node, the post's replica
//! answering while its link is down, and a withdrawal.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use bluehelm::custody::{Delivered, Outgoing};
use bluehelm::localnet::{standard_specs, LocalNet};
use bluehelm::Node;
use bluehelm_proto::{Body, Destination, Diffusion, Kind, NodeId, Precedence, TextMessage};

use super::out::outln;
use super::run::{runtime, wait_for_stop_signal};

mod policy;
mod replica;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Run the story once, check every delivery, and exit 0 only if all of it worked.
    #[arg(long)]
    pub once: bool,
    /// Keep the network's files (CA, certificates, configs, stores) in this folder, to run
    /// its nodes by hand after the demo. Without it they live in a temporary folder that is
    /// deleted when the demo stops.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

const STEP_TIMEOUT: Duration = Duration::from_secs(20);

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    // Its nodes' storage is private from the start, sled's own files too (as `run`'s).
    bluehelm::store::private::make_new_files_private();
    let temp;
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary folder")?;
            temp.path().to_owned()
        }
    };
    runtime()?.block_on(story(dir, args.dir.is_some(), args.once))
}

fn id(s: &str) -> NodeId {
    s.parse().expect("demo node ids are valid")
}

fn text(subject: &str, precedence: Precedence, to: Destination, report: bool) -> Outgoing {
    Outgoing {
        destination: to,
        precedence,
        body: Body::Text(TextMessage {
            subject_line: subject.into(),
            body: format!("{subject} (demo)"),
            attachments: vec![],
        }),
        ttl: Duration::from_secs(3600),
        want_delivery_report: report,
        release_to: None,
        correlation_id: None,
    }
}

async fn wait_inbox(node: &Node, want: usize) -> anyhow::Result<Vec<Delivered>> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let inbox = node.bureau().inbox(None, 10_000).await?;
        if inbox.len() >= want {
            return Ok(inbox);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "{} has {} of {want} expected inbox messages after {STEP_TIMEOUT:?}",
                node.bureau().me(),
                inbox.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_linked(node: &Node, peer: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    while !node.is_linked(&id(peer)) {
        if tokio::time::Instant::now() > deadline {
            bail!("{} did not link with {peer}", node.bureau().me());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn drain(node: &Node) -> anyhow::Result<()> {
    let seqs: Vec<u64> = node
        .bureau()
        .inbox(None, 10_000)
        .await?
        .iter()
        .map(|m| m.seq)
        .collect();
    node.bureau().ack_inbox(&seqs).await?;
    Ok(())
}

fn describe(message: &Delivered) -> String {
    let e = &message.envelope;
    let what = match &e.body {
        Body::Text(t) => t.subject_line.clone(),
        Body::Notice(n) => format!(
            "{} notice {} ({}), requested by {}{}",
            n.notice_type,
            n.notice_ref,
            n.lifecycle,
            n.requesting_bureau,
            if n.request.is_some() {
                ", bureau's signed request inside"
            } else {
                ""
            }
        ),
        Body::Diffusion(d) => d.subject_line.clone(),
        Body::DeliveryReport(r) => format!("delivered to {}", r.delivered_to),
        Body::NonDeliveryReport(r) => format!("not delivered: {} ({})", r.reason, r.detail),
        Body::HitNotification(h) => format!(
            "{} hit on {} by {} (purpose: {:?})",
            h.service, h.record_key, h.requester, h.purpose
        ),
        other => other.kind().to_string(),
    };
    format!(
        "{:<9} {:<19} from {:<14} {what}",
        e.precedence.to_string().to_uppercase(),
        e.kind(),
        e.origin
    )
}

async fn story(dir: PathBuf, kept: bool, once: bool) -> anyhow::Result<ExitCode> {
    // Said up front (issue 10): a temporary folder is gone after the demo, so nothing
    // printed later may send the operator to it.
    let fate = if kept {
        ""
    } else {
        " (deleted when the demo stops; keep it with --dir DIR)"
    };
    outln!("Bluehelm demo: a local network in {}{fate}", dir.display())?;
    let mut net = LocalNet::create(&dir)?;
    let mut specs = standard_specs();
    // gs answers the reference databases itself (issue 4, database checks from the field).
    specs[0].services.push(("smv.check".into(), id("gs")));
    specs[0].reference_services = vec!["sltd".into(), "smv".into()];
    for spec in &specs {
        net.add(spec)?;
    }
    outln!("  CA, certificates and CRL in {}", net.pki_dir().display())?;
    let start = |name: &'static str| {
        let config = net.config(name);
        async move { anyhow::Ok(Node::start(config?).await?) }
    };
    let gs = start("gs").await?;
    let fr = start("ncb.fr").await?;
    let ke = start("ncb.ke").await?;
    outln!(
        "  started gs on {}, ncb.fr and ncb.ke (mission.unmiss is offline)",
        gs.local_addr().map(|a| a.to_string()).unwrap_or_default()
    )?;
    wait_linked(&gs, "ncb.fr").await?;
    wait_linked(&gs, "ncb.ke").await?;
    outln!("  links up: ncb.fr <-> gs <-> ncb.ke (QUIC, mutual TLS 1.3)\n")?;

    outln!("1. ncb.fr -> ncb.ke, through gs, with a delivery report:")?;
    fr.bureau()
        .submit(vec![text(
            "Request for assistance, case 2026/114",
            Precedence::Immediate,
            Destination::Node(id("ncb.ke")),
            true,
        )])
        .await?;
    for m in wait_inbox(&ke, 1).await? {
        outln!("   ncb.ke inbox: {}", describe(&m))?;
    }
    let reports = wait_inbox(&fr, 1).await?;
    check(
        reports
            .iter()
            .any(|m| m.envelope.kind() == Kind::DeliveryReport),
        "ncb.fr got a delivery report",
    )?;
    for m in &reports {
        outln!("   ncb.fr inbox: {}", describe(m))?;
    }
    drain(&fr).await?;
    drain(&ke).await?;

    outln!("\n2. ncb.fr -> group all-ncb: gs fans it out (the sender gets no copy):")?;
    fr.bureau()
        .submit(vec![Outgoing {
            body: Body::Diffusion(Diffusion {
                reference: "DIFF-2026-0042".into(),
                subject_line: "Diffusion: missing minor, border alert".into(),
                body: "Please check border crossings.".into(),
                addressees: vec![],
                subject: None,
            }),
            ..text(
                "",
                Precedence::Priority,
                Destination::Group("all-ncb".parse()?),
                false,
            )
        }])
        .await?;
    for m in wait_inbox(&ke, 1).await? {
        outln!("   ncb.ke inbox: {}", describe(&m))?;
    }
    drain(&ke).await?;

    outln!("\n3. ncb.fr -> mission.unmiss while the mission post is offline:")?;
    let order = [
        Precedence::Routine,
        Precedence::Routine,
        Precedence::Priority,
        Precedence::Immediate,
        Precedence::Flash,
        Precedence::Routine,
        Precedence::Flash,
    ];
    let batch: Vec<Outgoing> = order
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let subject = format!("message {} of {}, {p}", i + 1, order.len());
            text(&subject, *p, Destination::Node(id("mission.unmiss")), false)
        })
        .collect();
    fr.bureau().submit(batch).await?;
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    while gs.bureau().queue_depth(&id("mission.unmiss")) < order.len() {
        if tokio::time::Instant::now() > deadline {
            bail!("gs did not take custody of the mission's messages");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    outln!(
        "   sent in this order: {}",
        order
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    outln!(
        "   gs holds {} messages for mission.unmiss",
        gs.bureau().queue_depth(&id("mission.unmiss"))
    )?;

    outln!("\n4. mission.unmiss comes online and receives its queue:")?;
    let mission = start("mission.unmiss").await?;
    let received = wait_inbox(&mission, order.len()).await?;
    for m in &received {
        outln!("   mission.unmiss inbox: {}", describe(m))?;
    }
    let ranks: Vec<u8> = received
        .iter()
        .map(|m| m.envelope.precedence.rank())
        .collect();
    check(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "the queue drained FLASH first, ROUTINE last",
    )?;
    check(
        received.len() == order.len(),
        "every queued message arrived exactly once",
    )?;
    drain(&mission).await?;

    outln!("\n5. ncb.fr -> ncb.zz, a node nobody routes to: gs refuses custody, and ncb.fr, which\n   still holds the message, turns the refusal into a non-delivery report for its sender:")?;
    fr.bureau()
        .submit(vec![text(
            "Wrong address",
            Precedence::Routine,
            Destination::Node(id("ncb.zz")),
            false,
        )])
        .await?;
    let ndr = wait_inbox(&fr, 1).await?;
    for m in &ndr {
        outln!("   ncb.fr inbox: {}", describe(m))?;
    }
    check(
        ndr.iter()
            .any(|m| m.envelope.kind() == Kind::NonDeliveryReport),
        "ncb.fr got a non-delivery report",
    )?;
    drain(&fr).await?;

    red_notice(&net, &fr, &ke, &mission).await?;
    replica::import_and_check_online(&net, &fr).await?;
    policy::policy_and_release(&fr, &ke, &mission).await?;
    let gs = replica::offline_check(&net, gs, &fr, &mission).await?;
    replica::withdrawal(&net).await?;

    if once {
        outln!("\ndemo: every step checked: OK")?;
    } else {
        let config = |node: &str| dir.join(format!("{node}.toml")).display().to_string();
        outln!("\nThe network keeps running. Try it by hand from another terminal (the CLI talks")?;
        outln!("to each node's local API socket):")?;
        outln!(
            "  bluehelm send message --config {} --to mission.unmiss --precedence flash --subject-line \"Test\" --body \"Hello\"",
            config("ncb.fr")
        )?;
        outln!(
            "  bluehelm inbox --config {} --json --ack",
            config("mission.unmiss")
        )?;
        outln!("  bluehelm status --config {}", config("gs"))?;
        outln!(
            "  bluehelm pki show {}",
            net.pki_dir().join("ncb.fr.pem").display()
        )?;
        if kept {
            outln!("After Ctrl-C the same configs run as separate processes:")?;
            for spec in &specs {
                outln!("  bluehelm run --config {}", config(spec.id.as_str()))?;
            }
        } else {
            outln!("These files are deleted at Ctrl-C; to run the nodes as separate processes")?;
            outln!("afterwards, start the demo with --dir DIR.")?;
        }
        // Listening before saying so: a Ctrl-C right after the line must stop the demo cleanly.
        let stop = wait_for_stop_signal();
        outln!("Press Ctrl-C to stop.")?;
        stop.await;
    }
    for node in [mission, fr, ke, gs] {
        node.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

fn check(ok: bool, what: &str) -> anyhow::Result<()> {
    if ok {
        outln!("   ok: {what}")?;
        Ok(())
    } else {
        bail!("check failed: {what}")
    }
}

/// Step 6: ncb.fr requests a red notice, a reviewer at gs approves it, and it reaches every
/// NCB and mission post carrying both signatures (the bureau's request and gs's publication).
async fn red_notice(net: &LocalNet, fr: &Node, ke: &Node, mission: &Node) -> anyhow::Result<()> {
    use bluehelm::api::{client::connect, pb};
    use bluehelm_proto::{testing::sample_red_notice, NoticeLifecycle};
    outln!("\n6. ncb.fr requests a red notice; a reviewer at gs approves it; it is published:")?;
    let mut notice = sample_red_notice();
    notice.lifecycle = NoticeLifecycle::Requested;
    fr.bureau()
        .submit(vec![Outgoing {
            body: Body::Notice(notice),
            ..text("", Precedence::Priority, Destination::Node(id("gs")), false)
        }])
        .await?;
    let mut gs_api = connect(&net.config("gs")?.api_socket).await?;
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    let item = loop {
        let items = gs_api
            .list_reviews(pb::ListReviewsRequest {})
            .await?
            .into_inner()
            .items;
        if let Some(item) = items.into_iter().next() {
            break item;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the notice request did not reach the review queue at gs");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    outln!(
        "   gs review queue: {} from {} (bluehelm review list)",
        item.message_id,
        item.origin
    )?;
    gs_api
        .approve_notice(pb::ApproveNoticeRequest {
            message_id: item.message_id.clone(),
            remarks: "Approved by the General Secretariat".into(),
        })
        .await?;
    outln!(
        "   gs approved it (bluehelm review approve {})",
        item.message_id
    )?;
    // The requesting bureau is a member of all-ncb too: it gets the publication as well.
    for node in [ke, mission, fr] {
        let inbox = wait_inbox(node, 1).await?;
        let published = inbox.iter().find(|m| {
            matches!(&m.envelope.body, Body::Notice(n)
                if n.lifecycle == NoticeLifecycle::Published && n.request.is_some())
        });
        let Some(m) = published else {
            bail!(
                "{} did not receive the published notice",
                node.bureau().me()
            );
        };
        outln!("   {} inbox: {}", node.bureau().me(), describe(m))?;
        drain(node).await?;
    }
    outln!(
        "   ok: the red notice reached every NCB and the mission post, both signatures checked"
    )?;
    Ok(())
}
