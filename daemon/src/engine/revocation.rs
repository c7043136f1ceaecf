//! Revocation decisions (issue 14, item 1): whether a CRL a peer sent is newer than the one
//! in force, and whether a node whose own certificate is revoked may take custody. Pure: the
//! node's CRL task (`node/crl.rs`) and the custody shell ask, and carry out the answer.

use bluehelm_pki::CrlNumber;
use bluehelm_proto::RefusalReason;

/// How a CRL a peer sent compares with the one in force (both verified with the CA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offered {
    /// Newer: put it in force and pass it on.
    Newer,
    /// The one in force (every link-up brings it): nothing to do.
    Same,
    /// Older: a peer that is behind; it gets ours on the same link. Refused.
    Older {
        offered: CrlNumber,
        in_force: CrlNumber,
    },
    /// It has no CRL number, so nothing shows it is newer. Refused.
    Unnumbered,
}

/// Compares the number of a CRL a peer sent with the number of the one in force. A node
/// without a numbered CRL takes any numbered one: it has nothing newer to lose.
pub fn judge(in_force: Option<&CrlNumber>, offered: Option<&CrlNumber>) -> Offered {
    match (offered, in_force) {
        (None, _) => Offered::Unnumbered,
        (Some(_), None) => Offered::Newer,
        (Some(offered), Some(in_force)) if offered > in_force => Offered::Newer,
        (Some(offered), Some(in_force)) if offered == in_force => Offered::Same,
        (Some(offered), Some(in_force)) => Offered::Older {
            offered: offered.clone(),
            in_force: in_force.clone(),
        },
    }
}

/// This node's own certificate, as the CRL in force judges it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Standing {
    /// Not revoked.
    #[default]
    Good,
    /// Revoked by the CRL in force: the node takes no custody.
    Revoked {
        /// The certificate's serial, hex.
        serial: String,
        /// The number of the CRL that revokes it.
        crl_number: String,
    },
}

impl Standing {
    /// Why the node takes no custody, in words for refusals, errors and `bluehelm status`;
    /// `None` while the certificate is good.
    pub fn revoked_because(&self) -> Option<String> {
        match self {
            Standing::Good => None,
            Standing::Revoked { serial, crl_number } => Some(format!(
                "this node's certificate (serial {serial}) is revoked by CRL number \
                 {crl_number}: it takes no custody until it has a new certificate \
                 (`bluehelm pki issue`)"
            )),
        }
    }
}

/// Whether a node may take custody of a message (from a peer, or from its own applications).
/// A revoked node refuses with a temporary reason: its sender keeps the message and retries,
/// and its peers, which have the same CRL or soon will, close their links with it anyway.
pub fn may_take_custody(standing: &Standing) -> Result<(), (RefusalReason, String)> {
    match standing.revoked_because() {
        None => Ok(()),
        Some(why) => Err((RefusalReason::StorageUnavailable, why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u64) -> CrlNumber {
        CrlNumber::from_be_bytes(&v.to_be_bytes())
    }

    #[test]
    fn only_a_higher_number_is_newer() {
        assert_eq!(judge(Some(&n(3)), Some(&n(4))), Offered::Newer);
        assert_eq!(judge(None, Some(&n(1))), Offered::Newer);
        assert_eq!(judge(Some(&n(3)), Some(&n(3))), Offered::Same);
        assert_eq!(
            judge(Some(&n(3)), Some(&n(2))),
            Offered::Older {
                offered: n(2),
                in_force: n(3)
            }
        );
        assert_eq!(judge(Some(&n(3)), None), Offered::Unnumbered);
        assert_eq!(judge(None, None), Offered::Unnumbered);
    }

    #[test]
    fn a_revoked_node_refuses_custody_for_now_and_says_why() {
        assert_eq!(may_take_custody(&Standing::Good), Ok(()));
        let revoked = Standing::Revoked {
            serial: "0a1b".into(),
            crl_number: "4".into(),
        };
        let (reason, detail) = may_take_custody(&revoked).unwrap_err();
        assert!(!reason.is_permanent(), "the sender must keep the message");
        assert!(
            detail.contains("serial 0a1b) is revoked by CRL number 4"),
            "{detail}"
        );
    }
}
