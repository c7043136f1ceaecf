//! Putting a CRL in force, whichever way it came (the file or a peer): the one function both
//! paths share (issue 14, item 1).

use bluehelm_pki::{NodeCredentials, TrustError, TrustStore};
use bluehelm_proto::NodeId;

use super::{number, Running};
use crate::config::TlsFiles;
use crate::custody::now_ms;
use crate::engine::revocation::{judge, Offered, Standing};
use crate::net::{crl, link::CLOSE_REFUSED, tls};
use crate::node::trust::{
    check_own_certificate, crl_number_in_force, CrlGuardError, OwnCertificateError,
};

/// Why a CRL was not put in force: the previous one stays. Each says it as its cause does
/// (the log line names the CRL file or the peer).
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The CA or CRL file cannot be read or parsed.
    #[error(transparent)]
    Trust(#[from] bluehelm_pki::TrustStoreError),
    /// The CRL is older than the one in force, or its number could not be recorded.
    #[error(transparent)]
    Guard(#[from] CrlGuardError),
    /// rustls refused a configuration with it.
    #[error(transparent)]
    Tls(#[from] tls::TlsSetupError),
}

/// What putting a CRL in force did.
pub struct PutDone {
    /// Its number, for logs.
    pub number: String,
    /// Links closed because it revokes their peer.
    pub closed: usize,
    /// Peers it was sent to (none unless it is newer than the previous one).
    pub sent: usize,
}

impl Running {
    /// Puts the CRL of `trust` in force: refused if older than one put in force before;
    /// otherwise, in this order, written to the CRL file if it came from peer `from` (so
    /// that a restart starts from it), its number recorded, and then used: TLS for new
    /// handshakes, envelope signers, the node's own standing, the links of the peers it
    /// revokes closed, and, if it is newer than the previous one, sent to every other peer.
    pub(super) async fn put_in_force(
        &mut self,
        trust: TrustStore,
        from: Option<&NodeId>,
    ) -> Result<PutDone, PutError> {
        let core = self.task.core.clone();
        let files = &core.config().tls;
        // An older CRL would un-revoke certificates: refuse to go back.
        let admitted = self.task.guard.check(&trust, &files.crl)?;
        let previous = core.verifier().trust_store();
        let newer = judge(number(&previous).as_ref(), number(&trust).as_ref()) == Offered::Newer;
        let standing = standing(&self.task.creds, &trust, files);
        let max_frame = core.config().limits.max_frame_bytes;
        let server = match core.config().listen {
            Some(_) => Some(tls::server_config(&self.task.creds, &trust, max_frame)?),
            None => None,
        };
        let client = tls::client_config(&self.task.creds, &trust, max_frame)?;
        if from.is_some() {
            save(&trust, files).await;
        }
        // Remembered before it is used: after a crash the node must not go back behind it.
        self.task.guard.record(admitted).await?;
        let crl_number = crl_number_in_force(&trust);
        let der = trust.crl_der().map(<[u8]>::to_vec);
        if server.is_some() {
            self.task.endpoint.set_server_config(server);
        }
        self.task.links.set_client_config(client);
        core.verifier().replace_trust_store(trust);
        if let Some(why) = standing.revoked_because() {
            tracing::error!(crl_number = %crl_number, "{why}");
        }
        core.set_standing(standing);
        // Neither the peer it came from nor those it revokes get it.
        let mut skip = self.close_revoked_links();
        let closed = skip.len();
        skip.extend(from.cloned());
        let mut sent = 0;
        if let Some(der) = der {
            self.task.links.crl().set_in_force(&der);
            if newer {
                let der = std::sync::Arc::from(der);
                sent = crl::broadcast(&self.task.links, &der, &skip, &mut self.sends);
            }
        }
        Ok(PutDone {
            number: crl_number,
            closed,
            sent,
        })
    }

    /// Closes the links of peers the trust store in force revokes; returns those peers.
    fn close_revoked_links(&self) -> Vec<NodeId> {
        let trust = self.task.core.verifier().trust_store();
        let now = now_ms() / 1000;
        let mut closed = Vec::new();
        for (peer, connection) in self.task.links.connections() {
            let Some(chain) = tls::peer_chain(&connection) else {
                continue;
            };
            let Some(leaf) = chain.first() else { continue };
            if let Err(err @ TrustError::Revoked { .. }) = trust.verify_node(leaf, now) {
                tracing::warn!(%peer, error = %err, "closing the link of a revoked peer");
                connection.close(CLOSE_REFUSED, b"certificate revoked");
                closed.push(peer);
            }
        }
        closed
    }
}

/// This node's own certificate as `trust` judges it. Refusals other than revocation (an
/// expired certificate, say) are logged: peers will refuse the node's links, but whether it
/// may take custody is the CRL's to say.
fn standing(creds: &NodeCredentials, trust: &TrustStore, files: &TlsFiles) -> Standing {
    match check_own_certificate(creds, trust, files, now_ms() / 1000) {
        Ok(()) => Standing::Good,
        Err(OwnCertificateError::Revoked { serial, .. }) => Standing::Revoked {
            serial,
            crl_number: crl_number_in_force(trust),
        },
        Err(err) => {
            tracing::error!(error = %err, "the new CRL refuses this node's own certificate: its peers will refuse its links");
            Standing::Good
        }
    }
}

/// Writes a CRL a peer sent to the node's CRL file. Failing to is logged, not fatal: the
/// CRL is put in force all the same (a revocation must not wait for a disk), and a restart
/// then refuses the older file and says which CRL to install.
async fn save(trust: &TrustStore, files: &TlsFiles) {
    let path = files.crl.clone();
    let writer = trust.clone();
    let target = path.clone();
    let written = tokio::task::spawn_blocking(move || writer.save_crl(&target)).await;
    let failed = match written {
        Ok(Ok(())) => return,
        Ok(Err(err)) => err.to_string(),
        Err(_) => "the writing thread failed".to_owned(),
    };
    tracing::error!(crl = %path.display(), error = %failed,
        "cannot write the new CRL to the node's CRL file; it is in force all the same, but a restart would refuse the older file: install the CA's latest CRL there");
}
