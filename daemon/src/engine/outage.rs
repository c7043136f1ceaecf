//! When a link went down, and when to say so again (issue 15, item 2). A link that is down
//! is reported at WARN when it goes down, then again at growing intervals while redials fail
//! (a satellite link may be down for days: one line a minute forever would bury the log),
//! and with its total downtime when it comes back. Pure: time comes in as Unix
//! milliseconds.

use std::collections::HashMap;

use bluehelm_proto::NodeId;

/// Most outages remembered at once. A peer that linked once (any certified node may dial in)
/// and never came back keeps its entry; past this many, the longest outage is forgotten first
/// (only its "after an outage" log line is lost).
pub const MAX_OUTAGES: usize = 4096;

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

/// The outages of a node's links, by peer, at most [`MAX_OUTAGES`].
#[derive(Debug, Default)]
pub struct Outages {
    by_peer: HashMap<NodeId, Outage>,
}

impl Outages {
    /// `peer`'s link went down (or a first dial failed) at `now_ms`; an outage already under
    /// way keeps its start.
    pub fn lost(&mut self, peer: &NodeId, now_ms: i64) -> Outage {
        if let Some(outage) = self.by_peer.get(peer) {
            return *outage;
        }
        self.insert(peer, Outage::began(now_ms))
    }

    /// A dial of `peer` failed at `now_ms`: the outage, and whether to warn about it now
    /// (the first failure of a link never made, then [`Outage::redial_failed`]'s rhythm).
    pub fn redial_failed(&mut self, peer: &NodeId, now_ms: i64) -> (Outage, bool) {
        if let Some(outage) = self.by_peer.get_mut(peer) {
            let warn = outage.redial_failed(now_ms);
            return (*outage, warn);
        }
        let mut outage = Outage::began(now_ms);
        outage.redial_failed(now_ms);
        (self.insert(peer, outage), true)
    }

    /// `peer`'s link is up again: the outage it ends, if there was one.
    pub fn recovered(&mut self, peer: &NodeId) -> Option<Outage> {
        self.by_peer.remove(peer)
    }

    /// How many outages are remembered.
    pub fn len(&self) -> usize {
        self.by_peer.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_peer.is_empty()
    }

    /// Adds a new outage, forgetting the longest one first when full.
    fn insert(&mut self, peer: &NodeId, outage: Outage) -> Outage {
        if self.by_peer.len() >= MAX_OUTAGES {
            let longest = self
                .by_peer
                .iter()
                .min_by_key(|(_, o)| o.since_ms)
                .map(|(p, _)| p.clone());
            if let Some(longest) = longest {
                self.by_peer.remove(&longest);
            }
        }
        self.by_peer.insert(peer.clone(), outage);
        outage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: usize) -> NodeId {
        format!("ncb.p{n}").parse().expect("a node id")
    }

    #[test]
    fn the_outages_are_bounded_and_the_longest_is_forgotten_first() {
        let mut outages = Outages::default();
        for n in 0..MAX_OUTAGES {
            outages.lost(&peer(n), T0 + n as i64);
        }
        assert_eq!(outages.len(), MAX_OUTAGES);
        // One more: the oldest (peer 0) goes, the newest stays.
        let (_, warn) = outages.redial_failed(&peer(MAX_OUTAGES), T0 + 10_000_000);
        assert!(warn, "a first failed dial is reported");
        assert_eq!(outages.len(), MAX_OUTAGES);
        assert!(outages.recovered(&peer(0)).is_none());
        assert!(outages.recovered(&peer(1)).is_some());
        assert!(outages.recovered(&peer(MAX_OUTAGES)).is_some());
    }

    #[test]
    fn an_outage_under_way_keeps_its_start_until_the_link_is_back() {
        let mut outages = Outages::default();
        assert_eq!(outages.lost(&peer(1), T0).since_ms(), T0);
        assert_eq!(outages.lost(&peer(1), T0 + 5_000).since_ms(), T0);
        let (outage, warn) = outages.redial_failed(&peer(1), T0 + 6_000);
        assert_eq!(
            (outage.since_ms(), outage.failed_redials(), warn),
            (T0, 1, false)
        );
        assert_eq!(outages.recovered(&peer(1)).map(|o| o.since_ms()), Some(T0));
        assert!(outages.is_empty());
        assert_eq!(outages.lost(&peer(1), T0 + 9_000).since_ms(), T0 + 9_000);
    }

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
