use bluehelm_proto::{Database, NodeId};

use super::*;
use crate::services::import;

/// Twelve ESS loci and Amelogenin.
pub(crate) const PROFILE: &str = "D3S1358=15,16; vWA=17,18; D8S1179=13,14; D21S11=29,30; \
    D18S51=12,15; TH01=6,9.3; FGA=21,24; D1S1656=12,16; D2S441=10,14; D10S1248=13,15; \
    D12S391=18,20; D22S1045=15,16; AMEL=X,Y";

fn row<'a>(id: &'a str, profile: &'a str) -> Row<'a> {
    [
        ("id", id),
        ("profile", profile),
        ("case_reference", "2026/17"),
        ("owner_bureau", "ncb.fr"),
        ("reported_at", "2026-03-01T10:00:00Z"),
        ("instructions", "contact NCB Paris, unit DNA"),
    ]
    .into_iter()
    .collect()
}

#[test]
fn a_profile_is_stored_as_written_and_never_shown_in_the_fields() {
    let record = DnaRecord::from_row(&row("FR-DNA-1", PROFILE)).unwrap();
    assert_eq!(record.key(), "ncb.fr/FR-DNA-1");
    assert_eq!(record.profile().unwrap().str_loci(), 12);
    assert_eq!(
        record.describe(),
        "DNA profile FR-DNA-1 of ncb.fr, case 2026/17"
    );
    let fields = record.fields();
    assert_eq!(fields["id"], "FR-DNA-1");
    assert!(
        fields.values().all(|v| !v.contains("D3S1358")),
        "{fields:?}"
    );
    let stored = serde_json::to_vec(&record).unwrap();
    assert_eq!(
        serde_json::from_slice::<DnaRecord>(&stored).unwrap(),
        record
    );
}

#[test]
fn a_profile_with_fewer_loci_than_any_comparison_needs_is_refused_at_import() {
    let five = "D3S1358=15,16; vWA=17,18; D8S1179=13,14; D21S11=29,30; FGA=21,24; AMEL=X,Y";
    let err = DnaRecord::from_row(&row("FR-DNA-2", five)).unwrap_err();
    assert_eq!(
        err,
        "profile: 5 STR loci, fewer than the 6 any comparison needs (Amelogenin does not count)"
    );
    let six = format!("{five}; D18S51=12,15");
    assert!(DnaRecord::from_row(&row("FR-DNA-2", &six)).is_ok());
}

#[test]
fn a_profile_that_does_not_parse_is_refused_with_the_reason() {
    for (text, want) in [
        ("D3S1358=15", "profile: locus D3S1358"),
        ("XYZ=1,2", "profile: unknown locus \"XYZ\""),
        ("", "profile is empty"),
    ] {
        let err = DnaRecord::from_row(&row("FR-DNA-3", text)).unwrap_err();
        assert!(err.starts_with(want), "{text}: {err}");
    }
    let long = "D3S1358=15,16; ".repeat(100);
    let err = DnaRecord::from_row(&row("FR-DNA-3", &long)).unwrap_err();
    assert_eq!(err, "profile is longer than 1024 bytes");
}

/// Through the importer, the one path a file takes.
#[test]
fn a_json_line_is_read_as_a_row_and_a_withdrawal_names_owner_and_id() {
    let good = serde_json::json!({
        "id": "FR-DNA-1",
        "profile": PROFILE,
        "case_reference": "2026/17",
        "owner_bureau": "ncb.fr",
        "reported_at": "2026-03-01T10:00:00Z",
        "instructions": "contact NCB Paris, unit DNA",
    });
    let file = [
        good.to_string().as_str(),
        r#"{"action":"withdraw","id":"FR-DNA-1","owner_bureau":"ncb.fr"}"#,
        r#"{"id":"FR-DNA-1","family_name":"X"}"#,
    ]
    .join("\n");
    let me: NodeId = "ncb.fr".parse().unwrap();
    let parsed = import::parse(Database::Dna, file.as_bytes(), &me).unwrap();
    assert_eq!(parsed.items.len(), 2, "{:?}", parsed.errors);
    let item = &parsed.items[0];
    assert_eq!((item.line, item.key.as_str()), (1, "ncb.fr/FR-DNA-1"));
    let record: DnaRecord = serde_json::from_slice(item.record.as_deref().unwrap()).unwrap();
    assert_eq!(
        record,
        DnaRecord::from_row(&row("FR-DNA-1", PROFILE)).unwrap(),
        "a JSON line is validated as a CSV row"
    );
    let withdrawal = &parsed.items[1];
    assert_eq!(
        (
            withdrawal.line,
            withdrawal.key.as_str(),
            withdrawal.record.is_none()
        ),
        (2, "ncb.fr/FR-DNA-1", true)
    );
    assert_eq!(parsed.errors.len(), 1, "{:?}", parsed.errors);
    assert_eq!(parsed.errors[0].line, 3);
    let err = &parsed.errors[0].message;
    assert!(err.starts_with("unknown field \"family_name\""), "{err}");
}
