//! A store in memory for the ledger's tests, and a node made of a ledger and that store,
//! driven as the store thread (`store/keeper.rs`) drives the real ones: stage the callers'
//! writes, close the round, encode it, hand off the early copies, persist, hand the result
//! back. No disk, no clock, no threads: a test steps it and crashes it where it likes.

use std::collections::BTreeMap;

use bluehelm_proto::{MessageId, MessageRef, NodeId, Precedence};

use super::{
    Change, Ledger, Lookup, NotCommitted, QueueKey, Queued, RoundPlan, RoundWrites, StoredMessage,
    Write, WriteOutcome,
};

/// A key of the store in memory: the tables of `store/keys.rs`, typed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Seen(MessageRef),
    Queue(QueueKey),
    Inbox(u64),
    Note(MessageId),
    Reference(Vec<u8>),
    Review(MessageId),
    Notice(String),
    Identity(NodeId),
    Held(u64),
    Rule(NodeId),
    NextSeq,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Expires(i64),
    Copy(StoredMessage),
    Bytes(Vec<u8>),
    Seq(u64),
    Held(crate::engine::quarantine::HeldFor, StoredMessage),
}

/// One operation of a round: put a value, or remove the key.
pub type Op = (Key, Option<Value>);

/// The store in memory: what survives a crash (`durable`), and what reads see (`visible`:
/// also the rounds written without an fsync, which a crash of the machine loses).
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    durable: BTreeMap<Key, Value>,
    visible: BTreeMap<Key, Value>,
    /// Operations applied to `visible` since the last fsync, in order: an fsync applies them
    /// to `durable` too (cheaper than copying the store, which the network tests do often).
    unsynced: Vec<Op>,
}

impl MemoryStore {
    /// A round's writes as operations, as `Storage::encode` makes them.
    pub fn encode(mut writes: RoundWrites<'_>) -> Vec<Op> {
        let mut ops: Vec<Op> = Vec::new();
        for (message, at) in writes.seen() {
            ops.push((Key::Seen(message.clone()), Some(Value::Expires(at))));
        }
        for (seq, copy) in writes.inbox() {
            ops.push((Key::Inbox(*seq), Some(Value::Copy(copy.clone()))));
        }
        for queued in writes.queued() {
            let value = Value::Copy(queued.message.clone());
            ops.push((Key::Queue(queued.key.clone()), Some(value)));
        }
        for key in writes.dequeued() {
            ops.push((Key::Queue(key.clone()), None));
        }
        for change in writes.take_changes() {
            ops.push(match change {
                Change::AckInbox(seq) => (Key::Inbox(seq), None),
                Change::Note { id, value } => (Key::Note(id), Some(Value::Bytes(value))),
                Change::Reference { key, value } => {
                    (Key::Reference(key), Some(Value::Bytes(value)))
                }
                Change::Review { id, value } => (Key::Review(id), Some(Value::Bytes(value))),
                Change::Unreview(id) => (Key::Review(id), None),
                Change::Notice { notice_ref, value } => {
                    (Key::Notice(notice_ref), Some(Value::Bytes(value)))
                }
                Change::Identity { node, value } => {
                    (Key::Identity(node), Some(Value::Bytes(value)))
                }
                Change::Hold { id, to, message } => (Key::Held(id), Some(Value::Held(to, message))),
                Change::Unhold(id) => (Key::Held(id), None),
                Change::Rule(rule) => {
                    (Key::Rule(rule.node), Some(Value::Seq(rule.since_ms as u64)))
                }
            });
        }
        if let Some(seq) = writes.next_seq() {
            ops.push((Key::NextSeq, Some(Value::Seq(seq))));
        }
        ops
    }

    /// Applies a round; with `fsync`, it and every round before it survive a crash.
    pub fn persist(&mut self, ops: Vec<Op>, fsync: bool) {
        for (key, value) in &ops {
            match value {
                Some(value) => self.visible.insert(key.clone(), value.clone()),
                None => self.visible.remove(key),
            };
        }
        self.unsynced.extend(ops);
        if fsync {
            for (key, value) in self.unsynced.drain(..) {
                match value {
                    Some(value) => self.durable.insert(key, value),
                    None => self.durable.remove(&key),
                };
            }
        }
    }

    /// A crash of the machine: what was not fsynced is gone.
    pub fn crash(&mut self) {
        self.unsynced.clear();
        self.visible = self.durable.clone();
    }

    /// The ledger of what the store holds, as `Storage::ledger` rebuilds it at start-up.
    pub fn ledger(&self) -> Ledger {
        let next_seq = match self.visible.get(&Key::NextSeq) {
            Some(Value::Seq(seq)) => Some(*seq),
            _ => None,
        };
        let queued = self
            .visible
            .iter()
            .filter_map(|(key, value)| match (key, value) {
                (Key::Queue(key), Value::Copy(copy)) => Some((key.clone(), copy.expires_at_ms)),
                _ => None,
            });
        Ledger::recover(next_seq, queued.collect::<Vec<_>>())
    }

    /// Copies queued for `hop` in key order (precedence, then arrival).
    pub fn queued(&self, hop: &NodeId) -> Vec<Queued> {
        self.visible
            .iter()
            .filter_map(|(key, value)| match (key, value) {
                (Key::Queue(key), Value::Copy(copy))
                    if key.hop_bytes() == hop.as_str().as_bytes() =>
                {
                    Some(Queued {
                        key: key.clone(),
                        message: copy.clone(),
                    })
                }
                _ => None,
            })
            .collect()
    }

    /// At most `limit` copies of one class queued for `hop` after sequence number `after`,
    /// in order: a queue read, as `Storage::queued` serves it (without its byte bound).
    pub fn queued_from(
        &self,
        hop: &NodeId,
        precedence: Precedence,
        after: Option<u64>,
        limit: usize,
    ) -> Vec<Queued> {
        let from = QueueKey::new(hop, precedence, after.map_or(0, |a| a.saturating_add(1)));
        let prefix = QueueKey::prefix(hop, Some(precedence));
        self.visible
            .range(Key::Queue(from)..)
            .map_while(|(key, value)| match (key, value) {
                (Key::Queue(key), Value::Copy(copy)) if key.as_bytes().starts_with(&prefix) => {
                    Some(Queued {
                        key: key.clone(),
                        message: copy.clone(),
                    })
                }
                _ => None,
            })
            .take(limit)
            .collect()
    }

    /// The queued copy with this key, if it is queued.
    pub fn copy(&self, key: &QueueKey) -> Option<Queued> {
        match self.visible.get(&Key::Queue(key.clone())) {
            Some(Value::Copy(copy)) => Some(Queued {
                key: key.clone(),
                message: copy.clone(),
            }),
            _ => None,
        }
    }

    /// Every queued copy, for any hop.
    pub fn all_queued(&self) -> Vec<Queued> {
        self.visible
            .iter()
            .filter_map(|(key, value)| match (key, value) {
                (Key::Queue(key), Value::Copy(copy)) => Some(Queued {
                    key: key.clone(),
                    message: copy.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// The copies held in quarantine, by number.
    pub fn held(&self) -> Vec<(u64, crate::engine::quarantine::HeldFor, StoredMessage)> {
        self.visible
            .iter()
            .filter_map(|(key, value)| match (key, value) {
                (Key::Held(id), Value::Held(to, copy)) => Some((*id, to.clone(), copy.clone())),
                _ => None,
            })
            .collect()
    }

    /// The inbox in arrival order.
    pub fn inbox(&self) -> Vec<(u64, StoredMessage)> {
        self.visible
            .iter()
            .filter_map(|(key, value)| match (key, value) {
                (Key::Inbox(seq), Value::Copy(copy)) => Some((*seq, copy.clone())),
                _ => None,
            })
            .collect()
    }
}

impl Lookup for MemoryStore {
    type Error = std::convert::Infallible;

    fn seen(&self, message: &MessageRef) -> Result<bool, Self::Error> {
        Ok(self.visible.contains_key(&Key::Seen(message.clone())))
    }

    fn in_inbox(&self, seq: u64) -> Result<bool, Self::Error> {
        Ok(self.visible.contains_key(&Key::Inbox(seq)))
    }

    fn in_review(&self, id: &MessageId) -> Result<bool, Self::Error> {
        Ok(self.visible.contains_key(&Key::Review(*id)))
    }

    fn in_quarantine(&self, id: u64) -> Result<bool, Self::Error> {
        Ok(self.visible.contains_key(&Key::Held(id)))
    }
}

/// A round staged and encoded, its early copies handed off, not yet persisted.
pub struct Staged {
    plan: RoundPlan,
    ops: Vec<Op>,
}

/// A node: its ledger over its store in memory, and the copies handed to its links.
pub struct SimNode {
    pub ledger: Ledger,
    pub store: MemoryStore,
    /// Copies handed to running links and not yet taken, per next hop, in order.
    pub handed: Vec<(NodeId, Queued)>,
    /// The next persist fails (a disk fault).
    pub fail_next_persist: bool,
}

impl SimNode {
    /// A node with an empty store (its name is for the reader: the ledger needs none).
    pub fn new(_me: &str) -> Self {
        let store = MemoryStore::default();
        Self {
            ledger: store.ledger(),
            store,
            handed: Vec::new(),
            fail_next_persist: false,
        }
    }

    /// The first half of a round, as the store thread runs it: stage each caller's writes,
    /// close the round, encode it, hand off the copies that may leave before the fsync.
    pub fn stage(&mut self, calls: Vec<Vec<Write>>) -> Staged {
        for writes in calls {
            let Ok(()) = self.ledger.stage(&self.store, writes);
        }
        let mut plan = self.ledger.close_round();
        let (ops, early) = plan.prepare(MemoryStore::encode);
        if let Some(early) = early {
            self.take_back(plan.forgotten());
            self.handed.extend(early);
        }
        Staged { plan, ops }
    }

    /// The second half: persist (or fail to), then the ledger's verdict: hand off, take back.
    pub fn persist(&mut self, staged: Staged) -> Result<Vec<Vec<WriteOutcome>>, NotCommitted> {
        let Staged { plan, ops } = staged;
        let result = if std::mem::take(&mut self.fail_next_persist) {
            self.ledger.handle_store_failed();
            Err(NotCommitted)
        } else {
            self.store.persist(ops, plan.needs_fsync());
            Ok(())
        };
        let done = self.ledger.handle_round_committed(plan, result);
        self.take_back(&done.take_back);
        self.handed.extend(done.hand_off);
        done.outcomes
    }

    /// One whole round.
    pub fn round(
        &mut self,
        calls: Vec<Vec<Write>>,
    ) -> Result<Vec<Vec<WriteOutcome>>, NotCommitted> {
        let staged = self.stage(calls);
        self.persist(staged)
    }

    /// One caller's writes in a round of their own.
    pub fn commit(&mut self, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, NotCommitted> {
        self.round(vec![writes]).map(|mut o| o.remove(0))
    }

    /// The links take what was handed to them for `hop`.
    pub fn take_handed(&mut self, hop: &NodeId) -> Vec<Queued> {
        let (taken, left): (Vec<_>, Vec<_>) = std::mem::take(&mut self.handed)
            .into_iter()
            .partition(|(h, _)| h == hop);
        self.handed = left;
        taken.into_iter().map(|(_, q)| q).collect()
    }

    /// The process dies and the machine with it: the ledger, the links' buffers and what was
    /// not fsynced are gone; the node restarts from what its store holds.
    pub fn crash(&mut self) {
        self.store.crash();
        self.ledger = self.store.ledger();
        self.handed.clear();
    }

    fn take_back(&mut self, keys: &[QueueKey]) {
        self.handed.retain(|(_, q)| !keys.contains(&q.key));
    }
}

/// A record of message `n` from `origin`, as its origin stores it (no hops yet).
pub fn record(origin: &str, n: u8, precedence: Precedence, expires_at_ms: i64) -> StoredMessage {
    StoredMessage {
        message: MessageRef {
            origin: origin.parse().expect("a node id"),
            id: MessageId::from([n; 16]),
        },
        precedence,
        expires_at_ms,
        hops: 0,
        recipients: Vec::new(),
        signed: vec![n; 64].into(),
        accepted_at_ms: 0,
    }
}
