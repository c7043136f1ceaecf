//! The simulated wire: one connection per pair of linked nodes, carrying offers one way and
//! answers the other, each direction with its own delay (drawn per frame from a seeded
//! range, but never overtaking an earlier frame of the same stream: a QUIC stream delivers
//! in order). A link that goes down loses what is in flight on it, and its next connection
//! is a new epoch: frames of an old one are never delivered.
//!
//! The wire also keeps the record the offered-once rule is checked against: every copy
//! offered, by link, epoch and message.

use std::collections::{BTreeMap, HashMap};

use bluehelm_proto::{MessageRef, Precedence, Refusal};

use crate::engine::ledger::Queued;

/// A deterministic source of randomness (xorshift64): one seed, one run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // xorshift never leaves zero.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `low..=high`.
    pub fn range(&mut self, (low, high): (u64, u64)) -> u64 {
        low + self.next() % (high - low + 1)
    }

    /// A number in [0, 1): the jitter of a backoff.
    pub fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
}

/// What a frame carries on a class's offer stream (offers) or answer stream (the rest).
#[derive(Debug, Clone)]
pub enum Payload {
    Offer(Vec<Queued>),
    Accepted(Vec<MessageRef>),
    Refused(Refusal),
}

#[derive(Debug, Clone)]
pub struct Frame {
    pub from: usize,
    pub to: usize,
    pub class: Precedence,
    /// The connection it was sent on.
    pub epoch: u64,
    pub payload: Payload,
}

/// One copy offered, as the wire saw it.
#[derive(Debug, Clone)]
pub struct Offered {
    pub at: u64,
    pub from: usize,
    pub to: usize,
    pub epoch: u64,
    pub class: Precedence,
    /// The copy's sequence number at the sender.
    pub seq: u64,
    pub message: MessageRef,
}

/// The connection between two nodes.
#[derive(Debug, Clone)]
struct Link {
    up: bool,
    epoch: u64,
    /// Delay range in ms, per direction: from the lower index to the higher, and back.
    delay: [(u64, u64); 2],
}

#[derive(Debug, Default)]
pub struct Wire {
    /// Keyed by the two node indices, lower first.
    links: BTreeMap<(usize, usize), Link>,
    /// In flight: by due time, then sending order.
    in_flight: BTreeMap<(u64, u64), Frame>,
    sent: u64,
    /// The latest due time per stream (sender, receiver, class, answers or offers).
    last_due: HashMap<(usize, usize, Precedence, bool), u64>,
    /// Every copy offered, in order.
    pub offers: Vec<Offered>,
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Wire {
    /// Adds a link, down, with a delay range per direction (`a` to `b`, then back).
    pub fn add_link(&mut self, a: usize, b: usize, there: (u64, u64), back: (u64, u64)) {
        let delay = if a < b { [there, back] } else { [back, there] };
        self.links.insert(
            pair(a, b),
            Link {
                up: false,
                epoch: 0,
                delay,
            },
        );
    }

    /// The pairs of linked nodes.
    pub fn pairs(&self) -> Vec<(usize, usize)> {
        self.links.keys().copied().collect()
    }

    /// The link's current epoch, if it is up.
    pub fn epoch(&self, a: usize, b: usize) -> Option<u64> {
        self.links
            .get(&pair(a, b))
            .filter(|l| l.up)
            .map(|l| l.epoch)
    }

    /// A new connection: returns its epoch.
    pub fn up(&mut self, a: usize, b: usize) -> u64 {
        let link = self.links.get_mut(&pair(a, b)).expect("a configured link");
        link.up = true;
        link.epoch
    }

    /// The connection is lost, with what is in flight on it.
    pub fn down(&mut self, a: usize, b: usize) {
        let link = self.links.get_mut(&pair(a, b)).expect("a configured link");
        if link.up {
            link.up = false;
            link.epoch += 1;
        }
        self.in_flight
            .retain(|_, f| pair(f.from, f.to) != pair(a, b));
    }

    /// Sends a frame at `now`; on a link that is down, or of an old epoch, it is lost.
    pub fn send(&mut self, now: u64, rng: &mut Rng, frame: Frame) {
        let Some(link) = self.links.get(&pair(frame.from, frame.to)) else {
            return;
        };
        if !link.up || link.epoch != frame.epoch {
            return;
        }
        let direction = usize::from(frame.from > frame.to);
        let answers = !matches!(frame.payload, Payload::Offer(_));
        let stream = (frame.from, frame.to, frame.class, answers);
        let drawn = now + rng.range(link.delay[direction]);
        let due = drawn.max(self.last_due.get(&stream).copied().unwrap_or(0));
        self.last_due.insert(stream, due);
        if let Payload::Offer(copies) = &frame.payload {
            for copy in copies {
                self.offers.push(Offered {
                    at: now,
                    from: frame.from,
                    to: frame.to,
                    epoch: frame.epoch,
                    class: frame.class,
                    seq: copy.key.seq(),
                    message: copy.message.message.clone(),
                });
            }
        }
        self.sent += 1;
        self.in_flight.insert((due, self.sent), frame);
    }

    /// The frames due at or before `now`, in order.
    pub fn due(&mut self, now: u64) -> Vec<Frame> {
        let later = self.in_flight.split_off(&(now + 1, 0));
        let due = std::mem::replace(&mut self.in_flight, later);
        due.into_values().collect()
    }

    /// Whether anything is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Frames in flight to `to` (offers if `offers`, answers otherwise).
    pub fn in_flight_to(&self, to: usize, offers: bool) -> usize {
        self.in_flight
            .values()
            .filter(|f| f.to == to && matches!(f.payload, Payload::Offer(_)) == offers)
            .count()
    }

    /// Frames in flight from `from` (offers if `offers`, answers otherwise).
    pub fn in_flight_from(&self, from: usize, offers: bool) -> usize {
        self.in_flight
            .values()
            .filter(|f| f.from == from && matches!(f.payload, Payload::Offer(_)) == offers)
            .count()
    }
}
