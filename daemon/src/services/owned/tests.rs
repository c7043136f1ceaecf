use super::*;

fn row<'a>(pairs: &[(&'static str, &'a str)]) -> Row<'a> {
    pairs.iter().copied().collect()
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
