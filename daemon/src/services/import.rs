//! Turning a CSV file into records (`bluehelm service import`): the header must name the
//! documented columns (in any order; unknown columns are refused, so a typo is not silently
//! ignored); each bad row is reported with its line number and the good rows are kept.

use std::collections::BTreeMap;

use super::record::{Row, SltdRecord, SmvRecord, OPTIONAL_COLUMNS, SLTD_COLUMNS, SMV_COLUMNS};
use super::Database;
use crate::custody::Record;
use crate::engine::RoutingTable;

/// Most bad rows reported one by one; past this, they are only counted.
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The line of the file where the row starts (the header is line 1).
    pub line: u64,
    pub message: String,
}

/// What a CSV file holds.
#[derive(Debug, Default)]
pub struct Parsed {
    /// One `Record::Reference` per key of each good row.
    pub writes: Vec<Record>,
    /// Good rows.
    pub rows: u64,
    /// Bad rows, at most [`MAX_REPORTED_ERRORS`] of them.
    pub errors: Vec<RowError>,
    /// All bad rows.
    pub bad_rows: u64,
}

/// Why a file cannot be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The header line is missing, unreadable, or does not name the documented columns.
    #[error("header (line 1): {0}")]
    Header(String),
}

impl Parsed {
    fn bad(&mut self, line: u64, message: String) {
        self.bad_rows += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(RowError { line, message });
        }
    }
}

/// Parses a whole CSV file for `database`. Each row's owner bureau must be a node `table`
/// routes to (or this node): its hit notifications go there, and a record whose owner no
/// node can reach would lose them (issue 12 item 5).
pub fn parse(
    database: Database,
    csv_bytes: &[u8],
    table: &RoutingTable,
) -> Result<Parsed, ImportError> {
    let columns = match database {
        Database::Sltd => SLTD_COLUMNS,
        Database::Smv => SMV_COLUMNS,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(csv_bytes);
    let header = reader
        .headers()
        .map_err(|e| ImportError::Header(e.to_string()))?
        .clone();
    let mut index: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim().trim_start_matches('\u{feff}');
        let known = columns.iter().chain(OPTIONAL_COLUMNS);
        let Some(column) = known.into_iter().find(|c| **c == name) else {
            return Err(ImportError::Header(format!(
                "unknown column {name:?}; the columns are {} (and optionally {})",
                columns.join(","),
                OPTIONAL_COLUMNS.join(",")
            )));
        };
        if index.insert(column, i).is_some() {
            return Err(ImportError::Header(format!(
                "column {name:?} appears twice"
            )));
        }
    }
    let missing: Vec<&str> = columns
        .iter()
        .filter(|c| !index.contains_key(*c))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::Header(format!(
            "missing column(s) {}; the columns are {}",
            missing.join(","),
            columns.join(",")
        )));
    }

    let mut parsed = Parsed::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => {
                let line = err.position().map_or(line, |p| p.line());
                parsed.bad(line, format!("unreadable row: {err}"));
                // A broken quote or bad UTF-8 does not stop the rows after it.
                continue;
            }
        }
        let line = record.position().map_or(line, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if record.len() != header.len() {
            parsed.bad(
                line,
                format!("{} fields, the header has {}", record.len(), header.len()),
            );
            continue;
        }
        let row: Row = index
            .iter()
            .map(|(column, i)| (*column, record.get(*i).unwrap_or("")))
            .collect();
        // Serializing a record of strings cannot fail.
        let result = match database {
            Database::Sltd => SltdRecord::from_row(&row).and_then(|r| {
                routable_owner(table, &r.owner_bureau)?;
                let value = serde_json::to_vec(&r).expect("a record serializes");
                Ok(vec![(r.key(), value)])
            }),
            Database::Smv => SmvRecord::from_row(&row).and_then(|r| {
                routable_owner(table, &r.owner_bureau)?;
                let value = serde_json::to_vec(&r).expect("a record serializes");
                Ok(r.keys().into_iter().map(|k| (k, value.clone())).collect())
            }),
        };
        match result {
            Ok(entries) => {
                parsed.rows += 1;
                for (key, value) in entries {
                    parsed.writes.push(Record::Reference { key, value });
                }
            }
            Err(message) => parsed.bad(line, message),
        }
    }
    Ok(parsed)
}

/// The owner (already checked to be a node id by the record) is this node or one it routes to.
fn routable_owner(table: &RoutingTable, owner: &str) -> Result<(), String> {
    let routable = owner
        .parse::<bluehelm_proto::NodeId>()
        .is_ok_and(|id| table.hop_to(&id).is_some());
    if routable {
        return Ok(());
    }
    Err(format!(
        "owner_bureau {owner:?} is not a node this node routes to, so its hit notifications would be lost: correct the owner, or add a route for it to the config"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node `gs` linked with `ncb.fr` and `ncb.ke`, with no default route.
    fn gs() -> RoutingTable {
        RoutingTable {
            me: Some("gs".parse().unwrap()),
            neighbours: ["ncb.fr".parse().unwrap(), "ncb.ke".parse().unwrap()].into(),
            ..RoutingTable::default()
        }
    }

    #[test]
    fn an_owner_no_node_routes_to_is_refused_by_line() {
        let csv = "document_number,issuing_country,document_type,status,owner_bureau,reported_at,instructions\n\
                   X1,FR,passport,stolen,ncb.fr,2026-01-02,seize\n\
                   X2,FR,passport,stolen,ncb.zz,2026-01-02,seize\n\
                   X3,FR,passport,stolen,gs,2026-01-02,seize\n\
                   X4,FR,passport,stolen,ncb.fr,2026-02-30,seize\n\
                   X5,FR,passport,stolen,ncb.fr,2026-03-01T10:00:00Z,seize\n";
        let parsed = parse(Database::Sltd, csv.as_bytes(), &gs()).unwrap();
        assert_eq!(parsed.rows, 3, "{:?}", parsed.errors);
        let lines: Vec<u64> = parsed.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 5], "{:?}", parsed.errors);
        assert!(parsed.errors[0].message.contains("ncb.zz"));
        assert!(parsed.errors[1].message.contains("reported_at"));
    }

    #[test]
    fn bad_rows_are_reported_by_line_and_good_rows_kept() {
        let csv = "document_number,issuing_country,document_type,status,owner_bureau,reported_at,instructions\n\
                   X1234567,FR,passport,stolen,ncb.fr,2026-01-02,\"Seize; call NCB Paris, +33 1 23\"\n\
                   Y1,FRA,passport,lost,ncb.fr,2026-01-02,seize\n\
                   \n\
                   Z1,KE,id-card,lost,ncb.ke,2026-01-02,seize\n\
                   Z2,KE,id-card,found,ncb.ke,2026-01-02,seize\n";
        let parsed = parse(Database::Sltd, csv.as_bytes(), &gs()).unwrap();
        assert_eq!(parsed.rows, 2);
        let lines: Vec<u64> = parsed.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 6], "{:?}", parsed.errors);
        assert!(parsed.errors[0].message.contains("issuing_country"));
        assert!(parsed.errors[1].message.contains("status"));
    }

    #[test]
    fn a_wrong_header_is_refused_as_a_whole() {
        let err = parse(Database::Smv, b"vin,plate\n1,2\n", &gs()).unwrap_err();
        assert!(err.to_string().contains("missing column"), "{err}");
        let err = parse(Database::Sltd, b"passport\n", &gs()).unwrap_err();
        assert!(err.to_string().contains("unknown column"), "{err}");
    }
}
