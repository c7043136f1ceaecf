//! The state one node's tasks share: identity, config, store, keys and counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};

use arc_swap::ArcSwap;
use bluehelm_pki::{EnvelopeVerifier, NodeCredentials, NodeIdentity, Signer};
use bluehelm_proto::{MessageId, NodeId, RefusalReason};
use tokio_util::sync::CancellationToken;

use super::audited::HandedOut;
use super::bulk::Bulk;
use crate::audit::AuditLog;
use crate::config::NodeConfig;
use crate::engine::failover::Failover;
use crate::engine::partials::Partials;
use crate::engine::quarantine::{Rule, Rules};
use crate::engine::register::{Entry, Register};
use crate::engine::release::{Directory, Member};
use crate::engine::revocation::Standing;
use crate::records::store::RecordStore;
use crate::store::Store;

/// The config in force, as one load gives it (derefs to [`NodeConfig`]). Hold it for a
/// decision, not across a long wait: a reload frees the old config only when the last
/// guard drops.
pub type ConfigGuard = arc_swap::Guard<Arc<NodeConfig>>;

/// Counters an operator watches (see docs/operations.md).
#[derive(Debug, Default)]
pub struct Stats {
    /// Messages this node took custody of (from peers and local applications).
    pub accepted: AtomicU64,
    /// Offers acknowledged again because the message was already held or handled.
    pub duplicates: AtomicU64,
    /// Offers refused (any reason).
    pub refused: AtomicU64,
    /// Offers refused, by reason: index `i` counts `RefusalReason::ALL[i]` (issue 10: a
    /// rule break is not a forgery). Read with [`Stats::refusals`].
    refused_by_reason: [AtomicU64; REFUSAL_REASONS],
    /// Offers whose signature, certificate or origin did not verify: tampering or forgery.
    /// Signed bytes that do not decode or break a rule are `malformed`, not counted here.
    pub rejected_signatures: AtomicU64,
    /// Streams or links closed because the peer broke the protocol.
    pub protocol_errors: AtomicU64,
    /// Copies the next hop took custody of.
    pub forwarded: AtomicU64,
    /// Messages that expired in a queue here.
    pub expired: AtomicU64,
    /// Delivery reports this node originated (committed with the message they report on).
    pub delivery_reports_sent: AtomicU64,
    /// Non-delivery reports this node originated (committed with the dropping of the copy).
    pub non_delivery_reports_sent: AtomicU64,
    /// Delivery and non-delivery reports about messages this node sent that their signer
    /// cannot give (`engine::answers`): dropped without changing any delivery state.
    pub reports_refused: AtomicU64,
    /// Service responses that would have ended a waiting `Request` but whose signer is not
    /// the service's host as this node knows it (`engine::answers`): dropped.
    pub responses_refused: AtomicU64,
    /// The same traffic by precedence, handshake failures and custody latency (issue 15).
    pub traffic: super::Traffic,
}

/// How many refusal reasons there are.
const REFUSAL_REASONS: usize = RefusalReason::ALL.len();

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts one refused offer under its reason (and in `refused`).
    pub fn refusal(&self, reason: RefusalReason) {
        Self::add(&self.refused, 1);
        if let Some(i) = RefusalReason::ALL.iter().position(|r| *r == reason) {
            Self::add(&self.refused_by_reason[i], 1);
        }
    }

    /// Offers refused so far, per reason, every reason listed.
    pub fn refusals(&self) -> impl Iterator<Item = (RefusalReason, u64)> + '_ {
        RefusalReason::ALL
            .iter()
            .zip(&self.refused_by_reason)
            .map(|(reason, counter)| (*reason, Self::get(counter)))
    }
}

/// The state the node's tasks share: identity, config, store, keys, bulk threads and
/// counters. Its fields are private (issue 11: no public-field god object). Only `node`, the
/// assembly, holds it: net/ reaches it through a [`LinkHandle`](super::LinkHandle), api/,
/// services and the CLI through a [`BureauHandle`](super::BureauHandle).
pub struct Core {
    me: NodeId,
    /// This node's own certificate identity: the signer of what it originates, checked by
    /// the role policy at submission (issue 12).
    identity: NodeIdentity,
    /// The config in force: swapped whole by a reload (issue 15, item 3), so that a decision
    /// that loads it once sees one consistent version, old or new, never a mix.
    config: ArcSwap<NodeConfig>,
    store: Store,
    /// Signs what this node originates: swapped when a reload puts a new certificate and key
    /// in force, so that nothing is signed with a replaced key afterwards. Shared with the
    /// audit writer, which signs each checkpoint with the one in force then.
    signer: Arc<ArcSwap<Signer>>,
    /// The certificate chain and key `signer` is made from, in force: swapped with it. The
    /// terminal listener presents them to new connections.
    credentials: ArcSwap<NodeCredentials>,
    verifier: EnvelopeVerifier,
    /// Verifying and signing large ROUTINE and PRIORITY batches, at a lower priority.
    bulk: Bulk,
    stats: Stats,
    cancel: CancellationToken,
    /// Who the nodes it has linked with are, from their certificates (release markings).
    /// Read for every marked message, written at link-up.
    directory: RwLock<Directory>,
    /// The notice register's mirror in memory (issue 12, item 3): the store holds it, this
    /// answers the custody shell's checks without a store round trip. Changed only after
    /// the store has made an entry durable ([`Core::remember`]).
    register: RwLock<Register>,
    /// The field databases (issue 13): the hub's sequenced records, a replica's copy.
    records: Arc<RecordStore>,
    /// What this node did with each message and query (issue 14, item 5).
    audit: AuditLog,
    /// Inbox messages read and not yet acknowledged, with their audit entries ready.
    handed_out: HandedOut,
    /// Whether the CRL in force revokes this node's own certificate (issue 14): then it
    /// takes no custody (`engine::revocation`). Set by the node's CRL task.
    standing: RwLock<Standing>,
    /// The quarantine rules in force (issue 14, item 3): the store holds them, this answers
    /// the custody shell for every arrival. Changed only after the store made a rule
    /// durable.
    quarantine: RwLock<Rules>,
    /// Which peers are given up as silent, for routes with alternates (issue 15, item 7):
    /// read for every custody decision, written on link events and once a second.
    failover: RwLock<Failover>,
    /// What this node holds of large copies its peers sent only part of (issue 15, item 6):
    /// in memory, bounded, dropped at restart. A cache, never custody.
    partials: Mutex<Partials>,
    /// Copies decided and not yet committed, per next hop, for the queue quotas.
    in_flight: super::in_flight::InFlight,
    /// Free space on the storage directory's file system, and why that is too little for
    /// custody (`engine::disk`); set by the node's disk watcher.
    disk: RwLock<Disk>,
}

/// The disk under the store, as the node's watcher last read it.
#[derive(Debug, Clone, Default)]
pub struct Disk {
    /// Free bytes for an unprivileged writer; `None` until first read, or when it cannot be.
    pub free_bytes: Option<u64>,
    /// Why the node takes no custody now (`engine::disk::shortage`).
    pub shortage: Option<String>,
}

/// What a [`Core`] is made of; the node assembles it at start.
pub struct CoreParts {
    pub identity: NodeIdentity,
    pub config: NodeConfig,
    pub store: Store,
    /// The node's certificate chain and key.
    pub credentials: Arc<NodeCredentials>,
    /// Their signer, shared with the audit writer (opened before the core is made).
    pub signer: Arc<ArcSwap<Signer>>,
    pub verifier: EnvelopeVerifier,
    pub bulk: Bulk,
    /// The notice register as the store holds it at start.
    pub register: Register,
    /// The directory of certified identities as the store holds it at start.
    pub directory: Directory,
    /// The field databases, opened.
    pub records: Arc<RecordStore>,
    /// The audit log, opened (or disabled).
    pub audit: AuditLog,
    /// The quarantine rules as the store holds them at start.
    pub quarantine: Rules,
}

impl Core {
    /// The shared state of a node: its id is the config's, its counters start at zero and
    /// its cancellation token is new.
    pub fn new(parts: CoreParts) -> Self {
        let CoreParts {
            identity,
            config,
            store,
            credentials,
            signer,
            verifier,
            bulk,
            register,
            directory,
            records,
            audit,
            quarantine,
        } = parts;
        Self {
            me: config.node_id.clone(),
            identity,
            config: ArcSwap::from_pointee(config),
            store,
            signer,
            credentials: ArcSwap::new(credentials),
            verifier,
            bulk,
            stats: Stats::default(),
            cancel: CancellationToken::new(),
            directory: RwLock::new(directory),
            register: RwLock::new(register),
            records,
            audit,
            handed_out: HandedOut::default(),
            standing: RwLock::default(),
            quarantine: RwLock::new(quarantine),
            disk: RwLock::default(),
            failover: RwLock::new(Failover::new(now_ms())),
            partials: Mutex::default(),
            in_flight: Default::default(),
        }
    }

    /// The failover state: which peers routing avoids now.
    pub(super) fn failover(&self) -> RwLockReadGuard<'_, Failover> {
        self.failover.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The failover state, to change it (link events, the failover task's poll).
    pub(super) fn failover_mut(&self) -> std::sync::RwLockWriteGuard<'_, Failover> {
        self.failover
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The parts of large copies held (issue 15, item 6). Held only for a few map
    /// operations, never across an await.
    pub(crate) fn partials(&self) -> std::sync::MutexGuard<'_, Partials> {
        self.partials.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Copies decided and not yet committed, per next hop.
    pub(super) fn in_flight(&self) -> &super::in_flight::InFlight {
        &self.in_flight
    }

    /// Whether a quarantine rule holds the message `id` from `origin`.
    pub(super) fn quarantine_catches(&self, origin: &NodeId, id: &MessageId) -> bool {
        let rules = self
            .quarantine
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        !rules.is_empty() && rules.catches(origin, id)
    }

    /// The quarantine rules in force.
    pub(super) fn quarantine_rules(&self) -> Rules {
        self.quarantine
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A rule the store has made durable: in force from now on.
    pub(super) fn enforce(&self, rule: Rule) -> bool {
        self.quarantine
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .add(rule)
    }

    /// The node's audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    pub(super) fn handed_out(&self) -> &HandedOut {
        &self.handed_out
    }

    /// This node's own certificate as the CRL in force judges it.
    pub fn standing(&self) -> Standing {
        // A writer that panicked left a whole value: one assignment.
        self.standing
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A new CRL came into force (`node/crl.rs`): whether it revokes this node.
    pub fn set_standing(&self, standing: Standing) {
        *self
            .standing
            .write()
            .unwrap_or_else(PoisonError::into_inner) = standing;
    }

    /// The disk under the store as last read.
    pub fn disk(&self) -> Disk {
        // A writer that panicked left a whole value: one assignment.
        self.disk
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Why the disk stops custody now, if it does: read for every arrival, so it clones
    /// nothing while the disk has room.
    pub(super) fn disk_shortage(&self) -> Option<String> {
        let disk = self.disk.read().unwrap_or_else(PoisonError::into_inner);
        disk.shortage.clone()
    }

    /// The node's disk watcher read the free space again.
    pub fn set_disk(&self, disk: Disk) {
        *self.disk.write().unwrap_or_else(PoisonError::into_inner) = disk;
    }

    /// The field databases.
    pub fn records(&self) -> &Arc<RecordStore> {
        &self.records
    }

    /// Signs this node's own record changes and digests (issue 13): the signer in force.
    pub fn record_signer(&self) -> Arc<Signer> {
        self.signer.load_full()
    }

    /// From now on this node signs with the key of `credentials` and presents their
    /// certificate to new terminal connections (a reload put a new certificate and key in
    /// force). What was signed before keeps its signature.
    pub fn replace_credentials(&self, credentials: Arc<NodeCredentials>) {
        self.signer.store(Arc::new(credentials.signer()));
        self.credentials.store(credentials);
    }

    /// The certificate chain and key in force.
    pub(crate) fn credentials(&self) -> Arc<NodeCredentials> {
        self.credentials.load_full()
    }

    /// This node's id.
    pub fn me(&self) -> &NodeId {
        &self.me
    }

    /// This node's certificate identity.
    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// The node's configuration in force: one lock-free load. Load it once per decision
    /// (or batch) and read from that, so that one decision sees one version.
    pub fn config(&self) -> ConfigGuard {
        self.config.load()
    }

    /// A reload (`node/reload.rs`) puts `config` in force: decisions from now on read it.
    /// Its node id is the one the node started with (the reload refuses any other).
    pub fn replace_config(&self, config: Arc<NodeConfig>) {
        self.config.store(config);
    }

    /// The store (a handle to its thread).
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The counters an operator watches.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Cancelled when the node stops; every task of the node watches it.
    pub fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Verifies envelopes and certificates against the trust store in force.
    pub fn verifier(&self) -> &EnvelopeVerifier {
        &self.verifier
    }

    /// The certified identities of the nodes this node has linked with.
    pub fn directory(&self) -> RwLockReadGuard<'_, Directory> {
        // A writer that panicked left a whole directory behind: still the best knowledge.
        self.directory
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Learns who `identity` certifies (a link's verified peer certificate), in memory, and
    /// makes it durable when it is news, so that a node offline across a restart is still
    /// known (a marked fan-out withholds copies from nodes it does not know).
    pub async fn learn(&self, identity: &NodeIdentity) -> Result<bool, crate::store::StoreError> {
        let member = Member::of(identity);
        if self.directory().get(&identity.node) == Some(&member) {
            return Ok(false);
        }
        self.store
            .commit(vec![crate::store::Write::Identity {
                node: identity.node.clone(),
                value: member.encode(),
            }])
            .await?;
        Ok(self.remember_identity(identity))
    }

    fn remember_identity(&self, identity: &NodeIdentity) -> bool {
        let mut directory = self
            .directory
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        directory.learn(identity.node.clone(), Member::of(identity))
    }

    pub(super) fn signer(&self) -> Arc<Signer> {
        self.signer.load_full()
    }

    pub(super) fn bulk(&self) -> &Bulk {
        &self.bulk
    }

    /// The notice register, to read. Held only for a lookup (never across an await).
    pub(super) fn register(&self) -> RwLockReadGuard<'_, Register> {
        // A panic while the lock was held left the map whole (merges insert or do nothing).
        self.register.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Entries the store has just made durable: merged into the mirror (a merge, so that
    /// two writers finishing out of order never roll it back).
    pub(super) fn remember(&self, entries: impl IntoIterator<Item = Entry>) {
        let mut register = self.register.write().unwrap_or_else(|p| p.into_inner());
        for entry in entries {
            register.merge(entry);
        }
    }
}

/// The node id of the general secretariat: it reviews notice requests, is the only node
/// whose notice publications are accepted, and keeps a copy of every diffusion. A constant:
/// every network built by `localnet` and every example config uses it.
pub const HUB: &str = crate::engine::policy::HUB;

/// [`HUB`] as a node id.
pub fn hub() -> NodeId {
    HUB.parse().expect("a valid node id")
}

/// Wall-clock time in Unix milliseconds: the only clock the engine's decisions see.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
