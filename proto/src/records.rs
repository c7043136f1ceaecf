//! Field databases on the wire (issue 13): a record's change as its owner signs it, an
//! owner's upload to the hub, and the sync stream that keeps a replica level with the hub.
//!
//! As with envelopes, a signature covers exact bytes: a [`SignedRecordChange`] keeps the
//! encoded [`RecordChange`] it was made over, and every node stores and forwards those bytes
//! untouched. This module checks shapes and sizes; the `pki` crate verifies signatures and
//! the daemon decides what a change may do.

use std::fmt;
use std::str::FromStr;

use prost::Message as _;

use crate::check;
use crate::error::{DecodeError, ParseError, ValidationError};
use crate::ids::NodeId;
use crate::limits::{MAX_CERTIFICATE_LEN, MAX_NAME_LEN};
use crate::pb;
use crate::release::ReleaseList;
use crate::signed::SIGNATURE_LEN;

mod signed;

pub use signed::{
    record_root_signing_input, record_signing_input, ChangeSignature, RecordBatchId,
    RecordBatchProof, SignedRecordChange, RECORD_ROOT_SIGNING_DOMAIN,
    RECORD_ROOT_SIGNING_INPUT_LEN, RECORD_SALT_LEN, RECORD_SIGNING_DOMAIN,
};

/// Domain separation prefix of the hub's signature over a replica digest.
pub const DIGEST_SIGNING_DOMAIN: &[u8] = b"bluehelm/v1/replica-digest\0";
/// Length of a SHA-256 digest.
pub const HASH_LEN: usize = 32;
/// Longest record, as JSON: a record is a few dozen short fields; a DNA profile the longest.
pub const MAX_RECORD_LEN: usize = 16 * 1024;
/// Longest record key.
pub const MAX_KEY_LEN: usize = 256;
/// Most changes in one upload envelope (which is bounded by the envelope limit as well).
pub const MAX_UPLOAD_CHANGES: usize = 2048;
/// Most items in one sync batch.
pub const MAX_SYNC_ITEMS: usize = 8192;
/// Most certificates in one sync batch.
pub const MAX_SYNC_CERTIFICATES: usize = 64;
/// Largest decompressed sync batch: bounds what a replica allocates for one batch.
pub const MAX_SYNC_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// A field database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Database {
    /// Stolen and lost travel documents (`sltd.check`).
    Sltd,
    /// Stolen motor vehicles (`smv.check`).
    Smv,
    /// Persons, nominal data (`nominal.check`).
    Persons,
    /// DNA profiles (`dna.check`).
    Dna,
}

impl Database {
    /// Every database, in the order they are listed.
    pub const ALL: [Database; 4] = [
        Database::Sltd,
        Database::Smv,
        Database::Persons,
        Database::Dna,
    ];

    /// The name on the wire, in config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Database::Sltd => "sltd",
            Database::Smv => "smv",
            Database::Persons => "persons",
            Database::Dna => "dna",
        }
    }

    /// The service that answers from this database.
    pub fn service(self) -> &'static str {
        match self {
            Database::Sltd => "sltd.check",
            Database::Smv => "smv.check",
            Database::Persons => "nominal.check",
            Database::Dna => "dna.check",
        }
    }

    fn from_wire(field: &'static str, name: &str) -> Result<Self, ValidationError> {
        name.parse().map_err(|_| ValidationError::BadName {
            field,
            value: truncate(name),
        })
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Database {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|db| db.as_str() == s)
            .ok_or_else(|| ParseError::Unknown {
                what: "database (sltd, smv, persons or dna)",
                value: truncate(s),
            })
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// One change to one record, as its owner made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordChange {
    /// The database the record belongs to.
    pub database: Database,
    /// The record's key, normalised by the database's rules; one line.
    pub key: String,
    /// The owning bureau, whose node signs the change.
    pub owner: NodeId,
    /// Applied only over a lower version of the same record.
    pub version: u64,
    /// The record is withdrawn: `record` is empty.
    pub withdrawn: bool,
    /// The record as JSON; empty when withdrawn.
    pub record: Vec<u8>,
    /// Who may hold a copy; `None`: the whole network.
    pub release_to: Option<ReleaseList>,
    /// When the owner's node signed it, Unix milliseconds.
    pub changed_at_ms: i64,
}

impl RecordChange {
    /// Checks sizes and that a withdrawal carries no record and anything else does.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::required("record_change.key", &self.key, MAX_KEY_LEN)?;
        check::one_line("record_change.key", &self.key, MAX_KEY_LEN)?;
        check::max_len("record_change.record", self.record.len(), MAX_RECORD_LEN)?;
        if self.withdrawn != self.record.is_empty() {
            return Err(ValidationError::WithdrawalRecord);
        }
        if self.changed_at_ms < 0 {
            return Err(ValidationError::NegativeTime {
                field: "record_change.changed_at_ms",
                value: self.changed_at_ms,
            });
        }
        if let Some(list) = &self.release_to {
            list.validate()?;
        }
        Ok(())
    }

    /// Encodes the change: the bytes its owner signs.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        pb::RecordChange {
            database: self.database.as_str().to_owned(),
            key: self.key.clone(),
            owner: self.owner.as_str().to_owned(),
            version: self.version,
            withdrawn: self.withdrawn,
            record: self.record.clone(),
            release_to: self.release_to.as_ref().map(ReleaseList::to_pb),
            changed_at_ms: self.changed_at_ms,
        }
        .encode_to_vec()
    }

    /// Decodes and validates signed change bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let c = pb::RecordChange::decode(bytes)?;
        let change = RecordChange {
            database: Database::from_wire("record_change.database", &c.database)?,
            key: c.key,
            owner: check::node_id("record_change.owner", c.owner)?,
            version: c.version,
            withdrawn: c.withdrawn,
            record: c.record,
            release_to: c.release_to.map(ReleaseList::from_pb).transpose()?,
            changed_at_ms: c.changed_at_ms,
        };
        change.validate()?;
        Ok(change)
    }
}

/// The bytes the hub signs for a digest: [`DIGEST_SIGNING_DOMAIN`] then the encoded digest.
pub fn digest_signing_input(digest_bytes: &[u8]) -> Vec<u8> {
    [DIGEST_SIGNING_DOMAIN, digest_bytes].concat()
}

fn fixed<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N], ValidationError> {
    bytes.try_into().map_err(|_| ValidationError::BadLength {
        field,
        len: bytes.len(),
        expected: N,
    })
}

/// Envelope body: an owner's signed changes on their way to the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordUpload {
    /// The changes, each signed by the envelope's signer.
    pub changes: Vec<SignedRecordChange>,
    /// The signature of each batch the changes belong to; an upload carries whole batches.
    pub proofs: Vec<RecordBatchProof>,
}

impl RecordUpload {
    /// At least one change, at most [`MAX_UPLOAD_CHANGES`].
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.changes.is_empty() {
            return Err(ValidationError::NoEntries {
                field: "record_upload.changes",
            });
        }
        check::max_count(
            "record_upload.changes",
            self.changes.len(),
            MAX_UPLOAD_CHANGES,
        )?;
        check::max_count(
            "record_upload.proofs",
            self.proofs.len(),
            self.changes.len(),
        )
    }

    pub(crate) fn to_pb(&self) -> pb::RecordUpload {
        pb::RecordUpload {
            changes: self.changes.iter().map(SignedRecordChange::to_pb).collect(),
            proofs: self.proofs.iter().map(RecordBatchProof::to_pb).collect(),
        }
    }

    pub(crate) fn from_pb(u: pb::RecordUpload) -> Result<Self, ValidationError> {
        check::max_count("record_upload.changes", u.changes.len(), MAX_UPLOAD_CHANGES)?;
        check::max_count("record_upload.proofs", u.proofs.len(), MAX_UPLOAD_CHANGES)?;
        let changes = u.changes.into_iter().map(SignedRecordChange::from_pb);
        let proofs = u.proofs.into_iter().map(RecordBatchProof::from_pb);
        Ok(RecordUpload {
            changes: changes.collect::<Result<_, _>>()?,
            proofs: proofs.collect::<Result<_, _>>()?,
        })
    }
}

/// First frame of a sync stream: the replica's database and last applied change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    /// The database to sync.
    pub database: Database,
    /// The last change the replica applied; 0 for a fresh replica.
    pub after_seq: u64,
}

impl SyncRequest {
    pub(crate) fn to_pb(&self) -> pb::SyncRequest {
        pb::SyncRequest {
            database: self.database.as_str().to_owned(),
            after_seq: self.after_seq,
        }
    }

    pub(crate) fn from_pb(r: pb::SyncRequest) -> Result<Self, ValidationError> {
        Ok(SyncRequest {
            database: Database::from_wire("sync_request.database", &r.database)?,
            after_seq: r.after_seq,
        })
    }
}

/// A batch of changes on a sync stream, still compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncBatch {
    /// The stream's database.
    pub database: Database,
    /// The batch continues from this change (the replica's last applied one).
    pub after_seq: u64,
    /// Once applied, the replica stands at this change.
    pub through_seq: u64,
    /// The hub's latest change when it sent the batch.
    pub head_seq: u64,
    /// The hub's clock when it sent the batch, Unix ms.
    pub sent_at_ms: i64,
    /// zstd frame of an encoded [`SyncChanges`].
    pub compressed: Vec<u8>,
    /// The hub's signed digest of the replica's copy, when the batch reaches the head.
    pub digest: Option<SignedDigest>,
}

impl SyncBatch {
    /// `after <= through <= head`, and a batch that moves on carries changes.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.after_seq > self.through_seq || self.through_seq > self.head_seq {
            return Err(ValidationError::SyncSequence {
                after: self.after_seq,
                through: self.through_seq,
                head: self.head_seq,
            });
        }
        Ok(())
    }

    pub(crate) fn to_pb(&self) -> pb::SyncBatch {
        pb::SyncBatch {
            database: self.database.as_str().to_owned(),
            after_seq: self.after_seq,
            through_seq: self.through_seq,
            head_seq: self.head_seq,
            sent_at_ms: self.sent_at_ms,
            compressed: self.compressed.clone(),
            digest: self.digest.as_ref().map(SignedDigest::to_pb),
        }
    }

    pub(crate) fn from_pb(b: pb::SyncBatch) -> Result<Self, ValidationError> {
        let batch = SyncBatch {
            database: Database::from_wire("sync_batch.database", &b.database)?,
            after_seq: b.after_seq,
            through_seq: b.through_seq,
            head_seq: b.head_seq,
            sent_at_ms: b.sent_at_ms,
            compressed: b.compressed,
            digest: b.digest.map(SignedDigest::from_pb).transpose()?,
        };
        batch.validate()?;
        Ok(batch)
    }
}

/// One item of a sync batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncItem {
    /// The record's latest change, released to the replica.
    Change {
        /// The change's sequence number at the hub.
        seq: u64,
        /// The change, as its owner signed it.
        change: SignedRecordChange,
    },
    /// The record with this storage key is gone for the replica.
    Erase {
        /// The sequence number of the change that made it go.
        seq: u64,
        /// The record's storage key (SHA-256 of database and key).
        key: [u8; HASH_LEN],
    },
}

impl SyncItem {
    /// The item's sequence number at the hub.
    pub fn seq(&self) -> u64 {
        match self {
            SyncItem::Change { seq, .. } | SyncItem::Erase { seq, .. } => *seq,
        }
    }
}

/// The decompressed contents of a [`SyncBatch`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncChanges {
    /// The changes, in increasing sequence order.
    pub items: Vec<SyncItem>,
    /// DER of signer certificates first referenced in this batch.
    pub certificates: Vec<Vec<u8>>,
    /// One per signing batch that the items' changes belong to, with their multiproof.
    pub proofs: Vec<RecordBatchProof>,
}

impl SyncChanges {
    /// Encodes for compression.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        use pb::sync_item::Item;
        pb::SyncChanges {
            items: self
                .items
                .iter()
                .map(|item| match item {
                    SyncItem::Change { seq, change } => pb::SyncItem {
                        seq: *seq,
                        item: Some(Item::Change(change.to_pb())),
                    },
                    SyncItem::Erase { seq, key } => pb::SyncItem {
                        seq: *seq,
                        item: Some(Item::Erase(key.to_vec())),
                    },
                })
                .collect(),
            certificates: self.certificates.clone(),
            proofs: self.proofs.iter().map(RecordBatchProof::to_pb).collect(),
        }
        .encode_to_vec()
    }

    /// Decodes decompressed bytes; shapes and counts checked.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        use pb::sync_item::Item;
        let c = pb::SyncChanges::decode(bytes)?;
        check::max_count("sync_changes.items", c.items.len(), MAX_SYNC_ITEMS)?;
        check::max_count(
            "sync_changes.certificates",
            c.certificates.len(),
            MAX_SYNC_CERTIFICATES,
        )?;
        check::max_count("sync_changes.proofs", c.proofs.len(), MAX_SYNC_ITEMS)?;
        for cert in &c.certificates {
            check::max_len("sync_changes.certificates", cert.len(), MAX_CERTIFICATE_LEN)?;
        }
        let items = c
            .items
            .into_iter()
            .map(|i| match i.item {
                Some(Item::Change(change)) => Ok(SyncItem::Change {
                    seq: i.seq,
                    change: SignedRecordChange::from_pb(change)?,
                }),
                Some(Item::Erase(key)) => Ok(SyncItem::Erase {
                    seq: i.seq,
                    key: fixed("sync_item.erase", &key)?,
                }),
                None => Err(ValidationError::Missing {
                    field: "sync_item.item",
                }),
            })
            .collect::<Result<_, ValidationError>>()?;
        let proofs = c.proofs.into_iter().map(RecordBatchProof::from_pb);
        Ok(SyncChanges {
            items,
            certificates: c.certificates,
            proofs: proofs.collect::<Result<_, ValidationError>>()?,
        })
    }
}

/// What the hub states a replica's copy holds at a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaDigest {
    /// The database.
    pub database: Database,
    /// The replica whose copy it describes (records released to it only).
    pub replica: NodeId,
    /// The change the copy is at.
    pub seq: u64,
    /// Records in the copy.
    pub records: u64,
    /// Merkle root over the copy (see the daemon's `engine::records::digest`).
    pub root: [u8; HASH_LEN],
    /// When the hub computed it, Unix ms.
    pub computed_at_ms: i64,
}

impl ReplicaDigest {
    /// The bytes the hub signs.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        pb::ReplicaDigest {
            database: self.database.as_str().to_owned(),
            replica: self.replica.as_str().to_owned(),
            seq: self.seq,
            records: self.records,
            root: self.root.to_vec(),
            computed_at_ms: self.computed_at_ms,
        }
        .encode_to_vec()
    }

    /// Decodes signed digest bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let d = pb::ReplicaDigest::decode(bytes)?;
        Ok(ReplicaDigest {
            database: Database::from_wire("replica_digest.database", &d.database)?,
            replica: check::node_id("replica_digest.replica", d.replica)?,
            seq: d.seq,
            records: d.records,
            root: fixed("replica_digest.root", &d.root)?,
            computed_at_ms: d.computed_at_ms,
        })
    }
}

/// A [`ReplicaDigest`]'s bytes with the hub's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDigest {
    /// The encoded [`ReplicaDigest`], exactly as signed.
    pub digest: Vec<u8>,
    /// The hub's Ed25519 signature over [`digest_signing_input`] of `digest`.
    pub signature: [u8; SIGNATURE_LEN],
}

impl SignedDigest {
    pub(crate) fn to_pb(&self) -> pb::SignedDigest {
        pb::SignedDigest {
            digest: self.digest.clone(),
            signature: self.signature.to_vec(),
        }
    }

    pub(crate) fn from_pb(s: pb::SignedDigest) -> Result<Self, ValidationError> {
        check::max_len("signed_digest.digest", s.digest.len(), MAX_NAME_LEN * 2)?;
        Ok(SignedDigest {
            digest: s.digest,
            signature: fixed("signed_digest.signature", &s.signature)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change() -> RecordChange {
        RecordChange {
            database: Database::Sltd,
            key: "FR/X1234567".into(),
            owner: "ncb.fr".parse().unwrap(),
            version: 7,
            withdrawn: false,
            record: br#"{"status":"stolen"}"#.to_vec(),
            release_to: Some("FR,UNMISS".parse().unwrap()),
            changed_at_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn a_change_round_trips_and_a_withdrawal_carries_no_record() {
        let c = change();
        assert_eq!(RecordChange::decode(&c.encode_to_vec()).unwrap(), c);
        let bad = RecordChange {
            withdrawn: true,
            ..change()
        };
        assert!(matches!(
            RecordChange::decode(&bad.encode_to_vec()),
            Err(DecodeError::Invalid(ValidationError::WithdrawalRecord))
        ));
        let empty = RecordChange {
            record: Vec::new(),
            ..change()
        };
        assert!(RecordChange::decode(&empty.encode_to_vec()).is_err());
    }

    #[test]
    fn unknown_databases_and_bad_lengths_are_refused() {
        let mut wire = pb::RecordChange::decode(&change().encode_to_vec()[..]).unwrap();
        wire.database = "fingerprints".into();
        assert!(RecordChange::decode(&wire.encode_to_vec()).is_err());
        let signed = pb::SignedRecordChange {
            change: vec![1],
            signature: vec![0; 63],
            signer: vec![0; 32],
            ..Default::default()
        };
        assert!(SignedRecordChange::from_pb(signed).is_err());
    }

    #[test]
    fn a_change_is_signed_alone_or_in_a_batch_never_both() {
        let alone = pb::SignedRecordChange {
            change: vec![1],
            signature: vec![0; 64],
            signer: vec![0; 32],
            ..Default::default()
        };
        assert!(matches!(
            SignedRecordChange::from_pb(alone.clone())
                .unwrap()
                .signature,
            ChangeSignature::Alone(_)
        ));
        let batch = pb::SignedRecordChange {
            signature: Vec::new(),
            leaf_index: 2,
            tree_size: 3,
            batch_root: vec![5; 32],
            salt: vec![6; 16],
            ..alone.clone()
        };
        let decoded = SignedRecordChange::from_pb(batch.clone()).unwrap();
        assert_eq!(decoded.batch().unwrap().1, 2);
        let refused = [
            // A batch's change with a signature of its own, or without a root.
            pb::SignedRecordChange {
                signature: vec![0; 64],
                ..batch.clone()
            },
            pb::SignedRecordChange {
                batch_root: Vec::new(),
                ..batch.clone()
            },
            // A leaf outside its tree, a tree too large.
            pb::SignedRecordChange {
                leaf_index: 3,
                ..batch.clone()
            },
            pb::SignedRecordChange {
                tree_size: (1 << 32) + 1,
                ..batch.clone()
            },
            // A batch's change without its salt.
            pb::SignedRecordChange {
                salt: Vec::new(),
                ..batch
            },
            // A change signed alone that names a root or a leaf.
            pb::SignedRecordChange {
                batch_root: vec![5; 32],
                ..alone.clone()
            },
            pb::SignedRecordChange {
                leaf_index: 1,
                ..alone.clone()
            },
            pb::SignedRecordChange {
                salt: vec![6; 16],
                ..alone
            },
        ];
        for wire in refused {
            assert!(
                SignedRecordChange::from_pb(wire.clone()).is_err(),
                "{wire:?}"
            );
        }
        let proof = pb::RecordBatchProof {
            signer: vec![0; 32],
            tree_size: 3,
            root: vec![1; 32],
            signature: vec![2; 64],
            nodes: vec![3; 64],
        };
        assert_eq!(
            RecordBatchProof::from_pb(proof.clone())
                .unwrap()
                .nodes
                .len(),
            2
        );
        for bad in [
            pb::RecordBatchProof {
                nodes: vec![3; 65],
                ..proof.clone()
            },
            pb::RecordBatchProof {
                tree_size: 0,
                ..proof.clone()
            },
            pb::RecordBatchProof {
                signature: vec![2; 63],
                ..proof
            },
        ] {
            assert!(RecordBatchProof::from_pb(bad).is_err());
        }
    }

    #[test]
    fn sync_changes_round_trip_and_batches_keep_their_order() {
        let signed = SignedRecordChange {
            change: change().encode_to_vec(),
            signature: ChangeSignature::Alone([1; 64]),
            signer: [2; 32],
        };
        let in_batch = SignedRecordChange {
            signature: ChangeSignature::Batch {
                leaf_index: 4,
                tree_size: 5,
                root: [3; 32],
                salt: [6; 16],
            },
            ..signed.clone()
        };
        let changes = SyncChanges {
            items: vec![
                SyncItem::Change {
                    seq: 3,
                    change: signed,
                },
                SyncItem::Change {
                    seq: 4,
                    change: in_batch.clone(),
                },
                SyncItem::Erase {
                    seq: 5,
                    key: [9; 32],
                },
            ],
            certificates: vec![vec![0x30, 0x00]],
            proofs: vec![RecordBatchProof {
                batch: in_batch.batch().unwrap().0,
                signature: [7; 64],
                nodes: vec![[8; 32], [9; 32]],
            }],
        };
        assert_eq!(
            SyncChanges::decode(&changes.encode_to_vec()).unwrap(),
            changes
        );
        let batch = SyncBatch {
            database: Database::Smv,
            after_seq: 9,
            through_seq: 8,
            head_seq: 10,
            sent_at_ms: 0,
            compressed: Vec::new(),
            digest: None,
        };
        assert!(SyncBatch::from_pb(batch.to_pb()).is_err());
    }
}
