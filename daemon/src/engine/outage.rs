//! When a link went down, and when to say so again (issue 15, item 2). A link that is down
//! is reported at WARN when it goes down, then again at growing intervals while redials fail
//! (a satellite link may be down for days: one line a minute forever would bury the log),
//! and with its total downtime when it comes back. Pure: time comes in as Unix
//! milliseconds.

/// First repeat of "still down", after the loss.
pub const FIRST_REMINDER_MS: i64 = 60_000;
/// Longest gap between two "still down" lines.
pub const MAX_REMINDER_MS: i64 = 3_600_000;

/// One outage of one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    since_ms: i64,
    failed_redials: u32,
    next_reminder_ms: i64,
    reminder_gap_ms: i64,
}

impl Outage {
    /// The link went down (or could not be made) at `now_ms`.
    pub fn began(now_ms: i64) -> Self {
        Self {
            since_ms: now_ms,
            failed_redials: 0,
            next_reminder_ms: now_ms.saturating_add(FIRST_REMINDER_MS),
            reminder_gap_ms: FIRST_REMINDER_MS,
        }
    }

    /// A redial failed at `now_ms`: whether this one is worth a WARN line. True at most once
    /// per reminder gap, the gap doubling from [`FIRST_REMINDER_MS`] to [`MAX_REMINDER_MS`].
    pub fn redial_failed(&mut self, now_ms: i64) -> bool {
        self.failed_redials = self.failed_redials.saturating_add(1);
        if now_ms < self.next_reminder_ms {
            return false;
        }
        self.reminder_gap_ms = self.reminder_gap_ms.saturating_mul(2).min(MAX_REMINDER_MS);
        self.next_reminder_ms = now_ms.saturating_add(self.reminder_gap_ms);
        true
    }

    /// When the link went down (Unix ms).
    pub fn since_ms(&self) -> i64 {
        self.since_ms
    }

    /// How long it has been down at `now_ms`, in whole seconds (never negative: a clock set
    /// back does not make a downtime negative).
    pub fn down_for_secs(&self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(self.since_ms).max(0) / 1000
    }

    /// Redials that failed since it went down.
    pub fn failed_redials(&self) -> u32 {
        self.failed_redials
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_626_717_000;

    #[test]
    fn downtime_counts_from_the_loss() {
        let outage = Outage::began(T0);
        assert_eq!(outage.since_ms(), T0);
        assert_eq!(outage.down_for_secs(T0 + 42_999), 42);
        assert_eq!(outage.down_for_secs(T0 - 5_000), 0);
    }

    #[test]
    fn failed_redials_every_few_seconds_warn_at_growing_intervals() {
        let mut outage = Outage::began(T0);
        // A redial every 5 s for 3 hours.
        let warned: Vec<i64> = (1..=3 * 720)
            .map(|i| T0 + i * 5_000)
            .filter(|&now| outage.redial_failed(now))
            .map(|now| (now - T0) / 1000)
            .collect();
        assert_eq!(outage.failed_redials(), 3 * 720);
        // 1 min after the loss, then 2, 4, 8, 16, 32 min apart, then hourly.
        assert_eq!(warned, vec![60, 180, 420, 900, 1860, 3780, 7380]);
    }

    #[test]
    fn a_failure_before_the_first_reminder_is_quiet() {
        let mut outage = Outage::began(T0);
        assert!(!outage.redial_failed(T0 + 1_000));
        assert!(!outage.redial_failed(T0 + 59_999));
        assert!(outage.redial_failed(T0 + 60_000));
        assert!(!outage.redial_failed(T0 + 61_000));
    }
}
