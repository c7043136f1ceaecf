//! The checks a node answers itself from its field databases (issues 4 and 13): stolen and
//! lost travel documents (`sltd.check`), stolen motor vehicles (`smv.check`), persons and
//! notice subjects (`nominal.check`) and DNA profiles (`dna.check`).
//!
//! Records live in the field-database storage (`crate::records`), imported and signed at
//! their owners' nodes and sequenced by the hub. At the hub, a request for an enabled
//! database (`[reference_services]`) is answered by the API dispatcher as it passes through
//! the inbox (no application on `ServeRequests` is needed); at a replica, the API answers its
//! own users from the copy (`local.rs`). A hit tells the requester which bureau owns the record and what to do, and sends
//! that bureau a signed [`HitNotification`]: who asked (node and terminal), when, which
//! record, what matched, and the stated purpose (issue 12, item 4).

pub mod answer;
mod audited;
mod checks;
pub mod dna_check;
pub mod dna_record;
pub mod import;
pub mod json_lines;
pub mod local;
pub mod nominal_check;
pub mod owned;
pub mod person;
pub mod record;

use std::collections::BTreeMap;
use std::time::Duration;

use bluehelm_proto::limits::MAX_NAME_LEN;
use bluehelm_proto::{
    Body, Destination, HitNotification, NodeId, ResponseStatus, ServiceName, ServiceRequest,
    ServiceResponse,
};

use self::record::{SltdRecord, SmvRecord};
use crate::config::NodeConfig;
use crate::custody::{now_ms, BureauHandle};
use crate::custody::{Delivered, Outgoing, SubmitError};
use crate::engine::policy::Party;
use crate::records::kinds;
use crate::records::store::{RecordStore, RecordStoreError};
use crate::store::StoreError;
use bluehelm_proto::records::RecordChange;

/// Shortest lifetime of a response, as for application-served requests (`api/serve.rs`):
/// a response that arrives late is dropped by the requester, one never sent is lost.
const MIN_RESPONSE_TTL: Duration = Duration::from_secs(60);
/// Lifetime of the hit notification to the owning bureau: an NCB may be offline for days.
const NOTIFICATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

pub use bluehelm_proto::Database;

/// Whether the config enables `database`'s service at this node (`[reference_services]`).
pub fn enabled(database: Database, config: &NodeConfig) -> bool {
    match database {
        Database::Sltd => config.reference_services.sltd,
        Database::Smv => config.reference_services.smv,
        Database::Persons => config.reference_services.persons,
        Database::Dna => config.reference_services.dna,
    }
}

/// The enabled database that answers `service` on this node, if any. (Config validation
/// made sure an enabled one is listed under `[services]` with this node's id.)
pub fn serves(config: &NodeConfig, service: &ServiceName) -> Option<Database> {
    Database::ALL
        .into_iter()
        .find(|db| db.service() == service.as_str() && enabled(*db, config))
}

/// The database whose service this is, whether or not this node answers it.
pub fn database_of(service: &str) -> Option<Database> {
    Database::ALL.into_iter().find(|db| db.service() == service)
}

/// The record a query matched, for its owner's hit notification.
pub(crate) struct Matched {
    key: String,
    /// The request's parameters that the lookup read, as asked.
    query: BTreeMap<String, String>,
    /// The record's fields that matched them.
    fields: BTreeMap<String, String>,
}

impl Matched {
    fn new(key: &[u8], request: &ServiceRequest, asked: &[&str], fields: &[(&str, &str)]) -> Self {
        let pairs = |list: &mut dyn Iterator<Item = (&str, &str)>| {
            // The owner's notification holds one line per value: a control character the
            // lookup ignored (a newline in a document number) must not make it unsendable.
            list.map(|(k, v)| {
                let v: String = v.chars().filter(|c| !c.is_control()).collect();
                (k.to_owned(), clip(v, MAX_NAME_LEN))
            })
            .collect()
        };
        Self {
            key: String::from_utf8_lossy(key).into_owned(),
            query: pairs(
                &mut asked
                    .iter()
                    .filter_map(|k| param(request, k).map(|v| (*k, v))),
            ),
            fields: pairs(&mut fields.iter().copied()),
        }
    }
}

/// What a lookup found.
pub(crate) enum Finding {
    Hit {
        fields: BTreeMap<String, String>,
        record: String,
        owner: String,
        instructions: String,
        /// What the owner is told matched: the record's key and the fields of it that
        /// the query named.
        matched: Matched,
    },
    NoHit(String),
    /// The request is malformed; the text says how.
    Bad(String),
    /// A ranked answer (nominal and DNA checks), and the hit its best record's owner is
    /// told of, if any.
    Ranked(answer::Answer, Option<Hit>),
}

fn param<'a>(request: &'a ServiceRequest, name: &str) -> Option<&'a str> {
    request
        .params
        .get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// The live record stored under `key` in `database`, if its owner released it to
/// `requester`: a record its owner did not release is not there, for the requester.
async fn read<T: serde::de::DeserializeOwned>(
    node: &BureauHandle,
    database: Database,
    key: String,
    requester: Party<'_>,
) -> Result<Option<(T, RecordChange)>, StoreError> {
    let store = node.records().clone();
    let change = tokio::task::spawn_blocking(move || live(&store, database, &key))
        .await
        .map_err(|_| StoreError::Closed)??;
    Ok(change
        .filter(|c| released(c, requester))
        .and_then(|c| serde_json::from_slice(&c.record).ok().map(|r| (r, c))))
}

fn released(change: &RecordChange, requester: Party<'_>) -> bool {
    change
        .release_to
        .as_ref()
        .is_none_or(|list| crate::engine::release::admits(list, requester))
}

/// The live (not withdrawn) change stored under `key`.
fn live(
    store: &RecordStore,
    database: Database,
    key: &str,
) -> Result<Option<RecordChange>, StoreError> {
    let storage_key = crate::engine::records::storage_key(database, key);
    let Some(stored) = store.get(database, &storage_key).map_err(records_failed)? else {
        return Ok(None);
    };
    if stored.withdrawn {
        return Ok(None);
    }
    stored.change().map(Some).map_err(|e| {
        records_failed(RecordStoreError::Corrupt {
            database,
            problem: e.to_string(),
        })
    })
}

/// The keys of live records filed under `index_key`.
async fn indexed(
    node: &BureauHandle,
    database: Database,
    index_key: String,
) -> Result<Vec<String>, StoreError> {
    let store = node.records().clone();
    tokio::task::spawn_blocking(move || {
        let found = store
            .index(database, index_key.as_bytes(), 16)
            .map_err(records_failed)?;
        let mut keys = Vec::new();
        for (storage_key, _) in found {
            if let Some(stored) = store.get(database, &storage_key).map_err(records_failed)? {
                if let Ok(change) = stored.change() {
                    keys.push(change.key);
                }
            }
        }
        Ok(keys)
    })
    .await
    .map_err(|_| StoreError::Closed)?
}

/// A field-database failure, for callers that report store failures.
fn records_failed(err: RecordStoreError) -> StoreError {
    StoreError::Failed(crate::store::Failure::Records(err.to_string()))
}

async fn lookup_sltd(
    node: &BureauHandle,
    request: &ServiceRequest,
    requester: Party<'_>,
) -> Result<Finding, StoreError> {
    let (Some(number), Some(country)) = (
        param(request, "document_number"),
        param(request, "issuing_country"),
    ) else {
        return Ok(Finding::Bad(
            "give document_number and issuing_country (ISO 3166-1 alpha-2, e.g. FR)".into(),
        ));
    };
    let Some(number) = record::normalise(number) else {
        return Ok(Finding::Bad(format!(
            "document_number {number:?} must be letters and digits"
        )));
    };
    let Some(country) = record::country(country) else {
        return Ok(Finding::Bad(format!(
            "issuing_country {country:?} is not an ISO 3166-1 alpha-2 code"
        )));
    };
    let key = kinds::sltd_lookup_key(&country, &number);
    Ok(
        match read::<SltdRecord>(node, Database::Sltd, key.clone(), requester).await? {
            Some((r, _)) => Finding::Hit {
                fields: r.fields(),
                record: r.describe(),
                matched: Matched::new(
                    format!("sltd/{key}").as_bytes(),
                    request,
                    &["document_number", "issuing_country"],
                    &[
                        ("document_number", &r.document_number),
                        ("issuing_country", &r.issuing_country),
                    ],
                ),
                owner: r.owner_bureau,
                instructions: r.instructions,
            },
            None => Finding::NoHit(format!("no record of {country} document {number}")),
        },
    )
}

async fn lookup_smv(
    node: &BureauHandle,
    request: &ServiceRequest,
    requester: Party<'_>,
) -> Result<Finding, StoreError> {
    let vin = param(request, "vin");
    let plate = param(request, "plate");
    let mut keys = Vec::new();
    let mut asked = Vec::new();
    if let Some(vin) = vin {
        let Some(vin) = record::normalise(vin) else {
            return Ok(Finding::Bad(format!(
                "vin {vin:?} must be letters and digits"
            )));
        };
        asked.push(format!("VIN {vin}"));
        keys.push((kinds::vin_key(&vin), &["vin"][..]));
    }
    if let Some(plate) = plate {
        let Some(plate) = record::normalise(plate) else {
            return Ok(Finding::Bad(format!(
                "plate {plate:?} must be letters and digits"
            )));
        };
        let Some(country) = param(request, "plate_country").and_then(record::country) else {
            return Ok(Finding::Bad(
                "a plate needs plate_country (ISO 3166-1 alpha-2, e.g. FR)".into(),
            ));
        };
        asked.push(format!("plate {country} {plate}"));
        let plate_key = kinds::plate_key(&country, &plate);
        // A vehicle known by its VIN is filed under its plate in the index.
        for key in indexed(node, Database::Smv, plate_key.clone()).await? {
            keys.push((key, &["plate", "plate_country"][..]));
        }
        keys.push((plate_key, &["plate", "plate_country"][..]));
    }
    if keys.is_empty() {
        return Ok(Finding::Bad("give vin, or plate and plate_country".into()));
    }
    for (key, by) in keys {
        if let Some((r, _)) = read::<SmvRecord>(node, Database::Smv, key.clone(), requester).await?
        {
            let fields: &[(&str, &str)] = match by {
                ["vin"] => &[("vin", &r.vin)],
                _ => &[("plate", &r.plate), ("plate_country", &r.plate_country)],
            };
            return Ok(Finding::Hit {
                fields: r.fields(),
                record: r.describe(),
                matched: Matched::new(format!("smv/{key}").as_bytes(), request, by, fields),
                owner: r.owner_bureau,
                instructions: r.instructions,
            });
        }
    }
    Ok(Finding::NoHit(format!(
        "no record of {}",
        asked.join(" or ")
    )))
}

/// Answers a request for `database` that reached this node's inbox; the caller removes the
/// request from the inbox afterwards. Only a store failure is an error (the caller tries
/// again later); a response or notice the node refuses to send is logged and given up.
pub async fn answer(
    node: &BureauHandle,
    database: Database,
    message: &Delivered,
) -> Result<(), StoreError> {
    let envelope = &message.envelope;
    let Body::Request(request) = &envelope.body else {
        return Ok(());
    };
    let remaining = envelope.expires_at_ms - now_ms();
    if remaining <= 0 {
        tracing::info!(request = %envelope.message_id, origin = %envelope.origin,
            "dropped a reference check that expired before it was answered");
        return Ok(());
    }
    // Verified on receipt: the certificate is the request's true signer.
    let requester = match bluehelm_pki::parse_certificate(message.signed.signer_certificate()) {
        Ok(identity) => identity,
        Err(err) => {
            tracing::warn!(request = %envelope.message_id, origin = %envelope.origin,
                error = %err, "dropped a reference check whose signer certificate does not parse");
            return Ok(());
        }
    };
    let requester = Party::of(&requester);
    let answer = Answer::of(find(node, database, request, requester).await?);
    node.audit().record(audited::queried(
        node.me(),
        Some(envelope),
        request,
        answer.status,
        answer.hit.as_ref(),
        now_ms(),
    ));
    tracing::info!(request = %envelope.message_id, origin = %envelope.origin,
        service = database.service(), status = answer.status.as_str(), "answered a reference check");
    let response = Outgoing {
        destination: Destination::Node(envelope.origin.clone()),
        precedence: envelope.precedence,
        body: Body::Response(ServiceResponse {
            service: request.service.clone(),
            status: answer.status,
            fields: answer.fields,
            detail: clip(answer.detail, bluehelm_proto::limits::MAX_DETAIL_LEN),
        }),
        ttl: Duration::from_millis(u64::try_from(remaining).unwrap_or(0)).max(MIN_RESPONSE_TTL),
        want_delivery_report: false,
        release_to: None,
        correlation_id: Some(envelope.message_id),
    };
    send(node, response, "response").await?;
    let Some(hit) = answer.hit else {
        return Ok(());
    };
    let asked = Asked {
        requester: envelope.origin.clone(),
        request_id: envelope.message_id,
        requested_at_ms: envelope.created_at_ms,
        precedence: envelope.precedence,
    };
    notify_owner(node, database, request, hit, asked).await
}

/// Looks `request` up in `database`, as `requester` may see it.
pub(crate) async fn find(
    node: &BureauHandle,
    database: Database,
    request: &ServiceRequest,
    requester: Party<'_>,
) -> Result<Finding, StoreError> {
    match database {
        Database::Sltd => lookup_sltd(node, request, requester).await,
        Database::Smv => lookup_smv(node, request, requester).await,
        Database::Persons => checks::nominal(node, request, requester).await,
        Database::Dna => checks::dna(node, request, requester).await,
    }
}

/// What the requester is told of a finding, and the hit its record's owner is told of.
pub(crate) struct Answer {
    pub status: ResponseStatus,
    pub fields: BTreeMap<String, String>,
    pub detail: String,
    pub hit: Option<Hit>,
}

/// A hit, for its record's owner.
pub(crate) struct Hit {
    pub(crate) owner: String,
    pub(crate) record: String,
    pub(crate) matched: Matched,
}

impl Answer {
    pub(crate) fn of(finding: Finding) -> Self {
        match finding {
            Finding::Hit {
                fields,
                record,
                owner,
                instructions,
                matched,
            } => Answer {
                status: ResponseStatus::Hit,
                fields,
                detail: format!("hit: {record}, recorded by {owner}; {instructions}"),
                hit: Some(Hit {
                    owner,
                    record,
                    matched,
                }),
            },
            Finding::NoHit(detail) => Answer {
                status: ResponseStatus::NoHit,
                fields: BTreeMap::new(),
                detail,
                hit: None,
            },
            Finding::Bad(detail) => Answer {
                status: ResponseStatus::Error,
                fields: BTreeMap::new(),
                detail,
                hit: None,
            },
            Finding::Ranked(answer, hit) => Answer {
                status: answer.status,
                fields: answer.fields,
                detail: answer.detail,
                hit: hit.filter(|_| answer.status == ResponseStatus::Hit),
            },
        }
    }
}

/// Who asked, for the owner's notification.
pub(crate) struct Asked {
    pub requester: NodeId,
    pub request_id: bluehelm_proto::MessageId,
    pub requested_at_ms: i64,
    pub precedence: bluehelm_proto::Precedence,
}

/// Sends the owner of the record that matched a signed [`HitNotification`].
pub(crate) async fn notify_owner(
    node: &BureauHandle,
    database: Database,
    request: &ServiceRequest,
    hit: Hit,
    asked: Asked,
) -> Result<(), StoreError> {
    let Hit {
        owner,
        record,
        matched,
    } = hit;
    let owner: NodeId = match owner.parse() {
        Ok(owner) => owner,
        Err(err) => {
            // Import checks owner ids; a record that fails here was written by another
            // version. The requester has its answer; only the notice is lost.
            tracing::warn!(owner = %owner, error = %err, "reference record names no valid owner");
            return Ok(());
        }
    };
    // Issue 12, item 4: fields, not text, so that the owner's application can act on them.
    // Who asked is the request's signed origin and the terminal its node vouched for; the
    // purpose was validated with the request (one line, bounded).
    let notification = Outgoing {
        destination: Destination::Node(owner),
        precedence: asked.precedence,
        body: Body::HitNotification(HitNotification {
            service: request.service.clone(),
            database: database.as_str().to_owned(),
            record_key: clip(matched.key, bluehelm_proto::limits::MAX_DETAIL_LEN),
            record: clip(record, bluehelm_proto::limits::MAX_DETAIL_LEN),
            requester: asked.requester,
            terminal: request.terminal.clone(),
            request_id: asked.request_id,
            requested_at_ms: asked.requested_at_ms,
            query: matched.query,
            matched: matched.fields,
            purpose: request.purpose.clone(),
        }),
        ttl: NOTIFICATION_TTL,
        want_delivery_report: false,
        release_to: None,
        correlation_id: None,
    };
    send(node, notification, "hit notification").await
}

async fn send(node: &BureauHandle, outgoing: Outgoing, what: &str) -> Result<(), StoreError> {
    match node.submit(vec![outgoing]).await {
        Ok(_) => Ok(()),
        Err(SubmitError::Store(err)) => Err(err),
        Err(err) => {
            tracing::warn!(error = %err, "cannot send a reference check {what}");
            Ok(())
        }
    }
}

/// Cuts `text` to at most `max` bytes (on a character boundary): a record's fields are
/// bounded one by one at import, but a detail or subject line joins several of them.
fn clip(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_character_the_lookup_ignored_cannot_silence_the_owners_notification() {
        let mut request = bluehelm_proto::testing::sample_sltd_request();
        request
            .params
            .insert("document_number".into(), "19AB\n12345".into());
        let matched = Matched::new(
            b"sltd/FR/19AB12345",
            &request,
            &["document_number", "issuing_country"],
            &[("document_number", "19AB12345")],
        );
        assert_eq!(matched.query["document_number"], "19AB12345");
        let notification = bluehelm_proto::HitNotification {
            query: matched.query,
            ..bluehelm_proto::testing::sample_hit_notification()
        };
        assert!(
            Body::HitNotification(notification).validate().is_ok(),
            "the owner's notification is one line per value"
        );
    }
}
