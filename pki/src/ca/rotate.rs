//! Key rotation (issue 14, item 6): a node gets a new key and certificate that certify the
//! same as its current one, and the old certificate stays in the register, revocable, or is
//! revoked as superseded at once.
//!
//! Messages the node signed with its old key carry the old certificate: they stay
//! acceptable after a `superseded` revocation if they were created before it
//! ([`signing_cutoff`](crate::signing_cutoff)), so nothing queued is lost.

use rcgen::RevocationReason;

use super::register::IssuedRecord;
use super::revoke::Revocation;
use super::{CaError, CertificateAuthority, IssueRequest, IssuedNode, RevocationRecord};
use crate::{NodeId, Role};

/// What [`CertificateAuthority::rotate`] did.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The new certificate and key.
    pub issued: IssuedNode,
    /// The node's certificates that were neither revoked nor expired before the rotation,
    /// oldest first: still valid unless `revoked` lists them.
    pub previous: Vec<IssuedRecord>,
    /// Their revocations (reason superseded), if the rotation revoked them.
    pub revoked: Vec<RevocationRecord>,
}

impl CertificateAuthority {
    /// Issues `node` a new key and a certificate valid for `days` with the role, country,
    /// mission and home node of its newest certificate in the register, and records it.
    /// With `revoke_old`, every earlier certificate of the node that is neither revoked nor
    /// expired is then revoked with reason superseded (saved in `revoked.json`; it takes
    /// effect with the next CRL).
    pub fn rotate(
        &mut self,
        node: &NodeId,
        days: u32,
        revoke_old: bool,
    ) -> Result<Rotated, CaError> {
        let newest = self
            .register
            .issued
            .iter()
            .rev()
            .find(|r| r.node == node.as_str())
            .cloned()
            .ok_or_else(|| CaError::UnknownNode(node.clone()))?;
        let previous = match self.live_certificates_of(node) {
            Ok(live) => live,
            // Rotating a node whose certificates are all revoked or expired is how it gets
            // back into the network after a compromise: nothing to supersede then.
            Err(CaError::NothingToRevoke(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let request = request_like(&newest, node, days)?;
        // Issued (and recorded) first: a failure to record the revocations below leaves the
        // old certificates valid and revocable, never the node without a certificate.
        let issued = self.issue(&request)?;
        let revoked = if revoke_old && !previous.is_empty() {
            self.record_revocations(&previous, &Revocation::reason(RevocationReason::Superseded))?
        } else {
            Vec::new()
        };
        Ok(Rotated {
            issued,
            previous,
            revoked,
        })
    }
}

/// The request that certifies what `record` certified, for `days` from now.
fn request_like(record: &IssuedRecord, node: &NodeId, days: u32) -> Result<IssueRequest, CaError> {
    let corrupt = |what: &str| CaError::CorruptState {
        path: super::REGISTER_FILE.into(),
        reason: format!("the entry of serial {} has {what}", record.serial),
    };
    let role: Role = record.role.parse().map_err(|_| corrupt("no valid role"))?;
    let home = record
        .home
        .as_deref()
        .map(str::parse::<NodeId>)
        .transpose()
        .map_err(|_| corrupt("no valid home node"))?;
    Ok(IssueRequest {
        node: node.clone(),
        role,
        country: record.country.clone(),
        mission: record.mission.clone(),
        home,
        days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{status_at, CertStatus};

    fn ca_with_fr() -> CertificateAuthority {
        let mut ca = CertificateAuthority::generate(365).unwrap();
        crate::ca::issue_test_ncb(&mut ca, "ncb.fr");
        ca
    }

    #[test]
    fn rotation_certifies_the_same_and_keeps_the_old_certificate_revocable() {
        let mut ca = ca_with_fr();
        let fr: NodeId = "ncb.fr".parse().unwrap();
        let rotated = ca.rotate(&fr, 60, false).unwrap();
        let old = &ca.issued()[0];
        let new = &rotated.issued.identity;
        assert_eq!(rotated.previous, vec![old.clone()]);
        assert!(rotated.revoked.is_empty());
        assert_eq!((new.role, new.country.as_deref()), (Role::Ncb, Some("FR")));
        assert_ne!(new.serial_hex(), old.serial);
        assert_ne!(
            rotated.issued.key_pem,
            String::new(),
            "a new key comes with it"
        );
        assert_eq!(ca.issued().len(), 2);
        // `revoke --node` then takes both.
        let records = ca.revoke_node(&fr, None).unwrap();
        assert_eq!(records.len(), 2);
    }

    #[test]
    fn rotation_can_supersede_the_old_certificate_at_once() {
        let mut ca = ca_with_fr();
        let fr: NodeId = "ncb.fr".parse().unwrap();
        let first = ca.rotate(&fr, 30, true).unwrap();
        assert_eq!(first.revoked.len(), 1);
        assert_eq!(first.revoked[0].reason, Some(4));
        assert_eq!(first.revoked[0].invalidity_date, None);
        let now = crate::ca::now_unix();
        let statuses: Vec<CertStatus> = ca
            .issued()
            .iter()
            .map(|r| status_at(r, ca.revocations(), now))
            .collect();
        assert!(matches!(
            statuses[0],
            CertStatus::Revoked {
                reason: Some(4),
                ..
            }
        ));
        assert_eq!(statuses[1], CertStatus::Valid);
        // A second rotation supersedes only the first rotation's certificate.
        let second = ca.rotate(&fr, 30, true).unwrap();
        assert_eq!(second.previous.len(), 1);
        assert_eq!(
            second.previous[0].serial,
            first.issued.identity.serial_hex()
        );

        let nobody: NodeId = "ncb.xx".parse().unwrap();
        assert!(matches!(
            ca.rotate(&nobody, 30, true),
            Err(CaError::UnknownNode(_))
        ));
    }
}
