//! Asking a running node to put its config file in force again (issue 15, item 3): the
//! handle through which the API (`bluehelm reload`) and `bluehelm run`'s SIGHUP ask, and
//! what the node answers. The node's reload task (`node/reload.rs`) does the work, one
//! reload at a time; this module only carries the request and the answer.

use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use super::change::{ConfigChange, NeedsRestart};
use super::ConfigError;

/// Reloads asked for and not yet begun; more wait in the callers' `send`.
const WAITING_RELOADS: usize = 4;

/// One request to reload, with the way back for its outcome.
pub struct ReloadRequest {
    pub reply: oneshot::Sender<Result<Reloaded, ReloadError>>,
}

/// Asks the node's reload task to read the config file again. Cloning it is cheap.
#[derive(Clone)]
pub struct ReloadHandle {
    requests: mpsc::Sender<ReloadRequest>,
}

impl ReloadHandle {
    /// A handle, and the requests it sends, for the node's reload task.
    pub fn channel() -> (Self, mpsc::Receiver<ReloadRequest>) {
        let (requests, received) = mpsc::channel(WAITING_RELOADS);
        (Self { requests }, received)
    }

    /// Reads the node's config file again and puts what changed in force; or says why not,
    /// the config in force staying as it was.
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(ReloadRequest { reply })
            .await
            .map_err(|_| ReloadError::Stopped)?;
        answer.await.map_err(|_| ReloadError::Stopped)?
    }
}

/// A reload done: which file was read and what changed (nothing, if it was the same).
#[derive(Debug, Clone)]
pub struct Reloaded {
    pub config: PathBuf,
    pub change: ConfigChange,
}

/// Why a reload did not put the new config in force. All but [`ReloadError::Tls`] leave the
/// config in force exactly as it was.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// In-process nodes built from text (tests, `bluehelm demo`) have no file.
    #[error("this node was not started from a config file: there is nothing to read again")]
    NoFile,
    /// The file cannot be read, parsed or validated (the source names the key).
    #[error("the new config is refused; the config in force stays")]
    Config(#[source] ConfigError),
    /// Keys changed that only a restart applies.
    #[error(transparent)]
    NeedsRestart(#[from] NeedsRestart),
    /// The checks `bluehelm run` makes before it starts (certificate, key, CA, CRL) failed.
    #[error("the new config fails the checks a start makes; the config in force stays")]
    Checks(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The new config is in force, but new TLS settings could not be built from its files:
    /// links keep the certificate and CRL they had.
    #[error(
        "the new config is in force, but its certificate, key, CA or CRL could not be put in force; links keep the previous ones"
    )]
    Tls(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The node stopped before it could answer.
    #[error("the node is stopping")]
    Stopped,
}
