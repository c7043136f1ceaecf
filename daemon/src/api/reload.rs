//! The `Reload` call (issue 15, item 3): the operator's way to SIGHUP a node, and its answer.
//! The work is the node's reload task's (`node/reload.rs`).

use tonic::Status;

use super::pb;
use crate::config::live::{ReloadError, ReloadHandle, Reloaded};

/// Asks the node to reload; what changed, or why the config in force stays.
pub(super) async fn reload(reloads: &ReloadHandle) -> Result<pb::ReloadResponse, Status> {
    reloads.reload().await.map(response).map_err(status)
}

fn response(done: Reloaded) -> pb::ReloadResponse {
    let names = |items: &[bluehelm_proto::NodeId]| items.iter().map(ToString::to_string).collect();
    let change = done.change;
    pb::ReloadResponse {
        config: done.config.display().to_string(),
        peers_added: names(&change.peers_added),
        peers_removed: names(&change.peers_removed),
        peers_readdressed: names(&change.peers_readdressed),
        groups_changed: change.groups.iter().map(ToString::to_string).collect(),
        keys_changed: change.keys.iter().map(|k| (*k).to_owned()).collect(),
        identity_changed: change.identity,
        trust_changed: change.trust,
    }
}

/// The error and its causes on one line, most general first: the operator reads the file
/// and key to fix at the end.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn status(err: ReloadError) -> Status {
    let message = chain(&err);
    match err {
        ReloadError::Config(_) | ReloadError::Checks(_) => Status::invalid_argument(message),
        ReloadError::NeedsRestart(_) | ReloadError::NoFile => Status::failed_precondition(message),
        ReloadError::Tls(_) => Status::internal(message),
        ReloadError::Stopped => Status::unavailable(message),
    }
}
