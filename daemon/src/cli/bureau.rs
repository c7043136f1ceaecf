//! What the bureau commands (`send`, `inbox`, `request`, `status`) share: finding the node's
//! API (its socket, or its terminal listener with `--api`), connecting, exit codes, and
//! `--json` output of API messages.
//!
//! Exit codes (docs/bureau-guide.md): 0 ok; 1 input error; 2 usage error (from the argument
//! parser); 3 node unreachable; 4 timeout; 5 refused by the node; 6 not delivered or the
//! service answered with an error; 7 node failure.

use std::path::PathBuf;
use std::process::ExitCode;

use super::out::OutputError;
use bluehelm::api::client::{self, TerminalConnectError};
use bluehelm::api::pb::bureau_client::BureauClient;
use bluehelm::NodeConfig;
use bluehelm_pki::{NodeCredentials, TrustStore};
use tonic::transport::Channel;

/// How a bureau command ended; each has its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Input = 1,
    Unreachable = 3,
    Timeout = 4,
    Refused = 5,
    NotDelivered = 6,
    NodeFailure = 7,
    /// `status`: a configured peer is down, a queue waits too long, or the node is not
    /// ready (issue 15).
    Unhealthy = 8,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// A failure: one line on stderr and an exit code.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

pub fn fail(exit: Exit, message: impl Into<String>) -> Failure {
    Failure {
        exit,
        message: message.into(),
    }
}

pub fn input(message: impl Into<String>) -> Failure {
    fail(Exit::Input, message)
}

impl From<OutputError> for Failure {
    fn from(err: OutputError) -> Self {
        match err {
            // The reader has gone (`| head`): the command stops quietly, exit 0.
            OutputError::Closed => fail(Exit::Ok, ""),
            OutputError::Io(e) => input(format!("cannot write to standard output: {e}")),
        }
    }
}

/// Prints the failure as one line and returns its exit code.
pub fn finish(result: Result<(), Failure>) -> anyhow::Result<ExitCode> {
    match result {
        Ok(()) => Ok(Exit::Ok.into()),
        // Stopped early without an error (a closed output): nothing to say.
        Err(Failure { exit: Exit::Ok, .. }) => Ok(Exit::Ok.into()),
        Err(failure) => {
            // One line, whatever the detail holds.
            let line = failure.message.replace('\n', " ");
            eprintln!("error: {line}");
            Ok(failure.exit.into())
        }
    }
}

/// Which node to talk to: on its Unix socket (`--socket` or `--config`), or from a terminal
/// over TCP with mutual TLS (`--api` with `--cert`, `--key`, `--ca`).
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// The node's API socket.
    #[arg(long, value_name = "PATH", conflicts_with = "config")]
    pub socket: Option<PathBuf>,
    /// The node's config file: its `api_socket` (default `<storage>/api.sock`) is used.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The node's terminal listener (its `terminal_listen`), as HOST:PORT or
    /// https://HOST:PORT: connect as a terminal with mutual TLS. Needs --cert, --key, --ca.
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["socket", "config"],
        requires_all = ["cert", "key", "ca"])]
    pub api: Option<String>,
    /// With --api: the terminal's certificate (`bluehelm pki issue --role terminal`).
    #[arg(long, value_name = "FILE", requires = "api")]
    pub cert: Option<PathBuf>,
    /// With --api: the terminal's key (mode 0600).
    #[arg(long, value_name = "FILE", requires = "api")]
    pub key: Option<PathBuf>,
    /// With --api: the network CA certificate.
    #[arg(long, value_name = "FILE", requires = "api")]
    pub ca: Option<PathBuf>,
    /// With --api, optional: the network's CRL, to refuse a node whose certificate is revoked.
    #[arg(long, value_name = "FILE", requires = "api")]
    pub crl: Option<PathBuf>,
}

impl NodeArgs {
    pub fn socket_path(&self) -> Result<PathBuf, Failure> {
        match (&self.socket, &self.config) {
            (Some(socket), _) => Ok(socket.clone()),
            (None, Some(config)) => NodeConfig::load(config)
                .map(|c| c.api_socket)
                .map_err(|e| input(source_chain(&e))),
            (None, None) => Err(input(
                "which node? give --socket PATH or --config node.toml",
            )),
        }
    }

    pub async fn connect(&self) -> Result<BureauClient<Channel>, Failure> {
        if let Some(address) = &self.api {
            return self.connect_terminal(address).await;
        }
        let path = self.socket_path()?;
        client::connect(&path).await.map_err(|e| {
            fail(
                Exit::Unreachable,
                format!(
                    "cannot reach the node at {}: {}",
                    path.display(),
                    source_chain(&e)
                ),
            )
        })
    }
}

impl NodeArgs {
    async fn connect_terminal(&self, address: &str) -> Result<BureauClient<Channel>, Failure> {
        let address = address.strip_prefix("https://").unwrap_or(address);
        let address = address.strip_suffix('/').unwrap_or(address);
        if address.contains('/') {
            return Err(input(format!(
                "--api {address}: give HOST:PORT or https://HOST:PORT"
            )));
        }
        let (Some(cert), Some(key), Some(ca)) = (&self.cert, &self.key, &self.ca) else {
            return Err(input("--api needs --cert, --key and --ca"));
        };
        let creds = NodeCredentials::load(cert, key).map_err(|e| {
            input(format!(
                "terminal certificate --cert/--key: {}",
                source_chain(&e)
            ))
        })?;
        let trust = TrustStore::load(ca, self.crl.as_deref())
            .map_err(|e| input(format!("--ca/--crl: {}", source_chain(&e))))?;
        client::connect_terminal(address, &creds, &trust)
            .await
            .map_err(|e| match e {
                TerminalConnectError::Tls(e) => input(source_chain(&e)),
                e @ TerminalConnectError::Transport { .. } => {
                    fail(Exit::Unreachable, source_chain(&e))
                }
            })
    }
}

fn source_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        // Our own errors say only their part (issue 10), but tonic's transport errors
        // repeat their source's text.
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// A refusal or error from the node, with the exit code scripts branch on.
pub fn from_status(status: tonic::Status) -> Failure {
    use tonic::Code;
    let exit = match status.code() {
        Code::InvalidArgument | Code::OutOfRange => Exit::Input,
        Code::Unavailable | Code::Cancelled => Exit::Unreachable,
        Code::DeadlineExceeded => Exit::Timeout,
        Code::FailedPrecondition
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::ResourceExhausted => Exit::Refused,
        Code::NotFound | Code::Aborted => Exit::NotDelivered,
        _ => Exit::NodeFailure,
    };
    let message = match exit {
        Exit::Unreachable => format!("lost the node: {}", status.message()),
        _ => status.message().to_owned(),
    };
    fail(exit, message)
}

/// Runs a bureau command's future on a small runtime.
pub fn block_on<F>(future: F) -> anyhow::Result<ExitCode>
where
    F: std::future::Future<Output = Result<(), Failure>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    finish(runtime.block_on(future))
}

/// An API message as JSON for scripts (shape documented in docs/bureau-guide.md): enum
/// numbers become their lower-case names, a destination is `{"node": "ncb.fr"}` (its oneof
/// `target` lifted), and bytes (signatures, certificates, attachment contents) are left out
/// or summarised.
pub fn to_json(message: &impl serde::Serialize) -> serde_json::Value {
    let mut value = serde_json::to_value(message).unwrap_or(serde_json::Value::Null);
    tidy(&mut value, None);
    value
}

fn tidy(value: &mut serde_json::Value, key: Option<&str>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            map.remove("signed");
            if let Some(Value::Object(destination)) = map.get_mut("destination") {
                if let Some(Value::Object(target)) = destination.remove("target") {
                    *destination = target;
                }
            }
            // A hit notification's request id is bytes on the wire; scripts get the same
            // 32 hexadecimal digits as every other message id.
            if let Some(Value::Array(bytes)) = map.get("request_id") {
                let hex: Option<String> = bytes
                    .iter()
                    .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .map(|b| b.map(|b| format!("{b:02x}")))
                    .collect();
                if let Some(hex) = hex {
                    map.insert("request_id".into(), Value::String(hex));
                }
            }
            if let Some(Value::Array(content)) = map.get("content") {
                let len = content.len();
                map.insert("content_bytes".into(), len.into());
                map.remove("content");
            }
            for (k, v) in map.iter_mut() {
                tidy(v, Some(k.as_str()));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| tidy(v, key)),
        Value::Number(n) => {
            if let (Some(key), Some(number)) = (key, n.as_i64()) {
                if let Some(name) = enum_name(key, number) {
                    *value = Value::String(name);
                }
            }
        }
        _ => {}
    }
}

/// A release marking as people and `--release-to` write it: `FR,KE,UNMISS,ncb`.
pub fn release_words(list: &bluehelm::api::pb::ReleaseList) -> String {
    let words: Vec<&str> = (list.countries.iter())
        .chain(&list.missions)
        .chain(&list.roles)
        .map(String::as_str)
        .collect();
    words.join(",")
}

/// The lower-case name of an enum field's value (`PRECEDENCE_FLASH` -> "flash").
pub fn enum_name(field: &str, number: i64) -> Option<String> {
    use bluehelm::api::pb;
    let number = i32::try_from(number).ok()?;
    let (full, prefix) = match field {
        "precedence" => (
            pb::Precedence::try_from(number).ok()?.as_str_name(),
            "PRECEDENCE_",
        ),
        "notice_type" => (
            pb::NoticeType::try_from(number).ok()?.as_str_name(),
            "NOTICE_TYPE_",
        ),
        "lifecycle" => (
            pb::NoticeLifecycle::try_from(number).ok()?.as_str_name(),
            "NOTICE_LIFECYCLE_",
        ),
        "status" => {
            // `status` is a ResponseStatus in responses and a DeliveryStatus in states;
            // the caller of `to_json` gets the response kind, states are printed by hand.
            (
                pb::ResponseStatus::try_from(number).ok()?.as_str_name(),
                "RESPONSE_STATUS_",
            )
        }
        "reason" | "failure_reason" => (
            pb::NonDeliveryReason::try_from(number).ok()?.as_str_name(),
            "NON_DELIVERY_REASON_",
        ),
        _ => return None,
    };
    Some(
        full.strip_prefix(prefix)
            .unwrap_or(full)
            .to_ascii_lowercase()
            .replace('_', "-"),
    )
}

/// The wire number of an enum value a person typed ("red", "un-special", "FLASH").
pub fn enum_number(
    what: &str,
    prefix: &str,
    text: &str,
    from_name: impl Fn(&str) -> Option<i32>,
    names: &[&str],
) -> Result<i32, Failure> {
    let wire = format!("{prefix}{}", text.to_ascii_uppercase().replace('-', "_"));
    match from_name(&wire) {
        Some(n) if n != 0 => Ok(n),
        _ => Err(input(format!(
            "unknown {what} {text:?}; expected one of: {}",
            names.join(", ")
        ))),
    }
}

pub fn precedence(text: &str) -> Result<i32, Failure> {
    use bluehelm::api::pb::Precedence;
    enum_number(
        "precedence",
        "PRECEDENCE_",
        text,
        |n| Precedence::from_str_name(n).map(|p| p as i32),
        &["flash", "immediate", "priority", "routine"],
    )
}
