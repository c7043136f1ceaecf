//! When a route's primary next hop is given up for its alternates, and when it is taken back
//! (issue 15, item 7: a backup hub). Pure: link events and time come in as arguments, Unix
//! milliseconds.
//!
//! A peer is silent once its link has been down for `after_ms` (a peer never linked since the
//! node started counts as down since the start). Routing then skips it for the first
//! alternate that is not silent (`RoutingTable::hop_avoiding`), and the custody shell moves
//! the copies already queued for it ([`reroute`]). Its link coming up ends its silence at
//! once: new traffic goes back to it, while copies already moved stay with the alternate,
//! which delivers them.

use std::collections::{BTreeMap, BTreeSet};

use bluehelm_proto::{Destination, NodeId};

use super::routing::{Hop, RouteDecision, RoutingTable};

/// The silence after which a primary is given up when the config does not say
/// (`[limits] failover_after_secs`): long enough that a link that drops and comes straight
/// back (a hub restarted, a satellite handover) does not move traffic, short enough that
/// FLASH traffic waits a minute at most for the backup hub.
pub const DEFAULT_FAILOVER_AFTER_SECS: u64 = 60;

/// What one node knows of its peers' silence.
#[derive(Debug, Clone)]
pub struct Failover {
    /// When the node started: a peer never linked since is down since then.
    started_ms: i64,
    /// Peers whose link is up now.
    up: BTreeSet<NodeId>,
    /// Peers whose link went down, since when.
    down_since: BTreeMap<NodeId, i64>,
    /// Peers given up as silent, as [`Failover::poll`] last found them.
    given_up: BTreeSet<NodeId>,
}

impl Failover {
    /// No peer heard yet, at `started_ms`.
    pub fn new(started_ms: i64) -> Self {
        Self {
            started_ms,
            up: BTreeSet::new(),
            down_since: BTreeMap::new(),
            given_up: BTreeSet::new(),
        }
    }

    /// `peer`'s link is up: it is heard again, and traffic for it goes back to it from now
    /// on. Whether it had been given up.
    pub fn link_up(&mut self, peer: &NodeId) -> bool {
        self.up.insert(peer.clone());
        self.down_since.remove(peer);
        self.given_up.remove(peer)
    }

    /// `peer`'s link went down at `now_ms`.
    pub fn link_down(&mut self, peer: &NodeId, now_ms: i64) {
        if self.up.remove(peer) {
            self.down_since.insert(peer.clone(), now_ms);
        }
    }

    /// Whether `peer` has been silent for `after_ms` at `now_ms`.
    fn silent(&self, peer: &NodeId, after_ms: i64, now_ms: i64) -> bool {
        if self.up.contains(peer) {
            return false;
        }
        let since = self
            .down_since
            .get(peer)
            .copied()
            .unwrap_or(self.started_ms);
        now_ms.saturating_sub(since) >= after_ms
    }

    /// Gives up the peers among `watched` (those whose silence moves traffic:
    /// `RoutingTable::failover_peers`) that have been silent for `after_ms` at `now_ms`
    /// (both from the config in force, so that a reload applies at the next poll); returns
    /// those given up by this call.
    pub fn poll(&mut self, watched: &BTreeSet<NodeId>, after_ms: i64, now_ms: i64) -> Vec<NodeId> {
        let newly: Vec<NodeId> = watched
            .iter()
            .filter(|peer| !self.given_up.contains(*peer) && self.silent(peer, after_ms, now_ms))
            .cloned()
            .collect();
        self.given_up.extend(newly.iter().cloned());
        // A peer no longer watched (a route changed) is no longer avoided.
        self.given_up.retain(|peer| watched.contains(peer));
        newly
    }

    /// The peers given up now: routing avoids them.
    pub fn given_up(&self) -> &BTreeSet<NodeId> {
        &self.given_up
    }
}

/// Where a copy queued for `from` goes now that the peers in `silent` are given up: the
/// alternate, if routing it again sends it, whole, to one other next hop. `None` leaves it
/// where it is: its destination is `from` itself, no alternate is heard, or its recipients
/// would split between next hops (it waits for `from`; a copy is never split after custody).
pub fn reroute(
    table: &RoutingTable,
    silent: &BTreeSet<NodeId>,
    from: &NodeId,
    destination: &Destination,
    recipients: &[NodeId],
    origin: &NodeId,
) -> Option<NodeId> {
    let RouteDecision::Deliver(hops) =
        table.decide_avoiding(destination, recipients, origin, silent)
    else {
        return None;
    };
    let mut hops = hops.into_keys();
    match (hops.next(), hops.next()) {
        (Some(Hop::Next(to)), None) if to != *from => Some(to),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::routing::{Route, RoutePattern};

    const T0: i64 = 1_764_626_717_000;
    const AFTER: i64 = 3_000;

    fn id(s: &str) -> NodeId {
        s.parse().unwrap()
    }

    fn watched() -> BTreeSet<NodeId> {
        [id("gs"), id("gs-b")].into()
    }

    #[test]
    fn a_peer_is_given_up_after_the_silence_and_taken_back_when_heard() {
        let mut failover = Failover::new(T0);
        failover.link_up(&id("gs"));
        failover.link_up(&id("gs-b"));
        assert!(failover.poll(&watched(), AFTER, T0 + 60_000).is_empty());
        failover.link_down(&id("gs"), T0 + 10_000);
        assert!(failover.poll(&watched(), AFTER, T0 + 12_999).is_empty());
        assert_eq!(
            failover.poll(&watched(), AFTER, T0 + 13_000),
            vec![id("gs")]
        );
        // Reported once.
        assert!(failover.poll(&watched(), AFTER, T0 + 20_000).is_empty());
        assert_eq!(failover.given_up(), &[id("gs")].into());
        assert!(failover.link_up(&id("gs")));
        assert!(failover.given_up().is_empty());
        assert!(!failover.link_up(&id("gs")));
    }

    #[test]
    fn a_peer_never_heard_is_silent_from_the_start() {
        let mut failover = Failover::new(T0);
        failover.link_up(&id("gs-b"));
        assert!(failover.poll(&watched(), AFTER, T0 + 2_999).is_empty());
        assert_eq!(failover.poll(&watched(), AFTER, T0 + 3_000), vec![id("gs")]);
    }

    #[test]
    fn a_link_that_drops_and_returns_within_the_silence_moves_nothing() {
        let mut failover = Failover::new(T0);
        failover.link_up(&id("gs"));
        failover.link_up(&id("gs-b"));
        failover.link_down(&id("gs"), T0 + 1_000);
        assert!(failover.poll(&watched(), AFTER, T0 + 2_000).is_empty());
        failover.link_up(&id("gs"));
        assert!(failover.poll(&watched(), AFTER, T0 + 10_000).is_empty());
        // A second loss counts from itself, not from the first.
        failover.link_down(&id("gs"), T0 + 20_000);
        assert!(failover.poll(&watched(), AFTER, T0 + 22_000).is_empty());
        assert_eq!(
            failover.poll(&watched(), AFTER, T0 + 23_000),
            vec![id("gs")]
        );
    }

    #[test]
    fn a_peer_no_longer_in_a_route_is_no_longer_avoided() {
        let mut failover = Failover::new(T0);
        assert_eq!(failover.poll(&watched(), AFTER, T0 + AFTER).len(), 2);
        failover.poll(&[id("gs-b")].into(), AFTER, T0 + AFTER + 1);
        assert_eq!(failover.given_up(), &[id("gs-b")].into());
    }

    fn ncb() -> RoutingTable {
        RoutingTable {
            me: Some(id("ncb.fr")),
            neighbours: [id("gs"), id("gs-b")].into(),
            routes: vec![Route {
                pattern: RoutePattern::parse("mission.*").unwrap(),
                via: id("gs"),
                alternates: vec![id("gs-b")],
            }],
            default_route: Some(id("gs")),
            default_alternates: vec![],
            ..Default::default()
        }
    }

    #[test]
    fn queued_copies_move_to_the_alternate_unless_they_are_for_the_primary_itself() {
        let table = ncb();
        let silent: BTreeSet<NodeId> = [id("gs")].into();
        let me = id("ncb.fr");
        let post = Destination::Node(id("mission.unmiss"));
        assert_eq!(
            reroute(&table, &silent, &id("gs"), &post, &[], &me),
            Some(id("gs-b"))
        );
        // For gs itself, or by a route without alternates: it waits for gs.
        let gs = Destination::Node(id("gs"));
        assert_eq!(reroute(&table, &silent, &id("gs"), &gs, &[], &me), None);
        let other = Destination::Node(id("ncb.ke"));
        assert_eq!(reroute(&table, &silent, &id("gs"), &other, &[], &me), None);
        // Nothing given up: nothing moves.
        let none = BTreeSet::new();
        assert_eq!(reroute(&table, &none, &id("gs"), &post, &[], &me), None);
    }
}
