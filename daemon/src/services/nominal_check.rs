//! `nominal.check` (issue 13 item 4), pure: a request's parameters become the person asked
//! about, and the candidate records the caller supplies (from an index, or all of them)
//! become a ranked answer. The caller sends it and any notifications.
//!
//! Parameters (docs/bureau-guide.md): `family_name` (required, any script), `given_names`
//! (separated by spaces), `date_of_birth` (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`), `sex` (`M`,
//! `F` or `X`), `nationality` (ISO 3166-1 alpha-2; several separated by commas). Any other
//! parameter is refused, so that a misspelt filter is not silently dropped.
//!
//! A hit's fields: `possible_matches` (how many records reached [`nominal::POSSIBLE_MATCH`]),
//! `candidates` (how many follow, at most [`MAX_CANDIDATES`]), and for each candidate `N`
//! from 1, best first: `candidate.N.key` (`<owner>/<id>`: the owner is the part before the
//! first `/`), `candidate.N.score` (0.00 to 1.00), `candidate.N.reasons` (comma-separated:
//! `same_name`, `same_folded_name`, `swapped`, `similar_name`, `same_date_of_birth`,
//! `compatible_date_of_birth`), `candidate.N.record` (the record in one line, names as the
//! owner wrote them) and `candidate.N.instructions`. Equal scores rank by key, so that the
//! answer does not depend on the order the caller found the records in.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use super::answer::{Answer, Best, Fields, Named};
use super::person::{self, PersonRecord};
use super::record::{self, MAX_FIELD_LEN};
use crate::engine::nominal::{self, Match, Reason};
use crate::engine::policy::Party;
use bluehelm_proto::ResponseStatus;

/// The parameters `nominal.check` reads.
pub const PARAMS: &[&str] = &[
    "family_name",
    "given_names",
    "date_of_birth",
    "sex",
    "nationality",
];

/// Most candidates in an answer: an officer reads them at a checkpoint, and ten fields of
/// five keep within the response's limits (answer.rs).
pub const MAX_CANDIDATES: usize = 10;

/// The person a `nominal.check` asks about, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NominalQuery {
    pub family_name: String,
    pub given_names: Vec<String>,
    pub date_of_birth: String,
    pub sex: String,
    pub nationalities: Vec<String>,
}

impl NominalQuery {
    /// Reads a request's parameters (see the module doc); the error says what is wrong.
    pub fn from_params(params: &BTreeMap<String, String>) -> Result<Self, String> {
        if let Some(unknown) = params.keys().find(|k| !PARAMS.contains(&k.as_str())) {
            return Err(format!(
                "unknown parameter {:?}; nominal.check reads {}",
                super::owned::clip(unknown),
                PARAMS.join(", ")
            ));
        }
        let get = |name: &str| -> Result<&str, String> {
            let value = params.get(name).map_or("", |v| v.trim());
            if value.len() > MAX_FIELD_LEN {
                return Err(format!("{name} is longer than {MAX_FIELD_LEN} bytes"));
            }
            Ok(value)
        };
        let family_name = get("family_name")?;
        if family_name.is_empty() {
            return Err(format!(
                "give family_name (and optionally {})",
                PARAMS[1..].join(", ")
            ));
        }
        Ok(Self {
            family_name: person::family_name(family_name)?,
            given_names: person::given_names(get("given_names")?)?,
            date_of_birth: person::date_of_birth(get("date_of_birth")?)?,
            sex: person::sex(get("sex")?)?,
            nationalities: person::nationalities("nationality", get("nationality")?)?,
        })
    }

    pub fn as_person(&self) -> nominal::Person<'_> {
        nominal::Person {
            family_name: &self.family_name,
            given_names: &self.given_names,
            date_of_birth: &self.date_of_birth,
            nationalities: &self.nationalities,
            sex: &self.sex,
        }
    }
}

/// Answers a request's parameters from `candidates`: [`NominalQuery::from_params`] then
/// [`answer`], or an error answer saying what is wrong with the request.
pub fn check<'r>(
    params: &BTreeMap<String, String>,
    candidates: impl IntoIterator<Item = &'r PersonRecord>,
    requester: Party<'_>,
) -> Answer {
    match NominalQuery::from_params(params) {
        Ok(query) => answer(&query, candidates, requester),
        Err(detail) => Answer::error(detail),
    }
}

/// The possible matches among `candidates` that their owners released to `requester`, the
/// best [`MAX_CANDIDATES`] of them in the answer. Memory is bounded by that number, however
/// many candidates the caller passes.
pub fn answer<'r>(
    query: &NominalQuery,
    candidates: impl IntoIterator<Item = &'r PersonRecord>,
    requester: Party<'_>,
) -> Answer {
    let asked = nominal::Query::new(query.as_person());
    let mut best: Best<(Match, String, &PersonRecord)> = Best::new(MAX_CANDIDATES);
    for candidate in candidates {
        // A record its owner did not release to the requester is not there, for the
        // requester (as in sltd.check).
        if !record::released_to(&candidate.release_to, requester) {
            continue;
        }
        let Some(found) = asked.score(&candidate.as_person()) else {
            continue;
        };
        if found.score < nominal::POSSIBLE_MATCH {
            continue;
        }
        best.offer(
            (found, candidate.key(), candidate),
            |(a, a_key, _), (b, b_key, _)| {
                a.score > b.score || (a.score == b.score && a_key < b_key)
            },
        );
    }
    let possible = best.offered;
    let best = best.into_vec();
    let asked_line = person::describe(&query.family_name, &query.given_names, &query.date_of_birth);
    let Some((top, top_key, top_record)) = best.first() else {
        return Answer {
            status: ResponseStatus::NoHit,
            fields: BTreeMap::new(),
            detail: super::answer::one_line(
                &format!(
                    "no possible match for {asked_line} (threshold {:.2})",
                    nominal::POSSIBLE_MATCH
                ),
                bluehelm_proto::limits::MAX_DETAIL_LEN,
            ),
            named: Vec::new(),
        };
    };
    let detail = format!(
        "{possible} possible match{} for {asked_line}; best: {} ({top_key}), score {:.2}",
        if possible == 1 { "" } else { "es" },
        top_record.describe(),
        top.score
    );
    let mut fields = Fields::default();
    fields.put("possible_matches".into(), &possible.to_string());
    fields.put("candidates".into(), &best.len().to_string());
    let mut named = Vec::with_capacity(best.len());
    for (n, (found, key, candidate)) in (1..).zip(&best) {
        fields.put(format!("candidate.{n}.key"), key);
        fields.put(
            format!("candidate.{n}.score"),
            &format!("{:.2}", found.score),
        );
        fields.put(format!("candidate.{n}.reasons"), &reasons(&found.reasons));
        fields.put(format!("candidate.{n}.record"), &candidate.describe());
        fields.put(
            format!("candidate.{n}.instructions"),
            &candidate.instructions,
        );
        named.push(Named {
            key: key.clone(),
            owner_bureau: candidate.owner_bureau.clone(),
            record: candidate.describe(),
        });
    }
    Answer {
        status: ResponseStatus::Hit,
        fields: fields.into_map(),
        detail: super::answer::one_line(&detail, bluehelm_proto::limits::MAX_DETAIL_LEN),
        named,
    }
}

/// The reasons as the response names them.
fn reasons(reasons: &[Reason]) -> String {
    reasons
        .iter()
        .map(|r| match r {
            Reason::SameName => "same_name",
            Reason::SameFoldedName => "same_folded_name",
            Reason::Swapped => "swapped",
            Reason::SimilarName => "similar_name",
            Reason::SameDateOfBirth => "same_date_of_birth",
            Reason::CompatibleDateOfBirth => "compatible_date_of_birth",
        })
        .collect::<Vec<_>>()
        .join(",")
}
