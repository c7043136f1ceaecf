//! `bluehelm request SERVICE --param k=v ... [--timeout S] [--purpose TEXT] [--attach FILE]`:
//! ask a service and wait for its answer. The node checks the purpose (one line, at most 1024
//! bytes) and refuses it with exit 1 and the field's name. `--attach` sends one file with the
//! request, e.g. an ANSI/NIST-ITL record to `afis.check` (issue 13, item 6); it is checked
//! here (size, type) before anything is sent.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bluehelm::api::{pb, sha256_hex};
use bluehelm_proto::limits::MAX_REQUEST_ATTACHMENT_LEN;

use super::bureau::{self, enum_name, fail, input, Exit, Failure, NodeArgs};
use super::out::outln;

#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The service, e.g. sltd.check.
    pub service: String,
    /// A named argument, NAME=VALUE; repeat.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u32,
    /// Seconds the request may travel (default: the timeout).
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<u32>,
    /// flash, immediate (default), priority or routine.
    #[arg(long, default_value = "immediate")]
    pub precedence: String,
    /// Why you ask, e.g. "border check, case 2026/114": told to the owner of a record that
    /// matches. One line, at most 1024 bytes.
    #[arg(long, value_name = "TEXT")]
    pub purpose: Option<String>,
    /// At a node with a replica of the service's database: answer from the replica alone,
    /// without asking the hub.
    #[arg(long)]
    pub local: bool,
    /// A file to send with the request, e.g. an ANSI/NIST-ITL record (.an2, .eft, .nist) for
    /// afis.check. At most 3 MiB.
    #[arg(long, value_name = "FILE")]
    pub attach: Option<PathBuf>,
    /// The attached file's media type; by default from its name (.an2, .an2k, .eft, .nist:
    /// application/x-ansi-nist).
    #[arg(long, value_name = "TYPE", requires = "attach")]
    pub media_type: Option<String>,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: RequestArgs) -> anyhow::Result<ExitCode> {
    bureau::block_on(async move {
        let mut params = BTreeMap::new();
        for p in &args.params {
            match p.split_once('=') {
                Some((k, v)) if !k.is_empty() => {
                    params.insert(k.to_owned(), v.to_owned());
                }
                _ => return Err(input(format!("--param {p:?}: expected NAME=VALUE"))),
            }
        }
        if args.timeout == 0 {
            return Err(input("--timeout must be at least 1 second"));
        }
        let attachment = match &args.attach {
            Some(path) => Some(read_attachment(path, args.media_type.as_deref())?),
            None => None,
        };
        let sent_file = attachment
            .as_ref()
            .map(|a| (a.filename.clone(), a.content.len(), sha256_hex(&a.content)));
        let call = pb::ServiceCall {
            service: args.service.clone(),
            params,
            timeout_seconds: args.timeout,
            ttl_seconds: args.ttl.unwrap_or(0),
            precedence: bureau::precedence(&args.precedence)?,
            purpose: args.purpose.clone().unwrap_or_default(),
            local_only: args.local,
            attachment,
        };
        let mut client = args.node.connect().await?;
        let answer = client
            .request(call)
            .await
            .map_err(bureau::from_status)?
            .into_inner();
        let response = answer.response.clone().unwrap_or_default();
        let status = enum_name("status", i64::from(response.status)).unwrap_or_default();
        if args.json {
            outln!("{}", bureau::to_json(&answer))?;
        } else {
            if answer.answered_by == "replica" {
                outln!(
                    "{} from {}'s replica, {}",
                    status,
                    answer.responder,
                    answer.freshness
                )?;
            } else {
                outln!(
                    "{} from {} (request {})",
                    status,
                    answer.responder,
                    answer.request_id
                )?;
            }
            for (k, v) in &response.fields {
                outln!("  {k}: {v}")?;
            }
            if let Some((name, len, sha256)) = &sent_file {
                outln!("  file sent: {name}, {len} bytes, sha256 {sha256}")?;
            }
            if !response.detail.is_empty() {
                outln!("  {}", response.detail)?;
            }
            if let Some(replica) = answer.replica_response.as_ref().filter(|_| answer.differs) {
                let replica_status =
                    enum_name("status", i64::from(replica.status)).unwrap_or_default();
                outln!(
                    "  this node's replica said {replica_status} ({}); the hub's answer stands",
                    answer.freshness
                )?;
            }
        }
        if response.status == pb::ResponseStatus::Error as i32 {
            return Err(fail(
                Exit::NotDelivered,
                format!(
                    "{} answered with an error: {}",
                    args.service, response.detail
                ),
            ));
        }
        Ok(())
    })
}

/// The media type of ANSI/NIST-ITL files, which IANA has not registered: the `x-` name that
/// AFIS and livescan vendors use.
const ANSI_NIST: &str = "application/x-ansi-nist";

/// Reads `path` as a request's file: a regular file, not empty, at most
/// [`MAX_REQUEST_ATTACHMENT_LEN`] bytes (checked before reading, and the read is bounded in
/// case the file grows), with a media type given or known from its name. An ANSI/NIST-ITL
/// file must begin with its Type-1 record (`1.001:`), so a wrong file is caught here rather
/// than by the AFIS after a trip across the network.
fn read_attachment(path: &Path, media_type: Option<&str>) -> Result<pb::Attachment, Failure> {
    let shown = path.display();
    let limit = MAX_REQUEST_ATTACHMENT_LEN;
    let filename = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| input(format!("--attach {shown}: not a file name in UTF-8")))?
        .to_owned();
    let media_type = match media_type {
        Some(t) if !t.is_empty() => t.to_owned(),
        Some(_) => return Err(input("--media-type is empty")),
        None => media_type_of(&filename).ok_or_else(|| {
            input(format!(
                "--attach {shown}: cannot tell the media type from the name; give \
                 --media-type ({ANSI_NIST} for an ANSI/NIST-ITL file)"
            ))
        })?,
    };
    let file = std::fs::File::open(path)
        .map_err(|e| input(format!("--attach {shown}: cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| input(format!("--attach {shown}: cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(input(format!("--attach {shown}: not a regular file")));
    }
    let too_large = |len: u64| {
        input(format!(
            "--attach {shown}: {len} bytes, more than the limit of {limit} bytes (3 MiB) for \
             a file sent with a service request; nothing was sent"
        ))
    };
    if meta.len() > limit as u64 {
        return Err(too_large(meta.len()));
    }
    let mut content = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(limit));
    file.take(limit as u64 + 1)
        .read_to_end(&mut content)
        .map_err(|e| input(format!("--attach {shown}: cannot read: {e}")))?;
    if content.len() > limit {
        return Err(too_large(content.len() as u64));
    }
    if content.is_empty() {
        return Err(input(format!("--attach {shown}: the file is empty")));
    }
    if media_type == ANSI_NIST && !content.starts_with(b"1.001:") {
        return Err(input(format!(
            "--attach {shown}: not an ANSI/NIST-ITL file in the traditional encoding (it must \
             begin with the Type-1 record's field 1.001:); give --media-type if it is another \
             kind of file"
        )));
    }
    Ok(pb::Attachment {
        filename,
        media_type,
        content,
    })
}

/// The media type of the file names this command knows: those of ANSI/NIST-ITL
/// transactions (`.an2`, `.an2k`, and the FBI's `.eft` and `.ebts`, and `.nist`).
fn media_type_of(filename: &str) -> Option<String> {
    let (_, extension) = filename.rsplit_once('.')?;
    match extension.to_ascii_lowercase().as_str() {
        "an2" | "an2k" | "eft" | "ebts" | "nist" => Some(ANSI_NIST.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_nist_names_get_their_media_type_and_others_none() {
        assert_eq!(media_type_of("prints.AN2").as_deref(), Some(ANSI_NIST));
        assert_eq!(media_type_of("case.eft").as_deref(), Some(ANSI_NIST));
        assert_eq!(media_type_of("photo.jpg"), None);
        assert_eq!(media_type_of("noextension"), None);
    }

    #[test]
    fn attachment_is_refused_over_the_limit_when_empty_or_not_ansi_nist() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, content: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            path
        };
        let mut big = b"1.001:".to_vec();
        big.resize(MAX_REQUEST_ATTACHMENT_LEN + 1, b'x');
        let err = read_attachment(&write("big.an2", &big), None).unwrap_err();
        assert!(
            err.message.contains("more than the limit"),
            "{}",
            err.message
        );
        let err = read_attachment(&write("empty.an2", b""), None).unwrap_err();
        assert!(err.message.contains("empty"), "{}", err.message);
        let err = read_attachment(&write("fake.an2", b"GIF89a"), None).unwrap_err();
        assert!(
            err.message.contains("not an ANSI/NIST-ITL"),
            "{}",
            err.message
        );
        let err = read_attachment(&write("prints.bin", b"1.001:"), None).unwrap_err();
        assert!(err.message.contains("--media-type"), "{}", err.message);

        big.truncate(MAX_REQUEST_ATTACHMENT_LEN);
        let ok = read_attachment(&write("ok.an2", &big), None).unwrap();
        assert_eq!(
            (
                ok.filename.as_str(),
                ok.media_type.as_str(),
                ok.content.len()
            ),
            ("ok.an2", ANSI_NIST, MAX_REQUEST_ATTACHMENT_LEN)
        );
        let other = read_attachment(&write("x.bin", b"GIF89a"), Some("image/gif")).unwrap();
        assert_eq!(other.media_type, "image/gif");
    }
}
