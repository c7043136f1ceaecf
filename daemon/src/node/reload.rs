//! The node's reload task (issue 15, item 3): on request (SIGHUP in `bluehelm run`, or
//! `bluehelm reload` over the API) it reads the config file the node started with again,
//! runs the checks a start runs, asks `config::change::diff` what changed, and applies it:
//! the new config in force for every decision at once, dial loops started for new peers,
//! stopped for removed ones (their links closed, their queued copies kept in the store),
//! restarted for a peer whose address changed, and new TLS settings for new links when the
//! certificate, key, CA or CRL changed, with the new key for what the node signs from then
//! on. Links that did not change are not touched.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::crl::TlsReload;
use super::dialers::Dialers;
use super::preflight::{preflight, Preflight};
use crate::config::change::{diff, needs_restart, ConfigChange, TlsDigests};
use crate::config::live::{ReloadError, ReloadRequest, Reloaded};
use crate::config::{NodeConfig, TlsFiles};
use crate::custody::{now_ms, Core};
use crate::net::link::CLOSE_NORMAL;
use crate::net::links::Links;

/// What the reload task owns.
pub(super) struct Reloader {
    pub core: Arc<Core>,
    pub links: Arc<Links>,
    pub dialers: Dialers,
    /// The TLS files of the config in force, as last put in force.
    pub digests: TlsDigests,
    /// To the CRL task, which puts new credentials and trust in force.
    pub tls: mpsc::Sender<TlsReload>,
}

/// Serves reload requests one at a time until the node stops.
pub(super) async fn serve_reloads(
    mut reloader: Reloader,
    mut requests: mpsc::Receiver<ReloadRequest>,
) {
    let cancel = reloader.core.cancel().clone();
    loop {
        let request = tokio::select! {
            _ = cancel.cancelled() => return,
            request = requests.recv() => match request {
                Some(request) => request,
                None => return,
            },
        };
        let outcome = reloader.reload().await;
        match &outcome {
            Ok(done) => log_change(done),
            Err(err) => tracing::error!(
                error = err as &dyn std::error::Error,
                "config reload refused"
            ),
        }
        let _ = request.reply.send(outcome);
    }
}

/// The digests of the TLS files `files` names (read by the caller's blocking thread).
pub(super) fn digest_files(files: &TlsFiles) -> std::io::Result<TlsDigests> {
    let digest = |path: &std::path::Path| -> std::io::Result<[u8; 32]> {
        let bytes = std::fs::read(path)?;
        let mut out = [0; 32];
        out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
        Ok(out)
    };
    Ok(TlsDigests {
        certificate: digest(&files.certificate)?,
        key: digest(&files.key)?,
        ca: digest(&files.ca)?,
        crl: digest(&files.crl)?,
    })
}

/// What a reload read and checked, before anything is applied.
struct Checked {
    config: NodeConfig,
    preflight: Preflight,
    digests: TlsDigests,
}

impl Reloader {
    /// One reload: read, check, diff, apply.
    async fn reload(&mut self) -> Result<Reloaded, ReloadError> {
        let old = Arc::clone(&*self.core.config());
        let path = old.source.clone().ok_or(ReloadError::NoFile)?;
        let (file, in_force) = (path.clone(), old.clone());
        let checked = tokio::task::spawn_blocking(move || read_and_check(&file, &in_force))
            .await
            .map_err(|_| ReloadError::Stopped)??;
        let change = diff(&old, &checked.config, &self.digests, &checked.digests)?;
        self.apply(checked, &change).await?;
        Ok(Reloaded {
            config: path,
            change,
        })
    }

    /// Puts a checked config in force: the config first (decisions see the new routes,
    /// groups and limits at once), then TLS (so that dials from here on use it), then the
    /// peers.
    async fn apply(&mut self, checked: Checked, change: &ConfigChange) -> Result<(), ReloadError> {
        if change.is_empty() {
            return Ok(());
        }
        let Checked {
            config,
            preflight,
            digests,
        } = checked;
        let config = Arc::new(config);
        self.core.replace_config(config.clone());
        let tls = if change.tls() {
            // The new certificate and key: in force for signing (envelopes, record changes,
            // audit checkpoints) and for new terminal connections once the TLS side took the
            // files (a renewed certificate and key are used from then on, not the old).
            let creds = Arc::new(preflight.creds);
            let (reply, answer) = oneshot::channel();
            let reload = TlsReload {
                creds: creds.clone(),
                trust: preflight.trust,
                reply,
            };
            match self.tls.send(reload).await {
                Ok(()) => answer
                    .await
                    .map_err(|_| ReloadError::Stopped)
                    .and_then(|put| {
                        put.map(|done| {
                            self.core.replace_credentials(creds);
                            tracing::info!(crl_number = %done.number, closed = done.closed,
                            "new certificate, key, CA or CRL in force for new links and for signing");
                        })
                        .map_err(|err| ReloadError::Tls(Box::new(err)))
                    }),
                Err(_) => Err(ReloadError::Stopped),
            }
        } else {
            Ok(())
        };
        if tls.is_ok() {
            self.digests = digests;
        }
        for peer in &change.peers_removed {
            self.dialers.stop(peer);
            self.close_link(peer, b"peer removed from the config");
        }
        for peer in &change.peers_readdressed {
            // A link the peer dialled in is not ours to redial; one we dialled is.
            if self.dialers.stop(peer) {
                self.close_link(peer, b"peer address changed");
            }
        }
        for peer in config.peers.iter().filter(|p| {
            change.peers_added.contains(&p.node) || change.peers_readdressed.contains(&p.node)
        }) {
            self.dialers.start(peer);
        }
        tls
    }

    /// Closes `peer`'s link, if it has one.
    fn close_link(&self, peer: &bluehelm_proto::NodeId, why: &'static [u8]) {
        if let Some(connection) = self.links.connection(peer) {
            connection.close(CLOSE_NORMAL, why);
        }
    }
}

/// Reads the config file and runs the start's checks on it (blocking file reads), unless it
/// changes a key only a restart applies.
fn read_and_check(path: &std::path::Path, in_force: &NodeConfig) -> Result<Checked, ReloadError> {
    let config = NodeConfig::load(path).map_err(ReloadError::Config)?;
    needs_restart(in_force, &config)?;
    let preflight =
        preflight(&config, now_ms() / 1000).map_err(|e| ReloadError::Checks(Box::new(e)))?;
    let digests = digest_files(&config.tls).map_err(|e| ReloadError::Checks(Box::new(e)))?;
    Ok(Checked {
        config,
        preflight,
        digests,
    })
}

/// What a reload changed, at INFO, one line.
fn log_change(done: &Reloaded) {
    let change = &done.change;
    if change.is_empty() {
        tracing::info!(config = %done.config.display(), "config reloaded: nothing changed");
        return;
    }
    let list = |items: &[bluehelm_proto::NodeId]| {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let groups = change
        .groups
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    tracing::info!(config = %done.config.display(),
        peers_added = %list(&change.peers_added),
        peers_removed = %list(&change.peers_removed),
        peers_readdressed = %list(&change.peers_readdressed),
        groups = %groups, keys = %change.keys.join(","),
        identity = change.identity, trust = change.trust,
        "config reloaded");
}
