//! Revoking: by certificate file, by serial or by node (issue 14, item 2). The three ways
//! find entries of the register and share one path that turns them into revocation records
//! and saves `revoked.json`.

use rcgen::RevocationReason;

use super::register::{select_for_node, IssuedRecord, NodeSelection};
use super::{normalize_serial, now_unix, CaError, CertificateAuthority, RevocationRecord};
use crate::encoding::{pem_or_der, PEM_CERTIFICATE};
use crate::identity::{identity_of, parse_x509};
use crate::trust::TrustStore;
use crate::{NodeId, TrustError};

impl CertificateAuthority {
    /// Records the revocation of a certificate this CA issued (PEM or DER; for PEM the first
    /// certificate is taken) and saves `revoked.json`. The next [`crl`](Self::crl) lists it.
    ///
    /// A certificate missing from the register (issued before the register existed) is
    /// added to it first.
    pub fn revoke(
        &mut self,
        cert: &[u8],
        reason: Option<RevocationReason>,
    ) -> Result<RevocationRecord, CaError> {
        let der = pem_or_der(cert, PEM_CERTIFICATE)?.remove(0);
        let parsed = parse_x509(&der)?;
        let identity = identity_of(&parsed, &der)?;
        let store = TrustStore::new(&self.cert_der, None)?;
        match store.check_issued_by_ca(&parsed) {
            Ok(()) => {}
            Err(TrustError::UnknownIssuer) => return Err(CaError::NotOurs(identity.node)),
            Err(other) => return Err(CaError::Build(other.to_string())),
        }
        let entry = IssuedRecord::of(&identity);
        if self.register.find(&entry.serial).is_none() {
            self.register.issued.push(entry.clone());
            if let Err(e) = self.save_register() {
                self.register.issued.pop();
                return Err(e);
            }
        }
        self.revoke_one(entry, reason)
    }

    /// Revokes the certificate with serial `serial` (hex, any case, `0x` allowed) from the
    /// register and saves `revoked.json`. It may be expired; it may not be revoked already.
    pub fn revoke_serial(
        &mut self,
        serial: &str,
        reason: Option<RevocationReason>,
    ) -> Result<RevocationRecord, CaError> {
        let serial = normalize_serial(serial).ok_or_else(|| CaError::BadSerial(serial.into()))?;
        let entry = self
            .register
            .find(&serial)
            .cloned()
            .ok_or(CaError::UnknownSerial(serial))?;
        self.revoke_one(entry, reason)
    }

    /// Revokes every certificate of `node` in the register that is neither revoked nor
    /// expired (the current one and any earlier one still valid after a reissue) and saves
    /// `revoked.json`. Returns the new records, oldest certificate first.
    pub fn revoke_node(
        &mut self,
        node: &NodeId,
        reason: Option<RevocationReason>,
    ) -> Result<Vec<RevocationRecord>, CaError> {
        let entries: Vec<IssuedRecord> = match select_for_node(
            &self.register.issued,
            &self.revocations.revoked,
            node,
            now_unix(),
        ) {
            NodeSelection::Some(chosen) => chosen.into_iter().cloned().collect(),
            NodeSelection::Unknown => return Err(CaError::UnknownNode(node.clone())),
            NodeSelection::NothingLeft => return Err(CaError::NothingToRevoke(node.clone())),
        };
        self.record_revocations(&entries, reason)
    }

    /// Revokes one certificate of the register, unless it is revoked already.
    fn revoke_one(
        &mut self,
        entry: IssuedRecord,
        reason: Option<RevocationReason>,
    ) -> Result<RevocationRecord, CaError> {
        if let Some(old) = self
            .revocations
            .revoked
            .iter()
            .find(|r| r.serial == entry.serial)
        {
            return Err(CaError::AlreadyRevoked {
                serial: entry.serial,
                revoked_at: old.revoked_at,
            });
        }
        let mut records = self.record_revocations(&[entry], reason)?;
        // One entry in, one record out.
        Ok(records.remove(0))
    }

    /// The one path of every revocation: records for `entries` (none revoked yet), saved
    /// together, or none of them if saving fails.
    fn record_revocations(
        &mut self,
        entries: &[IssuedRecord],
        reason: Option<RevocationReason>,
    ) -> Result<Vec<RevocationRecord>, CaError> {
        let now = now_unix();
        let records: Vec<RevocationRecord> = entries
            .iter()
            .map(|e| e.revocation(now, reason.map(|r| r as u8)))
            .collect();
        let before = self.revocations.revoked.len();
        self.revocations.revoked.extend(records.iter().cloned());
        if let Err(e) = self.save_revocations() {
            self.revocations.revoked.truncate(before);
            return Err(e);
        }
        Ok(records)
    }
}
