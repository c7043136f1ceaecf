use super::*;
use crate::services::answer::{MAX_CHECK_FIELDS, MAX_VALUE_LEN};
use crate::services::record::Row;
use bluehelm_proto::{ServiceName, ServiceResponse};

/// Persons as their owners recorded them: `(id, family, given, born, sex, nationality,
/// owner, release_to)`.
const RECORDS: &[[&str; 8]] = &[
    [
        "RU-1",
        "IVANOV",
        "Sergei",
        "1980-03-15",
        "M",
        "RU",
        "ncb.ru",
        "",
    ],
    [
        "RU-2", "IVANOVA", "Svetlana", "1980-03", "F", "RU", "ncb.ru", "",
    ],
    ["UA-1", "IVANOV", "Serhiy", "1980", "M", "UA", "ncb.ua", ""],
    [
        "RU-3",
        "PETROV",
        "Sergei",
        "1980-03-15",
        "M",
        "RU",
        "ncb.ru",
        "",
    ],
    ["RU-4", "IVANOV", "Sergey", "", "", "", "ncb.ru", ""],
    ["FR-1", "DUBOIS", "Jean", "1975", "M", "FR", "ncb.fr", ""],
    [
        "FR-2",
        "IVANOV",
        "Sergei",
        "1980-03-15",
        "M",
        "RU",
        "ncb.fr",
        "FR",
    ],
];

fn record(values: &[&str; 8]) -> PersonRecord {
    let [id, family, given, born, sex, nationality, owner, release] = *values;
    let row: Row = [
        ("id", id),
        ("family_name", family),
        ("given_names", given),
        ("date_of_birth", born),
        ("sex", sex),
        ("nationalities", nationality),
        ("owner_bureau", owner),
        ("reported_at", "2026-01-02"),
        ("instructions", "arrest with a view to extradition"),
        ("release_to", release),
    ]
    .into_iter()
    .collect();
    PersonRecord::from_row(&row).unwrap()
}

fn records() -> Vec<PersonRecord> {
    RECORDS.iter().map(record).collect()
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Checks `params` as a mission post in South Sudan (released to UNMISS, not to FR).
fn check_at_mission(params: &BTreeMap<String, String>, records: &[PersonRecord]) -> Answer {
    let node: bluehelm_proto::NodeId = "mission.unmiss".parse().unwrap();
    let requester = Party {
        node: &node,
        role: bluehelm_pki::Role::Mission,
        country: Some("SS"),
        mission: Some("UNMISS"),
    };
    check(params, records, requester)
}

/// The candidates' keys, best first.
fn keys(answer: &Answer) -> Vec<&str> {
    answer.named.iter().map(|n| n.key.as_str()).collect()
}

/// The answer fits a response: the proto's own validation, and this module's budget.
fn assert_fits(answer: &Answer) {
    assert!(
        answer.fields.len() <= MAX_CHECK_FIELDS,
        "{}",
        answer.fields.len()
    );
    assert!(answer.fields.values().all(|v| v.len() <= MAX_VALUE_LEN));
    let response = ServiceResponse {
        service: ServiceName::new("nominal.check".to_owned()).unwrap(),
        status: answer.status,
        fields: answer.fields.clone(),
        detail: answer.detail.clone(),
    };
    response.validate().unwrap();
}

#[test]
fn a_name_in_cyrillic_finds_the_latin_record_first_then_its_variants() {
    let records = records();
    let answer = check_at_mission(
        &params(&[
            ("family_name", "Иванов"),
            ("given_names", "Сергей"),
            ("date_of_birth", "1980-03"),
            ("sex", "m"),
        ]),
        &records,
    );
    assert_eq!(answer.status, ResponseStatus::Hit);
    // IVANOVA Svetlana is a woman, PETROV another name, FR-2 not released to UNMISS.
    assert_eq!(
        keys(&answer),
        ["ncb.ru/RU-1", "ncb.ru/RU-4", "ncb.ua/UA-1"],
        "{answer:#?}"
    );
    let f = &answer.fields;
    assert_eq!(f["possible_matches"], "3");
    assert_eq!(f["candidates"], "3");
    assert_eq!(f["candidate.1.key"], "ncb.ru/RU-1");
    assert_eq!(
        f["candidate.1.reasons"],
        "same_folded_name,compatible_date_of_birth"
    );
    assert_eq!(
        f["candidate.1.record"],
        "person IVANOV Sergei, born 1980-03-15"
    );
    assert_eq!(f["candidate.1.score"], "1.00");
    assert!(
        f["candidate.2.reasons"].starts_with("similar_name"),
        "{f:?}"
    );
    assert!(f["candidate.2.score"] > f["candidate.3.score"], "{f:?}");
    assert_eq!(
        f["candidate.3.instructions"],
        "arrest with a view to extradition"
    );
    assert!(
        answer.detail.starts_with(
            "3 possible matches for person Иванов Сергей, born 1980-03; best: person IVANOV Sergei"
        ),
        "{}",
        answer.detail
    );
    assert_eq!(answer.named[0].owner_bureau, "ncb.ru");
    assert_fits(&answer);
}

#[test]
fn swapped_names_and_a_nationality_filter_keep_their_expected_ranks() {
    let records = records();
    let answer = check_at_mission(
        &params(&[
            ("family_name", "Sergei"),
            ("given_names", "Ivanov"),
            ("nationality", "ru,by"),
        ]),
        &records,
    );
    // UA-1 is Ukrainian only; RU-4 has no nationality recorded, so it is not ruled out.
    assert_eq!(keys(&answer), ["ncb.ru/RU-1", "ncb.ru/RU-4"], "{answer:#?}");
    assert!(answer.fields["candidate.1.reasons"].starts_with("swapped"));
}

#[test]
fn equal_scores_rank_by_key_whatever_order_the_records_come_in() {
    let mut records = records();
    let forward = check_at_mission(&params(&[("family_name", "IVANOV")]), &records);
    records.reverse();
    let backward = check_at_mission(&params(&[("family_name", "IVANOV")]), &records);
    assert_eq!(forward, backward);
    assert_eq!(
        keys(&forward)[..3],
        ["ncb.ru/RU-1", "ncb.ru/RU-4", "ncb.ua/UA-1"],
        "same family name, score 1.00: by key"
    );
}

#[test]
fn at_most_ten_candidates_are_named_and_the_answer_fits_a_response() {
    let long = "x".repeat(2000);
    let many: Vec<PersonRecord> = (0..25)
        .map(|n| {
            let mut person = record(&["RU", "IVANOV", "Sergei", "", "", "", "ncb.ru", ""]);
            person.id = format!("RU-{n:02}");
            person.instructions = long.clone();
            person
        })
        .collect();
    let answer = check_at_mission(
        &params(&[("family_name", "Ivanov"), ("given_names", "Sergei")]),
        &many,
    );
    assert_eq!(answer.fields["possible_matches"], "25");
    assert_eq!(answer.fields["candidates"], "10");
    assert_eq!(answer.named.len(), MAX_CANDIDATES);
    assert_eq!(answer.fields["candidate.10.key"], "ncb.ru/RU-09");
    assert!(!answer.fields.contains_key("candidate.11.key"));
    assert_eq!(
        answer.fields["candidate.1.instructions"].len(),
        MAX_VALUE_LEN
    );
    assert_fits(&answer);
}

#[test]
fn no_possible_match_is_a_no_hit_without_fields() {
    let records = records();
    let answer = check_at_mission(
        &params(&[("family_name", "Smith"), ("given_names", "John")]),
        &records,
    );
    assert_eq!(answer.status, ResponseStatus::NoHit);
    assert!(answer.fields.is_empty() && answer.named.is_empty());
    assert_eq!(
        answer.detail,
        "no possible match for person Smith John (threshold 0.85)"
    );
}

#[test]
fn a_bad_request_is_answered_with_what_is_wrong() {
    let records = records();
    let long = "A".repeat(300);
    for (pairs, want) in [
        (vec![("given_names", "Sergei")], "give family_name (and optionally given_names, date_of_birth, sex, nationality)"),
        (vec![("family_name", "Ivanov"), ("familyname", "x")], "unknown parameter \"familyname\"; nominal.check reads family_name, given_names, date_of_birth, sex, nationality"),
        (vec![("family_name", "Ivanov"), ("date_of_birth", "1980-02-30")], "date_of_birth \"1980-02-30\" is not YYYY, YYYY-MM or YYYY-MM-DD (a date that exists)"),
        (vec![("family_name", "Ivanov"), ("sex", "male")], "sex \"MALE\" is not one of M, F, X (or empty)"),
        (vec![("family_name", "Ivanov"), ("nationality", "RUS")], "nationality: \"RUS\" is not an ISO 3166-1 alpha-2 code (e.g. FR)"),
        (vec![("family_name", "123")], "family_name \"123\" has no letters to match on"),
        (vec![("family_name", long.as_str())], "family_name is longer than 256 bytes"),
    ] {
        let answer = check_at_mission(&params(&pairs), &records);
        assert_eq!(answer.status, ResponseStatus::Error, "{pairs:?}");
        assert_eq!(answer.detail, want);
        assert!(answer.fields.is_empty() && answer.named.is_empty());
    }
}
