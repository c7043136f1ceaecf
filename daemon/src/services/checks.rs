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

/// What the index gave a nominal check: the best candidates' records, and how many of the
/// query's blocking keys were too common to scan.
struct Candidates {
    records: Vec<PersonRecord>,
    skipped_keys: usize,
}

/// The persons the index files under the query's blocking keys, rarest key first within
/// the scan budget ([`index::plan`]), scored off their entries; the best read in full.
fn nominal_candidates(store: &RecordStore, query: &NominalQuery) -> Result<Candidates, StoreError> {
    let asked = query.as_person();
    let scoring = nominal::Query::new(asked);
    let mut counted = Vec::new();
    for key in index::query_keys(&asked) {
        let count = store
            .index_count(Database::Persons, key.as_bytes())
            .map_err(failed)?;
        counted.push((key, count));
    }
    let plan = index::plan(counted);
    let mut seen = std::collections::HashSet::new();
    let mut scored = Vec::new();
    for scan in &plan.scans {
        let limit = usize::try_from(scan.limit).unwrap_or(usize::MAX);
        store
            .index_each(
                Database::Persons,
                scan.key.as_bytes(),
                limit,
                |key, value| {
                    if !seen.insert(*key) {
                        return;
                    }
                    let Ok(entry) = index::Entry::decode(value) else {
                        return;
                    };
                    if let Some(m) = scoring.score_folded(&entry.person()) {
                        if m.score >= nominal::POSSIBLE_MATCH - 0.05 {
                            scored.push((m.score, *key));
                        }
                    }
                },
            )
            .map_err(failed)?;
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
    Ok(Candidates {
        records,
        skipped_keys: plan.skipped.len(),
    })
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
    let Candidates {
        mut records,
        skipped_keys,
    } = tokio::task::spawn_blocking(move || nominal_candidates(&store, &query2))
        .await
        .map_err(|_| StoreError::Closed)??;
    records.extend(notice_subjects(node));
    // Most queries skip the key of a common name alone, so this is for the operator
    // tuning the index, not for the officer.
    tracing::debug!(skipped_keys, "nominal check planned");
    // A possible match is a lead for the officer, not a hit on a record: no owner is told.
    Ok(Finding::Ranked(
        nominal_check::answer(&query, &records, requester),
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
