//! The send side of one link in virtual time: the link's `Sender` and the events waiting
//! for it, pumped as `net/link/send.rs` pumps it. Each step it takes its events most urgent
//! first (the end of a pause, then the answers of each class, FLASH first, hand-off
//! arrivals, queue changes, read results), tells the machine after each, and carries out
//! every action at once: takes from the hand-off, queues reads, forgets and give-ups at the
//! store thread, and puts offers on the wire.

use std::collections::VecDeque;
use std::time::Instant;

use bluehelm_proto::{NodeId, Precedence};

use super::keeper::{Command, Keeper, ReadFor, Reply};
use super::node::Node;
use super::wire::{Frame, Payload, Rng};
use crate::engine::ledger::{QueueKey, Queued, Write};
use crate::engine::sender::{Action, Sender};

pub struct LinkSide {
    pub peer: usize,
    pub peer_id: NodeId,
    /// The connection this side belongs to.
    pub epoch: u64,
    pub sender: Sender<Queued>,
    /// Answers read from each class's answer stream, not yet taken.
    pub answers: [VecDeque<Payload>; 4],
    /// Per class, the result of its read, with the read's limit.
    pub reads: [Option<(Vec<Queued>, usize)>; 4],
}

impl LinkSide {
    pub fn new(peer: usize, peer_id: NodeId, epoch: u64) -> Self {
        Self {
            peer,
            peer_id,
            epoch,
            sender: Sender::new(),
            answers: Default::default(),
            reads: Default::default(),
        }
    }

    /// Nothing offered unanswered, no event waiting.
    pub fn idle(&self) -> bool {
        Precedence::ALL
            .iter()
            .all(|&c| self.sender.in_flight(c) == 0)
            && self.answers.iter().all(VecDeque::is_empty)
            && self.reads.iter().all(Option::is_none)
    }
}

/// What a link's actions reach: the store thread and the wire.
struct Shell<'a> {
    me: usize,
    keeper: &'a mut Keeper,
    outbox: &'a mut Vec<Frame>,
}

impl Node {
    /// One turn of every link's send task.
    pub fn pump(&mut self, now: Instant, rng: &mut Rng) {
        let mut shell = Shell {
            me: self.index,
            keeper: &mut self.keeper,
            outbox: &mut self.outbox,
        };
        for link in self.links.values_mut() {
            shell.turn(link, now, rng);
        }
    }
}

impl Shell<'_> {
    fn turn(&mut self, link: &mut LinkSide, now: Instant, rng: &mut Rng) {
        if link.sender.poll_timeout().is_some_and(|t| t <= now) {
            link.sender.handle_timeout(now);
        }
        self.drain(link);
        for &class in Precedence::ALL {
            let rank = usize::from(class.rank());
            while let Some(answer) = link.answers[rank].pop_front() {
                match answer {
                    Payload::Accepted(refs) => {
                        link.sender.handle_accepted(class, &refs);
                    }
                    Payload::Refused(refusal) => {
                        link.sender.handle_refused(now, class, &refusal, rng.unit());
                    }
                    Payload::Offer(_) => unreachable!("offers go to the receiving side"),
                }
                self.drain(link);
            }
        }
        for &class in Precedence::ALL {
            if self.keeper.arrived(&link.peer_id, class) {
                link.sender.handle_hand_off_arrived(class);
                self.drain(link);
            }
        }
        if self.keeper.changed.remove(&link.peer_id) {
            link.sender.handle_queue_changed();
            self.drain(link);
        }
        for &class in Precedence::ALL {
            if let Some((batch, limit)) = link.reads[usize::from(class.rank())].take() {
                // Copies here are small: a read stops at its limit, never at the byte bound.
                let stopped_at_bound = batch.len() == limit;
                link.sender.handle_read(class, batch, stopped_at_bound);
                self.drain(link);
            }
        }
    }

    fn drain(&mut self, link: &mut LinkSide) {
        while let Some(action) = link.sender.poll_action() {
            self.execute(link, action);
        }
    }

    fn execute(&mut self, link: &mut LinkSide, action: Action<Queued>) {
        let read = |class, after, limit, why| Command::Read {
            peer: link.peer,
            hop: link.peer_id.clone(),
            epoch: link.epoch,
            class,
            after,
            limit,
            why,
        };
        match action {
            Action::Take { class } => {
                let copies = self.keeper.take(&link.peer_id, class);
                link.sender.handle_handed_off(class, copies);
            }
            Action::Read {
                class,
                after,
                limit,
            } => {
                let command = read(class, after, limit, ReadFor::Offer);
                self.keeper.commands.push_back(command);
            }
            Action::Offer { class, copies } => self.outbox.push(Frame {
                from: self.me,
                to: link.peer,
                class,
                epoch: link.epoch,
                payload: Payload::Offer(copies),
            }),
            Action::Forget { class, seqs } => {
                let writes = seqs
                    .into_iter()
                    .map(|seq| Write::Forget(QueueKey::new(&link.peer_id, class, seq)))
                    .collect();
                // Queued at the store now: it outlives the link (`send.rs`).
                self.keeper
                    .commands
                    .push_back(Command::Commit(writes, Reply::None));
            }
            Action::GiveUp {
                class,
                seq,
                reason,
                detail,
            } => {
                let why = ReadFor::GiveUp {
                    seq,
                    reason,
                    detail,
                };
                let command = read(class, seq.checked_sub(1), 1, why);
                self.keeper.commands.push_back(command);
            }
            // The simulated peer never ends an answer stream.
            Action::CloseStream { .. } => {}
        }
    }
}
