//! What a node checks about its own trust before it serves (issue 10): that its certificate
//! is one its own CA and CRL accept (defect 4), and that its CRL is not older than one it
//! has already put in force (defect 3). The second check also guards every CRL the watcher
//! (`crl.rs`) installs while the node runs.

use std::path::{Path, PathBuf};

use bluehelm_pki::{
    AppliedCrl, AppliedCrlError, CrlInfo, CrlNumber, CrlRollbackError, NodeCredentials, TrustError,
    TrustStore,
};

use crate::config::TlsFiles;

/// The file in the node's storage directory that remembers the newest CRL put in force.
/// Beside the store rather than in it: it is written before a CRL is used, at start-up
/// before the store takes any custody, and it is one small record the store need not know.
pub const APPLIED_CRL_FILE: &str = "applied_crl";

/// The node's own certificate is refused by its own trust store: peers would refuse it
/// too, so the node would only retry its links forever.
#[derive(Debug, thiserror::Error)]
pub enum OwnCertificateError {
    #[error("certificate {} was not issued by the CA in {}: give the node a certificate from this network's CA, or configure the CA that issued it", cert.display(), ca.display())]
    NotFromCa { cert: PathBuf, ca: PathBuf },
    #[error("certificate {} (serial {serial}) is revoked by the CRL in {}: issue the node a new certificate (`bluehelm pki issue`)", cert.display(), crl.display())]
    Revoked {
        cert: PathBuf,
        crl: PathBuf,
        serial: String,
    },
    #[error("certificate {}: {error}", cert.display())]
    Invalid { cert: PathBuf, error: TrustError },
}

/// Checks the node's own certificate as its peers will: issued by the CA, valid at
/// `now_unix`, not revoked.
pub fn check_own_certificate(
    creds: &NodeCredentials,
    trust: &TrustStore,
    files: &TlsFiles,
    now_unix: i64,
) -> Result<(), OwnCertificateError> {
    let cert = files.certificate.clone();
    match trust.verify_node(creds.node_cert_der(), now_unix) {
        Ok(_) => Ok(()),
        Err(TrustError::UnknownIssuer) => Err(OwnCertificateError::NotFromCa {
            cert,
            ca: files.ca.clone(),
        }),
        Err(TrustError::Revoked { serial }) => Err(OwnCertificateError::Revoked {
            cert,
            crl: files.crl.clone(),
            serial,
        }),
        Err(error) => Err(OwnCertificateError::Invalid { cert, error }),
    }
}

/// Why a CRL was not put in force.
#[derive(Debug, thiserror::Error)]
pub enum CrlGuardError {
    #[error("{}: {refused}", crl.display())]
    Older {
        crl: PathBuf,
        refused: CrlRollbackError,
    },
    #[error("cannot record the CRL in force (check the storage directory)")]
    Record(#[from] AppliedCrlError),
    #[error("the thread recording the CRL in force failed")]
    Join,
}

/// A CRL the guard has let through: record it before putting it in force.
#[must_use = "record it with CrlGuard::record before the CRL is used"]
pub struct Admitted(Option<AppliedCrl>);

/// The newest CRL this node has put in force, as remembered in [`APPLIED_CRL_FILE`].
pub struct CrlGuard {
    path: PathBuf,
    applied: Option<AppliedCrl>,
}

impl CrlGuard {
    /// Reads what the node has applied so far; nothing for a new node (or a new storage
    /// directory, which does not exist until the store creates it).
    pub fn load(storage: &Path) -> Result<Self, AppliedCrlError> {
        let path = storage.join(APPLIED_CRL_FILE);
        let applied = AppliedCrl::load(&path)?;
        Ok(Self { path, applied })
    }

    /// Refuses the CRL of `trust` (read from `crl`) if it is older than one applied before.
    pub fn check(&self, trust: &TrustStore, crl: &Path) -> Result<Admitted, CrlGuardError> {
        AppliedCrl::admit(self.applied.as_ref(), trust)
            .map(Admitted)
            .map_err(|refused| CrlGuardError::Older {
                crl: crl.to_owned(),
                refused,
            })
    }

    /// Writes an admitted CRL's number durably (file and directory fsynced), so that it
    /// holds after a restart or a kill -9. Returns once it is on disk.
    pub async fn record(&mut self, admitted: Admitted) -> Result<(), CrlGuardError> {
        let Some(record) = admitted.0 else {
            return Ok(());
        };
        let path = self.path.clone();
        let record = tokio::task::spawn_blocking(move || record.save(&path).map(|()| record))
            .await
            .map_err(|_| CrlGuardError::Join)??;
        self.applied = Some(record);
        Ok(())
    }
}

/// The number of the CRL `trust` holds, for logs: `none` if it has no number.
pub fn crl_number_in_force(trust: &TrustStore) -> String {
    trust
        .crl_info()
        .and_then(CrlInfo::crl_number)
        .as_ref()
        .map_or_else(|| "none".into(), CrlNumber::to_string)
}
