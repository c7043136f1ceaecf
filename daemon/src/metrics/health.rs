//! Whether the node is ready (`/healthz`): a pure decision over what the node knows.

/// Why the node is not ready; empty when it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub reasons: Vec<String>,
}

impl Health {
    /// Judges readiness at `now_s` (Unix seconds): the store takes custody, the CRL in force
    /// has not passed its next update, this node's own certificate is not revoked, and its
    /// disk is not under the reserve.
    pub fn judge(
        store_failed: bool,
        crl_next_update_s: Option<i64>,
        own_revocation: Option<String>,
        disk_shortage: Option<String>,
        now_s: i64,
    ) -> Self {
        let mut reasons = Vec::new();
        if store_failed {
            reasons.push("store failed: it takes no custody (see the log)".to_owned());
        }
        if let Some(next) = crl_next_update_s.filter(|next| *next < now_s) {
            reasons.push(format!(
                "CRL expired: its next update was due {} s ago",
                now_s - next
            ));
        }
        if let Some(why) = own_revocation {
            reasons.push(why);
        }
        if let Some(why) = disk_shortage {
            reasons.push(why);
        }
        Self { reasons }
    }

    pub fn is_ready(&self) -> bool {
        self.reasons.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_until_the_crl_is_past_its_next_update() {
        assert!(Health::judge(false, Some(100), None, None, 100).is_ready());
        assert!(Health::judge(false, None, None, None, 100).is_ready());
        let late = Health::judge(false, Some(100), None, None, 160);
        assert_eq!(
            late.reasons,
            ["CRL expired: its next update was due 60 s ago"]
        );
    }

    #[test]
    fn every_reason_is_given() {
        let h = Health::judge(
            true,
            Some(1),
            Some("revoked".into()),
            Some("disk".into()),
            2,
        );
        assert_eq!(h.reasons.len(), 4);
        assert!(!h.is_ready());
    }
}
