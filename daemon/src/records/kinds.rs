//! What each field database's records look like to the storage: the key a record is found
//! under (one normal form, so that the owner, the hub and every replica compute the same
//! one), and the secondary index entries it is also found under.

use bluehelm_proto::records::RecordChange;
use bluehelm_proto::Database;

use super::stored::IndexEntry;
use crate::engine::nominal;
use crate::services::owned;
use crate::services::person::PersonRecord;
use crate::services::record::{self, Row, SltdRecord, SmvRecord};

/// `FR/X1234567`: issuing country, document number.
pub fn sltd_key(r: &SltdRecord) -> String {
    sltd_lookup_key(&r.issuing_country, &r.document_number)
}

/// The key of a travel document, from normalised parts.
pub fn sltd_lookup_key(country: &str, number: &str) -> String {
    format!("{country}/{number}")
}

/// `vin/VF1AB000123456789` when the vehicle's VIN is known, else `plate/FR/AB123CD`.
pub fn smv_key(r: &SmvRecord) -> String {
    if r.vin.is_empty() {
        plate_key(&r.plate_country, &r.plate)
    } else {
        vin_key(&r.vin)
    }
}

pub fn vin_key(vin: &str) -> String {
    format!("vin/{vin}")
}

pub fn plate_key(country: &str, plate: &str) -> String {
    format!("plate/{country}/{plate}")
}

/// The key a withdrawal row names: the key columns of the record as it was imported (for a
/// vehicle, its VIN if it had one).
pub fn key_of_row(database: Database, row: &Row) -> Result<String, String> {
    let get = |column: &str| row.get(column).map(|v| v.trim()).unwrap_or("");
    let number = |column: &str| {
        record::normalise(get(column))
            .ok_or_else(|| format!("{column} {:?} must be letters and digits", get(column)))
    };
    let country = |column: &str| {
        record::country(get(column)).ok_or_else(|| {
            format!(
                "{column} {:?} is not an ISO 3166-1 alpha-2 code",
                get(column)
            )
        })
    };
    match database {
        Database::Sltd => Ok(sltd_lookup_key(
            &country("issuing_country")?,
            &number("document_number")?,
        )),
        Database::Smv if !get("vin").is_empty() => Ok(vin_key(&number("vin")?)),
        Database::Smv => Ok(plate_key(&country("plate_country")?, &number("plate")?)),
        // The owner was checked to be the importing node; the id as the record had it.
        Database::Persons | Database::Dna => Ok(owned::key(get("owner_bureau"), &owned::id(row)?)),
    }
}

/// Whether `key` is in `database`'s normal form; the problem if not.
pub fn check_key(database: Database, key: &str) -> Result<(), String> {
    let alnum = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    let country = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase());
    let parts: Vec<&str> = key.split('/').collect();
    let ok = match (database, parts.as_slice()) {
        (Database::Sltd, [c, n]) => country(c) && alnum(n),
        (Database::Smv, ["vin", v]) => alnum(v),
        (Database::Smv, ["plate", c, p]) => country(c) && alnum(p),
        // `<owner>/<id>`; an id may hold '/', a node id never does.
        (Database::Persons | Database::Dna, _) => key.split_once('/').is_some_and(|(owner, id)| {
            owner.parse::<bluehelm_proto::NodeId>().is_ok() && !id.is_empty()
        }),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{key:?} is not in the form of a {database} key"))
    }
}

/// The secondary index entries of a live record: a vehicle known by its VIN is also found by
/// its plate.
pub fn index_entries(change: &RecordChange) -> Vec<IndexEntry> {
    if change.withdrawn {
        return Vec::new();
    }
    match change.database {
        Database::Smv => match serde_json::from_slice::<SmvRecord>(&change.record) {
            Ok(r) if !r.vin.is_empty() && !r.plate.is_empty() => vec![IndexEntry {
                key: plate_key(&r.plate_country, &r.plate).into_bytes(),
                value: Vec::new(),
            }],
            _ => Vec::new(),
        },
        // A person is filed under the nominal index's blocking keys, each entry holding what
        // scoring needs, so a check scores candidates straight off the index.
        Database::Persons => match serde_json::from_slice::<PersonRecord>(&change.record) {
            Ok(r) => {
                let person = r.as_person();
                let value = nominal::index::Entry::of(&person).encode();
                let mut keys = nominal::index::blocking_keys(&person);
                keys.sort();
                keys.dedup();
                keys.into_iter()
                    .map(|key| IndexEntry {
                        key: key.into_bytes(),
                        value: value.clone(),
                    })
                    .collect()
            }
            Err(_) => Vec::new(),
        },
        Database::Sltd | Database::Dna => Vec::new(),
    }
}
