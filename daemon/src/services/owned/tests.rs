use super::*;
use crate::services::record::{plate_key, sltd_key, vin_key, SltdRecord, SmvRecord};

fn row<'a>(pairs: &[(&'static str, &'a str)]) -> Row<'a> {
    pairs.iter().copied().collect()
}

fn text_key(key: Vec<u8>) -> String {
    String::from_utf8(key).unwrap()
}

#[test]
fn an_id_is_a_reference_not_a_text() {
    assert_eq!(
        id(&row(&[("id", " FR-2026/17.a ")])).as_deref(),
        Ok("FR-2026/17.a")
    );
    for bad in ["FR 17", "FR_17", "Ж-1", "a\nb"] {
        let err = id(&row(&[("id", bad)])).unwrap_err();
        assert!(err.starts_with("id "), "{bad}: {err}");
    }
    let long = "A".repeat(MAX_ID_LEN + 1);
    assert_eq!(
        id(&row(&[("id", &long)])).unwrap_err(),
        "id is longer than 64 bytes"
    );
}

#[test]
fn an_sltd_withdrawal_names_its_document_and_nothing_else_is_read() {
    let withdrawal = row(&[
        ("action", "withdraw"),
        ("document_number", "x12-345 67"),
        ("issuing_country", "fr"),
    ]);
    assert_eq!(
        SltdRecord::action_from_row(&withdrawal),
        Ok(Action::Withdraw {
            key: text_key(sltd_key("FR", "X1234567"))
        })
    );
    let err =
        SltdRecord::action_from_row(&row(&[("action", "withdraw"), ("document_number", "X1")]))
            .unwrap_err();
    assert_eq!(err, "issuing_country is empty");
    let line = r#"{"action":"withdraw","document_number":"X1","issuing_country":"FR"}"#;
    assert_eq!(
        SltdRecord::action_from_json_line(line),
        Ok(Action::Withdraw {
            key: text_key(sltd_key("FR", "X1"))
        })
    );
}

#[test]
fn an_sltd_row_without_action_reads_as_from_row_reads_it() {
    let mut full = row(&[
        ("document_number", "X1"),
        ("issuing_country", "FR"),
        ("document_type", "passport"),
        ("status", "stolen"),
        ("owner_bureau", "ncb.fr"),
        ("reported_at", "2026-01-02"),
        ("instructions", "seize"),
    ]);
    let record = SltdRecord::from_row(&full).unwrap();
    assert_eq!(
        SltdRecord::action_from_row(&full),
        Ok(Action::Upsert(record.clone()))
    );
    full.insert(ACTION_COLUMN, "upsert");
    assert_eq!(
        SltdRecord::action_from_row(&full),
        Ok(Action::Upsert(record))
    );
    full.insert(ACTION_COLUMN, "remove");
    let err = SltdRecord::action_from_row(&full).unwrap_err();
    assert_eq!(
        err,
        "action \"remove\" is not upsert or withdraw (empty: upsert)"
    );
}

#[test]
fn an_smv_withdrawal_names_its_vehicle_by_vin_or_else_by_plate() {
    let by_vin = row(&[
        ("action", "withdraw"),
        ("vin", "wvw-zzz1jz3w386752"),
        ("plate", "AB-123-CD"),
        ("plate_country", "FR"),
    ]);
    assert_eq!(
        SmvRecord::action_from_row(&by_vin),
        Ok(Action::Withdraw {
            key: text_key(vin_key("WVWZZZ1JZ3W386752"))
        })
    );
    let by_plate = row(&[
        ("action", "WITHDRAW"),
        ("plate", "AB-123-CD"),
        ("plate_country", "fr"),
    ]);
    assert_eq!(
        SmvRecord::action_from_row(&by_plate),
        Ok(Action::Withdraw {
            key: text_key(plate_key("FR", "AB123CD"))
        })
    );
    let err =
        SmvRecord::action_from_row(&row(&[("action", "withdraw"), ("plate", "AB1")])).unwrap_err();
    assert!(err.starts_with("plate_country \"\""), "{err}");
    let err = SmvRecord::action_from_row(&row(&[("action", "withdraw")])).unwrap_err();
    assert!(err.starts_with("a withdrawal names the vehicle"), "{err}");
    let line = r#"{"action":"withdraw","vin":"WVWZZZ1JZ3W386752"}"#;
    assert!(matches!(
        SmvRecord::action_from_json_line(line),
        Ok(Action::Withdraw { .. })
    ));
}
