//! `bluehelm review list|show ID|approve ID|refuse ID --reason TEXT`: the reviewer's side
//! of the notice workflow, at the general secretariat (`gs`). See `api/review.rs`.

use std::process::ExitCode;

use bluehelm::api::pb;

use super::bureau::{self, enum_name, input, NodeArgs};
use super::out::outln;

#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    #[command(subcommand)]
    pub command: ReviewCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ReviewCommand {
    /// The notice requests awaiting review, oldest first.
    #[command(after_help = "Example:\n  bluehelm review list --config gs.toml --json")]
    List(ListArgs),
    /// One request awaiting review.
    #[command(after_help = "Example:\n  bluehelm review show ID --config gs.toml")]
    Show(IdArgs),
    /// Publish the request to every NCB and mission post.
    #[command(
        after_help = "Example:\n  bluehelm review approve ID --config gs.toml --remarks \"Approved by the GS\""
    )]
    Approve(ApproveArgs),
    /// Refuse the request; the reason goes back to the requesting bureau.
    #[command(
        after_help = "Example:\n  bluehelm review refuse ID --config gs.toml --reason \"Insufficient legal basis\""
    )]
    Refuse(RefuseArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct IdArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The request's message id (from `bluehelm review list`).
    pub id: String,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The request's message id.
    pub id: String,
    /// Reviewer's remarks published with the notice (default: the bureau's).
    #[arg(long)]
    pub remarks: Option<String>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RefuseArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The request's message id.
    pub id: String,
    /// Why, sent to the requesting bureau.
    #[arg(long)]
    pub reason: String,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

fn line(item: &pb::ReviewItem) -> String {
    let Some(n) = &item.notice else {
        return format!("{} from {}", item.message_id, item.origin);
    };
    format!(
        "{}  {} {} notice {} from {}{}",
        item.message_id,
        enum_name("lifecycle", i64::from(n.lifecycle)).unwrap_or_default(),
        enum_name("notice_type", i64::from(n.notice_type)).unwrap_or_default(),
        n.notice_ref,
        item.origin,
        n.subject
            .as_ref()
            .map(|s| format!(": {} {}", s.family_name, s.given_names.join(" ")))
            .unwrap_or_default()
    )
}

/// Every field of a subject, one line each (empty ones left out).
fn subject_lines(s: &pb::Subject) -> Vec<String> {
    let mut out = vec![format!(
        "  subject:     {} {}",
        s.family_name,
        s.given_names.join(" ")
    )];
    let mut field = |name: &str, value: String| {
        if !value.is_empty() {
            out.push(format!("    {name:<21}{value}"));
        }
    };
    field("date of birth:", s.date_of_birth.clone());
    field("place of birth:", s.place_of_birth.clone());
    field("nationalities:", s.nationalities.join(", "));
    field("sex:", s.sex.clone());
    field("aliases:", s.aliases.join(", "));
    field("distinguishing marks:", s.distinguishing_marks.clone());
    for d in &s.documents {
        out.push(format!(
            "    document:            {} {} ({})",
            d.kind, d.number, d.issuing_country
        ));
    }
    out
}

/// Every field of a request (or of a publication, which carries the request's), one line
/// each.
pub fn request_lines(n: &pb::Notice) -> Vec<String> {
    let mut out = vec![format!("  requested by {}", n.requesting_bureau)];
    if let Some(subject) = &n.subject {
        out.extend(subject_lines(subject));
    }
    out.push(format!("  offence:     {}", n.offence_summary));
    out.push(format!("  legal basis: {}", n.legal_basis));
    out.push(format!(
        "  valid until: {}",
        if n.valid_until.is_empty() {
            "(until cancelled)"
        } else {
            &n.valid_until
        }
    ));
    if !n.remarks.is_empty() {
        out.push(format!("  remarks:     {}", n.remarks));
    }
    out
}

pub fn run(args: ReviewArgs) -> anyhow::Result<ExitCode> {
    bureau::block_on(async move {
        match args.command {
            ReviewCommand::List(a) => {
                let mut client = a.node.connect().await?;
                let list = client
                    .list_reviews(pb::ListReviewsRequest {})
                    .await
                    .map_err(bureau::from_status)?
                    .into_inner();
                if a.json {
                    outln!("{}", bureau::to_json(&list))?;
                } else if list.items.is_empty() {
                    outln!("no notice request awaiting review")?;
                } else {
                    for item in &list.items {
                        outln!("{}", line(item))?;
                    }
                }
            }
            ReviewCommand::Show(a) => {
                let mut client = a.node.connect().await?;
                let item = client
                    .show_review(pb::ReviewId { message_id: a.id })
                    .await
                    .map_err(bureau::from_status)?
                    .into_inner();
                if a.json {
                    outln!("{}", bureau::to_json(&item))?;
                } else {
                    outln!("{}", line(&item))?;
                    if let Some(n) = &item.notice {
                        for l in request_lines(n) {
                            outln!("{l}")?;
                        }
                    }
                }
            }
            ReviewCommand::Approve(a) => {
                let mut client = a.node.connect().await?;
                let answer = client
                    .approve_notice(pb::ApproveNoticeRequest {
                        message_id: a.id.clone(),
                        remarks: a.remarks.unwrap_or_default(),
                    })
                    .await
                    .map_err(bureau::from_status)?
                    .into_inner();
                if a.json {
                    outln!("{}", bureau::to_json(&answer))?;
                } else {
                    outln!(
                        "approved {}: published as {}",
                        a.id,
                        answer.published_ids.join(", ")
                    )?;
                }
            }
            ReviewCommand::Refuse(a) => {
                if a.reason.trim().is_empty() {
                    return Err(input("--reason is empty"));
                }
                let mut client = a.node.connect().await?;
                let answer = client
                    .refuse_notice(pb::RefuseNoticeRequest {
                        message_id: a.id.clone(),
                        reason: a.reason,
                    })
                    .await
                    .map_err(bureau::from_status)?
                    .into_inner();
                if a.json {
                    outln!("{}", bureau::to_json(&answer))?;
                } else {
                    outln!("refused {}: reason sent as {}", a.id, answer.reply_id)?;
                }
            }
        }
        Ok(())
    })
}
