use super::*;
use crate::services::json_lines;

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

/// What a CSV file's rows become, by line, as an importer reports them.
fn read_csv(csv_text: &str) -> Vec<(u64, Result<Action<PersonRecord>, String>)> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let known: Vec<&'static str> = PERSON_COLUMNS
        .iter()
        .copied()
        .chain(["release_to", owned::ACTION_COLUMN])
        .collect();
    let columns: Vec<&'static str> = header
        .iter()
        .map(|h| *known.iter().find(|k| *k == h).unwrap())
        .collect();
    reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            let line = record.position().unwrap().line();
            let row: Row = columns.iter().copied().zip(record.iter()).collect();
            (line, PersonRecord::action_from_row(&row))
        })
        .collect()
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
    let results = read_csv(csv_text);
    let expected: &[(u64, Option<&str>)] = &[
        (2, None),
        (3, Some("id \"RU 2\" contains ' '")),
        (4, Some("family_name \"???\" has no letters")),
        (5, Some("date_of_birth \"1981-02-29\"")),
        (6, Some("sex \"Q\"")),
        (7, Some("nationalities: \"RUS\"")),
        (8, Some("owner_bureau \"NCB RU\"")),
        (9, Some("reported_at \"2026-02-30\"")),
        (10, Some("instructions is empty")),
        (11, Some("family_name contains a control character")),
        (13, Some("id is empty")),
        (14, None),
    ];
    assert_eq!(results.len(), expected.len());
    for ((line, result), (want_line, want)) in results.iter().zip(expected) {
        assert_eq!(line, want_line);
        match (result, want) {
            (Ok(Action::Upsert(_)), None) => {}
            (Err(err), Some(want)) => assert!(err.starts_with(want), "line {line}: {err}"),
            (other, _) => panic!("line {line}: {other:?}, expected {want:?}"),
        }
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
    let parsed = json_lines::parse(file.as_bytes(), PersonRecord::action_from_json_line);
    let lines: Vec<u64> = parsed.actions.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [1, 2, 8], "the blank line 3 is skipped");
    let Action::Upsert(first) = &parsed.actions[0].1 else {
        panic!("{:?}", parsed.actions[0]);
    };
    assert_eq!(
        first,
        &PersonRecord::from_row(&row(&[
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
            release_to: "RU,UNMISS".into(),
            ..p
        })
        .unwrap(),
        "a JSON line is validated as a CSV row"
    );
    let Action::Upsert(second) = &parsed.actions[1].1 else {
        panic!("{:?}", parsed.actions[1]);
    };
    assert_eq!(second.id, "1234", "a number as written");
    assert_eq!(
        parsed.actions[2].1,
        Action::Withdraw {
            key: "ncb.ru/RU-7".into()
        }
    );
    let errors: Vec<(u64, &str)> = parsed
        .errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(parsed.bad_lines, 4);
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
    assert_eq!(
        PersonRecord::from_json_line(r#"{"action":"withdraw"}"#).unwrap_err(),
        "id is empty",
        "from_json_line reads a record, whatever the action"
    );
}

#[test]
fn a_withdrawal_needs_only_its_key_columns() {
    let withdraw: Row = [
        ("action", "Withdraw"),
        ("id", "RU-2020/114"),
        ("owner_bureau", "ncb.ru"),
        ("family_name", ""),
        ("reported_at", "not read"),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        PersonRecord::action_from_row(&withdraw),
        Ok(Action::Withdraw {
            key: PersonRecord::from_row(&row(&GOOD)).unwrap().key()
        })
    );
    let mut no_owner = withdraw.clone();
    no_owner.remove("owner_bureau");
    assert_eq!(
        PersonRecord::action_from_row(&no_owner).unwrap_err(),
        "owner_bureau is empty"
    );
    let mut unknown = withdraw.clone();
    unknown.insert("action", "delete");
    let err = PersonRecord::action_from_row(&unknown).unwrap_err();
    assert!(err.starts_with("action \"delete\" is not"), "{err}");
    let mut upsert = row(&GOOD);
    upsert.insert("action", "UPSERT");
    assert!(matches!(
        PersonRecord::action_from_row(&upsert),
        Ok(Action::Upsert(_))
    ));
}
