//! The records of the reference databases, how a CSV row becomes one, and the store keys
//! they are found under. Matching is on normalised values: document numbers, VINs and
//! plates upper-case without spaces or dashes, countries as ISO 3166-1 alpha-2 codes.

use std::collections::BTreeMap;

use bluehelm_proto::{NodeId, ReleaseList};
use serde::{Deserialize, Serialize};

use crate::engine::policy::Party;
use crate::engine::release;

/// Longest value of a short CSV column (numbers, codes, names, dates).
pub(super) const MAX_FIELD_LEN: usize = 256;
/// Longest `instructions` text: it travels in every hit's response fields.
pub(super) const MAX_INSTRUCTIONS_LEN: usize = 2048;
/// Document statuses the SLTD database knows (the CSV's `status` column).
pub const SLTD_STATUSES: &[&str] = &["stolen", "lost", "revoked", "invalidated"];

/// The CSV columns of `sltd`, in order (docs/bureau-guide.md, "Reference databases").
pub const SLTD_COLUMNS: &[&str] = &[
    "document_number",
    "issuing_country",
    "document_type",
    "status",
    "owner_bureau",
    "reported_at",
    "instructions",
];

/// Columns a file may leave out: a record without `release_to` is releasable to the whole
/// network, as records were before markings existed.
pub const OPTIONAL_COLUMNS: &[&str] = &["release_to"];

/// The CSV columns of `smv`, in order.
pub const SMV_COLUMNS: &[&str] = &[
    "vin",
    "plate",
    "plate_country",
    "make",
    "model",
    "colour",
    "owner_bureau",
    "reported_at",
    "instructions",
];

/// A stolen, lost or revoked travel document. Stored as JSON: small, and readable in a dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SltdRecord {
    /// Normalised (see [`normalise`]).
    pub document_number: String,
    pub issuing_country: String,
    pub document_type: String,
    pub status: String,
    pub owner_bureau: String,
    pub reported_at: String,
    pub instructions: String,
    /// The owner's release marking (`FR,KE,UNMISS`); empty: the whole network. Records
    /// stored before markings existed read as unmarked.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release_to: String,
}

/// A stolen motor vehicle, found by its VIN or by its plate and plate country.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmvRecord {
    /// Normalised; empty when only the plate is known.
    pub vin: String,
    /// Normalised; empty when only the VIN is known.
    pub plate: String,
    pub plate_country: String,
    pub make: String,
    pub model: String,
    pub colour: String,
    pub owner_bureau: String,
    pub reported_at: String,
    pub instructions: String,
    /// As [`SltdRecord::release_to`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release_to: String,
}

/// Whether a record marked `release_to` (empty: unmarked) may be shown to `requester`, the
/// certified signer of the query. A marking that no longer parses releases to nobody but
/// the hub: the store's copy was written by this node from a checked import.
pub fn released_to(release_to: &str, requester: Party<'_>) -> bool {
    if release_to.is_empty() {
        return true;
    }
    match release_to.parse::<ReleaseList>() {
        Ok(list) => release::admits(&list, requester),
        Err(_) => requester.role == bluehelm_pki::Role::Hub,
    }
}

/// The optional `release_to` column, checked and in its one written form (`FR,KE,UNMISS`).
pub(super) fn release_column(row: &Row) -> Result<String, String> {
    let value = text(row, "release_to", false, MAX_FIELD_LEN)?;
    if value.is_empty() {
        return Ok(value);
    }
    value
        .parse::<ReleaseList>()
        .map(|list| list.to_string())
        .map_err(|e| format!("release_to: {e}"))
}

/// Upper case, without spaces and dashes: `"x12-345 67"` and `"X1234567"` are one document.
/// `None` if anything but ASCII letters and digits remains (or nothing does).
pub fn normalise(value: &str) -> Option<String> {
    let out: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (!out.is_empty()
        && out.len() <= MAX_FIELD_LEN
        && out.bytes().all(|b| b.is_ascii_alphanumeric()))
    .then_some(out)
}

/// An ISO 3166-1 alpha-2 code, upper-cased (`fr` -> `FR`).
pub fn country(value: &str) -> Option<String> {
    let value = value.trim();
    (value.len() == 2 && value.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| value.to_ascii_uppercase())
}

/// One CSV row by column name.
pub type Row<'a> = BTreeMap<&'static str, &'a str>;

pub(super) fn text(
    row: &Row,
    column: &'static str,
    required: bool,
    max: usize,
) -> Result<String, String> {
    let value = row.get(column).copied().unwrap_or("").trim();
    if required && value.is_empty() {
        return Err(format!("{column} is empty"));
    }
    if value.len() > max {
        return Err(format!("{column} is longer than {max} bytes"));
    }
    Ok(value.to_owned())
}

pub(super) fn owner(row: &Row) -> Result<String, String> {
    let value = text(row, "owner_bureau", true, MAX_FIELD_LEN)?;
    value
        .parse::<NodeId>()
        .map(|id| id.to_string())
        .map_err(|e| format!("owner_bureau {value:?} is not a node id ({e})"))
}

/// A day that exists, `YYYY-MM-DD`, or an RFC 3339 time (`2026-03-01T10:00:00Z`): checked
/// against the calendar like every date that enters (issue 12 item 5).
pub(super) fn reported_at(row: &Row) -> Result<String, String> {
    let value = text(row, "reported_at", true, MAX_FIELD_LEN)?;
    let ok = match value.len() {
        10 => bluehelm_proto::calendar_date(&value).is_some(),
        _ => value.parse::<jiff::Timestamp>().is_ok(),
    };
    if !ok {
        return Err(format!(
            "reported_at {value:?} is not a date that exists (YYYY-MM-DD) or a time (2026-03-01T10:00:00Z)"
        ));
    }
    Ok(value)
}

impl SltdRecord {
    pub fn from_row(row: &Row) -> Result<Self, String> {
        let raw = text(row, "document_number", true, MAX_FIELD_LEN)?;
        let document_number = normalise(&raw).ok_or_else(|| {
            format!("document_number {raw:?} must be letters and digits (spaces and dashes are ignored)")
        })?;
        let raw = text(row, "issuing_country", true, MAX_FIELD_LEN)?;
        let issuing_country = country(&raw).ok_or_else(|| {
            format!("issuing_country {raw:?} is not an ISO 3166-1 alpha-2 code (e.g. FR)")
        })?;
        let status = text(row, "status", true, MAX_FIELD_LEN)?.to_ascii_lowercase();
        if !SLTD_STATUSES.contains(&status.as_str()) {
            return Err(format!(
                "status {status:?} is not one of {}",
                SLTD_STATUSES.join(", ")
            ));
        }
        Ok(Self {
            document_number,
            issuing_country,
            document_type: text(row, "document_type", true, MAX_FIELD_LEN)?,
            status,
            owner_bureau: owner(row)?,
            reported_at: reported_at(row)?,
            instructions: text(row, "instructions", true, MAX_INSTRUCTIONS_LEN)?,
            release_to: release_column(row)?,
        })
    }

    /// The fields of a hit, as the requester sees them.
    pub fn fields(&self) -> BTreeMap<String, String> {
        [
            ("document_number", &self.document_number),
            ("issuing_country", &self.issuing_country),
            ("document_type", &self.document_type),
            ("status", &self.status),
            ("owner_bureau", &self.owner_bureau),
            ("reported_at", &self.reported_at),
            ("instructions", &self.instructions),
            ("release_to", &self.release_to),
        ]
        .into_iter()
        .filter(|(k, v)| *k != "release_to" || !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect()
    }

    /// One line for people: what the record is.
    pub fn describe(&self) -> String {
        format!(
            "{} {} {} {}",
            self.status, self.issuing_country, self.document_type, self.document_number
        )
    }
}

impl SmvRecord {
    pub fn from_row(row: &Row) -> Result<Self, String> {
        let raw_vin = text(row, "vin", false, MAX_FIELD_LEN)?;
        let raw_plate = text(row, "plate", false, MAX_FIELD_LEN)?;
        if raw_vin.is_empty() && raw_plate.is_empty() {
            return Err("give a vin, a plate, or both".into());
        }
        let vin = if raw_vin.is_empty() {
            String::new()
        } else {
            normalise(&raw_vin).ok_or_else(|| {
                format!(
                    "vin {raw_vin:?} must be letters and digits (spaces and dashes are ignored)"
                )
            })?
        };
        let (plate, plate_country) = if raw_plate.is_empty() {
            let raw = text(row, "plate_country", false, MAX_FIELD_LEN)?;
            (String::new(), country(&raw).unwrap_or_default())
        } else {
            let plate = normalise(&raw_plate).ok_or_else(|| {
                format!("plate {raw_plate:?} must be letters and digits (spaces and dashes are ignored)")
            })?;
            let raw = text(row, "plate_country", true, MAX_FIELD_LEN)
                .map_err(|_| "plate_country is empty: a plate needs its country".to_owned())?;
            let country = country(&raw).ok_or_else(|| {
                format!("plate_country {raw:?} is not an ISO 3166-1 alpha-2 code (e.g. FR)")
            })?;
            (plate, country)
        };
        Ok(Self {
            vin,
            plate,
            plate_country,
            make: text(row, "make", false, MAX_FIELD_LEN)?,
            model: text(row, "model", false, MAX_FIELD_LEN)?,
            colour: text(row, "colour", false, MAX_FIELD_LEN)?,
            owner_bureau: owner(row)?,
            reported_at: reported_at(row)?,
            instructions: text(row, "instructions", true, MAX_INSTRUCTIONS_LEN)?,
            release_to: release_column(row)?,
        })
    }

    pub fn fields(&self) -> BTreeMap<String, String> {
        [
            ("vin", &self.vin),
            ("plate", &self.plate),
            ("plate_country", &self.plate_country),
            ("make", &self.make),
            ("model", &self.model),
            ("colour", &self.colour),
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

    pub fn describe(&self) -> String {
        let mut parts = vec!["stolen vehicle".to_owned()];
        let car = [&self.colour, &self.make, &self.model]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        if !car.is_empty() {
            parts.push(car);
        }
        if !self.vin.is_empty() {
            parts.push(format!("VIN {}", self.vin));
        }
        if !self.plate.is_empty() {
            parts.push(format!("plate {} {}", self.plate_country, self.plate));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_ignores_case_spaces_and_dashes() {
        assert_eq!(normalise(" x12-345 67 ").as_deref(), Some("X1234567"));
        assert_eq!(normalise("AB/12"), None);
        assert_eq!(normalise(" - "), None);
        assert_eq!(country("fr").as_deref(), Some("FR"));
        assert_eq!(country("FRA"), None);
    }

    #[test]
    fn a_marked_record_is_released_only_to_whom_its_list_admits() {
        let fr_node: NodeId = "ncb.fr".parse().unwrap();
        let unmiss: NodeId = "mission.unmiss".parse().unwrap();
        let fr = Party {
            node: &fr_node,
            role: bluehelm_pki::Role::Ncb,
            country: Some("FR"),
            mission: None,
        };
        let mission = Party {
            node: &unmiss,
            role: bluehelm_pki::Role::Mission,
            country: Some("FR"),
            mission: Some("UNMISS"),
        };
        assert!(released_to("", mission), "unmarked: the whole network");
        assert!(released_to("FR", fr));
        assert!(!released_to("FR", mission), "a host country is no release");
        assert!(released_to("FR,UNMISS", mission));
        assert!(
            !released_to("not a list!", fr),
            "unreadable: nobody but the hub"
        );
        let mut row: Row = [
            ("document_number", "X1"),
            ("issuing_country", "FR"),
            ("document_type", "passport"),
            ("status", "stolen"),
            ("owner_bureau", "ncb.fr"),
            ("reported_at", "2026-01-02"),
            ("instructions", "seize"),
            ("release_to", "fr, unmiss"),
        ]
        .into_iter()
        .collect();
        let record = SltdRecord::from_row(&row).unwrap();
        assert_eq!(record.release_to, "FR,UNMISS", "one written form");
        row.insert("release_to", "FR,,KE");
        let err = SltdRecord::from_row(&row).unwrap_err();
        assert!(err.starts_with("release_to"), "{err}");
    }

    #[test]
    fn a_plate_needs_its_country() {
        let row: Row = [
            ("plate", "AB-123-CD"),
            ("owner_bureau", "ncb.fr"),
            ("reported_at", "2026-01-02"),
            ("instructions", "seize"),
        ]
        .into_iter()
        .collect();
        let err = SmvRecord::from_row(&row).unwrap_err();
        assert!(err.contains("plate_country"), "{err}");
    }
}
