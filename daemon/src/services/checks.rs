//! `nominal.check` and `dna.check` (issue 13, items 4 and 5) against this node's field
//! databases: candidates come from the storage (the nominal index, or every DNA profile), the
//! pure answers (`nominal_check`, `dna_check`) rank them. A nominal check also covers the
//! subjects of the current notices in this node's register.

use bluehelm_proto::{Body, Database, ServiceRequest};

use super::answer::Answer as CheckAnswer;
use super::dna_record::DnaRecord;
use super::nominal_check::{self, NominalQuery};
use super::person::PersonRecord;
use super::{dna_check, Finding, Hit, Matched};
use crate::custody::{now_ms, BureauHandle};
use crate::engine::nominal::{self, index};
use crate::engine::policy::Party;
use crate::engine::register::Status;
use crate::records::store::RecordStore;
use crate::store::{Failure, StoreError};

/// Candidates scored off the index and then read in full: the index entry's folded names
/// rank them, the full records give the answer.
const FULL_READS: usize = 64;

fn failed(err: impl std::fmt::Display) -> StoreError {
    StoreError::Failed(Failure::Records(err.to_string()))
}

/// The persons the index files under the query's blocking keys: pair keys first (the most
/// specific), then name-and-year keys, then names alone, within the scan budget.
fn nominal_candidates(
    store: &RecordStore,
    query: &NominalQuery,
) -> Result<Vec<PersonRecord>, StoreError> {
    let asked = query.as_person();
    let mut keys = index::query_keys(&asked);
    keys.sort_by_key(|k| match k.as_bytes().first() {
        Some(b'p') => 0,
        Some(b'y') => 1,
        _ => 2,
    });
    let mut seen = std::collections::HashSet::new();
    let mut scored = Vec::new();
    let mut scanned = 0u64;
    for key in keys {
        if scanned >= index::SCAN_BUDGET {
            break;
        }
        let limit = index::KEY_CAP.min(index::SCAN_BUDGET - scanned) as usize;
        let found = store
            .index(Database::Persons, key.as_bytes(), limit)
            .map_err(failed)?;
        scanned += found.len() as u64;
        for (storage_key, value) in found {
            if !seen.insert(storage_key) {
                continue;
            }
            let Ok(entry) = index::Entry::decode(&value) else {
                continue;
            };
            if let Some(m) = nominal::score(&asked, &entry.person()) {
                if m.score >= nominal::POSSIBLE_MATCH - 0.05 {
                    scored.push((m.score, storage_key));
                }
            }
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut records = Vec::new();
    for (_, storage_key) in scored.into_iter().take(FULL_READS) {
        let Some(stored) = store.get(Database::Persons, &storage_key).map_err(failed)? else {
            continue;
        };
        if stored.withdrawn {
            continue;
        }
        if let Ok(change) = stored.change() {
            if let Ok(record) = serde_json::from_slice::<PersonRecord>(&change.record) {
                records.push(record);
            }
        }
    }
    Ok(records)
}

/// The subjects of the notices in force in this node's register, as person records owned
/// by the notice's requesting bureau.
fn notice_subjects(node: &BureauHandle) -> Vec<PersonRecord> {
    let now = now_ms();
    node.notices()
        .into_iter()
        .filter(|e| matches!(e.status_at(now), Status::Published | Status::Updated))
        .filter_map(|entry| {
            let (_, envelope) = entry.publication().ok()?;
            let Body::Notice(notice) = envelope.body else {
                return None;
            };
            let subject = notice.subject?;
            Some(PersonRecord {
                id: entry.notice_ref.clone(),
                family_name: subject.family_name,
                given_names: subject.given_names,
                date_of_birth: subject.date_of_birth,
                sex: subject.sex,
                nationalities: subject.nationalities,
                place_of_birth: subject.place_of_birth,
                owner_bureau: entry.owner.to_string(),
                reported_at: crate::human_time::utc_from_ms(entry.created_at_ms),
                instructions: format!(
                    "subject of {} notice {}: contact {}",
                    entry.notice_type, entry.notice_ref, entry.owner
                ),
                release_to: entry
                    .release_to
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// A nominal check: persons and notice subjects, ranked.
pub(super) async fn nominal(
    node: &BureauHandle,
    request: &ServiceRequest,
    requester: Party<'_>,
) -> Result<Finding, StoreError> {
    let query = match NominalQuery::from_params(&request.params) {
        Ok(query) => query,
        Err(detail) => return Ok(Finding::Bad(detail)),
    };
    let store = node.records().clone();
    let query2 = query.clone();
    let mut candidates = tokio::task::spawn_blocking(move || nominal_candidates(&store, &query2))
        .await
        .map_err(|_| StoreError::Closed)??;
    candidates.extend(notice_subjects(node));
    // A possible match is a lead for the officer, not a hit on a record: no owner is told.
    Ok(Finding::Ranked(
        nominal_check::answer(&query, &candidates, requester),
        None,
    ))
}

/// A DNA check against every profile held (DNA databases are small next to nominal ones,
/// and the DNA Gateway's rules compare locus by locus).
pub(super) async fn dna(
    node: &BureauHandle,
    request: &ServiceRequest,
    requester: Party<'_>,
) -> Result<Finding, StoreError> {
    let profile = match dna_check::query(&request.params) {
        Ok(profile) => profile,
        Err(detail) => return Ok(Finding::Bad(detail)),
    };
    let store = node.records().clone();
    let records = tokio::task::spawn_blocking(move || {
        let mut records = Vec::new();
        store
            .walk(Database::Dna, |stored| {
                if !stored.withdrawn {
                    if let Ok(change) = stored.change() {
                        if let Ok(r) = serde_json::from_slice::<DnaRecord>(&change.record) {
                            records.push(r);
                        }
                    }
                }
                true
            })
            .map_err(failed)?;
        Ok::<_, StoreError>(records)
    })
    .await
    .map_err(|_| StoreError::Closed)??;
    let answer = dna_check::answer(&profile, &records, requester);
    let hit = best_named(&answer, request);
    Ok(Finding::Ranked(answer, hit))
}

/// The owner's notification of a DNA answer's best hit, if any.
fn best_named(answer: &CheckAnswer, request: &ServiceRequest) -> Option<Hit> {
    let named = answer.named.first()?;
    let fields: Vec<(&str, &str)> = ["match", "loci_compared", "loci_matched"]
        .into_iter()
        .filter_map(|k| answer.fields.get(k).map(|v| (k, v.as_str())))
        .collect();
    let key = format!("dna/{}", named.key);
    Some(Hit {
        owner: named.owner_bureau.clone(),
        record: named.record.clone(),
        matched: Matched::new(key.as_bytes(), request, &[], &fields),
    })
}
