//! `ImportRecords`: loads a CSV file into a reference database this node answers itself
//! (`crate::services`). The file arrives in chunks and is parsed off the async workers; the
//! good rows are committed (durably) before the call returns, the bad ones reported by line.

use bluehelm_proto::limits::MAX_NAME_LEN;
use tonic::{Status, Streaming};

use super::pb;
use crate::custody::{BureauHandle, Record};
use crate::services::import::{self, Parsed};
use crate::services::Database;

/// Largest file taken in one import. The whole file is held in memory while it is parsed;
/// a larger database is imported in several files (a row already held is replaced).
const MAX_IMPORT_BYTES: usize = 256 * 1024 * 1024;
/// Records written per store commit: bounds one sled batch, and lets custody commits of
/// the node's traffic interleave with a large import.
const WRITES_PER_COMMIT: usize = 10_000;

pub async fn import_records(
    node: &BureauHandle,
    mut chunks: Streaming<pb::ImportChunk>,
) -> Result<pb::ImportReport, Status> {
    let mut data = Vec::new();
    let mut database = None;
    while let Some(chunk) = chunks.message().await? {
        if database.is_none() {
            let name = chunk.database.trim();
            let db = Database::parse(name).ok_or_else(|| {
                let mut name = name.to_owned();
                name.truncate(MAX_NAME_LEN);
                Status::invalid_argument(format!(
                    "database {name:?}: expected sltd or smv (in the first chunk)"
                ))
            })?;
            if !db.enabled(node.config()) {
                return Err(Status::failed_precondition(format!(
                    "this node does not answer {}: enable it under [reference_services] ({} = true)",
                    db.service(),
                    db.name()
                )));
            }
            database = Some(db);
        }
        if data.len() + chunk.data.len() > MAX_IMPORT_BYTES {
            return Err(Status::resource_exhausted(format!(
                "the file is larger than {} MiB: split it and import the parts",
                MAX_IMPORT_BYTES / (1024 * 1024)
            )));
        }
        data.extend_from_slice(&chunk.data);
    }
    let database =
        database.ok_or_else(|| Status::invalid_argument("no chunk: name the database"))?;

    // Parsing a large file is CPU work: keep it off the async workers.
    let table = node.config().routing.clone();
    let parsed: Parsed =
        tokio::task::spawn_blocking(move || import::parse(database, &data, &table))
            .await
            .map_err(|e| Status::internal(format!("import parser failed: {e}")))?
            .map_err(|e| Status::invalid_argument(e.to_string()))?;

    let Parsed {
        writes,
        rows,
        errors,
        bad_rows,
    } = parsed;
    let mut writes = writes.into_iter().peekable();
    while writes.peek().is_some() {
        let slice: Vec<Record> = writes.by_ref().take(WRITES_PER_COMMIT).collect();
        node.keep(slice)
            .await
            .map_err(|e| Status::internal(format!("import stopped part-way: {e}")))?;
    }
    tracing::info!(
        database = database.name(),
        imported = rows,
        rejected = bad_rows,
        "imported reference records"
    );
    Ok(pb::ImportReport {
        imported: rows,
        rejected: bad_rows,
        errors: errors
            .into_iter()
            .map(|e| pb::ImportRowError {
                line: e.line,
                message: e.message,
            })
            .collect(),
    })
}
