//! `DatabaseStatus` and `ExportRecords` (issue 13): what this node holds of each field
//! database, and its records as JSON lines.

use bluehelm_proto::Database;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::pb;
use crate::custody::{now_ms, BureauHandle};
use crate::records::status::{self, Part};

/// Bytes of JSON lines per export chunk.
const EXPORT_CHUNK: usize = 256 * 1024;

pub async fn database_status(node: &BureauHandle) -> Result<pb::DatabaseStatusResponse, Status> {
    let store = node.records().clone();
    let config = node.config().clone();
    let role = node.identity().role;
    let states = tokio::task::spawn_blocking(move || {
        Database::ALL
            .into_iter()
            .map(|db| status::state(&store, db, Part::of(&config, role, db)))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| Status::internal(format!("status worker failed: {e}")))?
    .map_err(|e| Status::internal(e.to_string()))?;
    let hub = node.config().databases.hub.to_string();
    let now = now_ms();
    Ok(pb::DatabaseStatusResponse {
        hub: hub.clone(),
        databases: states
            .into_iter()
            .map(|s| {
                let replica = s.part == Part::Replica;
                let freshness = s.freshness.filter(|_| replica);
                pb::DatabaseState {
                    database: s.database.to_string(),
                    role: s.part.as_str().into(),
                    records: s.records,
                    seq: s.seq,
                    hub_seq: freshness.map_or(0, |f| f.head_seq),
                    behind_ms: freshness.and_then(|f| f.behind_ms(now)).unwrap_or(-1),
                    freshness: freshness.map(|f| f.describe(now, &hub)).unwrap_or_default(),
                    digest: s.digest.filter(|_| replica).map(|d| pb::DigestCheck {
                        seq: d.seq,
                        root: d.root,
                        hub_root: d.hub_root,
                        matches: d.matches,
                        checked_at_ms: d.checked_at_ms,
                        records: d.records,
                    }),
                    last_catch_up: s.catch_up.filter(|_| replica).map(|c| pb::CatchUp {
                        changes: c.changes,
                        ms: c.ms,
                        at_ms: c.at_ms,
                    }),
                }
            })
            .collect(),
    })
}

pub fn export(
    node: &BureauHandle,
    request: pb::ExportRequest,
) -> Result<ReceiverStream<Result<pb::ExportChunk, Status>>, Status> {
    let database: Database = request
        .database
        .trim()
        .parse()
        .map_err(|e| Status::invalid_argument(format!("{e}")))?;
    let (tx, rx) = mpsc::channel(4);
    let store = node.records().clone();
    tokio::task::spawn_blocking(move || {
        let result = status::export(&store, database, EXPORT_CHUNK, |data| {
            tx.blocking_send(Ok(pb::ExportChunk { data })).is_ok()
        });
        if let Err(err) = result {
            let _ = tx.blocking_send(Err(Status::internal(err.to_string())));
        }
    });
    Ok(ReceiverStream::new(rx))
}
