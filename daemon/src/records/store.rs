//! The field databases' storage: one sled database in `records/` under the node's storage
//! directory, one tree per database. Its durability rules, all here:
//! - at the hub, a sequenced change is flushed before [`RecordStore::sequence`] returns, so an
//!   upload leaves the inbox only once its changes are durable;
//! - at a replica, a batch is one atomic sled batch (records, indexes and the replica's
//!   position together) and is flushed lazily: a crash loses at most the last batches, and
//!   the replica asks again from the position that survived.
//!
//! Keys in a database's tree:
//! - `k` + storage key (32): [`Stored`], the record's latest signed change (at the hub,
//!   withdrawals too, so that replicas learn of them);
//! - `s` + sequence number (8, big-endian) -> storage key: the hub's change sequence, one
//!   entry per record (an older change's entry goes when a newer one comes);
//! - `i` + index key + storage key -> index value: secondary keys (a plate, a name's
//!   blocking keys), written by the caller's [`Indexed`] list;
//! - `c` + index key -> how many entries that index key holds (`u64`, big-endian), written
//!   in the same batch as the entries, so a search can plan its scans before reading any;
//! - `m` + name: the database's counters and the replica's position;
//! - hub only: `b` + signer (32) + root (32) + tree size (8) -> [`BatchRow`], the signature
//!   and leaf hashes of a batch of changes some of which it holds, and `n` + the same -> how
//!   many of its changes it holds (`u64`); both go with the last of those changes, in the
//!   batch that replaces it.
//!
//! Calls block: async callers run them on `spawn_blocking`.

use std::path::Path;
use std::sync::Mutex;

use bluehelm_proto::records::{Database, RecordBatchId, HASH_LEN};
use tokio::sync::watch;

use super::batch_row::BatchRow;
use super::stored::{IndexEntry, Stored};
use crate::engine::records::freshness::Freshness;

#[cfg(test)]
mod tests;

/// sled's page cache for the field databases: what bounds the replica's resident memory
/// however large its databases grow.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Rounds of [`reclaim_garbage`] after each batch written: each frees up to 8 bags of 64
/// items, so a 4,096-change batch's garbage is gone in well under this many, for about a
/// tenth of a millisecond when there is none.
const RECLAIM_ROUNDS: usize = 2_000;

const HEAD: &[u8] = b"mhead";
const COUNT: &[u8] = b"mcount";
const APPLIED: &[u8] = b"mapplied";
const HEAD_KNOWN: &[u8] = b"mhead-known";
const LEVEL_AT: &[u8] = b"mlevel-at";
/// Present once the index's count rows are complete (stores written before they existed
/// get them on open).
const INDEX_COUNTED: &[u8] = b"mindex-counted";
/// Count rows written per batch while counting an older store's index on open.
const COUNT_BATCH: usize = 10_000;

/// What a replica notes about its syncs, for `db status`: kept as given, read back as is.
#[derive(Debug, Clone, Copy)]
pub enum Note {
    /// The last digest comparison with the hub.
    DigestCheck,
    /// The last sync session that made the replica level: how many changes, how long.
    CatchUp,
}

impl Note {
    fn key(self) -> &'static [u8] {
        match self {
            Note::DigestCheck => b"mdigest-check",
            Note::CatchUp => b"mcatch-up",
        }
    }
}

/// The field databases could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordStoreError {
    /// sled failed (disk full, I/O error, or files another process holds).
    #[error("field database storage failed: {0}; check the disk and the storage directory")]
    Sled(#[from] sled::Error),
    /// An entry does not decode: the files were changed outside the node.
    #[error("field database {database} holds a corrupt entry ({problem}); restore the storage directory from a backup or remove records/ and let the replica sync again")]
    Corrupt { database: Database, problem: String },
    /// The directory cannot be prepared, or another open of it holds sled's lock (another
    /// process, or this one's previous open still closing).
    #[error(transparent)]
    Storage(#[from] crate::store::StoreError),
}

/// A storage key filed under an index key, with its index value.
pub type IndexHit = ([u8; HASH_LEN], Vec<u8>);

/// What a change writes besides the record: its secondary index entries.
pub type Indexed = Vec<IndexEntry>;

/// A change the hub sequenced or refused.
pub struct Sequenced {
    pub seq: u64,
}

/// One database's tree and its writer's lock.
struct Db {
    tree: sled::Tree,
    /// Writers of this database, one at a time: a sequence number is read and then used.
    write: Mutex<()>,
    /// The latest sequence number, for sync streams waiting for more.
    head: watch::Sender<u64>,
}

/// The field databases of a node.
pub struct RecordStore {
    db: sled::Db,
    dbs: Vec<(Database, Db)>,
    certificates: sled::Tree,
}

impl RecordStore {
    /// Opens (or creates) `records/` under the node's storage directory.
    pub fn open(storage: &Path) -> Result<Self, RecordStoreError> {
        let dir = storage.join("records");
        crate::store::private::prepare(&dir)?;
        // sled's lock, waited for as the custody store does: a previous open in this
        // process may still be closing, and another process holding it is named.
        crate::store::in_use::check(&dir, &dir.join("db"))?;
        let db = sled::Config::new()
            .path(&dir)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(Some(1000))
            .open()?;
        let mut dbs = Vec::new();
        for database in Database::ALL {
            let tree = db.open_tree(format!("db:{database}"))?;
            count_index_once(&tree)?;
            let head = read_u64(&tree, HEAD)?.unwrap_or(0);
            dbs.push((
                database,
                Db {
                    tree,
                    write: Mutex::new(()),
                    head: watch::Sender::new(head),
                },
            ));
        }
        let certificates = db.open_tree("certificates")?;
        Ok(Self {
            db,
            dbs,
            certificates,
        })
    }

    fn db(&self, database: Database) -> &Db {
        // Every database is opened in `open`.
        &self
            .dbs
            .iter()
            .find(|(d, _)| *d == database)
            .expect("every database is open")
            .1
    }

    fn lock(&self, database: Database) -> std::sync::MutexGuard<'_, ()> {
        self.db(database)
            .write
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The record stored under `storage_key`, if any (at the hub, possibly a withdrawal).
    pub fn get(
        &self,
        database: Database,
        storage_key: &[u8; HASH_LEN],
    ) -> Result<Option<Stored>, RecordStoreError> {
        let tree = &self.db(database).tree;
        tree.get(record_key(storage_key))?
            .map(|bytes| Stored::decode(&bytes).map_err(|p| corrupt(database, p)))
            .transpose()
    }

    /// The storage keys filed under an index key, with their index values; at most `limit`.
    pub fn index(
        &self,
        database: Database,
        index_key: &[u8],
        limit: usize,
    ) -> Result<Vec<IndexHit>, RecordStoreError> {
        let mut out = Vec::new();
        self.index_each(database, index_key, limit, |storage_key, value| {
            out.push((*storage_key, value.to_vec()))
        })?;
        Ok(out)
    }

    /// Gives `each` the storage keys filed under an index key with their index values, at
    /// most `limit`, without copying them.
    pub fn index_each(
        &self,
        database: Database,
        index_key: &[u8],
        limit: usize,
        mut each: impl FnMut(&[u8; HASH_LEN], &[u8]),
    ) -> Result<(), RecordStoreError> {
        let tree = &self.db(database).tree;
        let prefix = index_prefix(index_key);
        for entry in tree.scan_prefix(&prefix).take(limit) {
            let (key, value) = entry?;
            let storage_key = key[prefix.len()..]
                .try_into()
                .map_err(|_| corrupt(database, "index entry without a storage key".into()))?;
            each(storage_key, &value);
        }
        Ok(())
    }

    /// How many entries an index key holds.
    pub fn index_count(
        &self,
        database: Database,
        index_key: &[u8],
    ) -> Result<u64, RecordStoreError> {
        Ok(read_u64(&self.db(database).tree, &count_key(index_key))?.unwrap_or(0))
    }

    /// Hub: sequences changes in order, each after `admit` said yes given what is held.
    /// `admit` may refuse; the refusal is returned in its place. `batches` holds the row of
    /// every batch the changes were signed in. Durable on return.
    pub fn sequence<E>(
        &self,
        database: Database,
        changes: Vec<(Stored, Indexed)>,
        batches: &[BatchRow],
        mut admit: impl FnMut(Option<&Stored>, &Stored) -> Result<(), E>,
    ) -> Result<Vec<Result<Sequenced, E>>, RecordStoreError> {
        let db = self.db(database);
        let _writer = self.lock(database);
        let mut head = read_u64(&db.tree, HEAD)?.unwrap_or(0);
        let mut count = read_u64(&db.tree, COUNT)?.unwrap_or(0);
        let mut results = Vec::with_capacity(changes.len());
        let mut batch = sled::Batch::default();
        // Within one call a key may change twice: what this batch wrote counts as held.
        let mut pending: std::collections::HashMap<[u8; HASH_LEN], Stored> = Default::default();
        let mut counts = CountChanges::default();
        let mut batch_holds = BatchHolds::default();
        for (mut stored, indexed) in changes {
            let held = match pending.get(&stored.storage_key) {
                Some(p) => Some(p.clone()),
                None => self.get(database, &stored.storage_key)?,
            };
            if let Err(refusal) = admit(held.as_ref(), &stored) {
                results.push(Err(refusal));
                continue;
            }
            head += 1;
            stored.seq = head;
            batch_holds.add(&stored, 1);
            if let Some(old) = &held {
                batch_holds.add(old, -1);
                batch.remove(seq_key(old.seq).to_vec());
                remove_index(&mut batch, &mut counts, old);
                if !old.withdrawn {
                    count -= 1;
                }
            }
            stored.index_keys = write_index(&mut batch, &mut counts, &stored.storage_key, indexed);
            if !stored.withdrawn {
                count += 1;
            }
            batch.insert(seq_key(head).to_vec(), stored.storage_key.to_vec());
            batch.insert(record_key(&stored.storage_key), stored.encode());
            pending.insert(stored.storage_key, stored);
            results.push(Ok(Sequenced { seq: head }));
        }
        batch.insert(HEAD, head.to_be_bytes().to_vec());
        batch.insert(COUNT, count.to_be_bytes().to_vec());
        counts.write(&db.tree, &mut batch)?;
        batch_holds.write(database, &db.tree, batches, &mut batch)?;
        db.tree.apply_batch(batch)?;
        self.db.flush()?;
        reclaim_garbage();
        db.head.send_replace(head);
        Ok(results)
    }

    /// Hub: the latest changes after `after`, in sequence, up to `max_items` or about
    /// `max_bytes`; and the head they were read at.
    pub fn changes_after(
        &self,
        database: Database,
        after: u64,
        max_items: usize,
        max_bytes: usize,
    ) -> Result<(Vec<Stored>, u64), RecordStoreError> {
        let db = self.db(database);
        let head = read_u64(&db.tree, HEAD)?.unwrap_or(0);
        let mut out = Vec::new();
        let mut bytes = 0;
        let start = seq_key(after.saturating_add(1));
        let end = seq_key(u64::MAX);
        for entry in db.tree.range(start..=end) {
            let (key, storage_key) = entry?;
            let seq = u64::from_be_bytes(key[1..9].try_into().unwrap_or_default());
            let storage_key: [u8; HASH_LEN] = storage_key
                .as_ref()
                .try_into()
                .map_err(|_| corrupt(database, "sequence entry without a storage key".into()))?;
            let Some(stored) = self.get(database, &storage_key)? else {
                continue;
            };
            // A newer change replaced it since the scan began: it comes later in sequence.
            if stored.seq != seq {
                continue;
            }
            bytes += stored.signed.len();
            out.push(stored);
            if out.len() >= max_items || bytes >= max_bytes {
                break;
            }
        }
        Ok((out, head))
    }

    /// Hub: the row of a batch of changes, if the hub holds any of them.
    pub fn batch_row(
        &self,
        database: Database,
        id: &RecordBatchId,
    ) -> Result<Option<BatchRow>, RecordStoreError> {
        let tree = &self.db(database).tree;
        let Some(value) = tree.get(BatchRow::key(BATCH_ROW, id))? else {
            return Ok(None);
        };
        BatchRow::decode(*id, &value)
            .map(Some)
            .map_err(|problem| corrupt(database, problem))
    }

    /// Replica: applies a planned batch atomically, with the replica's new position.
    pub fn apply(
        &self,
        database: Database,
        writes: Vec<ReplicaWrite>,
        position: Freshness,
    ) -> Result<(), RecordStoreError> {
        let db = self.db(database);
        let _writer = self.lock(database);
        let mut count = read_u64(&db.tree, COUNT)?.unwrap_or(0);
        let mut batch = sled::Batch::default();
        let mut pending: std::collections::HashMap<[u8; HASH_LEN], Option<Stored>> =
            Default::default();
        let mut counts = CountChanges::default();
        for write in writes {
            let storage_key = match &write {
                ReplicaWrite::Put(stored, _) => stored.storage_key,
                ReplicaWrite::Erase(key) => *key,
            };
            let held = match pending.get(&storage_key) {
                Some(p) => p.clone(),
                None => self.get(database, &storage_key)?,
            };
            if let Some(old) = &held {
                remove_index(&mut batch, &mut counts, old);
                count -= 1;
            }
            match write {
                ReplicaWrite::Put(mut stored, indexed) => {
                    stored.index_keys = write_index(&mut batch, &mut counts, &storage_key, indexed);
                    batch.insert(record_key(&storage_key), stored.encode());
                    count += 1;
                    pending.insert(storage_key, Some(stored));
                }
                ReplicaWrite::Erase(_) => {
                    batch.remove(record_key(&storage_key));
                    pending.insert(storage_key, None);
                }
            }
        }
        batch.insert(COUNT, count.to_be_bytes().to_vec());
        batch.insert(APPLIED, position.applied_seq.to_be_bytes().to_vec());
        batch.insert(HEAD_KNOWN, position.head_seq.to_be_bytes().to_vec());
        if let Some(at) = position.level_at_ms {
            batch.insert(LEVEL_AT, at.to_be_bytes().to_vec());
        }
        counts.write(&db.tree, &mut batch)?;
        db.tree.apply_batch(batch)?;
        reclaim_garbage();
        Ok(())
    }

    /// Replica: where it stands.
    pub fn position(&self, database: Database) -> Result<Freshness, RecordStoreError> {
        let tree = &self.db(database).tree;
        Ok(Freshness {
            applied_seq: read_u64(tree, APPLIED)?.unwrap_or(0),
            head_seq: read_u64(tree, HEAD_KNOWN)?.unwrap_or(0),
            level_at_ms: read_u64(tree, LEVEL_AT)?.map(|v| v as i64),
        })
    }

    /// The hub's latest sequence number.
    pub fn head(&self, database: Database) -> u64 {
        *self.db(database).head.borrow()
    }

    /// Wakes when the hub sequences a change in `database`.
    pub fn head_changes(&self, database: Database) -> watch::Receiver<u64> {
        self.db(database).head.subscribe()
    }

    /// Live records held.
    pub fn count(&self, database: Database) -> Result<u64, RecordStoreError> {
        Ok(read_u64(&self.db(database).tree, COUNT)?.unwrap_or(0))
    }

    /// Every record held, in storage-key order, given to `each` (stop by returning false).
    /// The writer's lock is held throughout, so the walk sees one state: the one at the
    /// returned change (the hub's head, or the replica's last applied change).
    pub fn walk(
        &self,
        database: Database,
        mut each: impl FnMut(Stored) -> bool,
    ) -> Result<u64, RecordStoreError> {
        let db = self.db(database);
        let _writer = self.lock(database);
        let at = match read_u64(&db.tree, HEAD)? {
            Some(head) => head,
            None => read_u64(&db.tree, APPLIED)?.unwrap_or(0),
        };
        for entry in db.tree.scan_prefix(b"k") {
            let (_, bytes) = entry?;
            let stored = Stored::decode(&bytes).map_err(|p| corrupt(database, p))?;
            if !each(stored) {
                break;
            }
        }
        Ok(at)
    }

    /// Replica: a note as stored by [`Self::set_note`].
    pub fn note(
        &self,
        database: Database,
        note: Note,
    ) -> Result<Option<Vec<u8>>, RecordStoreError> {
        Ok(self.db(database).tree.get(note.key())?.map(|v| v.to_vec()))
    }

    /// Replica: keeps a note (flushed with the next batch, or within a second).
    pub fn set_note(
        &self,
        database: Database,
        note: Note,
        value: Vec<u8>,
    ) -> Result<(), RecordStoreError> {
        self.db(database).tree.insert(note.key(), value)?;
        Ok(())
    }

    /// A signer's certificate (DER) by its SHA-256.
    pub fn certificate(
        &self,
        fingerprint: &[u8; HASH_LEN],
    ) -> Result<Option<Vec<u8>>, RecordStoreError> {
        Ok(self.certificates.get(fingerprint)?.map(|v| v.to_vec()))
    }

    /// Keeps a signer's certificate (the hub sends it to replicas with the signer's changes).
    pub fn keep_certificate(
        &self,
        fingerprint: &[u8; HASH_LEN],
        der: &[u8],
    ) -> Result<(), RecordStoreError> {
        self.certificates.insert(fingerprint, der)?;
        Ok(())
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), RecordStoreError> {
        self.db.flush()?;
        Ok(())
    }
}

/// A replica's write, planned by `engine::records::replica`.
pub enum ReplicaWrite {
    Put(Stored, Indexed),
    Erase([u8; HASH_LEN]),
}

/// Files a record's index entries in `batch`; their keys, for the record to keep.
fn write_index(
    batch: &mut sled::Batch,
    counts: &mut CountChanges,
    storage_key: &[u8; HASH_LEN],
    indexed: Indexed,
) -> Vec<Vec<u8>> {
    indexed
        .into_iter()
        .map(|entry| {
            batch.insert(index_entry_key(&entry.key, storage_key), entry.value);
            counts.add(&entry.key, 1);
            entry.key
        })
        .collect()
}

/// Removes a record's index entries in `batch`.
fn remove_index(batch: &mut sled::Batch, counts: &mut CountChanges, old: &Stored) {
    for key in &old.index_keys {
        batch.remove(index_entry_key(key, &old.storage_key));
        counts.add(key, -1);
    }
}

/// How one batch changes the index's count rows: summed per index key, so a key written
/// many times in the batch is read and written once.
#[derive(Default)]
struct CountChanges(std::collections::HashMap<Vec<u8>, i64>);

impl CountChanges {
    fn add(&mut self, index_key: &[u8], by: i64) {
        match self.0.get_mut(index_key) {
            Some(sum) => *sum += by,
            None => {
                self.0.insert(index_key.to_vec(), by);
            }
        }
    }

    /// Adds the changes to the counts held, in `batch`; a count that reaches zero goes.
    fn write(self, tree: &sled::Tree, batch: &mut sled::Batch) -> Result<(), sled::Error> {
        for (index_key, by) in self.0 {
            if by == 0 {
                continue;
            }
            let key = count_key(&index_key);
            let held = read_u64(tree, &key)?.unwrap_or(0);
            match held.saturating_add_signed(by) {
                0 => batch.remove(key),
                count => batch.insert(key, count.to_be_bytes().to_vec()),
            }
        }
        Ok(())
    }
}

/// Writes the count rows of a store whose index was written before they existed: one pass
/// over the index, in key order, so each index key's entries come together.
fn count_index_once(tree: &sled::Tree) -> Result<(), sled::Error> {
    if tree.get(INDEX_COUNTED)?.is_some() {
        return Ok(());
    }
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    let mut current: Option<(Vec<u8>, u64)> = None;
    for entry in tree.scan_prefix(b"i") {
        let (key, _) = entry?;
        let Some(index_key) = index_key_of(&key) else {
            continue;
        };
        match &mut current {
            Some((held, count)) if held.as_slice() == index_key => *count += 1,
            _ => {
                if let Some((done, count)) = current.replace((index_key.to_vec(), 1)) {
                    batch.insert(count_key(&done), count.to_be_bytes().to_vec());
                    in_batch += 1;
                    if in_batch == COUNT_BATCH {
                        tree.apply_batch(std::mem::take(&mut batch))?;
                        in_batch = 0;
                    }
                }
            }
        }
    }
    if let Some((done, count)) = current {
        batch.insert(count_key(&done), count.to_be_bytes().to_vec());
    }
    batch.insert(INDEX_COUNTED, vec![1]);
    tree.apply_batch(batch)?;
    Ok(())
}

/// Prefixes of a batch's row and of how many of its changes the hub holds.
const BATCH_ROW: u8 = b'b';
const BATCH_HELD: u8 = b'n';

/// How many changes of each batch one call adds and removes.
#[derive(Default)]
struct BatchHolds(std::collections::HashMap<RecordBatchId, i64>);

impl BatchHolds {
    /// Counts `stored` in or out of its batch. A change that does not decode was refused
    /// before it got here (`admit` decodes what is held), or is a test's stand-in.
    fn add(&mut self, stored: &Stored, by: i64) {
        if let Some((id, _)) = stored.signed_change().ok().and_then(|s| s.batch()) {
            *self.0.entry(id).or_default() += by;
        }
    }

    /// Writes the new counts; a batch's row comes with its first change held and goes with
    /// its last.
    fn write(
        self,
        database: Database,
        tree: &sled::Tree,
        rows: &[BatchRow],
        batch: &mut sled::Batch,
    ) -> Result<(), RecordStoreError> {
        let rows: std::collections::HashMap<&RecordBatchId, &BatchRow> =
            rows.iter().map(|row| (&row.id, row)).collect();
        for (id, by) in self.0 {
            if by == 0 {
                continue;
            }
            let held_key = BatchRow::key(BATCH_HELD, &id);
            let held = read_u64(tree, &held_key)?.unwrap_or(0);
            let now = held.saturating_add_signed(by);
            if now == 0 {
                batch.remove(held_key);
                batch.remove(BatchRow::key(BATCH_ROW, &id));
                continue;
            }
            if held == 0 {
                let row = rows.get(&id).ok_or_else(|| {
                    corrupt(
                        database,
                        "a change came without its batch's signature".into(),
                    )
                })?;
                batch.insert(BatchRow::key(BATCH_ROW, &id), row.encode());
            }
            batch.insert(held_key, now.to_be_bytes().to_vec());
        }
        Ok(())
    }
}

/// Frees what sled's writes left for later. sled frees a replaced tree node only once no
/// thread can still read it (epoch-based reclamation, crossbeam-epoch), and frees at most 8
/// bags of such garbage every 128 operations; a batch that writes a dozen index entries per
/// person leaves far more than that, so without help the garbage outgrew the data itself
/// while a replica synced persons (1.5 GiB at 60,000 persons, 6.3 GiB at 200,000). Each
/// `flush` of a fresh guard advances the epoch if it can and frees up to 8 more bags.
fn reclaim_garbage() {
    for _ in 0..RECLAIM_ROUNDS {
        sled::pin().flush();
    }
}

fn corrupt(database: Database, problem: String) -> RecordStoreError {
    RecordStoreError::Corrupt { database, problem }
}

fn read_u64(tree: &sled::Tree, key: &[u8]) -> Result<Option<u64>, sled::Error> {
    Ok(tree
        .get(key)?
        .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)))
}

fn record_key(storage_key: &[u8; HASH_LEN]) -> Vec<u8> {
    [b"k".as_slice(), storage_key].concat()
}

fn seq_key(seq: u64) -> [u8; 9] {
    let mut key = [b's'; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// `i` + length-prefixed index key, so that one index key is never a prefix of another's
/// entries.
fn index_prefix(index_key: &[u8]) -> Vec<u8> {
    let len = u16::try_from(index_key.len()).unwrap_or(u16::MAX);
    let mut prefix = Vec::with_capacity(3 + index_key.len());
    prefix.push(b'i');
    prefix.extend_from_slice(&len.to_be_bytes());
    prefix.extend_from_slice(&index_key[..usize::from(len)]);
    prefix
}

/// The index key of an entry key written by [`index_entry_key`].
fn index_key_of(entry_key: &[u8]) -> Option<&[u8]> {
    let len = usize::from(u16::from_be_bytes(entry_key.get(1..3)?.try_into().ok()?));
    entry_key.get(3..3 + len)
}

/// `c` + the index key as [`index_prefix`] writes it.
fn count_key(index_key: &[u8]) -> Vec<u8> {
    let mut key = index_prefix(index_key);
    key[0] = b'c';
    key
}

fn index_entry_key(index_key: &[u8], storage_key: &[u8; HASH_LEN]) -> Vec<u8> {
    let mut key = index_prefix(index_key);
    key.extend_from_slice(storage_key);
    key
}
