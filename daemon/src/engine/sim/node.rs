//! One node in the simulation: its store thread (`keeper.rs`), the receiving side of its
//! links (offers decided as `custody/shell.rs` decides them, answered batch by batch in
//! stream order once their round is durable, as `net/link.rs` answers them), the send side
//! of each link (`pump.rs`), and what the node originates: submissions, delivery reports,
//! and non-delivery reports when it gives a copy up.
//!
//! Where the real node verifies a signature, the simulation decodes the envelope it carries
//! in place of signed bytes (`StoredMessage::signed` holds the envelope's encoding): there is
//! no crypto here, and `engine::custody::decide` needs none.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bluehelm_proto::{Envelope, MessageRef, NodeId, Precedence, Refusal, RefusalReason};

mod shell;

use super::keeper::{Command, Done, Keeper, ReadFor, Reply};
use super::pump::LinkSide;
use super::wire::{Frame, Payload};
use crate::engine::ledger::{
    refusal_excused_if_held, NotCommitted, Provenance, Queued, Write, WriteOutcome,
};
use crate::engine::RoutingTable;

/// An offer batch waiting for its answer: `custody::shell::Decided`.
struct Batch {
    id: u64,
    answers: Vec<Option<Result<MessageRef, Refusal>>>,
    /// Per write of the batch's commit: its answer's index, and the refusal that stands
    /// unless the ledger finds the message held (`None`: an acceptance).
    pending: Vec<(usize, MessageRef, Option<Refusal>)>,
    /// The commit's outcome, once the round is done (always ready without a commit).
    outcome: Option<Result<Vec<WriteOutcome>, NotCommitted>>,
}

pub struct Node {
    pub index: usize,
    pub keeper: Keeper,
    pub routing: RoutingTable,
    /// The default role policy (every simulated signer is the hub: see `shell.rs`).
    pub policy: crate::engine::policy::Policy,
    /// Empty: the simulated messages carry no release markings.
    pub directory: crate::engine::release::Directory,
    /// The send side of each link that is up, by peer.
    pub links: BTreeMap<usize, LinkSide>,
    /// Offer batches awaiting their answers, per (peer, class) stream, in stream order.
    streams: HashMap<(usize, Precedence), VecDeque<Batch>>,
    next_batch: u64,
    /// Frames to put on the wire.
    pub outbox: Vec<Frame>,
    /// Ids of messages this node writes (never reused, also across crashes: ids are
    /// time-ordered and random in the real node).
    next_id: u64,
    /// Give-ups committed and their outcomes (`Removed` once per copy).
    pub give_ups: Vec<(crate::engine::ledger::QueueKey, WriteOutcome)>,
    /// Submissions acknowledged to the application: durable here.
    pub submitted: Vec<MessageRef>,
}

impl Node {
    pub fn new(index: usize, routing: RoutingTable, fsync_ms: u64) -> Self {
        let me = routing.me.clone().expect("a node has an id");
        Self {
            index,
            keeper: Keeper::new(me, fsync_ms),
            routing,
            policy: Default::default(),
            directory: Default::default(),
            links: BTreeMap::new(),
            streams: HashMap::new(),
            next_batch: 0,
            outbox: Vec::new(),
            next_id: 0,
            give_ups: Vec::new(),
            submitted: Vec::new(),
        }
    }

    pub fn me(&self) -> &NodeId {
        &self.keeper.me
    }

    /// The process and its machine die and restart: only what its store made durable is left.
    pub fn crash(&mut self) {
        self.keeper.crash();
        self.links.clear();
        self.streams.clear();
        self.outbox.clear();
    }

    /// A connection with `peer` came up: its send side starts (`net/link/send.rs`).
    pub fn link_up(&mut self, peer: usize, peer_id: NodeId, epoch: u64) {
        self.keeper.register(&peer_id);
        self.links.insert(peer, LinkSide::new(peer, peer_id, epoch));
    }

    /// The connection with `peer` is gone: its tasks end; commits already queued at the
    /// store still run, but their answers are not sent.
    pub fn link_down(&mut self, peer: usize) {
        if let Some(link) = self.links.remove(&peer) {
            self.keeper.deregister(&link.peer_id);
        }
        self.streams.retain(|(p, _), _| *p != peer);
    }

    /// Whether nothing is under way at this node.
    pub fn idle(&self) -> bool {
        self.keeper.idle()
            && self.streams.values().all(VecDeque::is_empty)
            && self.outbox.is_empty()
            && self.links.values().all(LinkSide::idle)
    }

    /// The envelopes in the inbox, in arrival order.
    pub fn inbox(&self) -> Vec<Envelope> {
        self.keeper
            .store
            .inbox()
            .iter()
            .map(|(_, m)| Envelope::decode(&m.signed).expect("the simulation stores envelopes"))
            .collect()
    }

    /// Offer batches received and not yet answered.
    pub fn unanswered_batches(&self) -> usize {
        self.streams.values().map(VecDeque::len).sum()
    }

    /// A frame arrives from the wire.
    pub fn receive(&mut self, frame: Frame, now_ms: i64) {
        let Frame {
            from, class, epoch, ..
        } = frame;
        match frame.payload {
            Payload::Offer(copies) => self.offers(from, epoch, class, copies, now_ms),
            payload => {
                if let Some(link) = self.links.get_mut(&from).filter(|l| l.epoch == epoch) {
                    link.answers[usize::from(class.rank())].push_back(payload);
                }
            }
        }
    }

    /// A batch of offers on `class`'s stream from `peer`: decided, its writes queued at the
    /// store (`custody::shell::decide_offers`).
    fn offers(
        &mut self,
        peer: usize,
        epoch: u64,
        class: Precedence,
        copies: Vec<Queued>,
        now: i64,
    ) {
        let Some(from) = self.links.get(&peer).map(|l| l.peer_id.clone()) else {
            return;
        };
        let mut answers = Vec::with_capacity(copies.len());
        let mut pending = Vec::new();
        let mut writes = Vec::new();
        for copy in copies {
            let provenance = Provenance::Relayed { from: from.clone() };
            match self.custody_of(&copy.message, Some(class), provenance, now) {
                Ok(custody) => {
                    pending.push((answers.len(), custody.message.message.clone(), None));
                    answers.push(None);
                    writes.push(Write::Accept(custody));
                }
                Err(refusal) if refusal_excused_if_held(refusal.reason) => {
                    writes.push(Write::Refused {
                        message: refusal.message.clone(),
                        reason: refusal.reason,
                    });
                    pending.push((answers.len(), refusal.message.clone(), Some(refusal)));
                    answers.push(None);
                }
                Err(refusal) => answers.push(Some(Err(refusal))),
            }
        }
        self.next_batch += 1;
        let id = self.next_batch;
        let outcome = if writes.is_empty() {
            Some(Ok(Vec::new()))
        } else {
            let reply = Reply::Answer {
                peer,
                epoch,
                class,
                batch: id,
            };
            self.keeper
                .commands
                .push_back(Command::Commit(writes, reply));
            None
        };
        self.streams
            .entry((peer, class))
            .or_default()
            .push_back(Batch {
                id,
                answers,
                pending,
                outcome,
            });
        self.answer(peer, epoch, class);
    }

    /// Answers the batches at the front of a stream whose rounds are done, in order: one
    /// acceptance listing the accepted, then a refusal each (`net/link.rs`, `answer_frames`).
    fn answer(&mut self, peer: usize, epoch: u64, class: Precedence) {
        let Some(stream) = self.streams.get_mut(&(peer, class)) else {
            return;
        };
        while stream.front().is_some_and(|b| b.outcome.is_some()) {
            let mut batch = stream.pop_front().expect("checked above");
            let outcome = batch.outcome.take().expect("checked above");
            for (n, (index, message, refused)) in batch.pending.into_iter().enumerate() {
                let got = outcome.as_ref().map(|o| o.get(n).copied());
                batch.answers[index] = Some(match (refused, got) {
                    (_, Ok(Some(WriteOutcome::Duplicate))) => Ok(message),
                    (None, Ok(_)) => Ok(message),
                    (None, Err(_)) => Err(Refusal {
                        message,
                        reason: RefusalReason::StorageUnavailable,
                        detail: "custody not taken".into(),
                    }),
                    (Some(refusal), _) => Err(refusal),
                });
            }
            let mut accepted = Vec::new();
            let mut refused = Vec::new();
            for answer in batch.answers.into_iter().flatten() {
                match answer {
                    Ok(message) => accepted.push(message),
                    Err(refusal) => refused.push(Payload::Refused(refusal)),
                }
            }
            let me = self.index;
            let frame = |payload| Frame {
                from: me,
                to: peer,
                class,
                epoch,
                payload,
            };
            if !accepted.is_empty() {
                self.outbox.push(frame(Payload::Accepted(accepted)));
            }
            self.outbox.extend(refused.into_iter().map(frame));
        }
    }

    /// Runs the store thread and hands its answers to whoever waits for them.
    pub fn run_store(&mut self, now: u64, now_ms: i64) {
        for done in self.keeper.run(now, now_ms) {
            match done {
                Done::Commit(
                    Reply::Answer {
                        peer,
                        epoch,
                        class,
                        batch,
                    },
                    outcome,
                ) => {
                    let stream = self.streams.get_mut(&(peer, class));
                    if let Some(b) = stream.and_then(|s| s.iter_mut().find(|b| b.id == batch)) {
                        b.outcome = Some(outcome);
                        self.answer(peer, epoch, class);
                    }
                }
                Done::Commit(Reply::GiveUp(key), outcome) => {
                    if let Ok(outcomes) = outcome {
                        self.give_ups.push((key, outcomes[0]));
                    }
                }
                Done::Commit(Reply::Submitted(message), Ok(_)) => self.submitted.push(message),
                Done::Commit(Reply::Submitted(_) | Reply::None, _) => {}
                Done::Read {
                    peer,
                    epoch,
                    class,
                    limit,
                    batch,
                    why,
                } => {
                    // A read for a link that ended was dropped with its task.
                    let Some(link) = self.links.get_mut(&peer).filter(|l| l.epoch == epoch) else {
                        continue;
                    };
                    match why {
                        ReadFor::Offer => {
                            link.reads[usize::from(class.rank())] = Some((batch, limit))
                        }
                        ReadFor::GiveUp {
                            seq,
                            reason,
                            detail,
                        } => {
                            if let Some(queued) = batch.into_iter().find(|q| q.key.seq() == seq) {
                                self.give_up(&queued, reason, detail, now_ms);
                            }
                        }
                    }
                }
                Done::Expired(due) => {
                    for (queued, reason) in due {
                        let detail = format!("expired while queued at {}", self.me());
                        self.give_up(&queued, reason, detail, now_ms);
                    }
                }
            }
        }
    }

    /// The expiry sweeper's turn (`node.rs`, `sweep_expired`).
    pub fn sweep(&mut self) {
        self.keeper.commands.push_back(Command::Expired);
    }
}
