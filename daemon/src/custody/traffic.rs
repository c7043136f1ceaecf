//! Counters by precedence and reason, and the custody latency histogram (issue 15, item 1):
//! relaxed atomic adds on the hot path, read at scrape time by `crate::metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bluehelm_proto::{Precedence, RefusalReason};

use crate::metrics::histogram::LatencyHistogram;

/// The four classes, by rank.
const CLASSES: usize = Precedence::ALL.len();

/// Refused offers are counted by the class of the stream they came on; offers refused before
/// any class was known (a local caller's batch) are counted in this extra slot.
const UNKNOWN_CLASS: usize = CLASSES;

/// Why a link did not come up, for `bluehelm_handshake_failures_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The QUIC or TLS handshake itself failed (certificate refused by TLS, revoked, closed).
    Tls,
    /// The peer took longer than the handshake timeout (or the first ping's).
    Timeout,
    /// The certificate verified but does not name an acceptable node (not dialled, unknown).
    Identity,
    /// The peer is certified but is no configured peer, and unknown peers are not accepted.
    NotConfigured,
    /// The peer answered the first ping wrongly, or the local endpoint could not dial.
    Protocol,
}

impl HandshakeFailure {
    pub const ALL: [Self; 5] = [
        Self::Tls,
        Self::Timeout,
        Self::Identity,
        Self::NotConfigured,
        Self::Protocol,
    ];

    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls => "tls",
            Self::Timeout => "timeout",
            Self::Identity => "identity",
            Self::NotConfigured => "not_configured",
            Self::Protocol => "protocol",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
}

/// What went through the node, by class, and how long custody took.
#[derive(Debug, Default)]
pub struct Traffic {
    taken: [AtomicU64; CLASSES],
    forwarded: [AtomicU64; CLASSES],
    refused: [[AtomicU64; CLASSES + 1]; RefusalReason::ALL.len()],
    handshake_failures: [AtomicU64; HandshakeFailure::ALL.len()],
    /// From a batch's arrival at the custody shell to its answers (durable or refused),
    /// observed once per message.
    pub custody_latency: LatencyHistogram,
}

fn rank(class: Precedence) -> usize {
    usize::from(class.rank())
}

impl Traffic {
    /// `n` messages of `class` taken into custody (from peers or local applications).
    pub fn taken(&self, class: Precedence, n: u64) {
        self.taken[rank(class)].fetch_add(n, Ordering::Relaxed);
    }

    /// `n` copies of `class` the next hop took custody of.
    pub fn forwarded(&self, class: Precedence, n: u64) {
        self.forwarded[rank(class)].fetch_add(n, Ordering::Relaxed);
    }

    /// One offer refused for `reason`, arrived on a stream of `class` (if known).
    pub fn refused(&self, reason: RefusalReason, class: Option<Precedence>) {
        let Some(r) = RefusalReason::ALL.iter().position(|r| *r == reason) else {
            return;
        };
        let c = class.map_or(UNKNOWN_CLASS, rank);
        self.refused[r][c].fetch_add(1, Ordering::Relaxed);
    }

    /// One link that did not come up.
    pub fn handshake_failed(&self, why: HandshakeFailure) {
        self.handshake_failures[why.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// One batch of `n` messages answered `elapsed` after it arrived.
    pub fn custody_took(&self, elapsed: Duration, n: u64) {
        self.custody_latency.observe_many(elapsed, n);
    }

    /// `(class, taken)` for every class.
    pub fn taken_by_class(&self) -> impl Iterator<Item = (Precedence, u64)> + '_ {
        by_class(&self.taken)
    }

    /// `(class, forwarded)` for every class.
    pub fn forwarded_by_class(&self) -> impl Iterator<Item = (Precedence, u64)> + '_ {
        by_class(&self.forwarded)
    }

    /// `(reason, class or None, refused)` for every pair, zeros included.
    pub fn refused_by_reason_and_class(
        &self,
    ) -> impl Iterator<Item = (RefusalReason, Option<Precedence>, u64)> + '_ {
        RefusalReason::ALL
            .iter()
            .zip(&self.refused)
            .flat_map(|(reason, row)| {
                row.iter().enumerate().map(move |(c, n)| {
                    let class = Precedence::ALL.get(c).copied();
                    (*reason, class, n.load(Ordering::Relaxed))
                })
            })
    }

    /// `(reason, failures)` for every reason.
    pub fn handshake_failures(&self) -> impl Iterator<Item = (HandshakeFailure, u64)> + '_ {
        HandshakeFailure::ALL
            .iter()
            .zip(&self.handshake_failures)
            .map(|(why, n)| (*why, n.load(Ordering::Relaxed)))
    }
}

fn by_class(counters: &[AtomicU64; CLASSES]) -> impl Iterator<Item = (Precedence, u64)> + '_ {
    Precedence::ALL
        .iter()
        .zip(counters)
        .map(|(class, n)| (*class, n.load(Ordering::Relaxed)))
}
