//! Field databases (issue 13), the pure rules: where a record is stored, which change the
//! hub sequences, which batch a replica applies, and the digest both sides compare.
//!
//! A record is stored under its *storage key*, the SHA-256 of its database and key: the hub
//! can tell a replica to erase a record by that hash without revealing a key the replica
//! was never released, and both sides order records the same way for the digest.

pub mod digest;
pub mod freshness;
pub mod replica;
#[cfg(test)]
mod tests;

use bluehelm_proto::records::{Database, RecordChange, HASH_LEN};
use bluehelm_proto::NodeId;

/// A record's storage key: SHA-256 of `database || 0x00 || key`.
pub fn storage_key(database: Database, key: &str) -> [u8; HASH_LEN] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(database.as_str().as_bytes());
    ctx.update(&[0]);
    ctx.update(key.as_bytes());
    hash_bytes(ctx.finish())
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; HASH_LEN] {
    hash_bytes(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// SHA-256 of `parts` one after another, without joining them first.
pub fn sha256_parts(parts: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    hash_bytes(ctx.finish())
}

/// Lower-case hex, for digests shown to people and written in text files.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(bytes, &mut out);
    out
}

/// `bytes` in lower-case hex, appended to `out`.
pub fn push_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

fn hash_bytes(digest: ring::digest::Digest) -> [u8; HASH_LEN] {
    let mut out = [0; HASH_LEN];
    out.copy_from_slice(digest.as_ref());
    out
}

/// What the hub holds of a record when a change to it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub owner: NodeId,
    pub version: u64,
    pub withdrawn: bool,
}

/// Why the hub does not sequence a change (the owner's node is told in the log; the change
/// is dropped, the rest of its upload goes on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeRefusal {
    /// Another bureau owns a live record with this key.
    #[error("{key} is owned by {owner}: only its owner changes it")]
    OwnedByAnother { key: String, owner: NodeId },
    /// The hub holds this version or a later one.
    #[error("{key}: version {version} is not newer than version {held} held")]
    Stale {
        key: String,
        version: u64,
        held: u64,
    },
    /// The change is for another database than the upload's.
    #[error("{key}: a change to {found} in an upload for {expected}")]
    WrongDatabase {
        key: String,
        found: Database,
        expected: Database,
    },
    /// The key is not in the database's normal form (the hub and every replica look it up
    /// by the normalised form, so another form would never be found).
    #[error("{key}: not a key of {database}: {problem}")]
    BadKey {
        key: String,
        database: Database,
        problem: String,
    },
}

/// Whether the hub sequences `change`, given what it holds of the record. The signature
/// and that the owner signed it are checked before; this is about the record's history.
pub fn admit(held: Option<&Held>, change: &RecordChange) -> Result<(), ChangeRefusal> {
    let Some(held) = held else {
        return Ok(());
    };
    if held.owner != change.owner && !held.withdrawn {
        return Err(ChangeRefusal::OwnedByAnother {
            key: change.key.clone(),
            owner: held.owner.clone(),
        });
    }
    if held.owner == change.owner && change.version <= held.version {
        return Err(ChangeRefusal::Stale {
            key: change.key.clone(),
            version: change.version,
            held: held.version,
        });
    }
    Ok(())
}
