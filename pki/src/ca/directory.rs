//! The sealing directory (issue 14, item 4) made from the register: for each node, its
//! certificates that are valid and not revoked and carry an encryption key, as one PEM file
//! the operator distributes like `ca.pem`. Nodes verify every entry against the CA and the
//! CRL before sealing to it, so the file needs no protection beyond its integrity in transit.

use std::path::Path;

use super::{status_at, CaError, CertStatus, CertificateAuthority, ISSUED_CERTS_DIR};
use crate::files::{create_key_dir, write_file, PUBLIC_FILE_MODE};
use crate::NodeIdentity;

/// What went into a sealing directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryContents {
    /// The PEM file: one certificate per entry.
    pub pem: String,
    /// The nodes listed, with their serial (hex), in register order.
    pub listed: Vec<(String, String)>,
    /// Valid certificates left out, and why: no copy kept (issued before this CA kept
    /// copies) or no encryption key (issued before sealing existed, or a terminal).
    pub skipped: Vec<(String, String, &'static str)>,
}

impl CertificateAuthority {
    /// Builds the sealing directory at `now_unix` from the register and the copies under
    /// `certs/`. A CA kept in memory only (tests) has no copies and lists nothing.
    pub fn sealing_directory(&self, now_unix: i64) -> Result<DirectoryContents, CaError> {
        let mut out = DirectoryContents::default();
        let Some(dir) = &self.dir else {
            return Ok(out);
        };
        for record in &self.register.issued {
            if status_at(record, &self.revocations.revoked, now_unix) != CertStatus::Valid {
                continue;
            }
            let path = dir
                .join(ISSUED_CERTS_DIR)
                .join(format!("{}.pem", record.serial));
            let Ok(pem) = std::fs::read(&path) else {
                out.skipped
                    .push((record.node.clone(), record.serial.clone(), "no copy kept"));
                continue;
            };
            let der = crate::pem_or_der(&pem, crate::encoding::PEM_CERTIFICATE)?.remove(0);
            let identity = crate::parse_certificate(&der)?;
            if identity.encryption_key.is_none() {
                out.skipped.push((
                    record.node.clone(),
                    record.serial.clone(),
                    "no encryption key",
                ));
                continue;
            }
            out.pem.push_str(&String::from_utf8_lossy(&pem));
            out.listed
                .push((record.node.clone(), record.serial.clone()));
        }
        Ok(out)
    }

    /// Keeps `DIR/certs/<serial>.pem` for the sealing directory, if the CA has a directory.
    pub(super) fn save_issued_copy(
        &self,
        identity: &NodeIdentity,
        cert_pem: &str,
    ) -> Result<(), CaError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let certs = dir.join(ISSUED_CERTS_DIR);
        create_key_dir(&certs)?;
        let path = certs.join(format!("{}.pem", identity.serial_hex()));
        write_file(&path, cert_pem.as_bytes(), PUBLIC_FILE_MODE, true)?;
        Ok(())
    }
}

/// Writes a sealing directory to `out` (mode 0644: it holds certificates only).
pub fn write_directory(out: &Path, contents: &DirectoryContents) -> Result<(), CaError> {
    write_file(out, contents.pem.as_bytes(), PUBLIC_FILE_MODE, true)?;
    Ok(())
}
