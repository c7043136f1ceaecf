//! `bluehelm db import DB FILE` at the owner's node: the rows (its own records only) become
//! record changes signed with the node's key, all with one version (the import's time). At
//! the hub they are sequenced at once; anywhere else they travel to the hub in `RecordUpload`
//! messages, under custody like any message, and the hub sequences them when they arrive.

use std::time::Duration;

use bluehelm_pki::Role;
use bluehelm_proto::records::{RecordChange, RecordUpload, MAX_UPLOAD_CHANGES};
use bluehelm_proto::{Body, Database, Destination, Precedence, SignedRecordChange};

use super::upload::{self, Checked};
use crate::custody::{now_ms, BureauHandle, Outgoing, SubmitError};
use crate::services::import::{self, ImportError, Parsed, RowError, MAX_REPORTED_ERRORS};

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

/// Imports a file of this node's own records into `database`.
pub async fn import(
    node: &BureauHandle,
    database: Database,
    bytes: Vec<u8>,
) -> Result<Imported, ImportFailure> {
    let me = node.me().clone();
    let signer_node = node.clone();
    // Parsing and signing are CPU work: off the async workers.
    let (parsed, signed) = tokio::task::spawn_blocking(move || {
        let parsed: Parsed = import::parse(database, &bytes, &me)?;
        let at = now_ms();
        let signer = signer_node.record_signer();
        let signed: Vec<(u64, RecordChange, SignedRecordChange)> = parsed
            .items
            .iter()
            .map(|item| {
                let change = RecordChange {
                    database,
                    key: item.key.clone(),
                    owner: item.owner.clone(),
                    version: u64::try_from(at).unwrap_or(0),
                    withdrawn: item.record.is_none(),
                    record: item.record.clone().unwrap_or_default(),
                    release_to: item.release_to.clone(),
                    changed_at_ms: at,
                };
                let signed = signer.sign_record_change(&change);
                (item.line, change, signed)
            })
            .collect();
        Ok::<_, ImportError>((parsed, signed))
    })
    .await
    .map_err(|e| ImportFailure::Storage(format!("import worker failed: {e}")))??;

    let mut imported = Imported {
        imported: signed.len() as u64,
        rejected: parsed.bad_rows,
        errors: parsed.errors,
        uploads: 0,
    };
    if node.identity().role == Role::Hub {
        // Replicas verify the hub's own records with its certificate, sent with them.
        let store = node.records().clone();
        let der = node.record_signer().certificate_der().to_vec();
        let fingerprint = node.record_signer().certificate_fingerprint();
        tokio::task::spawn_blocking(move || store.keep_certificate(&fingerprint, &der))
            .await
            .map_err(|e| ImportFailure::Storage(format!("import worker failed: {e}")))?
            .map_err(|e| ImportFailure::Storage(e.to_string()))?;
        let mut signed = signed.into_iter().peekable();
        while signed.peek().is_some() {
            let chunk: Vec<Checked> = signed
                .by_ref()
                .take(SEQUENCE_CHUNK)
                .map(|(line, change, signed)| Checked {
                    change,
                    signed,
                    line,
                })
                .collect();
            let store = node.records().clone();
            let (_, refused) = tokio::task::spawn_blocking(move || upload::sequence(&store, chunk))
                .await
                .map_err(|e| ImportFailure::Storage(format!("import worker failed: {e}")))?
                .map_err(|e| ImportFailure::Storage(e.to_string()))?;
            for (line, message) in refused {
                imported.imported -= 1;
                imported.rejected += 1;
                if imported.errors.len() < MAX_REPORTED_ERRORS {
                    imported.errors.push(RowError { line, message });
                }
            }
        }
        imported.errors.sort_by_key(|e| e.line);
        return Ok(imported);
    }

    let hub = node.config().databases.hub.clone();
    let mut batch: Vec<SignedRecordChange> = Vec::new();
    let mut bytes = 0;
    let mut uploads = Vec::new();
    for (_, _, signed) in signed {
        bytes += signed.change.len() + 128;
        batch.push(signed);
        if batch.len() >= MAX_UPLOAD_CHANGES || bytes >= UPLOAD_BYTES {
            uploads.push(std::mem::take(&mut batch));
            bytes = 0;
        }
    }
    if !batch.is_empty() {
        uploads.push(batch);
    }
    for changes in uploads {
        node.submit(vec![Outgoing {
            destination: Destination::Node(hub.clone()),
            precedence: Precedence::Routine,
            body: Body::RecordUpload(RecordUpload { changes }),
            ttl: UPLOAD_TTL,
            want_delivery_report: true,
            correlation_id: None,
            release_to: None,
        }])
        .await?;
        imported.uploads += 1;
    }
    Ok(imported)
}
