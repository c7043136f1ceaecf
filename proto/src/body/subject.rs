//! The person a notice or diffusion is about, and their identity documents.

use crate::check;
use crate::error::ValidationError;
use crate::limits::{MAX_LIST_LEN, MAX_NAME_LEN, MAX_TEXT_LEN};
use crate::pb;

/// An identity document of a subject.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdentityDocument {
    /// The kind of document, e.g. "passport", "national-id". Required.
    pub kind: String,
    /// The document number. Required.
    pub number: String,
    /// ISO 3166-1 alpha-2 code of the issuing country, e.g. "FR". Required.
    pub issuing_country: String,
}

impl IdentityDocument {
    /// Checks that every field is present, bounded, and the country is a valid code.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::required("document.kind", &self.kind, MAX_NAME_LEN)?;
        check::required("document.number", &self.number, MAX_NAME_LEN)?;
        check::country("document.issuing_country", &self.issuing_country)
    }

    pub(crate) fn to_pb(&self) -> pb::IdentityDocument {
        pb::IdentityDocument {
            kind: self.kind.clone(),
            number: self.number.clone(),
            issuing_country: self.issuing_country.clone(),
        }
    }

    pub(crate) fn from_pb(d: pb::IdentityDocument) -> Self {
        IdentityDocument {
            kind: d.kind,
            number: d.number,
            issuing_country: d.issuing_country,
        }
    }
}

/// A person. Every field is optional: a black notice, for instance, concerns an unidentified
/// body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subject {
    /// Family name, as written in the subject's documents.
    pub family_name: String,
    /// Given names, in order.
    pub given_names: Vec<String>,
    /// ISO 8601 date, possibly partial (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`), or empty when
    /// unknown. A day that does not exist is refused.
    pub date_of_birth: String,
    /// Place of birth, free form.
    pub place_of_birth: String,
    /// ISO 3166-1 alpha-2 codes.
    pub nationalities: Vec<String>,
    /// Sex as recorded in documents, e.g. "F", "M", "X".
    pub sex: String,
    /// Other names the subject is known by.
    pub aliases: Vec<String>,
    /// Scars, tattoos and other distinguishing marks.
    pub distinguishing_marks: String,
    /// Identity documents.
    pub documents: Vec<IdentityDocument>,
}

impl Subject {
    /// Checks sizes, the date of birth and the country codes.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::max_len("subject.family_name", self.family_name.len(), MAX_NAME_LEN)?;
        check::list(
            "subject.given_names",
            &self.given_names,
            MAX_LIST_LEN,
            MAX_NAME_LEN,
        )?;
        check::date("subject.date_of_birth", &self.date_of_birth)?;
        check::max_len(
            "subject.place_of_birth",
            self.place_of_birth.len(),
            MAX_NAME_LEN,
        )?;
        check::max_count(
            "subject.nationalities",
            self.nationalities.len(),
            MAX_LIST_LEN,
        )?;
        for code in &self.nationalities {
            check::country("subject.nationalities", code)?;
        }
        check::max_len("subject.sex", self.sex.len(), MAX_NAME_LEN)?;
        check::list("subject.aliases", &self.aliases, MAX_LIST_LEN, MAX_NAME_LEN)?;
        check::max_len(
            "subject.distinguishing_marks",
            self.distinguishing_marks.len(),
            MAX_TEXT_LEN,
        )?;
        check::max_count("subject.documents", self.documents.len(), MAX_LIST_LEN)?;
        self.documents
            .iter()
            .try_for_each(IdentityDocument::validate)
    }

    pub(crate) fn to_pb(&self) -> pb::Subject {
        pb::Subject {
            family_name: self.family_name.clone(),
            given_names: self.given_names.clone(),
            date_of_birth: self.date_of_birth.clone(),
            place_of_birth: self.place_of_birth.clone(),
            nationalities: self.nationalities.clone(),
            sex: self.sex.clone(),
            aliases: self.aliases.clone(),
            distinguishing_marks: self.distinguishing_marks.clone(),
            documents: self.documents.iter().map(IdentityDocument::to_pb).collect(),
        }
    }

    pub(crate) fn from_pb(s: pb::Subject) -> Self {
        Subject {
            family_name: s.family_name,
            given_names: s.given_names,
            date_of_birth: s.date_of_birth,
            place_of_birth: s.place_of_birth,
            nationalities: s.nationalities,
            sex: s.sex,
            aliases: s.aliases,
            distinguishing_marks: s.distinguishing_marks,
            documents: s
                .documents
                .into_iter()
                .map(IdentityDocument::from_pb)
                .collect(),
        }
    }
}
