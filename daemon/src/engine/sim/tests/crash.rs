//! Exactly once under crashes: a crash of any node at any step while traffic flows, each
//! run checked after the network settles.

use std::collections::{BTreeSet, HashMap};

use bluehelm_proto::{MessageRef, Precedence};

use super::{delivered, five_nodes, reports, traffic, Network, A_MINUTE, TRAFFIC_STEPS};

/// What was under way at a node when it crashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pending {
    /// Offers on their way to it, or decided and not yet answered.
    Receive,
    /// A round's fsync.
    Persist,
    /// Answers on their way, from it or to it.
    Answer,
    /// Copies it offered, not yet answered.
    Forward,
}

fn pending(net: &Network, n: usize) -> BTreeSet<Pending> {
    let node = &net.nodes[n];
    let mut kinds = BTreeSet::new();
    if net.wire.in_flight_to(n, true) > 0 || node.unanswered_batches() > 0 {
        kinds.insert(Pending::Receive);
    }
    if node.keeper.persisting() {
        kinds.insert(Pending::Persist);
    }
    if net.wire.in_flight_to(n, false) + net.wire.in_flight_from(n, false) > 0 {
        kinds.insert(Pending::Answer);
    }
    let unanswered = node
        .links
        .values()
        .any(|l| Precedence::ALL.iter().any(|&c| l.sender.in_flight(c) > 0));
    if unanswered {
        kinds.insert(Pending::Forward);
    }
    kinds
}

/// Runs the traffic with a crash of node `who` before step `at`, settles, and checks that
/// every message acknowledged to its application was delivered once, with one delivery
/// report back, and that no copy is left anywhere. Returns what was under way at the crash.
fn crash_once(seed: u64, who: usize, at: u64) -> BTreeSet<Pending> {
    let mut net = five_nodes(seed);
    let mut kinds = BTreeSet::new();
    for step in 0..=at.max(TRAFFIC_STEPS) {
        if step == at {
            kinds = pending(&net, who);
            net.crash(who);
        }
        traffic(&mut net, step);
        net.step();
    }
    net.settle(A_MINUTE);
    let context = format!(
        "seed {seed}: crash of {} at {at} ({kinds:?})",
        net.nodes[who].me()
    );
    let mut acknowledged: HashMap<&MessageRef, usize> = HashMap::new();
    for origin in ["ncb.fr", "ncb.de"] {
        let origin = net.node(origin);
        let reports = reports(&net, origin, true);
        for message in &net.nodes[origin].submitted {
            acknowledged.insert(message, origin);
            assert_eq!(
                reports.get(&message.id),
                Some(&1),
                "one report for {message}: {context}"
            );
        }
        assert_eq!(
            reports.len(),
            net.nodes[origin].submitted.len(),
            "{context}"
        );
    }
    // A crash of an origin loses what it had not made durable; it never acknowledged it.
    assert!(
        acknowledged.len() >= 170,
        "{context}: {}",
        acknowledged.len()
    );
    let mut arrived = 0;
    for dest in ["ncb.ke", "ncb.ug"] {
        for (message, n) in delivered(&net, net.node(dest)) {
            assert_eq!(n, 1, "{message} delivered {n} times: {context}");
            assert!(acknowledged.contains_key(&message), "{context}");
            arrived += 1;
        }
    }
    assert_eq!(arrived, acknowledged.len(), "{context}");
    for node in &net.nodes {
        assert!(node.keeper.store.all_queued().is_empty(), "{context}");
    }
    kinds
}

/// Crashes one of `who` (in turn) at every step while the traffic flows and at every third
/// while it drains, and checks that each node's crashes found each kind of work under way.
fn every_crash(who: &[&str]) {
    let seed = 7;
    let net = five_nodes(seed);
    let who: Vec<usize> = who.iter().map(|w| net.node(w)).collect();
    let mut covered = vec![BTreeSet::new(); who.len()];
    for (i, at) in (1..40).chain((40..80).step_by(3)).enumerate() {
        let n = i % who.len();
        covered[n].extend(crash_once(seed, who[n], at));
    }
    for (n, covered) in who.iter().zip(covered) {
        assert_eq!(
            covered.len(),
            4,
            "node {n}: crashes covered only {covered:?}"
        );
    }
}

#[test]
fn a_relay_that_crashes_at_any_step_delivers_every_message_once() {
    every_crash(&["gs"]);
}

#[test]
fn an_origin_that_crashes_at_any_step_delivers_every_message_it_acknowledged_once() {
    every_crash(&["ncb.fr", "ncb.de"]);
}

#[test]
fn a_destination_that_crashes_at_any_step_gets_every_message_once() {
    every_crash(&["ncb.ke", "ncb.ug"]);
}
