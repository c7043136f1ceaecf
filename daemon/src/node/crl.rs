//! Revocation without a restart: the node watches its CRL file, and when a new CRL appears
//! it checks it, uses it for new handshakes and envelope signers, and closes the links of
//! peers whose certificates it revokes (TLS only checks certificates at the handshake). A
//! CRL older than the newest one put in force is refused, and a newer one's number is on
//! disk before it is used (`trust.rs`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bluehelm_pki::{NodeCredentials, TrustError, TrustStore};

use super::trust::{check_own_certificate, crl_number_in_force, CrlGuard, CrlGuardError};
use crate::custody::{now_ms, Core};
use crate::net::{link::CLOSE_REFUSED, links::Links, tls};

/// How often the CRL file is looked at.
const CRL_CHECK: Duration = Duration::from_secs(2);
/// How often an overdue CRL is complained about.
const OVERDUE_WARNING: Duration = Duration::from_secs(3600);

pub async fn watch_crl(
    core: Arc<Core>,
    links: Arc<Links>,
    endpoint: quinn::Endpoint,
    creds: NodeCredentials,
    mut guard: CrlGuard,
) {
    let path = core.config().tls.crl.clone();
    let mut seen = modified(&path);
    let mut last_warning: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(CRL_CHECK);
    loop {
        tokio::select! {
            _ = core.cancel().cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = modified(&path);
        if now != seen {
            seen = now;
            match reload(&core, &links, &endpoint, &creds, &mut guard).await {
                Ok((crl_number, closed)) => {
                    tracing::info!(crl = %path.display(), %crl_number, closed, "new CRL in force")
                }
                Err(err) => {
                    tracing::error!(crl = %path.display(), error = &err as &dyn std::error::Error,
                    "new CRL refused; the previous one stays in force")
                }
            }
        }
        let overdue = core
            .verifier()
            .trust_store()
            .crl_next_update()
            .is_some_and(|next| next < now_ms() / 1000);
        if overdue && last_warning.is_none_or(|at| at.elapsed() >= OVERDUE_WARNING) {
            last_warning = Some(tokio::time::Instant::now());
            tracing::warn!(crl = %path.display(),
                "the CRL is past its next-update time: publish a new one (`bluehelm pki crl`)");
        }
    }
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Why a new CRL was not put in force: the previous one stays. Each says it as its cause
/// does (the log line names the CRL file).
#[derive(Debug, thiserror::Error)]
enum ReloadError {
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

/// Installs the CRL on disk; returns its number and how many links were closed because of
/// it.
async fn reload(
    core: &Core,
    links: &Links,
    endpoint: &quinn::Endpoint,
    creds: &NodeCredentials,
    guard: &mut CrlGuard,
) -> Result<(String, usize), ReloadError> {
    let tls_files = &core.config().tls;
    let trust = TrustStore::load(&tls_files.ca, Some(&tls_files.crl))?;
    // An older CRL would un-revoke certificates: refuse to go back.
    let admitted = guard.check(&trust, &tls_files.crl)?;
    let now = now_ms() / 1000;
    if let Err(err) = check_own_certificate(creds, &trust, tls_files, now) {
        tracing::error!(error = %err, "the new CRL refuses this node's own certificate: its peers will refuse its links");
    }
    let max_frame = core.config().limits.max_frame_bytes;
    let server = match core.config().listen {
        Some(_) => Some(tls::server_config(creds, &trust, max_frame)?),
        None => None,
    };
    let client = tls::client_config(creds, &trust, max_frame)?;
    // Remembered before it is used: after a crash the node must not go back behind it.
    guard.record(admitted).await?;
    let crl_number = crl_number_in_force(&trust);
    if server.is_some() {
        endpoint.set_server_config(server);
    }
    links.set_client_config(client);
    core.verifier().replace_trust_store(trust);

    let trust = core.verifier().trust_store();
    let mut closed = 0;
    for (peer, connection) in links.connections() {
        let Some(chain) = tls::peer_chain(&connection) else {
            continue;
        };
        let Some(leaf) = chain.first() else { continue };
        if let Err(err @ TrustError::Revoked { .. }) = trust.verify_node(leaf, now) {
            tracing::warn!(%peer, error = %err, "closing the link of a revoked peer");
            connection.close(CLOSE_REFUSED, b"certificate revoked");
            closed += 1;
        }
    }
    Ok((crl_number, closed))
}
