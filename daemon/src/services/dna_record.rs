//! DNA profiles (issue 13 item 5): a bureau's STR profile, as a CSV row or a JSON line, in
//! the text form engine/dna.rs reads (`D3S1358=15,16; vWA=17,18; ...`).
//!
//! A profile with fewer than [`dna::MIN_LOCI_COMPARED`] STR loci is refused at import: it
//! could never be compared with anything, so storing it would only promise checks it cannot
//! answer. The profile itself is never in a record's [`DnaRecord::fields`]: as under the
//! Prüm exchange and the DNA Gateway, a requester learns hit or no-hit and the owner's
//! reference, and asks the owner for the rest.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::owned;
use super::record::{self, Row, MAX_FIELD_LEN, MAX_INSTRUCTIONS_LEN};
use crate::engine::dna;

/// The columns of `dna`, in order (`case_reference` may be empty).
pub const DNA_COLUMNS: &[&str] = &[
    "id",
    "profile",
    "case_reference",
    "owner_bureau",
    "reported_at",
    "instructions",
];

/// Longest profile text: the 20 ESS and CODIS loci and Amelogenin take about 350 bytes
/// written out (`D10S1248=13,15; `); 1 KiB leaves room for spacing.
pub const MAX_PROFILE_LEN: usize = 1024;

/// One DNA profile as recorded by its owner. Stored as JSON, like the other records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnaRecord {
    /// The owner's reference.
    pub id: String,
    /// As written; [`dna::Profile::parse`] read it at import.
    pub profile: String,
    /// The owner's case, if it gave one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub case_reference: String,
    pub owner_bureau: String,
    pub reported_at: String,
    pub instructions: String,
    /// As [`record::SltdRecord::release_to`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release_to: String,
}

impl DnaRecord {
    pub fn from_row(row: &Row) -> Result<Self, String> {
        let id = owned::id(row)?;
        let profile = record::text(row, "profile", true, MAX_PROFILE_LEN)?;
        let parsed = dna::Profile::parse(&profile).map_err(|e| format!("profile: {e}"))?;
        let loci = parsed.str_loci();
        if loci < dna::MIN_LOCI_COMPARED {
            return Err(format!(
                "profile: {loci} STR loci, fewer than the {} any comparison needs (Amelogenin \
                 does not count)",
                dna::MIN_LOCI_COMPARED
            ));
        }
        let case_reference = record::text(row, "case_reference", false, MAX_FIELD_LEN)?;
        if case_reference.chars().any(char::is_control) {
            return Err("case_reference contains a control character".into());
        }
        Ok(Self {
            id,
            profile,
            case_reference,
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

    /// The profile, read again from the stored text (it was read once at import).
    pub fn profile(&self) -> Result<dna::Profile, dna::ProfileError> {
        dna::Profile::parse(&self.profile)
    }

    /// The record as a requester may see it: everything but the profile (module doc).
    pub fn fields(&self) -> BTreeMap<String, String> {
        [
            ("id", &self.id),
            ("case_reference", &self.case_reference),
            ("owner_bureau", &self.owner_bureau),
            ("reported_at", &self.reported_at),
            ("instructions", &self.instructions),
            ("release_to", &self.release_to),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect()
    }

    /// One line for people: `DNA profile FR-DNA-1 of ncb.fr, case 2026/17`.
    pub fn describe(&self) -> String {
        let mut line = format!("DNA profile {} of {}", self.id, self.owner_bureau);
        if !self.case_reference.is_empty() {
            line.push_str(", case ");
            line.push_str(&self.case_reference);
        }
        line
    }
}
