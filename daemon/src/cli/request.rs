//! `bluehelm request SERVICE --param k=v ... [--timeout S] [--purpose TEXT]`: ask a service
//! and wait for its answer. The node checks the purpose (one line, at most 1024 bytes) and
//! refuses it with exit 1 and the field's name.

use std::collections::BTreeMap;
use std::process::ExitCode;

use bluehelm::api::pb;

use super::bureau::{self, enum_name, fail, input, Exit, NodeArgs};
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
        let call = pb::ServiceCall {
            service: args.service.clone(),
            params,
            timeout_seconds: args.timeout,
            ttl_seconds: args.ttl.unwrap_or(0),
            precedence: bureau::precedence(&args.precedence)?,
            purpose: args.purpose.clone().unwrap_or_default(),
            local_only: args.local,
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
