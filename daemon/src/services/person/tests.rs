use bluehelm_proto::{Database, NodeId};

use super::*;
use crate::services::import::{self, Parsed, Prepared};

/// The columns of a good row, in [`PERSON_COLUMNS`] order.
const GOOD: [&str; 10] = [
    "RU-2020/114",
    "Иванов",
    "Сергей Петрович",
    "1980-03",
    "m",
    "ru, UA ru",
    "Тула",
    "ncb.ru",
    "2026-01-02",
    "arrest with a view to extradition",
];

fn row<'a>(values: &[&'a str]) -> Row<'a> {
    PERSON_COLUMNS
        .iter()
        .copied()
        .zip(values.iter().copied())
        .collect()
}

/// A file as `bluehelm db import persons` reads it at `ncb.ru`'s node, which owns the good
/// rows here: the one path a file takes, CSV or JSON lines.
fn import(file: &str) -> Parsed {
    let me: NodeId = "ncb.ru".parse().unwrap();
    import::parse(Database::Persons, file.as_bytes(), &me).unwrap()
}

/// The record an upsert stores.
fn stored(item: &Prepared) -> PersonRecord {
    let record = item.record.as_deref().expect("an upsert, not a withdrawal");
    serde_json::from_slice(record).unwrap()
}

/// Each bad row's line and message.
fn errors(parsed: &Parsed) -> Vec<(u64, &str)> {
    parsed
        .errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect()
}

/// A CSV line of `values`, each quoted (good values hold commas).
fn csv_line(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
    quoted.join(",")
}

#[test]
fn a_person_is_stored_with_names_as_written_and_codes_in_one_form() {
    let person = PersonRecord::from_row(&row(&GOOD)).unwrap();
    assert_eq!(person.family_name, "Иванов");
    assert_eq!(person.given_names, ["Сергей", "Петрович"]);
    assert_eq!(person.sex, "M");
    assert_eq!(person.nationalities, ["RU", "UA"], "upper case, each once");
    assert_eq!(person.key(), "ncb.ru/RU-2020/114");
    assert_eq!(
        person.describe(),
        "person Иванов Сергей Петрович, born 1980-03"
    );
    let fields = person.fields();
    assert_eq!(fields["given_names"], "Сергей Петрович");
    assert_eq!(fields["nationalities"], "RU,UA");
    assert!(!fields.contains_key("release_to"), "unmarked");
    let scored = person.as_person();
    assert_eq!(nominal::fold(scored.family_name), "ivanov");
    assert_eq!(scored.date_of_birth, "1980-03");
    let stored = serde_json::to_vec(&person).unwrap();
    assert_eq!(
        serde_json::from_slice::<PersonRecord>(&stored).unwrap(),
        person
    );
}

#[test]
fn unknown_values_may_be_left_empty() {
    let mut values = GOOD;
    for column in [
        "given_names",
        "date_of_birth",
        "sex",
        "nationalities",
        "place_of_birth",
    ] {
        let at = PERSON_COLUMNS.iter().position(|c| *c == column).unwrap();
        values[at] = "";
    }
    let person = PersonRecord::from_row(&row(&values)).unwrap();
    assert!(person.given_names.is_empty() && person.nationalities.is_empty());
    assert_eq!(person.describe(), "person Иванов");
    let stored = serde_json::to_string(&person).unwrap();
    assert!(!stored.contains("date_of_birth"), "{stored}");
}

#[test]
fn a_date_of_birth_is_checked_against_the_calendar_as_far_as_it_goes() {
    for good in ["1980", "1980-02", "1980-02-29", ""] {
        assert_eq!(date_of_birth(good).as_deref(), Ok(good));
    }
    for bad in [
        "1981-02-29",
        "1980-13",
        "1980-2",
        "80",
        "0000",
        "1980-02-30",
        "198O",
    ] {
        let err = date_of_birth(bad).unwrap_err();
        assert!(err.starts_with("date_of_birth"), "{bad}: {err}");
    }
}

#[test]
fn bad_column_values_are_reported_by_line_and_good_rows_kept() {
    let csv_text = "\
id,family_name,given_names,date_of_birth,sex,nationalities,place_of_birth,owner_bureau,reported_at,instructions
RU-1,IVANOV,Sergei,1980-03,M,RU,,ncb.ru,2026-01-02,arrest
RU 2,IVANOV,Sergei,1980-03,M,RU,,ncb.ru,2026-01-02,arrest
RU-3,???,Sergei,1980-03,M,RU,,ncb.ru,2026-01-02,arrest
RU-4,IVANOV,Sergei,1981-02-29,M,RU,,ncb.ru,2026-01-02,arrest
RU-5,IVANOV,Sergei,1980,Q,RU,,ncb.ru,2026-01-02,arrest
RU-6,IVANOV,Sergei,1980,M,\"RU,RUS\",,ncb.ru,2026-01-02,arrest
RU-7,IVANOV,Sergei,1980,M,RU,,NCB RU,2026-01-02,arrest
RU-8,IVANOV,Sergei,1980,M,RU,,ncb.ru,2026-02-30,arrest
RU-9,IVANOV,Sergei,1980,M,RU,,ncb.ru,2026-01-02,
RU-10,\"IVANOV
PETROV\",Sergei,1980,M,RU,,ncb.ru,2026-01-02,arrest
,IVANOV,Sergei,1980,M,RU,,ncb.ru,2026-01-02,arrest
RU-12,IVANOV,Sergei,1980,M,RU,,ncb.ru,2026-01-02,arrest
";
    let parsed = import(csv_text);
    let good: Vec<(u64, &str)> = parsed
        .items
        .iter()
        .map(|i| (i.line, i.key.as_str()))
        .collect();
    assert_eq!(good, [(2, "ncb.ru/RU-1"), (14, "ncb.ru/RU-12")]);
    assert!(parsed.items.iter().all(|i| i.record.is_some()), "upserts");
    let expected: &[(u64, &str)] = &[
        (3, "id \"RU 2\" contains ' '"),
        (4, "family_name \"???\" has no letters"),
        (5, "date_of_birth \"1981-02-29\""),
        (6, "sex \"Q\""),
        (7, "nationalities: \"RUS\""),
        // The importer checks the owner against this node before the row is read.
        (
            8,
            "owner_bureau \"NCB RU\": a node imports only its own records",
        ),
        (9, "reported_at \"2026-02-30\""),
        (10, "instructions is empty"),
        (11, "family_name contains a control character"),
        (13, "id is empty"),
    ];
    let errors = errors(&parsed);
    assert_eq!(errors.len(), expected.len(), "{errors:?}");
    assert_eq!(parsed.bad_rows, 10);
    for ((line, message), (want_line, want)) in errors.iter().zip(expected) {
        assert_eq!(line, want_line, "{message}");
        assert!(message.starts_with(want), "line {line}: {message}");
    }
}

#[test]
fn a_json_line_is_read_as_a_row_and_bad_lines_are_reported_by_number() {
    let file = concat!(
        r#"{"id":"RU-1","family_name":"Иванов","given_names":"Сергей","date_of_birth":"1980-03","sex":"M","nationalities":"RU","owner_bureau":"ncb.ru","reported_at":"2026-01-02","instructions":"arrest","release_to":"ru, unmiss"}"#,
        "\n",
        r#"{"id":1234,"family_name":"PETROV","place_of_birth":null,"owner_bureau":"ncb.ru","reported_at":"2026-01-02","instructions":"locate"}"#,
        "\r\n\n",
        r#"{"id":"RU-3","familyname":"PETROV","owner_bureau":"ncb.ru","reported_at":"2026-01-02","instructions":"locate"}"#,
        "\n",
        r#"{"id":"RU-4","family_name":["PETROV"],"owner_bureau":"ncb.ru","reported_at":"2026-01-02","instructions":"locate"}"#,
        "\n",
        "id,family_name\n",
        r#"{"id":"RU-6","family_name":"PETROV","sex":"W","owner_bureau":"ncb.ru","reported_at":"2026-01-02","instructions":"locate"}"#,
        "\n",
        r#"{"action":"withdraw","id":"RU-7","owner_bureau":"ncb.ru"}"#,
        "\n",
    );
    let parsed = import(file);
    let lines: Vec<u64> = parsed.items.iter().map(|i| i.line).collect();
    assert_eq!(
        lines,
        [1, 2, 8],
        "the blank line 3 is skipped: {:?}",
        parsed.errors
    );
    let withdrawal = &parsed.items[2];
    assert_eq!(
        (withdrawal.key.as_str(), withdrawal.record.is_none()),
        ("ncb.ru/RU-7", true),
        "a withdrawal line names the record by its owner and id"
    );
    let release_to = "RU,UNMISS";
    assert_eq!(
        stored(&parsed.items[0]),
        PersonRecord::from_row(&row(&[
            "RU-1",
            "Иванов",
            "Сергей",
            "1980-03",
            "M",
            "RU",
            "",
            "ncb.ru",
            "2026-01-02",
            "arrest"
        ]))
        .map(|p| PersonRecord {
            release_to: release_to.into(),
            ..p
        })
        .unwrap(),
        "a JSON line is validated as a CSV row"
    );
    assert_eq!(parsed.items[0].key, "ncb.ru/RU-1");
    assert_eq!(
        parsed.items[0].release_to,
        Some(release_to.parse().unwrap())
    );
    let second = stored(&parsed.items[1]);
    assert_eq!(second.id, "1234", "a number as written");
    assert_eq!(second.place_of_birth, "", "null as an empty column");
    let errors = errors(&parsed);
    assert_eq!(parsed.bad_rows, 4, "{errors:?}");
    assert_eq!(errors[0].0, 4);
    assert!(
        errors[0].1.starts_with("unknown field \"familyname\""),
        "{errors:?}"
    );
    assert_eq!(errors[1], (5, "family_name must be a string"));
    assert_eq!(errors[2].0, 6);
    assert!(errors[2].1.starts_with("not a JSON object"), "{errors:?}");
    assert_eq!(errors[3].0, 7);
    assert!(errors[3].1.starts_with("sex \"W\""), "{errors:?}");
}

/// A withdrawal names the record by `owner_bureau` and `id`; the other columns are not read.
#[test]
fn a_person_withdrawal_needs_only_its_key_columns() {
    let good_with = |action| csv_line(&[&GOOD[..], &[action]].concat());
    let file = [
        format!("{},action", PERSON_COLUMNS.join(",")),
        "RU-2020/114,,,,,,,ncb.ru,not read,,Withdraw".into(),
        "RU-2020/114,,,,,,,,,,withdraw".into(),
        good_with("delete"),
        good_with("UPSERT"),
    ]
    .join("\n");
    let parsed = import(&file);
    let errors = errors(&parsed);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, 3);
    assert!(
        errors[0]
            .1
            .starts_with("owner_bureau \"\": a node imports only its own records"),
        "a withdrawal without an owner: {errors:?}"
    );
    assert_eq!(errors[1].0, 4);
    assert!(
        errors[1].1.starts_with("action \"delete\" is not"),
        "{errors:?}"
    );
    assert_eq!(parsed.items.len(), 2);
    let withdrawal = &parsed.items[0];
    assert_eq!(
        (
            withdrawal.line,
            withdrawal.key.as_str(),
            withdrawal.record.is_none()
        ),
        (2, "ncb.ru/RU-2020/114", true),
        "not a complaint about the empty or unread columns"
    );
    let upsert = &parsed.items[1];
    assert_eq!(upsert.line, 5);
    assert_eq!(
        upsert.key,
        PersonRecord::from_row(&row(&GOOD)).unwrap().key()
    );
    assert_eq!(stored(upsert), PersonRecord::from_row(&row(&GOOD)).unwrap());
}
