//! `bluehelm db import DB FILE` at the owner's node: the rows (its own records only) become
//! record changes signed with the node's key, all with one version (the import's time). At
//! the hub they are sequenced at once; anywhere else they travel to the hub in `RecordUpload`
//! messages, under custody like any message, and the hub sequences them when they arrive.

use std::time::Duration;

use bluehelm_pki::Role;
use bluehelm_proto::records::{RecordBatchProof, RecordChange, RecordUpload, MAX_UPLOAD_CHANGES};
use bluehelm_proto::{Body, Database, Destination, Precedence};

use super::batch_row::BatchRow;
use super::upload::{self, Checked};
use crate::custody::{now_ms, BureauHandle, Outgoing, SubmitError};
use crate::services::import::{self, ImportError, Parsed, Prepared, RowError, MAX_REPORTED_ERRORS};

/// An upload envelope's share of record bytes: well below the envelope limit.
const UPLOAD_BYTES: usize = 512 * 1024;
/// How long an upload may wait for the hub: a post's link may be down for days.
const UPLOAD_TTL: Duration = Duration::from_secs(14 * 24 * 3600);
/// Changes sequenced per call at the hub: bounds one sled batch. A person writes about a dozen
/// index entries; at 10,000 per batch the hub's memory grew twice as fast while importing
/// persons (1.5 GiB against 0.87 GiB for 30,000 persons, `bench --scenario nominal`).
const SEQUENCE_CHUNK: usize = 1_000;

/// What an import did.
#[derive(Debug, Default)]
pub struct Imported {
    /// Rows signed (and sequenced, at the hub; sent, elsewhere).
    pub imported: u64,
    pub rejected: u64,
    pub errors: Vec<RowError>,
    /// Upload messages sent to the hub (0 at the hub).
    pub uploads: u64,
}

/// Why an import did not happen (or stopped part-way: what was sent stays sent).
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    #[error(transparent)]
    File(#[from] ImportError),
    #[error("field database storage: {0}")]
    Storage(String),
    #[error("cannot send the records to the hub: {0}")]
    Submit(#[from] SubmitError),
}

/// Imports a file of this node's own records into `database`. The rows are signed, and
/// sequenced or sent, a chunk at a time, so that only the parsed rows are held whole.
pub async fn import(
    node: &BureauHandle,
    database: Database,
    bytes: Vec<u8>,
) -> Result<Imported, ImportFailure> {
    let me = node.me().clone();
    let parsed: Parsed = blocking(move || import::parse(database, &bytes, &me)).await??;
    let mut imported = Imported {
        imported: parsed.items.len() as u64,
        rejected: parsed.bad_rows,
        errors: parsed.errors,
        uploads: 0,
    };
    // One version for the whole import: its time.
    let at = now_ms();
    let mut items = parsed.items.into_iter().peekable();
    let hub_sequences = node.identity().role == Role::Hub;
    if hub_sequences {
        // Replicas verify the hub's own records with its certificate, sent with them.
        let store = node.records().clone();
        let der = node.record_signer().certificate_der().to_vec();
        let fingerprint = node.record_signer().certificate_fingerprint();
        blocking(move || store.keep_certificate(&fingerprint, &der))
            .await?
            .map_err(|e| ImportFailure::Storage(e.to_string()))?;
    }
    let hub = node.config().databases.hub.clone();
    while items.peek().is_some() {
        let chunk: Vec<Prepared> = if hub_sequences {
            items.by_ref().take(SEQUENCE_CHUNK).collect()
        } else {
            take_upload(&mut items)
        };
        let signer = node.clone();
        let (signed, proof) = blocking(move || sign(&signer, database, at, chunk)).await?;
        if hub_sequences {
            let store = node.records().clone();
            let members: Vec<_> = signed.iter().map(|c| &c.signed).collect();
            let row = BatchRow::of_whole_batch(&proof, &members)
                .ok_or_else(|| ImportFailure::Storage("a signed batch is not whole".into()))?;
            let (_, refused) = blocking(move || upload::sequence(&store, signed, &[row]))
                .await?
                .map_err(|e| ImportFailure::Storage(e.to_string()))?;
            for (line, message) in refused {
                imported.imported -= 1;
                imported.rejected += 1;
                if imported.errors.len() < MAX_REPORTED_ERRORS {
                    imported.errors.push(RowError { line, message });
                }
            }
        } else {
            let changes = signed.into_iter().map(|c| c.signed).collect();
            node.submit(vec![Outgoing {
                destination: Destination::Node(hub.clone()),
                precedence: Precedence::Routine,
                body: Body::RecordUpload(RecordUpload {
                    changes,
                    proofs: vec![proof],
                }),
                ttl: UPLOAD_TTL,
                want_delivery_report: true,
                correlation_id: None,
                release_to: None,
            }])
            .await?;
            imported.uploads += 1;
        }
    }
    imported.errors.sort_by_key(|e| e.line);
    Ok(imported)
}

/// The next rows for one upload message: at most [`MAX_UPLOAD_CHANGES`], about
/// [`UPLOAD_BYTES`].
fn take_upload(items: &mut std::iter::Peekable<std::vec::IntoIter<Prepared>>) -> Vec<Prepared> {
    let mut chunk = Vec::new();
    let mut bytes = 0;
    while chunk.len() < MAX_UPLOAD_CHANGES && bytes < UPLOAD_BYTES {
        let Some(item) = items.next() else { break };
        bytes += item.key.len() + item.record.as_ref().map_or(0, Vec::len) + 256;
        chunk.push(item);
    }
    chunk
}

/// Signs rows as record changes of this node, all with version `at`, in one batch.
fn sign(
    node: &BureauHandle,
    database: Database,
    at: i64,
    items: Vec<Prepared>,
) -> (Vec<Checked>, RecordBatchProof) {
    let lines: Vec<u64> = items.iter().map(|item| item.line).collect();
    let changes: Vec<RecordChange> = items
        .into_iter()
        .map(|item| RecordChange {
            database,
            withdrawn: item.record.is_none(),
            key: item.key,
            owner: item.owner,
            version: u64::try_from(at).unwrap_or(0),
            record: item.record.unwrap_or_default(),
            release_to: item.release_to,
            changed_at_ms: at,
        })
        .collect();
    let (signed, proof) = node.record_signer().sign_record_batch(&changes);
    let checked = changes
        .into_iter()
        .zip(signed)
        .zip(lines)
        .map(|((change, signed), line)| Checked {
            change,
            signed,
            line,
        })
        .collect();
    (checked, proof)
}

/// Runs CPU or disk work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ImportFailure> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ImportFailure::Storage(format!("import worker failed: {e}")))
}
