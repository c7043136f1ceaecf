//! `bluehelm notices list|show REF [--json]`: the node's notice register (issue 12, item 3),
//! at any node. See `api/notices.rs`.

use std::process::ExitCode;

use bluehelm::api::pb;
use bluehelm::human_time::local_from_ms;

use super::bureau::{self, enum_name, NodeArgs};
use super::out::outln;

#[derive(Debug, clap::Args)]
pub struct NoticesArgs {
    #[command(subcommand)]
    pub command: NoticesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum NoticesCommand {
    /// Every notice this node knows: reference, type, status, owner, validity, last change.
    #[command(after_help = "Example:\n  bluehelm notices list --config ncb.ke.toml --json")]
    List(ListArgs),
    /// One notice with every field of its last publication.
    #[command(after_help = "Example:\n  bluehelm notices show A-1234/5-2026 --config ncb.ke.toml")]
    Show(ShowArgs),
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
pub struct ShowArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The notice reference, e.g. A-1234/5-2026.
    #[arg(value_name = "REF")]
    pub notice_ref: String,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

fn status_name(entry: &pb::NoticeEntry) -> String {
    let name = pb::NoticeStatus::try_from(entry.status)
        .map(|s| s.as_str_name())
        .unwrap_or("NOTICE_STATUS_UNSPECIFIED");
    name.strip_prefix("NOTICE_STATUS_")
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// The entry as JSON: the API's fields with snake_case keys, enums by name, and the last
/// change as local ISO 8601 time beside its milliseconds.
fn json(entry: &pb::NoticeEntry) -> serde_json::Value {
    let mut value = bureau::to_json(entry);
    if let Some(map) = value.as_object_mut() {
        // `status` means a response status to the generic renderer: set by hand.
        map.insert("status".into(), status_name(entry).into());
        map.insert(
            "changed_at".into(),
            local_from_ms(entry.changed_at_ms).into(),
        );
    }
    value
}

fn line(entry: &pb::NoticeEntry) -> String {
    let valid = if entry.valid_until.is_empty() {
        "until cancelled".to_owned()
    } else {
        format!("valid until {}", entry.valid_until)
    };
    let release = entry
        .release_to
        .as_ref()
        .map(|r| format!("  REL TO {}", super::bureau::release_words(r)))
        .unwrap_or_default();
    format!(
        "{}  {} {}  owner {}  {}  changed {}{release}",
        entry.notice_ref,
        enum_name("notice_type", i64::from(entry.notice_type)).unwrap_or_default(),
        status_name(entry),
        entry.owner,
        valid,
        local_from_ms(entry.changed_at_ms)
    )
}

/// Every field of the publication's notice, one per line.
fn details(notice: &pb::Notice) -> Vec<String> {
    let lifecycle = enum_name("lifecycle", i64::from(notice.lifecycle)).unwrap_or_default();
    let mut out = vec![format!("  lifecycle:   {lifecycle}")];
    out.extend(super::review::request_lines(notice));
    out
}

pub fn run(args: NoticesArgs) -> anyhow::Result<ExitCode> {
    bureau::block_on(async move {
        match args.command {
            NoticesCommand::List(a) => {
                let mut client = a.node.connect().await?;
                let list = client
                    .list_notices(pb::ListNoticesRequest {})
                    .await
                    .map_err(bureau::from_status)?
                    .into_inner();
                if a.json {
                    let notices: Vec<_> = list.notices.iter().map(json).collect();
                    outln!("{}", serde_json::json!({ "notices": notices }))?;
                } else if list.notices.is_empty() {
                    outln!("no notice in this node's register")?;
                } else {
                    for entry in &list.notices {
                        outln!("{}", line(entry))?;
                    }
                }
            }
            NoticesCommand::Show(a) => {
                let mut client = a.node.connect().await?;
                let entry = client
                    .show_notice(pb::NoticeRef {
                        notice_ref: a.notice_ref,
                    })
                    .await
                    .map_err(bureau::from_status)?
                    .into_inner();
                if a.json {
                    outln!("{}", json(&entry))?;
                } else {
                    outln!("{}", line(&entry))?;
                    outln!("  last publication {}", entry.message_id)?;
                    if let Some(notice) = &entry.notice {
                        for l in details(notice) {
                            outln!("{l}")?;
                        }
                    }
                }
            }
        }
        Ok(())
    })
}
