//! `bluehelm inbox [--follow] [--json] [--ack]`: print the inbox (and, with `--follow`, new
//! messages as they arrive). Messages stay in the inbox until acknowledged: `--ack` removes
//! each one once it has been printed.

use std::process::ExitCode;

use bluehelm::api::pb;
use bluehelm::api::pb::bureau_client::BureauClient;
use bluehelm::human_time::local_from_ms;
use tonic::transport::Channel;

use super::bureau::{self, enum_name, NodeArgs};
use super::out::outln;

mod follow;

#[derive(Debug, clap::Args)]
pub struct InboxArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Keep running and print new messages as they arrive (Ctrl-C stops). When the node
    /// goes away (a restart), reconnect with backoff and resume after the last message
    /// printed.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: give up (exit 3) once the node has been unreachable this long.
    /// Default: keep trying.
    #[arg(long, value_name = "SECONDS", requires = "follow")]
    pub give_up_after: Option<u64>,
    /// One JSON object per line, for scripts.
    #[arg(long)]
    pub json: bool,
    /// Acknowledge each message once printed (it leaves the inbox).
    #[arg(long)]
    pub ack: bool,
    /// Start after this sequence number (default: the oldest message).
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    pub after: u64,
    /// Instead of the inbox: the messages already read here that a quarantine rule now
    /// marks as suspect (from a compromised node, created after it was lost).
    #[arg(long, conflicts_with_all = ["follow", "ack", "after", "give_up_after"])]
    pub suspect: bool,
}

pub fn run(args: InboxArgs) -> anyhow::Result<ExitCode> {
    bureau::block_on(async move {
        if args.suspect {
            let mut client = args.node.connect().await?;
            return suspect(&mut client, args.json).await;
        }
        if args.follow {
            return follow::run(&args).await;
        }
        // Without --follow: what is there now, then exit 0; a node that cannot be reached,
        // or goes away meanwhile, is exit 3.
        let mut client = args.node.connect().await?;
        let mut cursor = follow::Cursor::after(args.after);
        cursor.read(&mut client, &args, false).await.map(|_| ())
    })
}

/// One message as the command prints it: a JSON line or a few lines for people.
fn render(message: &pb::InboxMessage, as_json: bool) -> String {
    match as_json {
        true => json(message).to_string(),
        false => describe(message),
    }
}

/// `--suspect`: one JSON object with `rules`, `already_read` and `truncated`, or lines for
/// people.
async fn suspect(client: &mut BureauClient<Channel>, json: bool) -> Result<(), bureau::Failure> {
    let answer = client
        .list_suspect(pb::ListSuspectRequest {})
        .await
        .map_err(bureau::from_status)?
        .into_inner();
    if json {
        outln!("{}", bureau::to_json(&answer))?;
        return Ok(());
    }
    if answer.rules.is_empty() {
        outln!("no quarantine rule: nothing read here is suspect")?;
    }
    for rule in &answer.rules {
        outln!(
            "{} is compromised since {}",
            rule.node,
            local_from_ms(rule.since_ms)
        )?;
    }
    if !answer.rules.is_empty() && answer.already_read.is_empty() {
        outln!("nothing read here came from it since then")?;
    }
    for read in &answer.already_read {
        outln!(
            "suspect: {} {} from {}, created {}, read {}",
            read.kind,
            read.message_id,
            read.origin,
            local_from_ms(read.created_at_ms),
            local_from_ms(read.read_at_ms)
        )?;
    }
    if answer.truncated {
        outln!("(more were read than listed: ask the operator for the audit trail)")?;
    }
    Ok(())
}

/// The JSON form: a message sent in clear has exactly the keys it had before sealing existed;
/// a sealed one adds `"sealed": true`, and `seal_error` when it could not be opened.
fn json(message: &pb::InboxMessage) -> serde_json::Value {
    let mut value = bureau::to_json(message);
    if let Some(map) = value.as_object_mut() {
        if !message.sealed {
            map.remove("sealed");
        }
        if message.seal_error.is_empty() {
            map.remove("seal_error");
        }
    }
    value
}

fn destination(d: &Option<pb::Destination>) -> String {
    use pb::destination::Target;
    match d.as_ref().and_then(|d| d.target.as_ref()) {
        Some(Target::Node(n)) => n.clone(),
        Some(Target::Service(s)) => format!("service:{s}"),
        Some(Target::Group(g)) => format!("group:{g}"),
        None => "?".into(),
    }
}

/// A few lines per message, for people.
fn describe(m: &pb::InboxMessage) -> String {
    use pb::inbox_message::Body;
    let precedence = enum_name("precedence", i64::from(m.precedence)).unwrap_or_default();
    let (kind, detail) = match &m.body {
        Some(Body::Notice(n)) => (
            "notice",
            format!(
                "{} {} notice {} from {}{}",
                enum_name("lifecycle", i64::from(n.lifecycle)).unwrap_or_default(),
                enum_name("notice_type", i64::from(n.notice_type)).unwrap_or_default(),
                n.notice_ref,
                n.requesting_bureau,
                n.subject
                    .as_ref()
                    .map(|s| format!(": {} {}", s.family_name, s.given_names.join(" ")))
                    .unwrap_or_default()
            ),
        ),
        Some(Body::Diffusion(d)) => {
            let to = if d.addressees.is_empty() {
                "all".to_owned()
            } else {
                d.addressees.join(", ")
            };
            (
                "diffusion",
                format!("{} to {to}: {}\n{}", d.reference, d.subject_line, d.body),
            )
        }
        Some(Body::Text(t)) => ("message", format!("{}: {}", t.subject_line, t.body)),
        Some(Body::Request(r)) => ("request", format!("{} {:?}", r.service, r.params)),
        Some(Body::Response(r)) => (
            "response",
            format!(
                "{} {} {:?} {}",
                r.service,
                enum_name("status", i64::from(r.status)).unwrap_or_default(),
                r.fields,
                r.detail
            ),
        ),
        Some(Body::DeliveryReport(r)) => (
            "delivery-report",
            format!("{} delivered to {}", m.correlation_id, r.delivered_to),
        ),
        Some(Body::NonDeliveryReport(r)) => (
            "non-delivery-report",
            format!(
                "{} not delivered: {} ({}, reported by {})",
                m.correlation_id,
                enum_name("reason", i64::from(r.reason)).unwrap_or_default(),
                r.detail,
                r.reported_by
            ),
        ),
        Some(Body::HitNotification(h)) => ("hit-notification", hit(h)),
        // Issue 14, item 4: a sealed body this node could not open, and why.
        None if m.sealed => (
            "sealed message",
            format!("cannot be read: {}", m.seal_error),
        ),
        None => ("?", String::new()),
    };
    // Sealed end to end by its origin: only its recipients could read it on the way.
    let kind = match (m.sealed, m.body.is_some()) {
        (true, true) => format!("sealed {kind}"),
        _ => kind.to_owned(),
    };
    let release = m
        .release_to
        .as_ref()
        .map(|r| format!(" REL TO {}", bureau::release_words(r)))
        .unwrap_or_default();
    format!(
        "#{} {} {} {} from {} to {} id {}{release}\n    {}",
        m.seq,
        local_from_ms(m.created_at_ms),
        precedence,
        kind,
        m.origin,
        destination(&m.destination),
        m.message_id,
        detail.replace('\n', "\n    ")
    )
}

/// A hit notification for people: who asked (and from which terminal), when in local time,
/// which record, what matched and why.
fn hit(h: &pb::HitNotification) -> String {
    let pairs = |map: &std::collections::BTreeMap<String, String>| {
        map.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let by = match h.terminal.is_empty() {
        true => h.requester.clone(),
        false => format!("{} (terminal {})", h.requester, h.terminal),
    };
    let mut text = format!(
        "{} hit on your {} record {} ({})\nasked by: {by}\nasked at: {}\nmatched: {}\nquery: {}",
        h.service,
        h.database,
        h.record_key,
        h.record,
        local_from_ms(h.requested_at_ms),
        pairs(&h.matched),
        pairs(&h.query),
    );
    if !h.purpose.is_empty() {
        text.push_str(&format!("\npurpose: {}", h.purpose));
    }
    text
}
