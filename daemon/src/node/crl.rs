//! Revocation without a restart and without an operator at each node (issue 14, item 1).
//! The node's CRL task is the one place a CRL comes into force while the node runs, from
//! either of two sources:
//! - the CRL file: the task looks at it every 2 s (the first CRL, and isolated networks);
//! - a peer: a CRL sent in-band (`net/crl.rs`), verified with the CA, taken only if newer.
//!
//! Both go through `put_in_force` (`crl/put.rs`): the number is on disk before
//! the CRL is used (`trust.rs`), the CRL is used for new handshakes and envelope signers,
//! the links of peers it revokes are closed (TLS only checks certificates at the
//! handshake), and a newer CRL goes on to every peer linked then. A CRL that revokes this
//! node's own certificate stops it taking custody, and the task says so every minute.

mod put;

pub use put::{PutDone, PutError};

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bluehelm_pki::{CrlInfo, CrlNumber, NodeCredentials, TrustStore};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::trust::{crl_number_in_force, CrlGuard};
use crate::custody::{now_ms, Core};
use crate::engine::revocation::{judge, Offered};
use crate::net::crl::ReceivedCrl;
use crate::net::links::Links;

/// How often the CRL file is looked at.
const CRL_CHECK: Duration = Duration::from_secs(2);
/// How often an overdue CRL is complained about.
const OVERDUE_WARNING: Duration = Duration::from_secs(3600);
/// How often a node whose own certificate is revoked says so: loud, not a flood.
const REVOKED_ALARM: Duration = Duration::from_secs(60);

/// What the CRL task owns: the guard of the newest CRL number, and what a new CRL changes.
pub struct CrlTask {
    pub core: Arc<Core>,
    pub links: Arc<Links>,
    pub endpoint: quinn::Endpoint,
    pub creds: Arc<NodeCredentials>,
    pub guard: CrlGuard,
}

/// A reload's new certificate, key, CA or CRL (issue 15, item 3), put in force here like a
/// new CRL file, so that the two never race: the answer says how it went.
pub struct TlsReload {
    pub creds: Arc<NodeCredentials>,
    pub trust: TrustStore,
    pub reply: oneshot::Sender<Result<PutDone, PutError>>,
}

/// Runs the CRL task until the node stops.
pub async fn watch_crl(
    task: CrlTask,
    mut received: mpsc::Receiver<ReceivedCrl>,
    mut reloads: mpsc::Receiver<TlsReload>,
) {
    let mut path = task.core.config().tls.crl.clone();
    let mut task = Running {
        task,
        sends: JoinSet::new(),
    };
    let mut seen = modified(&path);
    let mut last_warning: Option<tokio::time::Instant> = None;
    let mut last_alarm: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(CRL_CHECK);
    loop {
        tokio::select! {
            _ = task.task.core.cancel().cancelled() => break,
            Some(crl) = received.recv() => {
                task.received(crl.from, &crl.der).await;
                let _ = crl.handled.send(());
                // A CRL put in force from a peer rewrote the file: nothing new to load.
                seen = modified(&path);
            }
            Some(reload) = reloads.recv() => {
                let _ = reload.reply.send(task.reloaded(reload.creds, reload.trust).await);
                // The reload may have named another CRL file; the one put in force is seen.
                path = task.task.core.config().tls.crl.clone();
                seen = modified(&path);
            }
            Some(_) = task.sends.join_next() => {}
            _ = tick.tick() => {
                let now = modified(&path);
                if now != seen {
                    seen = now;
                    task.reload_file().await;
                }
                let trust = task.task.core.verifier().trust_store();
                let overdue = trust.crl_next_update().is_some_and(|next| next < now_ms() / 1000);
                if overdue && last_warning.is_none_or(|at| at.elapsed() >= OVERDUE_WARNING) {
                    last_warning = Some(tokio::time::Instant::now());
                    tracing::warn!(crl = %path.display(),
                        "the CRL is past its next-update time: publish a new one (`bluehelm pki crl`)");
                }
                if let Some(why) = task.task.core.standing().revoked_because() {
                    if last_alarm.is_none_or(|at| at.elapsed() >= REVOKED_ALARM) {
                        last_alarm = Some(tokio::time::Instant::now());
                        tracing::error!(crl_number = %crl_number_in_force(&trust), "{why}");
                    }
                } else {
                    last_alarm = None;
                }
            }
        }
    }
    // Sends still under way end with the node's links.
    task.sends.shutdown().await;
}

/// The task while it runs: its state and the CRL sends it started.
struct Running {
    task: CrlTask,
    sends: JoinSet<()>,
}

impl Running {
    /// The CRL file changed: puts its CRL in force unless it is older.
    async fn reload_file(&mut self) {
        let files = &self.task.core.config().tls;
        let path = files.crl.clone();
        let loaded = TrustStore::load(&files.ca, Some(&files.crl));
        let result = match loaded {
            Ok(trust) => self.put_in_force(trust, None).await,
            Err(err) => Err(err.into()),
        };
        match result {
            Ok(done) => tracing::info!(crl = %path.display(), crl_number = %done.number,
                closed = done.closed, sent = done.sent, "new CRL in force"),
            Err(err) => {
                tracing::error!(crl = %path.display(), error = &err as &dyn std::error::Error,
                "new CRL refused; the previous one stays in force")
            }
        }
    }

    /// A reload's credentials and trust store: in force for new links (those up keep theirs),
    /// or, if refused, the previous ones stay.
    async fn reloaded(
        &mut self,
        creds: Arc<NodeCredentials>,
        trust: TrustStore,
    ) -> Result<PutDone, PutError> {
        let previous = std::mem::replace(&mut self.task.creds, creds);
        let result = self.put_in_force(trust, None).await;
        if result.is_err() {
            self.task.creds = previous;
        }
        result
    }

    /// A peer sent a CRL: verified with the CA, and put in force if newer. Anything else is
    /// refused with a log line and costs the link nothing.
    async fn received(&mut self, from: bluehelm_proto::NodeId, der: &[u8]) {
        let current = self.task.core.verifier().trust_store();
        let trust = match current.with_crl(der) {
            Ok(trust) => trust,
            Err(err) => {
                tracing::warn!(peer = %from, error = &err as &dyn std::error::Error,
                    "refused a CRL a peer sent: it is not a CRL of this network's CA; the CRL in force stays");
                return;
            }
        };
        match judge(number(&current).as_ref(), number(&trust).as_ref()) {
            Offered::Same => tracing::debug!(peer = %from, "the peer sent the CRL in force"),
            Offered::Older { offered, in_force } => tracing::info!(peer = %from, %offered,
                %in_force, "refused an older CRL a peer sent; the CRL in force stays (the peer gets it on this link)"),
            Offered::Unnumbered => tracing::warn!(peer = %from,
                "refused a CRL without a CRL number a peer sent: nothing shows it is newer"),
            Offered::Newer => match self.put_in_force(trust, Some(&from)).await {
                Ok(done) => tracing::info!(peer = %from, crl_number = %done.number,
                    closed = done.closed, sent = done.sent, "new CRL in force (sent by a peer)"),
                Err(err) => tracing::error!(peer = %from, error = &err as &dyn std::error::Error,
                    "a newer CRL a peer sent was not put in force; the previous one stays"),
            },
        }
    }
}

fn number(trust: &TrustStore) -> Option<CrlNumber> {
    trust.crl_info().and_then(CrlInfo::crl_number)
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
