use super::*;

fn fr() -> NodeId {
    "ncb.fr".parse().unwrap()
}

const SLTD_HEADER: &str =
    "document_number,issuing_country,document_type,status,owner_bureau,reported_at,instructions";

#[test]
fn bad_rows_are_reported_by_line_and_good_rows_kept() {
    let csv = format!(
        "{SLTD_HEADER}\n\
         X1234567,FR,passport,stolen,ncb.fr,2026-01-02,\"Seize; call NCB Paris, +33 1 23\"\n\
         Y1,FRA,passport,lost,ncb.fr,2026-01-02,seize\n\
         \n\
         Z1,KE,id-card,lost,ncb.fr,2026-01-02,seize\n\
         Z2,KE,id-card,found,ncb.fr,2026-01-02,seize\n\
         Z3,KE,id-card,lost,ncb.ke,2026-01-02,seize\n\
         Z4,KE,id-card,lost,ncb.fr,2026-02-30,seize\n"
    );
    let parsed = parse(Database::Sltd, csv.as_bytes(), &fr()).unwrap();
    assert_eq!(parsed.items.len(), 2, "{:?}", parsed.errors);
    assert_eq!(parsed.items[0].key, "FR/X1234567");
    assert_eq!(parsed.items[0].line, 2);
    let lines: Vec<u64> = parsed.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 6, 7, 8], "{:?}", parsed.errors);
    assert!(parsed.errors[0].message.contains("issuing_country"));
    assert!(parsed.errors[1].message.contains("status"));
    assert!(
        parsed.errors[2].message.contains("own records"),
        "{}",
        parsed.errors[2].message
    );
    assert!(parsed.errors[3].message.contains("reported_at"));
}

#[test]
fn a_withdrawal_row_names_its_record_by_its_key_columns_only() {
    let csv = format!(
        "{SLTD_HEADER},action\n\
         x12-345,fr,,,ncb.fr,,,withdraw\n\
         Y1,FR,passport,stolen,ncb.fr,2026-01-02,seize,upsert\n\
         Y2,FR,passport,stolen,ncb.fr,2026-01-02,seize,delete\n"
    );
    let parsed = parse(Database::Sltd, csv.as_bytes(), &fr()).unwrap();
    assert_eq!(parsed.items.len(), 2, "{:?}", parsed.errors);
    assert_eq!(parsed.items[0].key, "FR/X12345");
    assert_eq!(parsed.items[0].record, None);
    assert!(parsed.items[1].record.is_some());
    assert_eq!(parsed.errors[0].line, 4);
}

#[test]
fn json_lines_take_the_same_fields_and_vehicles_key_by_vin_first() {
    let jsonl = "{\"vin\":\"vf1-ab\",\"plate\":\"AB 123\",\"plate_country\":\"fr\",\"owner_bureau\":\"ncb.fr\",\"reported_at\":\"2026-01-02\",\"instructions\":\"seize\"}\n\
                 {\"plate\":\"CD456\",\"plate_country\":\"FR\",\"owner_bureau\":\"ncb.fr\",\"reported_at\":\"2026-01-02\",\"instructions\":\"seize\",\"release_to\":\"FR\"}\n\
                 {\"vin\":\"X\",\"colour\":7}\n\
                 not json\n\
                 {\"plates\":\"typo\"}\n";
    let parsed = parse(Database::Smv, jsonl.as_bytes(), &fr()).unwrap();
    let keys: Vec<&str> = parsed.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["vin/VF1AB", "plate/FR/CD456"], "{:?}", parsed.errors);
    assert_eq!(parsed.items[1].release_to, Some("FR".parse().unwrap()));
    let lines: Vec<u64> = parsed.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 4, 5], "{:?}", parsed.errors);
}

#[test]
fn a_wrong_header_is_refused_as_a_whole() {
    let err = parse(Database::Smv, b"vin,plate\n1,2\n", &fr()).unwrap_err();
    assert!(err.to_string().contains("missing column"), "{err}");
    let err = parse(Database::Sltd, b"passport\n", &fr()).unwrap_err();
    assert!(err.to_string().contains("unknown column"), "{err}");
}
