//! A link's send side in virtual time: the machine, a simulated queue (the store's reads,
//! hand-off and forgets, each served after a delay; a read sent after a hand-off is served
//! once that copy's round is durable or failed, as the store does) and a simulated peer
//! (answers after a delay, by a policy, and records any copy that reaches it twice). [`Sim::step`] moves the
//! clock by one millisecond and delivers what is due, in the order the link's task
//! (`net/link/send.rs`) takes its events; the machine's actions are carried out at once,
//! as the task does. No sockets, no disk, no sleeps: a drain of thousands of copies takes
//! milliseconds, and a seed makes every run the same.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use bluehelm_proto::{MessageRef, NonDeliveryReason, Precedence, Refusal, RefusalReason};

use super::testing::{copy_of, TestCopy};
use super::{Action, SendError, Sender};
use crate::engine::custody::RefusalAction;

pub const TICK: Duration = Duration::from_millis(1);
/// Copies the simulated store holds for a class's hand-off (as `store::handoff::HELD_MAX`).
const HELD_MAX: usize = 64;

/// Whence an offer's copies came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    HandOff,
    Read,
}

/// One copy offered, as the peer saw it.
#[derive(Debug, Clone)]
pub struct Offer {
    pub at: Duration,
    pub class: Precedence,
    pub seq: u64,
    pub source: Source,
    /// The sequence numbers of the whole offer it came in.
    pub batch: Vec<u64>,
}

/// What the peer says to a copy: `None` accepts it.
pub type Verdict = Box<dyn FnMut(&TestCopy, u32) -> Option<RefusalReason>>;

/// Delays, in milliseconds (inclusive ranges, drawn per event).
#[derive(Debug, Clone, Copy)]
pub struct Delays {
    pub read: (u64, u64),
    pub answer: (u64, u64),
    /// Until a `Forget` (or a give-up) is applied to the queue.
    pub forget: (u64, u64),
}

impl Default for Delays {
    fn default() -> Self {
        Self {
            read: (1, 3),
            answer: (2, 10),
            forget: (1, 30),
        }
    }
}

enum Answer {
    Accepted(Vec<MessageRef>),
    Refused(Refusal),
}

/// The simulated peer's view of the offers.
#[derive(Default)]
pub struct Peer {
    /// Offered, answer not yet delivered.
    pub outstanding: HashSet<u64>,
    pub accepted: HashSet<u64>,
    pub refused_for_good: HashSet<u64>,
    pub times_offered: HashMap<u64, u32>,
    /// Broken rules, as they happened.
    pub violations: Vec<String>,
}

pub struct Sim {
    pub start: Instant,
    pub now: Instant,
    pub sender: Sender<TestCopy>,
    pub delays: Delays,
    rng: u64,
    next_seq: u64,
    /// The durable queue, all classes, by sequence number.
    pub queue: BTreeMap<u64, TestCopy>,
    /// The hand-off: copies held per class until taken, and whether it was full.
    held: [(Vec<TestCopy>, bool); 4],
    arrived: [bool; 4],
    changed: bool,
    /// Reads under way: when due, class, after, limit. Served when due, but not while a
    /// staged copy's round is under way: like the store, which serves a read sent after a
    /// hand-off once that copy's round is durable (or failed).
    reads: Vec<(Instant, Precedence, Option<u64>, usize)>,
    /// Copies handed off whose round is neither durable nor failed yet.
    staged: HashSet<u64>,
    answers: Vec<(Instant, Precedence, Answer)>,
    /// The latest answer due per class: a stream delivers in order.
    last_answer: [Instant; 4],
    removals: Vec<(Instant, Vec<u64>)>,
    last_removal: Instant,
    verdict: Verdict,
    pub peer: Peer,
    // What happened.
    pub offers: Vec<Offer>,
    pub reads_issued: Vec<(Duration, Precedence)>,
    pub give_ups: Vec<(u64, NonDeliveryReason)>,
    pub closed_streams: Vec<Precedence>,
    /// Per temporary refusal: when it was delivered and how long the class pauses.
    pub pauses: Vec<(Duration, u64, Duration)>,
    source: Source,
}

impl Sim {
    /// A link that just came up, with a peer that accepts everything.
    pub fn new(seed: u64) -> Self {
        let start = Instant::now();
        Self {
            start,
            now: start,
            sender: Sender::new(),
            delays: Delays::default(),
            rng: seed.max(1),
            next_seq: 1,
            queue: BTreeMap::new(),
            held: Default::default(),
            arrived: [false; 4],
            changed: false,
            reads: Vec::new(),
            staged: HashSet::new(),
            answers: Vec::new(),
            last_answer: [start; 4],
            removals: Vec::new(),
            last_removal: start,
            verdict: Box::new(|_, _| None),
            peer: Peer::default(),
            offers: Vec::new(),
            reads_issued: Vec::new(),
            give_ups: Vec::new(),
            closed_streams: Vec::new(),
            pauses: Vec::new(),
            source: Source::Read,
        }
    }

    pub fn with_verdict(mut self, verdict: Verdict) -> Self {
        self.verdict = verdict;
        self
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// `n` copies queued while the link was down: the machine hears nothing of them.
    pub fn queue_down(&mut self, class: Precedence, n: usize) -> Vec<u64> {
        (0..n).map(|_| self.durable(class).seq).collect()
    }

    /// `n` copies queued now: durable, handed off, and the queue changed.
    pub fn queue(&mut self, class: Precedence, n: usize) -> Vec<u64> {
        let mut seqs = Vec::new();
        for _ in 0..n {
            let copy = self.durable(class);
            seqs.push(copy.seq);
            self.hold(copy);
        }
        self.changed = true;
        seqs
    }

    /// A relayed copy handed off before its round is durable (cut-through): not queued yet.
    pub fn stage(&mut self, class: Precedence) -> u64 {
        let copy = copy_of(class, self.next_seq);
        self.next_seq += 1;
        let seq = copy.seq;
        self.hold(copy);
        self.staged.insert(seq);
        seq
    }

    /// The round of a staged copy is durable: it is queued, and the queue changed.
    pub fn commit_staged(&mut self, class: Precedence, seq: u64) {
        self.queue.insert(seq, copy_of(class, seq));
        self.staged.remove(&seq);
        self.changed = true;
    }

    /// The round of a staged copy failed: the store takes it back from the hand-off.
    pub fn take_back(&mut self, seq: u64) {
        self.staged.remove(&seq);
        for (held, _) in &mut self.held {
            held.retain(|c| c.seq != seq);
        }
    }

    /// The peer ends the answer side of a class's offer stream.
    pub fn end_answer_stream(&mut self, class: Precedence) -> Result<(), SendError> {
        let ended = self.sender.handle_stream_ended(class);
        self.drain();
        ended
    }

    /// Delivers what is due without moving the clock.
    pub fn deliver_now(&mut self) {
        self.deliver();
    }

    pub fn step(&mut self) {
        self.now += TICK;
        self.deliver();
    }

    /// Steps until `done`, at most `limit` of virtual time.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) {
        let until = self.now + limit;
        self.drain();
        while !done(self) {
            assert!(self.now < until, "not done after {limit:?} of virtual time");
            self.step();
        }
    }

    /// Steps until the queue is empty and nothing is outstanding.
    pub fn run_until_idle(&mut self, limit: Duration) {
        self.run_until(limit, |sim| {
            sim.queue.is_empty()
                && sim.answers.is_empty()
                && sim.reads.is_empty()
                && sim.removals.is_empty()
                && Precedence::ALL
                    .iter()
                    .all(|&c| sim.sender.in_flight(c) == 0)
        });
    }

    pub fn offered_seqs(&self, class: Precedence) -> Vec<u64> {
        self.offers
            .iter()
            .filter(|o| o.class == class)
            .map(|o| o.seq)
            .collect()
    }

    fn durable(&mut self, class: Precedence) -> TestCopy {
        let copy = copy_of(class, self.next_seq);
        self.next_seq += 1;
        self.queue.insert(copy.seq, copy.clone());
        copy
    }

    fn hold(&mut self, copy: TestCopy) {
        let rank = usize::from(copy.class.rank());
        let (held, full) = &mut self.held[rank];
        if *full || held.len() >= HELD_MAX {
            // The read finds this one and those after it.
            *full = true;
            return;
        }
        held.push(copy);
        self.arrived[rank] = true;
    }

    fn draw(&mut self, (low, high): (u64, u64)) -> Duration {
        // xorshift64: deterministic per seed.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        Duration::from_millis(low + self.rng % (high - low + 1))
    }

    /// Delivers what is due, in the order of the link's task: pauses that ended, answers
    /// (most urgent class first), hand-off arrivals, queue changes, read results; and
    /// applies forgets to the queue.
    fn deliver(&mut self) {
        if self.sender.poll_timeout().is_some_and(|t| t <= self.now) {
            self.sender.handle_timeout(self.now);
            self.drain();
        }
        for &class in Precedence::ALL {
            while let Some(at) = self
                .answers
                .iter()
                .position(|(due, c, _)| *due <= self.now && *c == class)
            {
                let (_, class, answer) = self.answers.remove(at);
                self.answer(class, answer);
                self.drain();
            }
        }
        for &class in Precedence::ALL {
            let rank = usize::from(class.rank());
            if std::mem::take(&mut self.arrived[rank]) {
                self.sender.handle_hand_off_arrived(class);
                self.drain();
            }
        }
        if std::mem::take(&mut self.changed) {
            self.sender.handle_queue_changed();
            self.drain();
        }
        while let Some(at) = self
            .reads
            .iter()
            .position(|r| r.0 <= self.now && self.staged.is_empty())
        {
            let (_, class, after, limit) = self.reads.remove(at);
            let batch: Vec<TestCopy> = self
                .queue
                .values()
                .filter(|c| c.class == class && after.is_none_or(|a| c.seq > a))
                .take(limit)
                .cloned()
                .collect();
            let bound = batch.len() == limit;
            self.source = Source::Read;
            self.sender.handle_read(class, batch, bound);
            self.drain();
        }
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.removals.drain(..).partition(|r| r.0 <= now);
        self.removals = later;
        for (_, seqs) in due {
            for seq in seqs {
                self.queue.remove(&seq);
            }
        }
    }

    fn answer(&mut self, class: Precedence, answer: Answer) {
        match answer {
            Answer::Accepted(refs) => {
                for r in &refs {
                    self.peer.outstanding.remove(&seq_of(r));
                }
                self.sender.handle_accepted(class, &refs);
            }
            Answer::Refused(refusal) => {
                let seq = seq_of(&refusal.message);
                self.peer.outstanding.remove(&seq);
                // No jitter: the backoff's delays are exact.
                let action = self.sender.handle_refused(self.now, class, &refusal, 0.0);
                if action == Some(RefusalAction::RetryLater) {
                    let until = self.sender.paused_until(class).expect("paused");
                    self.pauses.push((self.elapsed(), seq, until - self.now));
                }
            }
        }
    }

    /// Carries out the machine's actions until it has none.
    pub fn drain(&mut self) {
        while let Some(action) = self.sender.poll_action() {
            self.execute(action);
        }
    }

    fn execute(&mut self, action: Action<TestCopy>) {
        match action {
            Action::Take { class } => {
                let (held, full) = &mut self.held[usize::from(class.rank())];
                *full = false;
                let copies = std::mem::take(held);
                // The offer it may queue comes next, before its read.
                self.source = Source::HandOff;
                self.sender.handle_handed_off(class, copies);
            }
            Action::Read {
                class,
                after,
                limit,
            } => {
                self.source = Source::Read;
                self.reads_issued.push((self.elapsed(), class));
                let due = self.now + self.draw(self.delays.read);
                self.reads.push((due, class, after, limit));
            }
            Action::Offer { class, copies } => self.offer(class, copies),
            Action::Forget { seqs, .. } => self.remove_later(seqs),
            Action::GiveUp { seq, reason, .. } => {
                self.give_ups.push((seq, reason));
                self.remove_later(vec![seq]);
            }
            Action::CloseStream { class } => self.closed_streams.push(class),
        }
    }

    fn remove_later(&mut self, seqs: Vec<u64>) {
        let due = (self.now + self.draw(self.delays.forget)).max(self.last_removal);
        self.last_removal = due;
        self.removals.push((due, seqs));
    }

    /// The peer reads an offer and answers it as one batch: the accepted refs, then one
    /// refusal per refused copy (docs/protocol.md 7.2).
    fn offer(&mut self, class: Precedence, copies: Vec<TestCopy>) {
        let batch: Vec<u64> = copies.iter().map(|c| c.seq).collect();
        let mut accepted = Vec::new();
        let mut refused = Vec::new();
        for copy in copies {
            let seq = copy.seq;
            let peer = &mut self.peer;
            if copy.class != class {
                peer.violations
                    .push(format!("{seq} offered on the {class} stream"));
            }
            if peer.outstanding.contains(&seq) {
                peer.violations
                    .push(format!("{seq} offered while in flight"));
            }
            if peer.accepted.contains(&seq) {
                peer.violations
                    .push(format!("{seq} offered after it was accepted"));
            }
            if peer.refused_for_good.contains(&seq) {
                peer.violations
                    .push(format!("{seq} offered after a permanent refusal"));
            }
            peer.outstanding.insert(seq);
            let times = peer.times_offered.entry(seq).or_default();
            *times += 1;
            let times = *times;
            self.offers.push(Offer {
                at: self.elapsed(),
                class,
                seq,
                source: self.source,
                batch: batch.clone(),
            });
            match (self.verdict)(&copy, times) {
                None => {
                    self.peer.accepted.insert(seq);
                    accepted.push(copy.message);
                }
                Some(reason) => {
                    if reason.is_permanent() {
                        self.peer.refused_for_good.insert(seq);
                    }
                    refused.push(Refusal {
                        message: copy.message,
                        reason,
                        detail: format!("refused {seq}"),
                    });
                }
            }
        }
        let rank = usize::from(class.rank());
        let due = (self.now + self.draw(self.delays.answer)).max(self.last_answer[rank]);
        self.last_answer[rank] = due;
        if !accepted.is_empty() {
            self.answers.push((due, class, Answer::Accepted(accepted)));
        }
        for refusal in refused {
            self.answers.push((due, class, Answer::Refused(refusal)));
        }
    }
}

/// The sequence number a test message reference was made from.
pub fn seq_of(message: &MessageRef) -> u64 {
    let mut seq = [0; 8];
    seq.copy_from_slice(&message.id.as_bytes()[..8]);
    u64::from_be_bytes(seq)
}
