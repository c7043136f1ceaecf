//! Persons (nominal data, issue 13 item 4): whom a bureau records, as a CSV row or a JSON
//! line, and how a record is scored ([`PersonRecord::as_person`], engine/nominal.rs).
//!
//! Names are stored as written, in any script: matching transliterates and folds them, and
//! the officer is shown the owner's spelling. Dates of birth may be partial (`1980`,
//! `1980-03`), as they often are in police records, and are checked against the calendar as
//! far as they go.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use bluehelm_proto::limits::MAX_LIST_LEN;
use serde::{Deserialize, Serialize};

use super::owned::{self, clip};
use super::record::{self, Row, MAX_FIELD_LEN, MAX_INSTRUCTIONS_LEN};
use crate::engine::nominal;

/// The columns of `persons`, in order (the `id` is the owner's reference).
pub const PERSON_COLUMNS: &[&str] = &[
    "id",
    "family_name",
    "given_names",
    "date_of_birth",
    "sex",
    "nationalities",
    "place_of_birth",
    "owner_bureau",
    "reported_at",
    "instructions",
];

/// The values of `sex` (ICAO 9303's, as in travel documents); empty: unknown.
pub const SEXES: &[&str] = &["M", "F", "X"];

/// One person as recorded by its owner. Stored as JSON, like the other records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRecord {
    /// The owner's reference.
    pub id: String,
    /// As written, in any script.
    pub family_name: String,
    /// As written; empty when unknown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given_names: Vec<String>,
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`; empty when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub date_of_birth: String,
    /// One of [`SEXES`]; empty when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sex: String,
    /// ISO 3166-1 alpha-2 codes, upper case, each once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nationalities: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub place_of_birth: String,
    pub owner_bureau: String,
    pub reported_at: String,
    pub instructions: String,
    /// As [`record::SltdRecord::release_to`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release_to: String,
}

impl PersonRecord {
    pub fn from_row(row: &Row) -> Result<Self, String> {
        let given = record::text(row, "given_names", false, MAX_FIELD_LEN)?;
        Ok(Self {
            id: owned::id(row)?,
            family_name: family_name(&record::text(row, "family_name", true, MAX_FIELD_LEN)?)?,
            given_names: given_names(&given)?,
            date_of_birth: date_of_birth(&record::text(
                row,
                "date_of_birth",
                false,
                MAX_FIELD_LEN,
            )?)?,
            sex: sex(&record::text(row, "sex", false, MAX_FIELD_LEN)?)?,
            nationalities: nationalities(
                "nationalities",
                &record::text(row, "nationalities", false, MAX_FIELD_LEN)?,
            )?,
            place_of_birth: one_line(
                "place_of_birth",
                record::text(row, "place_of_birth", false, MAX_FIELD_LEN)?,
            )?,
            owner_bureau: record::owner(row)?,
            reported_at: record::reported_at(row)?,
            instructions: record::text(row, "instructions", true, MAX_INSTRUCTIONS_LEN)?,
            release_to: record::release_column(row)?,
        })
    }

    /// `<owner>/<id>`.
    pub fn key(&self) -> String {
        owned::key(&self.owner_bureau, &self.id)
    }

    /// The record as the requester sees it, one field per column that has a value.
    pub fn fields(&self) -> BTreeMap<String, String> {
        [
            ("id", self.id.clone()),
            ("family_name", self.family_name.clone()),
            ("given_names", self.given_names.join(" ")),
            ("date_of_birth", self.date_of_birth.clone()),
            ("sex", self.sex.clone()),
            ("nationalities", self.nationalities.join(",")),
            ("place_of_birth", self.place_of_birth.clone()),
            ("owner_bureau", self.owner_bureau.clone()),
            ("reported_at", self.reported_at.clone()),
            ("instructions", self.instructions.clone()),
            ("release_to", self.release_to.clone()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// One line for people: `person IVANOV Sergei, born 1980-03`.
    pub fn describe(&self) -> String {
        describe(&self.family_name, &self.given_names, &self.date_of_birth)
    }

    /// The record as nominal matching reads it.
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

/// `person FAMILY Given names, born DATE`, the parts that are known.
pub(super) fn describe(family_name: &str, given_names: &[String], date_of_birth: &str) -> String {
    let mut line = format!("person {family_name}");
    for name in given_names {
        line.push(' ');
        line.push_str(name);
    }
    if !date_of_birth.is_empty() {
        line.push_str(", born ");
        line.push_str(date_of_birth);
    }
    line
}

/// A family name as written; it must hold a letter in some script, or it could never
/// match anything (engine/nominal.rs folds everything else away).
pub(super) fn family_name(value: &str) -> Result<String, String> {
    let value = one_line("family_name", value.to_owned())?;
    if nominal::fold(&value).is_empty() {
        return Err(format!(
            "family_name {:?} has no letters to match on",
            clip(&value)
        ));
    }
    Ok(value)
}

/// Given names separated by spaces, as written; empty when unknown.
pub(super) fn given_names(value: &str) -> Result<Vec<String>, String> {
    let value = one_line("given_names", value.to_owned())?;
    let names: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
    if names.len() > MAX_LIST_LEN {
        return Err(format!("given_names has more than {MAX_LIST_LEN} names"));
    }
    Ok(names)
}

/// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, a date that exists as far as it goes; empty when
/// unknown.
pub(super) fn date_of_birth(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || bluehelm_proto::calendar_date(value).is_some() {
        return Ok(value.to_owned());
    }
    Err(format!(
        "date_of_birth {:?} is not YYYY, YYYY-MM or YYYY-MM-DD (a date that exists)",
        clip(value)
    ))
}

/// `M`, `F` or `X` in any case; empty when unknown.
pub(super) fn sex(value: &str) -> Result<String, String> {
    let value = value.trim().to_ascii_uppercase();
    if value.is_empty() || SEXES.contains(&value.as_str()) {
        return Ok(value);
    }
    Err(format!(
        "sex {:?} is not one of {} (or empty)",
        clip(&value),
        SEXES.join(", ")
    ))
}

/// ISO 3166-1 alpha-2 codes separated by commas or spaces, upper-cased, each once.
pub(super) fn nationalities(column: &str, value: &str) -> Result<Vec<String>, String> {
    let mut codes: Vec<String> = Vec::new();
    for raw in value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let code = record::country(raw).ok_or_else(|| {
            format!(
                "{column}: {:?} is not an ISO 3166-1 alpha-2 code (e.g. FR)",
                clip(raw)
            )
        })?;
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    Ok(codes)
}

/// A value shown to people on one line: no control characters (a newline inside a quoted
/// CSV field would break the detail line of every answer that quotes it).
fn one_line(column: &str, value: String) -> Result<String, String> {
    if value.chars().any(char::is_control) {
        return Err(format!("{column} contains a control character"));
    }
    Ok(value)
}
