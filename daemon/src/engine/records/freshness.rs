//! How fresh a replica is, in the words every answer and `db status` use: "as of change N,
//! 2 h 10 min behind gs". A replica is level with the hub when it has applied the hub's
//! latest change; the hub sends an empty batch at least every [`HEARTBEAT`] while a stream
//! is idle, so a linked replica learns it is still level. "Behind" is the time since the
//! replica last knew itself level: a replica that has been cut off for two hours is two
//! hours behind, whether or not the hub changed anything meanwhile.

use std::time::Duration;

/// Longest an idle sync stream goes without a batch from the hub.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// Within this, a replica counts as level (a heartbeat is on its way).
const LEVEL: Duration = Duration::from_secs(2 * HEARTBEAT.as_secs());

/// A replica's position against the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Freshness {
    /// The last change applied.
    pub applied_seq: u64,
    /// The hub's latest change, as last heard.
    pub head_seq: u64,
    /// When the replica last knew it was level with the hub (its own clock), Unix ms;
    /// `None` before the first full sync.
    pub level_at_ms: Option<i64>,
}

impl Freshness {
    /// How long since the replica was last level, at `now_ms`.
    pub fn behind_ms(&self, now_ms: i64) -> Option<i64> {
        self.level_at_ms.map(|at| (now_ms - at).max(0))
    }

    /// "as of change N, 2 h 10 min behind gs", "as of change N, level with gs", or "as of
    /// change N, never level with gs yet".
    pub fn describe(&self, now_ms: i64, hub: &str) -> String {
        let n = self.applied_seq;
        match self.behind_ms(now_ms) {
            None => format!("as of change {n}, never level with {hub} yet"),
            Some(ms) if ms < LEVEL.as_millis() as i64 => {
                format!("as of change {n}, level with {hub}")
            }
            Some(ms) => format!("as of change {n}, {} behind {hub}", span(ms)),
        }
    }
}

/// A duration for people: "45 s", "12 min", "2 h 10 min", "3 d 4 h".
pub fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_is_told_in_words() {
        let f = Freshness {
            applied_seq: 42,
            head_seq: 42,
            level_at_ms: Some(1_000),
        };
        assert_eq!(
            f.describe(1_000 + 5_000, "gs"),
            "as of change 42, level with gs"
        );
        let later = 1_000 + (2 * 3600 + 10 * 60) * 1000;
        assert_eq!(
            f.describe(later, "gs"),
            "as of change 42, 2 h 10 min behind gs"
        );
        let never = Freshness::default();
        assert_eq!(
            never.describe(later, "gs"),
            "as of change 0, never level with gs yet"
        );
        assert_eq!(span(45_000), "45 s");
        assert_eq!(span((3 * 86_400 + 4 * 3600) * 1000), "3 d 4 h");
    }
}
