//! Revoking: by certificate file, by serial or by node (issue 14, item 2), with an RFC 5280
//! reason and, for a compromised key, the time of the compromise (the CRL's invalidity date).
//! The three ways find entries of the register and share one path that turns them into
//! revocation records and saves `revoked.json`.

use rcgen::RevocationReason;

use super::register::{select_for_node, IssuedRecord, NodeSelection};
use super::{normalize_serial, now_unix, CaError, CertificateAuthority, RevocationRecord};
use crate::encoding::{pem_or_der, PEM_CERTIFICATE};
use crate::identity::{identity_of, parse_x509};
use crate::trust::TrustStore;
use crate::{NodeId, TrustError};

/// How certificates are revoked: the RFC 5280 reason and, for a compromised key, since when.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Revocation {
    /// The reason, if one is given.
    pub reason: Option<RevocationReason>,
    /// Only with key-compromise or ca-compromise: when the key is known or suspected to have
    /// been compromised, unix seconds, written as the CRL entry's invalidity date. `None`:
    /// the revocation time. Envelopes the key signed before it stay acceptable
    /// ([`signing_cutoff`](crate::signing_cutoff)).
    pub compromised_at: Option<i64>,
}

impl Revocation {
    /// A revocation for `reason`, with no compromise time.
    pub fn reason(reason: RevocationReason) -> Self {
        Self {
            reason: Some(reason),
            compromised_at: None,
        }
    }

    /// A key-compromise revocation, compromised since `at` (`None`: the revocation time).
    pub fn key_compromise(at: Option<i64>) -> Self {
        Self {
            reason: Some(RevocationReason::KeyCompromise),
            compromised_at: at,
        }
    }

    /// The invalidity date of a revocation at `now`: the compromise time for a compromised
    /// key (the revocation time if none was given), none for other reasons.
    fn invalidity_date(&self, now: i64) -> Result<Option<i64>, CaError> {
        let compromise = matches!(
            self.reason,
            Some(RevocationReason::KeyCompromise | RevocationReason::CaCompromise)
        );
        match (compromise, self.compromised_at) {
            (false, None) => Ok(None),
            (false, Some(_)) => Err(CaError::CompromiseTime(
                "a compromise time goes only with reason key-compromise or ca-compromise".into(),
            )),
            (true, None) => Ok(Some(now)),
            (true, Some(at)) if at > now => Err(CaError::CompromiseTime(
                "the compromise time is in the future: give when the key may first have been copied".into(),
            )),
            (true, Some(at)) => Ok(Some(at)),
        }
    }
}

/// Which certificates to revoke.
#[derive(Debug, Clone, Copy)]
pub enum Revokee<'a> {
    /// A certificate this CA issued (PEM or DER; for PEM the first certificate). One missing
    /// from the register (issued before the register existed) is added to it first.
    Cert(&'a [u8]),
    /// The certificate with this serial in the register (hex, any case, `0x` allowed). It may
    /// be expired; it may not be revoked already.
    Serial(&'a str),
    /// Every certificate of this node in the register that is neither revoked nor expired
    /// (the current one and any earlier one still valid after a reissue or rotation).
    Node(&'a NodeId),
}

impl CertificateAuthority {
    /// Records the revocation of what `target` names and saves `revoked.json`; the next
    /// [`crl`](Self::crl) lists it. Returns the new records, oldest certificate first.
    pub fn revoke_with(
        &mut self,
        target: Revokee<'_>,
        how: &Revocation,
    ) -> Result<Vec<RevocationRecord>, CaError> {
        // Checked before anything is written (a certificate added to the register).
        how.invalidity_date(now_unix())?;
        match target {
            Revokee::Cert(cert) => {
                let entry = self.register_entry_of(cert)?;
                self.revoke_one(entry, how)
            }
            Revokee::Serial(serial) => {
                let serial =
                    normalize_serial(serial).ok_or_else(|| CaError::BadSerial(serial.into()))?;
                let entry = self
                    .register
                    .find(&serial)
                    .cloned()
                    .ok_or(CaError::UnknownSerial(serial))?;
                self.revoke_one(entry, how)
            }
            Revokee::Node(node) => {
                let entries = self.live_certificates_of(node)?;
                self.record_revocations(&entries, how)
            }
        }
    }

    /// [`revoke_with`](Self::revoke_with) a certificate file and a reason only.
    pub fn revoke(
        &mut self,
        cert: &[u8],
        reason: Option<RevocationReason>,
    ) -> Result<RevocationRecord, CaError> {
        let how = Revocation {
            reason,
            compromised_at: None,
        };
        // One certificate in, one record out.
        Ok(self.revoke_with(Revokee::Cert(cert), &how)?.remove(0))
    }

    /// [`revoke_with`](Self::revoke_with) a serial and a reason only.
    pub fn revoke_serial(
        &mut self,
        serial: &str,
        reason: Option<RevocationReason>,
    ) -> Result<RevocationRecord, CaError> {
        let how = Revocation {
            reason,
            compromised_at: None,
        };
        Ok(self.revoke_with(Revokee::Serial(serial), &how)?.remove(0))
    }

    /// [`revoke_with`](Self::revoke_with) a node and a reason only.
    pub fn revoke_node(
        &mut self,
        node: &NodeId,
        reason: Option<RevocationReason>,
    ) -> Result<Vec<RevocationRecord>, CaError> {
        let how = Revocation {
            reason,
            compromised_at: None,
        };
        self.revoke_with(Revokee::Node(node), &how)
    }

    /// The certificates of `node` that are neither revoked nor expired, oldest first.
    pub(crate) fn live_certificates_of(&self, node: &NodeId) -> Result<Vec<IssuedRecord>, CaError> {
        match select_for_node(
            &self.register.issued,
            &self.revocations.revoked,
            node,
            now_unix(),
        ) {
            NodeSelection::Some(chosen) => Ok(chosen.into_iter().cloned().collect()),
            NodeSelection::Unknown => Err(CaError::UnknownNode(node.clone())),
            NodeSelection::NothingLeft => Err(CaError::NothingToRevoke(node.clone())),
        }
    }

    /// The register entry of a certificate file this CA issued, added (and saved) if the
    /// register does not have it.
    fn register_entry_of(&mut self, cert: &[u8]) -> Result<IssuedRecord, CaError> {
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
        Ok(entry)
    }

    /// Revokes one certificate of the register, unless it is revoked already.
    fn revoke_one(
        &mut self,
        entry: IssuedRecord,
        how: &Revocation,
    ) -> Result<Vec<RevocationRecord>, CaError> {
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
        self.record_revocations(&[entry], how)
    }

    /// The one path of every revocation: records for `entries` (none revoked yet), saved
    /// together, or none of them if saving fails.
    pub(crate) fn record_revocations(
        &mut self,
        entries: &[IssuedRecord],
        how: &Revocation,
    ) -> Result<Vec<RevocationRecord>, CaError> {
        let now = now_unix();
        let invalidity_date = how.invalidity_date(now)?;
        let records: Vec<RevocationRecord> = entries
            .iter()
            .map(|e| e.revocation(now, how.reason.map(|r| r as u8), invalidity_date))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compromise_time_needs_a_compromise_and_may_not_be_in_the_future() {
        let now = 1_800_000_000;
        assert_eq!(Revocation::default().invalidity_date(now).unwrap(), None);
        assert_eq!(
            Revocation::reason(RevocationReason::Superseded)
                .invalidity_date(now)
                .unwrap(),
            None
        );
        assert_eq!(
            Revocation::key_compromise(None)
                .invalidity_date(now)
                .unwrap(),
            Some(now)
        );
        assert_eq!(
            Revocation::key_compromise(Some(now - 60))
                .invalidity_date(now)
                .unwrap(),
            Some(now - 60)
        );
        let ca = Revocation {
            reason: Some(RevocationReason::CaCompromise),
            compromised_at: Some(now),
        };
        assert_eq!(ca.invalidity_date(now).unwrap(), Some(now));

        let future = Revocation::key_compromise(Some(now + 1));
        assert!(matches!(
            future.invalidity_date(now),
            Err(CaError::CompromiseTime(why)) if why.contains("future")
        ));
        let superseded_since = Revocation {
            reason: Some(RevocationReason::Superseded),
            compromised_at: Some(now - 60),
        };
        assert!(matches!(
            superseded_since.invalidity_date(now),
            Err(CaError::CompromiseTime(why)) if why.contains("key-compromise")
        ));
    }
}
