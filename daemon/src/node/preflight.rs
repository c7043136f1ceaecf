//! What a node checks from its config's files before it opens its store or a socket: its
//! certificate and key (readable, the key 0600, the pair matching, for the configured node,
//! not a terminal's), the CA and CRL, its own certificate as its peers will judge it, and
//! the CRL against the newest one it put in force. `Node::start` runs these first;
//! `bluehelm config check` runs them alone (issue 15, item 3).

use bluehelm_pki::{NodeCredentials, TrustStore};

use super::trust::{self, Admitted, CrlGuard};
use super::StartError;
use crate::config::NodeConfig;

/// What the checks loaded, for the start to go on with.
pub(super) struct Preflight {
    pub creds: NodeCredentials,
    pub trust: TrustStore,
    pub crl_guard: CrlGuard,
    pub admitted: Admitted,
}

/// Runs the checks at `now_unix` (seconds).
pub(super) fn preflight(config: &NodeConfig, now_unix: i64) -> Result<Preflight, StartError> {
    let creds = NodeCredentials::load(&config.tls.certificate, &config.tls.key)?;
    if creds.identity().node.as_str() != config.node_id.as_str() {
        return Err(StartError::WrongIdentity {
            certified: creds.identity().node.to_string(),
            configured: config.node_id.to_string(),
        });
    }
    if creds.identity().role == bluehelm_pki::Role::Terminal {
        return Err(StartError::TerminalCertificate(config.node_id.to_string()));
    }
    let rs = &config.reference_services;
    let answers_checks = rs.sltd || rs.smv || rs.persons || rs.dna;
    if answers_checks && creds.identity().role != bluehelm_pki::Role::Hub {
        return Err(StartError::ReferenceServicesNeedHub(
            config.node_id.to_string(),
            creds.identity().role,
        ));
    }
    let trust = TrustStore::load(&config.tls.ca, Some(&config.tls.crl))?;
    trust::check_own_certificate(&creds, &trust, &config.tls, now_unix)
        .map_err(StartError::OwnCertificate)?;
    let crl_guard = CrlGuard::load(&config.storage).map_err(StartError::AppliedCrl)?;
    let admitted = crl_guard
        .check(&trust, &config.tls.crl)
        .map_err(StartError::Crl)?;
    Ok(Preflight {
        creds,
        trust,
        crl_guard,
        admitted,
    })
}
