//! What a node holds of each field database, for `db status` and for every answer a replica
//! gives; and the export of its records as JSON lines.

use bluehelm_pki::Role;
use bluehelm_proto::Database;
use serde::{Deserialize, Serialize};

use super::store::{Note, RecordStore, RecordStoreError};
use crate::config::NodeConfig;
use crate::engine::records::freshness::Freshness;

/// This node's part in a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// It sequences the database's changes.
    Hub,
    /// It keeps a copy, synced from the hub.
    Replica,
    /// Neither.
    None,
}

impl Part {
    pub fn of(config: &NodeConfig, role: Role, database: Database) -> Self {
        if role == Role::Hub {
            Part::Hub
        } else if config.databases.replicate.contains(&database) {
            Part::Replica
        } else {
            Part::None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Part::Hub => "hub",
            Part::Replica => "replica",
            Part::None => "none",
        }
    }
}

/// The outcome of the last digest comparison at a replica (stored as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestCheck {
    pub seq: u64,
    pub records: u64,
    pub root: String,
    pub hub_root: String,
    pub matches: bool,
    pub checked_at_ms: i64,
}

/// The last sync session that made a replica level with the hub (stored as JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatchUp {
    /// Changes applied, from the replica's position when it asked to the hub's head.
    pub changes: u64,
    /// From asking (the link's return) to level.
    pub ms: u64,
    /// When it was level, Unix milliseconds.
    pub at_ms: i64,
}

/// A database's state at this node.
#[derive(Debug, Clone)]
pub struct State {
    pub database: Database,
    pub part: Part,
    pub records: u64,
    pub seq: u64,
    pub freshness: Option<Freshness>,
    pub digest: Option<DigestCheck>,
    pub catch_up: Option<CatchUp>,
}

/// Reads the state of `database` (blocking).
pub fn state(
    store: &RecordStore,
    database: Database,
    part: Part,
) -> Result<State, RecordStoreError> {
    let records = store.count(database)?;
    let (seq, freshness, digest, catch_up) = match part {
        Part::Hub => (store.head(database), None, None, None),
        Part::Replica | Part::None => {
            let position = store.position(database)?;
            (
                position.applied_seq,
                Some(position),
                note(store, database, Note::DigestCheck)?,
                note(store, database, Note::CatchUp)?,
            )
        }
    };
    Ok(State {
        database,
        part,
        records,
        seq,
        freshness,
        digest,
        catch_up,
    })
}

/// A replica's note, decoded; none if absent or unreadable (it only informs `db status`).
fn note<T: serde::de::DeserializeOwned>(
    store: &RecordStore,
    database: Database,
    note: Note,
) -> Result<Option<T>, RecordStoreError> {
    Ok(store
        .note(database, note)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// One exported record: the change as its owner signed it, in readable form.
#[derive(Debug, Serialize)]
struct Exported<'a> {
    database: &'a str,
    key: &'a str,
    owner: &'a str,
    version: u64,
    seq: u64,
    release_to: String,
    record: serde_json::Value,
}

/// Every live record of `database`, one JSON line each, in storage order, given to `each`
/// in chunks of about `chunk` bytes (blocking; stop by returning false).
pub fn export(
    store: &RecordStore,
    database: Database,
    chunk: usize,
    mut each: impl FnMut(Vec<u8>) -> bool,
) -> Result<(), RecordStoreError> {
    let mut buffer = Vec::new();
    let mut go_on = true;
    let mut failed = None;
    store
        .walk(database, |stored| {
            if stored.withdrawn {
                return true;
            }
            let change = match stored.change() {
                Ok(change) => change,
                Err(err) => {
                    failed = Some(err.to_string());
                    return false;
                }
            };
            let line = Exported {
                database: database.as_str(),
                key: &change.key,
                owner: change.owner.as_str(),
                version: change.version,
                seq: stored.seq,
                release_to: change
                    .release_to
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                record: serde_json::from_slice(&change.record).unwrap_or(serde_json::Value::Null),
            };
            // A struct of strings and numbers always serializes.
            if serde_json::to_writer(&mut buffer, &line).is_ok() {
                buffer.push(b'\n');
            }
            if buffer.len() >= chunk {
                go_on = each(std::mem::take(&mut buffer));
            }
            go_on
        })
        .map(drop)?;
    if let Some(problem) = failed {
        return Err(RecordStoreError::Corrupt { database, problem });
    }
    if go_on && !buffer.is_empty() {
        each(buffer);
    }
    Ok(())
}
