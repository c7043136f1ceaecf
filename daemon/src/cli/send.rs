//! `bluehelm send notice|diffusion|message`: fields from flags or from a JSON file.
//!
//! The JSON file holds the envelope fields and one body object named after the kind:
//! `{"to": "gs", "precedence": "immediate", "notice": {"notice_ref": "...", ...}}`
//! (docs/bureau-guide.md). Unknown keys are refused, so a typo is never silently dropped.

use std::path::PathBuf;
use std::process::ExitCode;

use bluehelm::api::pb;
use bluehelm_proto::{Destination, NodeId, ReleaseList};
use serde::Deserialize;

use super::bureau::{self, enum_number, input, Failure, NodeArgs};
use super::out::outln;

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    #[command(subcommand)]
    pub kind: SendKind,
}

#[derive(Debug, clap::Subcommand)]
pub enum SendKind {
    /// A notice, or a step in its lifecycle (requested, updated, cancelled).
    #[command(
        after_help = "Example:\n  bluehelm send notice --config ncb.fr.toml --to gs --ref A-1234/5-2026 --type red --family-name DOE --given-name John --offence \"armed robbery\" --legal-basis \"warrant 2026/17\""
    )]
    Notice(NoticeArgs),
    /// A diffusion: a direct alert to chosen bureaus (or all).
    #[command(
        after_help = "Example:\n  bluehelm send diffusion --config ncb.fr.toml --to group:all-ncb --ref D-8/2026 --subject-line \"Border alert\" --body \"Please check border crossings\""
    )]
    Diffusion(DiffusionArgs),
    /// A free-text message.
    #[command(
        after_help = "Example:\n  bluehelm send message --config ncb.fr.toml --to mission.unmiss --subject-line Liaison --body \"Call us at 14:00 UTC\""
    )]
    Message(MessageArgs),
}

/// What every message has.
#[derive(Debug, clap::Args)]
pub struct Common {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Where it goes: a node id (`ncb.ke`), `group:NAME` or `node:ID`.
    #[arg(long)]
    pub to: Option<String>,
    /// flash, immediate, priority or routine (default).
    #[arg(long)]
    pub precedence: Option<String>,
    /// How long the network may try to deliver it, seconds (default 7 days).
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<u32>,
    /// Ask for a delivery report.
    #[arg(long)]
    pub report: bool,
    /// The message this one follows up (its id).
    #[arg(long, value_name = "MESSAGE_ID")]
    pub correlation: Option<String>,
    /// Who may see it ("REL TO"): countries (FR), mission codes (UNMISS) and roles (ncb,
    /// mission, hub), comma-separated, e.g. `FR,KE,UNMISS`. Absent: the whole network.
    #[arg(long = "release-to", value_name = "LIST")]
    pub release_to: Option<String>,
    /// Read the message from this JSON file; flags given as well override its fields.
    #[arg(long = "json-file", value_name = "FILE")]
    pub json_file: Option<PathBuf>,
    /// Print the result as JSON, for scripts (like every command's `--json`).
    #[arg(long)]
    pub json: bool,
    /// Seal the body end to end: encrypt it to its recipients (the destination node, or the
    /// members of the destination group as this node knows them), so that relays, gs
    /// included, route it without reading it. Diffusions and messages only; notices stay
    /// readable by gs, which reviews them.
    #[arg(long)]
    pub seal: bool,
}

/// The person concerned.
#[derive(Debug, Default, clap::Args)]
pub struct SubjectArgs {
    /// Family name of the person concerned, e.g. DOE.
    #[arg(long)]
    pub family_name: Option<String>,
    /// Repeat for several given names, in order.
    #[arg(long)]
    pub given_name: Vec<String>,
    /// YYYY-MM-DD, or YYYY-MM or YYYY when only those are known; not in the future.
    #[arg(long)]
    pub birth_date: Option<String>,
    /// ISO 3166-1 alpha-2 code; repeat for several.
    #[arg(long)]
    pub nationality: Vec<String>,
    /// An identity document as KIND:NUMBER:COUNTRY, e.g. passport:X1234567:FR.
    #[arg(long)]
    pub document: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct NoticeArgs {
    #[command(flatten)]
    pub common: Common,
    /// The notice reference, e.g. A-1234/5-2026.
    #[arg(long = "ref")]
    pub notice_ref: Option<String>,
    /// red, yellow, blue, black, green, orange, purple or un-special.
    #[arg(long = "type")]
    pub notice_type: Option<String>,
    /// requested (default), published, updated or cancelled.
    #[arg(long)]
    pub lifecycle: Option<String>,
    /// The requesting bureau (default: this node).
    #[arg(long)]
    pub bureau: Option<String>,
    #[command(flatten)]
    pub subject: SubjectArgs,
    /// What the person is wanted for, e.g. "armed robbery".
    #[arg(long)]
    pub offence: Option<String>,
    /// The arrest warrant or court decision the notice rests on.
    #[arg(long)]
    pub legal_basis: Option<String>,
    /// Free text, e.g. the reason for an update or a cancellation.
    #[arg(long)]
    pub remarks: Option<String>,
    /// The last day the notice is valid, YYYY-MM-DD (UTC); default: until cancelled.
    #[arg(long, value_name = "DATE")]
    pub valid_until: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DiffusionArgs {
    #[command(flatten)]
    pub common: Common,
    /// The bureau's reference.
    #[arg(long = "ref")]
    pub reference: Option<String>,
    /// One line saying what it is about.
    #[arg(long)]
    pub subject_line: Option<String>,
    /// The diffusion's text.
    #[arg(long)]
    pub body: Option<String>,
    /// A bureau it is addressed to; repeat. None: all bureaus.
    #[arg(long)]
    pub addressee: Vec<String>,
    #[command(flatten)]
    pub subject: SubjectArgs,
}

#[derive(Debug, clap::Args)]
pub struct MessageArgs {
    #[command(flatten)]
    pub common: Common,
    /// One line saying what it is about.
    #[arg(long)]
    pub subject_line: Option<String>,
    /// The message's text.
    #[arg(long)]
    pub body: Option<String>,
}

/// The JSON file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMessage {
    to: Option<String>,
    precedence: Option<String>,
    ttl_seconds: Option<u32>,
    #[serde(default)]
    report: bool,
    correlation_id: Option<String>,
    /// As `--release-to`: "FR,KE,UNMISS".
    release_to: Option<String>,
    notice: Option<FileNotice>,
    diffusion: Option<FileDiffusion>,
    message: Option<FileText>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNotice {
    notice_ref: Option<String>,
    notice_type: Option<String>,
    lifecycle: Option<String>,
    requesting_bureau: Option<String>,
    subject: Option<FileSubject>,
    #[serde(default)]
    offence_summary: String,
    #[serde(default)]
    legal_basis: String,
    #[serde(default)]
    remarks: String,
    #[serde(default)]
    valid_until: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDiffusion {
    reference: Option<String>,
    subject_line: Option<String>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    addressees: Vec<String>,
    subject: Option<FileSubject>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileText {
    #[serde(default)]
    subject_line: String,
    #[serde(default)]
    body: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSubject {
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    given_names: Vec<String>,
    #[serde(default)]
    date_of_birth: String,
    #[serde(default)]
    place_of_birth: String,
    #[serde(default)]
    nationalities: Vec<String>,
    #[serde(default)]
    sex: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    distinguishing_marks: String,
    #[serde(default)]
    documents: Vec<FileDocument>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDocument {
    kind: String,
    number: String,
    issuing_country: String,
}

pub fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    bureau::block_on(async move {
        let (common, request) = build(args)?;
        let mut client = common.node.connect().await?;
        let response = match common.seal {
            true => client.submit_sealed(request).await,
            false => client.submit(request).await,
        }
        .map_err(bureau::from_status)?
        .into_inner();
        if common.json {
            outln!(
                "{}",
                serde_json::json!({ "message_id": response.message_id })
            )?;
        } else {
            outln!("{}", response.message_id)?;
        }
        Ok(())
    })
}

fn read_file(path: &Option<PathBuf>) -> Result<FileMessage, Failure> {
    let Some(path) = path else {
        return Ok(FileMessage::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| input(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| input(format!("malformed JSON in {}: {e}", path.display())))
}

fn required(value: Option<String>, what: &str) -> Result<String, Failure> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(input(format!("missing field: {what}"))),
    }
}

fn node_id(text: &str, what: &str) -> Result<String, Failure> {
    text.parse::<NodeId>()
        .map(|n| n.to_string())
        .map_err(|e| input(format!("{what}: {e}")))
}

/// The request for `Submit`, checked as far as the CLI can without the node.
fn build(args: SendArgs) -> Result<(Common, pb::SubmitRequest), Failure> {
    use pb::submit_request::Body;
    let (common, file, body) = match args.kind {
        SendKind::Notice(a) => {
            let file = read_file(&a.common.json_file)?;
            let body = Body::Notice(notice(&file, &a)?);
            (a.common, file, body)
        }
        SendKind::Diffusion(a) => {
            let file = read_file(&a.common.json_file)?;
            let body = Body::Diffusion(diffusion(&file, &a)?);
            (a.common, file, body)
        }
        SendKind::Message(a) => {
            let file = read_file(&a.common.json_file)?;
            let body = Body::Text(text(&file, &a)?);
            (a.common, file, body)
        }
    };
    let to = required(
        common.to.clone().or(file.to),
        "--to (where the message goes)",
    )?;
    let destination = to
        .parse::<Destination>()
        .map_err(|e| input(format!("--to {to:?}: {e}")))?;
    let precedence = common
        .precedence
        .clone()
        .or(file.precedence)
        .unwrap_or_else(|| "routine".into());
    let request = pb::SubmitRequest {
        destination: Some(wire_destination(&destination)),
        precedence: bureau::precedence(&precedence)?,
        ttl_seconds: common.ttl.or(file.ttl_seconds).unwrap_or(0),
        want_delivery_report: common.report || file.report,
        release_to: common
            .release_to
            .clone()
            .or(file.release_to)
            .map(|list| release_list(&list))
            .transpose()?,
        correlation_id: common
            .correlation
            .clone()
            .or(file.correlation_id)
            .unwrap_or_default(),
        body: Some(body),
    };
    Ok((common, request))
}

/// `--release-to FR,KE,UNMISS` in wire form.
fn release_list(text: &str) -> Result<pb::ReleaseList, Failure> {
    let list: ReleaseList = text
        .parse()
        .map_err(|e| input(format!("--release-to {text:?}: {e}")))?;
    Ok(bluehelm::api::release_list(&list))
}

fn wire_destination(destination: &Destination) -> pb::Destination {
    use pb::destination::Target;
    let target = match destination {
        Destination::Node(n) => Target::Node(n.to_string()),
        Destination::Service(s) => Target::Service(s.to_string()),
        Destination::Group(g) => Target::Group(g.to_string()),
    };
    pb::Destination {
        target: Some(target),
    }
}

/// The body object of a JSON file, required when a file is given.
fn file_body<'a, T: Default>(
    common: &Common,
    body: &'a Option<T>,
    key: &str,
) -> Result<Option<&'a T>, Failure> {
    match (&common.json_file, body) {
        (Some(path), None) => Err(input(format!(
            "missing field: {key} (the JSON file {} needs a \"{key}\" object)",
            path.display()
        ))),
        (_, body) => Ok(body.as_ref()),
    }
}

fn notice(file: &FileMessage, a: &NoticeArgs) -> Result<pb::Notice, Failure> {
    let empty = FileNotice::default();
    let f = file_body(&a.common, &file.notice, "notice")?.unwrap_or(&empty);
    let notice_ref = required(
        a.notice_ref.clone().or(f.notice_ref.clone()),
        "--ref (notice reference)",
    )?;
    let notice_type = required(
        a.notice_type.clone().or(f.notice_type.clone()),
        "--type (notice type: red, yellow, ...)",
    )?;
    let notice_type = enum_number(
        "notice type",
        "NOTICE_TYPE_",
        &notice_type,
        |n| pb::NoticeType::from_str_name(n).map(|t| t as i32),
        &[
            "red",
            "yellow",
            "blue",
            "black",
            "green",
            "orange",
            "purple",
            "un-special",
        ],
    )?;
    let lifecycle = a
        .lifecycle
        .clone()
        .or(f.lifecycle.clone())
        .unwrap_or_else(|| "requested".into());
    let lifecycle = enum_number(
        "notice lifecycle",
        "NOTICE_LIFECYCLE_",
        &lifecycle,
        |n| pb::NoticeLifecycle::from_str_name(n).map(|l| l as i32),
        &["requested", "published", "updated", "cancelled"],
    )?;
    let requesting_bureau = match a.bureau.clone().or(f.requesting_bureau.clone()) {
        Some(b) => node_id(&b, "--bureau")?,
        None => String::new(),
    };
    Ok(pb::Notice {
        notice_ref,
        notice_type,
        lifecycle,
        requesting_bureau,
        subject: subject(&a.subject, f.subject.as_ref())?,
        offence_summary: a
            .offence
            .clone()
            .unwrap_or_else(|| f.offence_summary.clone()),
        legal_basis: a
            .legal_basis
            .clone()
            .unwrap_or_else(|| f.legal_basis.clone()),
        remarks: a.remarks.clone().unwrap_or_else(|| f.remarks.clone()),
        request: None,
        valid_until: a
            .valid_until
            .clone()
            .unwrap_or_else(|| f.valid_until.clone()),
    })
}

fn diffusion(file: &FileMessage, a: &DiffusionArgs) -> Result<pb::Diffusion, Failure> {
    let empty = FileDiffusion::default();
    let f = file_body(&a.common, &file.diffusion, "diffusion")?.unwrap_or(&empty);
    let addressees = match a.addressee.is_empty() {
        true => f.addressees.clone(),
        false => a.addressee.clone(),
    };
    let addressees = addressees
        .iter()
        .map(|n| node_id(n, "addressee"))
        .collect::<Result<_, _>>()?;
    Ok(pb::Diffusion {
        reference: required(
            a.reference.clone().or(f.reference.clone()),
            "--ref (diffusion reference)",
        )?,
        subject_line: required(
            a.subject_line.clone().or(f.subject_line.clone()),
            "--subject-line",
        )?,
        body: a.body.clone().unwrap_or_else(|| f.body.clone()),
        addressees,
        subject: subject(&a.subject, f.subject.as_ref())?,
    })
}

fn text(file: &FileMessage, a: &MessageArgs) -> Result<pb::TextMessage, Failure> {
    let empty = FileText::default();
    let f = file_body(&a.common, &file.message, "message")?.unwrap_or(&empty);
    let subject_line = a
        .subject_line
        .clone()
        .unwrap_or_else(|| f.subject_line.clone());
    let body = a.body.clone().unwrap_or_else(|| f.body.clone());
    if subject_line.is_empty() && body.is_empty() {
        return Err(input("missing field: --subject-line or --body"));
    }
    Ok(pb::TextMessage {
        subject_line,
        body,
        attachments: vec![],
    })
}

/// The subject from flags, or else from the file; none when neither says anything.
fn subject(
    flags: &SubjectArgs,
    file: Option<&FileSubject>,
) -> Result<Option<pb::Subject>, Failure> {
    let from_flags = flags.family_name.is_some()
        || !flags.given_name.is_empty()
        || flags.birth_date.is_some()
        || !flags.nationality.is_empty()
        || !flags.document.is_empty();
    if from_flags {
        let documents = flags
            .document
            .iter()
            .map(|d| match d.splitn(3, ':').collect::<Vec<_>>()[..] {
                [kind, number, country] if !kind.is_empty() && !number.is_empty() => {
                    Ok(pb::IdentityDocument {
                        kind: kind.into(),
                        number: number.into(),
                        issuing_country: country.into(),
                    })
                }
                _ => Err(input(format!(
                    "--document {d:?}: expected KIND:NUMBER:COUNTRY, e.g. passport:X1234567:FR"
                ))),
            })
            .collect::<Result<_, _>>()?;
        return Ok(Some(pb::Subject {
            family_name: flags.family_name.clone().unwrap_or_default(),
            given_names: flags.given_name.clone(),
            date_of_birth: flags.birth_date.clone().unwrap_or_default(),
            nationalities: flags.nationality.clone(),
            documents,
            ..Default::default()
        }));
    }
    Ok(file.map(|s| pb::Subject {
        family_name: s.family_name.clone(),
        given_names: s.given_names.clone(),
        date_of_birth: s.date_of_birth.clone(),
        place_of_birth: s.place_of_birth.clone(),
        nationalities: s.nationalities.clone(),
        sex: s.sex.clone(),
        aliases: s.aliases.clone(),
        distinguishing_marks: s.distinguishing_marks.clone(),
        documents: s
            .documents
            .iter()
            .map(|d| pb::IdentityDocument {
                kind: d.kind.clone(),
                number: d.number.clone(),
                issuing_country: d.issuing_country.clone(),
            })
            .collect(),
    }))
}
