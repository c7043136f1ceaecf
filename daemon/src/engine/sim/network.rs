//! Several nodes and the wire between them, stepped together in virtual milliseconds.
//! [`Network::step`] moves the clock by one millisecond and then, in a fixed order: delivers
//! the frames due (in the order they were sent), runs each node's store thread (rounds whose
//! fsync is done are answered, new rounds start), lets each node's expiry sweeper run once
//! per virtual second, turns each link's send task, and puts what the nodes sent on the
//! wire. A seed draws every delay, so each run is the same.

use std::time::{Duration, Instant};

use bluehelm_proto::{MessageRef, NodeId, Precedence};

use super::node::Node;
use super::wire::{Rng, Wire};
use crate::engine::RoutingTable;

/// The virtual clock starts here (2026-01-01, Unix ms): envelopes need a plausible time.
pub const EPOCH_MS: i64 = 1_767_225_600_000;
/// As `node.rs`'s `EXPIRY_SWEEP`.
const SWEEP_EVERY_MS: u64 = 1000;

/// Delays of a network, in ms.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// One way on a link, per frame (inclusive range).
    pub wire: (u64, u64),
    /// One fsync of a round.
    pub fsync: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            wire: (1, 3),
            fsync: 2,
        }
    }
}

pub struct Network {
    /// Virtual ms since the start.
    pub now: u64,
    start: Instant,
    pub nodes: Vec<Node>,
    pub wire: Wire,
    rng: Rng,
}

impl Network {
    /// A star: `hub` linked with every other node, which routes everything through it. All
    /// links are up.
    pub fn star(seed: u64, hub: &str, leaves: &[&str], timing: Timing) -> Self {
        let id = |s: &str| -> NodeId { s.parse().expect("a valid node id") };
        let mut names = vec![hub];
        names.extend_from_slice(leaves);
        let nodes = names
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let mut routing = RoutingTable {
                    me: Some(id(name)),
                    ..Default::default()
                };
                if index == 0 {
                    routing.neighbours = leaves.iter().map(|l| id(l)).collect();
                } else {
                    routing.neighbours = [id(hub)].into();
                    routing.default_route = Some(id(hub));
                }
                Node::new(index, routing, timing.fsync)
            })
            .collect();
        let mut net = Self {
            now: 0,
            start: Instant::now(),
            nodes,
            wire: Wire::default(),
            rng: Rng::new(seed),
        };
        for leaf in 1..names.len() {
            net.wire.add_link(0, leaf, timing.wire, timing.wire);
            net.up(0, leaf);
        }
        net
    }

    /// The index of the node named `name`.
    pub fn node(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.me().as_str() == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    pub fn now_ms(&self) -> i64 {
        EPOCH_MS + self.now as i64
    }

    fn instant(&self) -> Instant {
        self.start + Duration::from_millis(self.now)
    }

    /// A connection between `a` and `b` comes up: each side starts its send task.
    pub fn up(&mut self, a: usize, b: usize) {
        if self.wire.epoch(a, b).is_some() {
            return;
        }
        let epoch = self.wire.up(a, b);
        let (a_id, b_id) = (self.nodes[a].me().clone(), self.nodes[b].me().clone());
        self.nodes[a].link_up(b, b_id, epoch);
        self.nodes[b].link_up(a, a_id, epoch);
    }

    /// The connection between `a` and `b` is lost, with what was in flight on it.
    pub fn down(&mut self, a: usize, b: usize) {
        self.wire.down(a, b);
        self.nodes[a].link_down(b);
        self.nodes[b].link_down(a);
    }

    /// Node `n` crashes with its machine and restarts at once: its connections are lost and
    /// made again.
    pub fn crash(&mut self, n: usize) {
        let peers: Vec<usize> = self
            .wire
            .pairs()
            .into_iter()
            .filter_map(|(a, b)| (a == n).then_some(b).or((b == n).then_some(a)))
            .filter(|&p| self.wire.epoch(n, p).is_some())
            .collect();
        for &peer in &peers {
            self.down(n, peer);
        }
        self.nodes[n].crash();
        for peer in peers {
            self.up(n, peer);
        }
    }

    /// A local application at `from` submits a message for `to`.
    pub fn submit(
        &mut self,
        from: usize,
        to: &str,
        class: Precedence,
        lifetime_ms: i64,
    ) -> MessageRef {
        let to: NodeId = to.parse().expect("a valid node id");
        let now_ms = self.now_ms();
        self.nodes[from].submit(&to, class, lifetime_ms, now_ms)
    }

    /// One virtual millisecond.
    pub fn step(&mut self) {
        self.now += 1;
        let (now, now_ms, instant) = (self.now, self.now_ms(), self.instant());
        for frame in self.wire.due(now) {
            self.nodes[frame.to].receive(frame, now_ms);
        }
        for node in &mut self.nodes {
            node.run_store(now, now_ms);
        }
        if now % SWEEP_EVERY_MS == 0 {
            for node in &mut self.nodes {
                node.sweep();
            }
        }
        for node in &mut self.nodes {
            node.pump(instant, &mut self.rng);
        }
        for n in 0..self.nodes.len() {
            for frame in std::mem::take(&mut self.nodes[n].outbox) {
                self.wire.send(now, &mut self.rng, frame);
            }
        }
    }

    /// Steps until `done`, at most `limit` virtual ms.
    pub fn run_until(&mut self, limit: u64, mut done: impl FnMut(&Network) -> bool) {
        let until = self.now + limit;
        while !done(self) {
            assert!(self.now < until, "not done after {limit} virtual ms");
            self.step();
        }
    }

    /// Whether nothing is under way anywhere: no frame on the wire, no command at a store,
    /// no offer unanswered.
    pub fn idle(&self) -> bool {
        self.wire.is_empty() && self.nodes.iter().all(Node::idle)
    }

    /// Steps until idle with every queue empty.
    pub fn settle(&mut self, limit: u64) {
        self.run_until(limit, |net| {
            net.idle()
                && net
                    .nodes
                    .iter()
                    .all(|n| n.keeper.ledger.depths().all(|(_, d)| d == [0; 4]))
        });
    }
}
