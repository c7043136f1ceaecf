//! A node's store thread in virtual time, as `store/keeper.rs` runs it: the ledger over the
//! store in memory (`ledger/memory.rs`), commands served in rounds (urgent reads, urgent
//! commits, the other commits, the other reads: `ledger::goes_first`), a round's early
//! copies handed off before its fsync, the thread blocked while a round's fsync runs, and
//! every later persist failing once one has (until the node restarts). The hand-off buffers
//! mirror `store/keeper/handoff.rs`: held only for registered links, at most 64 copies or
//! 256 KiB per next hop and class, always a prefix of what was queued since the last take.

use std::collections::{HashMap, HashSet, VecDeque};

use bluehelm_proto::{MessageRef, NodeId, NonDeliveryReason, Precedence};

use crate::engine::ledger::memory::{Key, MemoryStore, Op};
use crate::engine::ledger::{
    self, Ledger, NotCommitted, QueueKey, Queued, Request, RoundPlan, Write, WriteOutcome,
};

/// As `store::keeper::MAX_ROUND`.
const MAX_ROUND: usize = 4096;
/// As `store::keeper::handoff::HELD_MAX` and `HELD_BYTES`.
const HELD_MAX: usize = 64;
const HELD_BYTES: usize = 256 * 1024;
/// As the expiry sweeper's batch (`node.rs`, `sweep_expired`).
const SWEEP_LIMIT: usize = 1000;

/// Who waits for a commit's outcome.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Nobody (a forget).
    None,
    /// A local application waits for its submission to be durable.
    Submitted(MessageRef),
    /// The answerer of a batch of offers from `peer` on `class` (connection `epoch`).
    Answer {
        peer: usize,
        epoch: u64,
        class: Precedence,
        batch: u64,
    },
    /// A give-up (by a link or the expiry sweep): its outcome is recorded.
    GiveUp(QueueKey),
}

/// Why a queue is read.
#[derive(Debug, Clone)]
pub enum ReadFor {
    /// A link's sender reads on.
    Offer,
    /// A link gives up on one copy (`net/link/send.rs`, `give_up_copy`).
    GiveUp {
        seq: u64,
        reason: NonDeliveryReason,
        detail: String,
    },
}

#[derive(Debug)]
pub enum Command {
    Commit(Vec<Write>, Reply),
    Read {
        peer: usize,
        hop: NodeId,
        epoch: u64,
        class: Precedence,
        after: Option<u64>,
        limit: usize,
        why: ReadFor,
    },
    /// The expiry sweep's read (`Store::give_ups_due`).
    Expired,
}

/// What the store thread answered.
#[derive(Debug)]
pub enum Done {
    Commit(Reply, Result<Vec<WriteOutcome>, NotCommitted>),
    Read {
        peer: usize,
        epoch: u64,
        class: Precedence,
        limit: usize,
        batch: Vec<Queued>,
        why: ReadFor,
    },
    Expired(Vec<(Queued, NonDeliveryReason)>),
}

#[derive(Debug, Default)]
struct Held {
    copies: Vec<Queued>,
    bytes: usize,
    full: bool,
    links: usize,
    /// Copies arrived since the link last looked (its `Notify`).
    arrived: bool,
}

/// A round whose fsync is running.
struct Persisting {
    plan: RoundPlan,
    ops: Vec<Op>,
    replies: Vec<Reply>,
    done_at: u64,
    /// The disk fails it.
    fails: bool,
    /// The copies it handed off early.
    early: Vec<QueueKey>,
}

enum Job {
    Reads(Vec<Command>),
    Round(Vec<Command>),
}

pub struct Keeper {
    pub me: NodeId,
    pub store: MemoryStore,
    pub ledger: Ledger,
    /// The store has failed: every persist fails until the node restarts.
    pub failed: bool,
    /// The fsync of the next round that hands off a copy of this class early fails (a disk
    /// fault).
    pub fail_next_early_round: Option<Precedence>,
    /// How long an fsync takes, in ms.
    pub fsync_ms: u64,
    pub commands: VecDeque<Command>,
    jobs: VecDeque<Job>,
    persisting: Option<Persisting>,
    held: HashMap<(NodeId, Precedence), Held>,
    /// Next hops whose queue changed (their watch channels).
    pub changed: HashSet<NodeId>,
    /// Messages put in the inbox: when, and which.
    pub inbox_log: Vec<(u64, MessageRef)>,
    /// Copies a failed round handed off early that no link had taken when it failed: the
    /// ledger takes them back.
    pub taken_back: Vec<Queued>,
}

impl Keeper {
    pub fn new(me: NodeId, fsync_ms: u64) -> Self {
        let store = MemoryStore::default();
        Self {
            me,
            ledger: store.ledger(),
            store,
            failed: false,
            fail_next_early_round: None,
            fsync_ms,
            commands: VecDeque::new(),
            jobs: VecDeque::new(),
            persisting: None,
            held: HashMap::new(),
            changed: HashSet::new(),
            inbox_log: Vec::new(),
            taken_back: Vec::new(),
        }
    }

    /// The machine dies: what was not fsynced, the commands, the round under way and the
    /// hand-offs are gone; the ledger is rebuilt from the store (`Ledger::recover`).
    pub fn crash(&mut self) {
        self.store.crash();
        self.ledger = self.store.ledger();
        self.failed = false;
        self.fail_next_early_round = None;
        self.commands.clear();
        self.jobs.clear();
        self.persisting = None;
        self.held.clear();
        self.changed.clear();
    }

    /// Whether the thread has nothing to do.
    pub fn idle(&self) -> bool {
        self.commands.is_empty() && self.jobs.is_empty() && self.persisting.is_none()
    }

    /// Whether a round's fsync is running.
    pub fn persisting(&self) -> bool {
        self.persisting.is_some()
    }

    /// Runs the thread until it waits for an fsync or has nothing to do; returns its answers.
    pub fn run(&mut self, now: u64, now_ms: i64) -> Vec<Done> {
        let mut done = Vec::new();
        loop {
            if let Some(p) = &self.persisting {
                if p.done_at > now {
                    return done;
                }
                let p = self.persisting.take().expect("checked above");
                let result = if p.fails {
                    self.failed = true;
                    // What no link took yet: the ledger is to take these back.
                    let held = self.held.values().flat_map(|h| &h.copies);
                    let left = held.filter(|q| p.early.contains(&q.key)).cloned();
                    self.taken_back.extend(left.collect::<Vec<_>>());
                    Err(NotCommitted)
                } else {
                    Ok(())
                };
                self.finish(now, p.plan, p.ops, p.replies, result, &mut done);
                continue;
            }
            if let Some(job) = self.jobs.pop_front() {
                match job {
                    Job::Reads(reads) => {
                        for read in reads {
                            done.push(self.serve(read, now_ms));
                        }
                    }
                    Job::Round(commits) => self.commit_round(now, commits, &mut done),
                }
                continue;
            }
            if self.commands.is_empty() {
                return done;
            }
            let n = self.commands.len().min(MAX_ROUND);
            let round: Vec<Command> = self.commands.drain(..n).collect();
            let (commits, reads): (Vec<_>, Vec<_>) = round
                .into_iter()
                .partition(|c| matches!(c, Command::Commit(..)));
            let (urgent_reads, reads): (Vec<_>, Vec<_>) = reads.into_iter().partition(is_urgent);
            let (urgent, commits): (Vec<_>, Vec<_>) = commits.into_iter().partition(is_urgent);
            self.jobs.extend([
                Job::Reads(urgent_reads),
                Job::Round(urgent),
                Job::Round(commits),
                Job::Reads(reads),
            ]);
        }
    }

    fn commit_round(&mut self, now: u64, commits: Vec<Command>, done: &mut Vec<Done>) {
        if commits.is_empty() {
            return;
        }
        let mut replies = Vec::with_capacity(commits.len());
        for command in commits {
            if let Command::Commit(writes, reply) = command {
                let Ok(()) = self.ledger.stage(&self.store, writes);
                replies.push(reply);
            }
        }
        let mut plan = self.ledger.close_round();
        let (ops, early) = plan.prepare(MemoryStore::encode);
        let mut faulty = false;
        let mut early_keys = Vec::new();
        if let Some(early) = early {
            faulty = self
                .fail_next_early_round
                .is_some_and(|class| early.iter().any(|(_, q)| q.message.precedence == class));
            early_keys = early.iter().map(|(_, q)| q.key.clone()).collect();
            let forgotten = plan.forgotten().to_vec();
            self.put(early, &forgotten);
        }
        if self.failed {
            // A failed store fails every persist at once (`Storage::persist`).
            self.finish(now, plan, ops, replies, Err(NotCommitted), done);
        } else if plan.needs_fsync() {
            // A fault shows when the fsync returns: early copies may have left meanwhile.
            let fails = faulty && self.fail_next_early_round.take().is_some();
            let done_at = now + self.fsync_ms;
            self.persisting = Some(Persisting {
                plan,
                ops,
                replies,
                done_at,
                fails,
                early: early_keys,
            });
        } else {
            self.finish(now, plan, ops, replies, Ok(()), done);
        }
    }

    fn finish(
        &mut self,
        now: u64,
        plan: RoundPlan,
        ops: Vec<Op>,
        replies: Vec<Reply>,
        result: Result<(), NotCommitted>,
        done: &mut Vec<Done>,
    ) {
        if result.is_ok() {
            for (key, value) in &ops {
                if let (Key::Inbox(_), Some(crate::engine::ledger::memory::Value::Copy(copy))) =
                    (key, value)
                {
                    self.inbox_log.push((now, copy.message.clone()));
                }
            }
            self.store.persist(ops, plan.needs_fsync());
        }
        if self.failed {
            self.ledger.handle_store_failed();
        }
        let outcome = self.ledger.handle_round_committed(plan, result);
        self.put(outcome.hand_off, &outcome.take_back);
        match outcome.outcomes {
            Ok(outcomes) => {
                for hop in outcome.woken {
                    self.changed.insert(hop);
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    done.push(Done::Commit(reply, Ok(outcome)));
                }
            }
            Err(NotCommitted) => {
                for reply in replies {
                    done.push(Done::Commit(reply, Err(NotCommitted)));
                }
            }
        }
    }

    fn serve(&mut self, read: Command, now_ms: i64) -> Done {
        match read {
            Command::Read {
                peer,
                hop,
                epoch,
                class,
                after,
                limit,
                why,
            } => Done::Read {
                peer,
                epoch,
                class,
                limit,
                batch: self.store.queued_from(&hop, class, after, limit),
                why,
            },
            Command::Expired => Done::Expired(
                self.ledger
                    .sweep(now_ms, SWEEP_LIMIT)
                    .into_iter()
                    .filter_map(|g| Some((self.store.copy(&g.key)?, g.reason)))
                    .collect(),
            ),
            Command::Commit(..) => unreachable!("commits are served in rounds"),
        }
    }

    /// `HandOffs::put`: holds copies for registered links, takes back `forgotten`.
    fn put(&mut self, copies: Vec<(NodeId, Queued)>, forgotten: &[QueueKey]) {
        for key in forgotten {
            let Some(precedence) = key.precedence() else {
                continue;
            };
            if let Some(h) = self.held.get_mut(&(key.next_hop(), precedence)) {
                if let Some(at) = h.copies.iter().position(|q| &q.key == key) {
                    let gone = h.copies.remove(at);
                    h.bytes -= gone.message.signed.len();
                }
            }
        }
        for (hop, queued) in copies {
            let Some(h) = self.held.get_mut(&(hop, queued.message.precedence)) else {
                continue;
            };
            let size = queued.message.signed.len();
            if h.full || h.copies.len() >= HELD_MAX || h.bytes + size > HELD_BYTES {
                h.full = true;
                continue;
            }
            h.bytes += size;
            h.copies.push(queued);
            h.arrived = true;
        }
    }

    /// `HandOff::take`.
    pub fn take(&mut self, hop: &NodeId, class: Precedence) -> Vec<Queued> {
        let Some(h) = self.held.get_mut(&(hop.clone(), class)) else {
            return Vec::new();
        };
        h.bytes = 0;
        h.full = false;
        std::mem::take(&mut h.copies)
    }

    /// `HandOff::arrived`, consumed.
    pub fn arrived(&mut self, hop: &NodeId, class: Precedence) -> bool {
        self.held
            .get_mut(&(hop.clone(), class))
            .is_some_and(|h| std::mem::take(&mut h.arrived))
    }

    /// A link registers for its next hop's hand-offs (`HandOff::register`), all classes.
    pub fn register(&mut self, hop: &NodeId) {
        for &class in Precedence::ALL {
            self.held.entry((hop.clone(), class)).or_default().links += 1;
        }
    }

    /// The link ended (`HandOff`'s drop).
    pub fn deregister(&mut self, hop: &NodeId) {
        for &class in Precedence::ALL {
            let key = (hop.clone(), class);
            if let Some(h) = self.held.get_mut(&key) {
                h.links = h.links.saturating_sub(1);
                if h.links == 0 {
                    self.held.remove(&key);
                }
            }
        }
    }
}

/// `store::keeper::is_urgent`.
fn is_urgent(command: &Command) -> bool {
    ledger::goes_first(match command {
        Command::Read { class, .. } => Request::QueueRead(*class),
        Command::Commit(writes, _) => Request::Commit(writes),
        Command::Expired => Request::Other,
    })
}
