//! What a revocation means for what the revoked key signed (issue 14, item 2): the reasons
//! and dates of RFC 5280 (5.3.1 reason code, 5.3.2 invalidity date) applied to signed
//! envelopes. Pure: the CRL entry and the envelope's signed creation time in, a decision out.
//!
//! TLS is not concerned: a revoked certificate never gets a link, whatever the reason. This
//! is only about envelopes a revoked node signed while it was still trustworthy and that are
//! still on their way (queued at a relay, or signed with a key since rotated).

use super::RevokedEntry;

/// RFC 5280 reason codes this rule names.
const KEY_COMPROMISE: u8 = 1;
const CA_COMPROMISE: u8 = 2;
const AFFILIATION_CHANGED: u8 = 3;
const SUPERSEDED: u8 = 4;
const CESSATION_OF_OPERATION: u8 = 5;

/// Which envelopes signed by a revoked certificate are still accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningCutoff {
    /// None: every envelope it signed is refused.
    Nothing,
    /// Those whose signed creation time is strictly before this time, unix seconds.
    Before(i64),
}

impl SigningCutoff {
    /// Whether an envelope created at `created_at_ms` (its signed `created_at_ms`) is accepted.
    /// CRL times have a resolution of one second; the cutoff second itself is refused.
    pub fn admits(self, created_at_ms: i64) -> bool {
        match self {
            SigningCutoff::Nothing => false,
            SigningCutoff::Before(cutoff) => created_at_ms < cutoff.saturating_mul(1000),
        }
    }
}

/// The cutoff a CRL entry sets for envelopes signed by the revoked certificate:
/// - key-compromise, ca-compromise: the invalidity date (when the key may have been stolen);
///   without one nobody can say when the thief started, so nothing is accepted;
/// - superseded, cessation-of-operation, affiliation-changed: the revocation date, so that a
///   rotated key's earlier messages stay valid for their lifetime;
/// - no reason, unspecified and every other reason (certificate-hold, privilege-withdrawn,
///   aa-compromise, …): nothing, as before reasons were read.
///
/// An invalidity date later than the revocation date counts as the revocation date, and an
/// invalidity date given with a benign reason lowers the cutoff to it: the earlier of two
/// statements about the key wins.
pub fn signing_cutoff(entry: &RevokedEntry) -> SigningCutoff {
    let earliest = |date: Option<i64>| date.map_or(entry.revoked_at, |d| d.min(entry.revoked_at));
    match entry.reason {
        Some(KEY_COMPROMISE | CA_COMPROMISE) => match entry.invalidity_date {
            Some(_) => SigningCutoff::Before(earliest(entry.invalidity_date)),
            None => SigningCutoff::Nothing,
        },
        Some(SUPERSEDED | CESSATION_OF_OPERATION | AFFILIATION_CHANGED) => {
            SigningCutoff::Before(earliest(entry.invalidity_date))
        }
        _ => SigningCutoff::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REVOKED_AT: i64 = 1_800_000_000;

    fn entry(reason: Option<u8>, invalidity_date: Option<i64>) -> RevokedEntry {
        RevokedEntry {
            serial: vec![1],
            revoked_at: REVOKED_AT,
            reason,
            invalidity_date,
        }
    }

    fn ms(secs: i64) -> i64 {
        secs * 1000
    }

    #[test]
    fn a_compromised_key_signs_validly_only_before_its_invalidity_date() {
        let t = REVOKED_AT - 3_600;
        for reason in [KEY_COMPROMISE, CA_COMPROMISE] {
            let cutoff = signing_cutoff(&entry(Some(reason), Some(t)));
            assert_eq!(cutoff, SigningCutoff::Before(t));
            assert!(cutoff.admits(ms(t) - 1));
            assert!(!cutoff.admits(ms(t)), "the cutoff second itself is refused");
            // After T but before the revocation: the thief's window.
            assert!(!cutoff.admits(ms(t + 60)));
            assert!(!cutoff.admits(ms(REVOKED_AT + 60)));
        }
    }

    #[test]
    fn a_compromised_key_without_a_compromise_time_signs_nothing() {
        for reason in [KEY_COMPROMISE, CA_COMPROMISE] {
            let cutoff = signing_cutoff(&entry(Some(reason), None));
            assert_eq!(cutoff, SigningCutoff::Nothing);
            assert!(!cutoff.admits(0));
            assert!(!cutoff.admits(i64::MIN));
        }
    }

    #[test]
    fn a_retired_key_signs_validly_until_its_revocation() {
        for reason in [SUPERSEDED, CESSATION_OF_OPERATION, AFFILIATION_CHANGED] {
            let cutoff = signing_cutoff(&entry(Some(reason), None));
            assert_eq!(cutoff, SigningCutoff::Before(REVOKED_AT));
            assert!(cutoff.admits(ms(REVOKED_AT - 86_400)));
            assert!(cutoff.admits(ms(REVOKED_AT) - 1));
            assert!(!cutoff.admits(ms(REVOKED_AT)));
        }
    }

    #[test]
    fn the_earlier_of_the_two_dates_wins() {
        // A compromise "after" the revocation is no later than the revocation.
        let late = signing_cutoff(&entry(Some(KEY_COMPROMISE), Some(REVOKED_AT + 3_600)));
        assert_eq!(late, SigningCutoff::Before(REVOKED_AT));
        // A superseded certificate whose key was also declared invalid earlier.
        let early = signing_cutoff(&entry(Some(SUPERSEDED), Some(REVOKED_AT - 10)));
        assert_eq!(early, SigningCutoff::Before(REVOKED_AT - 10));
    }

    #[test]
    fn no_reason_and_other_reasons_sign_nothing() {
        for reason in [
            None,
            Some(0),
            Some(6),
            Some(8),
            Some(9),
            Some(10),
            Some(7),
            Some(200),
        ] {
            for invalidity in [None, Some(REVOKED_AT - 3_600)] {
                assert_eq!(
                    signing_cutoff(&entry(reason, invalidity)),
                    SigningCutoff::Nothing,
                    "{reason:?} {invalidity:?}"
                );
            }
        }
    }

    #[test]
    fn far_times_do_not_overflow() {
        let cutoff = signing_cutoff(&entry(Some(SUPERSEDED), Some(i64::MAX)));
        assert!(cutoff.admits(i64::MIN));
        let cutoff = SigningCutoff::Before(i64::MAX);
        assert!(cutoff.admits(i64::MAX - 1));
        let cutoff = SigningCutoff::Before(i64::MIN);
        assert!(!cutoff.admits(i64::MIN));
    }
}
