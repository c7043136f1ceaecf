//! `ImportRecords`: loads a file of this node's own records into a field database
//! (`crate::records::import`). The file arrives in chunks; the rows are parsed and signed off
//! the async workers; at the hub they are sequenced (durably) before the call returns,
//! elsewhere they are in custody on their way to the hub. Bad rows are reported by line.

use bluehelm_proto::limits::MAX_NAME_LEN;
use bluehelm_proto::Database;
use tonic::{Status, Streaming};

use super::pb;
use crate::custody::BureauHandle;
use crate::records::import::{self, ImportFailure};

/// Largest file taken in one import. The whole file is held in memory while it is parsed;
/// a larger database is imported in several files (a row already held is replaced).
const MAX_IMPORT_BYTES: usize = 256 * 1024 * 1024;

pub async fn import_records(
    node: &BureauHandle,
    mut chunks: Streaming<pb::ImportChunk>,
) -> Result<pb::ImportReport, Status> {
    let mut data = Vec::new();
    let mut database = None;
    while let Some(chunk) = chunks.message().await? {
        if database.is_none() {
            let name = chunk.database.trim();
            let db: Database = name.parse().map_err(|_| {
                let mut name = name.to_owned();
                name.truncate(MAX_NAME_LEN);
                Status::invalid_argument(format!(
                    "database {name:?}: expected sltd, smv, persons or dna (in the first chunk)"
                ))
            })?;
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
    let imported = import::import(node, database, data)
        .await
        .map_err(|e| match e {
            ImportFailure::File(e) => Status::invalid_argument(e.to_string()),
            ImportFailure::Submit(e) => super::service::submit_error(e),
            ImportFailure::Storage(e) => Status::internal(e),
        })?;
    tracing::info!(
        database = %database,
        imported = imported.imported,
        rejected = imported.rejected,
        uploads = imported.uploads,
        "imported records"
    );
    Ok(pb::ImportReport {
        imported: imported.imported,
        rejected: imported.rejected,
        errors: imported
            .errors
            .into_iter()
            .map(|e| pb::ImportRowError {
                line: e.line,
                message: e.message,
            })
            .collect(),
        uploads: imported.uploads,
        hub: node.config().databases.hub.to_string(),
    })
}
