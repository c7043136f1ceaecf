use super::*;
use crate::engine::nominal::{fold, score, Person, Reason, POSSIBLE_MATCH};

#[test]
fn codes_agree_across_scripts_case_and_diacritics() {
    for (latin, other) in [
        ("Mohamed", "محمد"),
        ("Mohamed", "Мохамед"),
        ("Hussein", "Хуссейн"),
        ("Lefèvre", "LEFEVRE"),
        ("Shevchenko", "Шевченко"),
        ("Walker", "Уолкер"),
        ("Jones", "Джонс"),
        ("Papadopoulos", "Παπαδόπουλος"),
    ] {
        assert_eq!(code(&fold(latin)), code(&fold(other)), "{latin} / {other}");
    }
    assert_ne!(code("ivanov"), code("petrov"));
}

#[test]
fn only_names_in_another_script_than_latin_are_transliterated() {
    for other in ["محمد", "Иванов", "Δημήτρης", "שרה", "Мария Smith"] {
        assert!(transliterated(other), "{other}");
    }
    for latin in ["Mohamed", "Lefèvre", "Łukasz", "Nguyễn", "O'Brien", ""] {
        assert!(!transliterated(latin), "{latin}");
    }
}

#[test]
fn a_name_in_arabic_script_matches_on_its_consonants_and_never_as_certain() {
    let ali = vec!["Ali".to_owned()];
    let recorded = Person {
        family_name: "MOHAMED",
        given_names: &ali,
        ..Person::default()
    };
    let arabic = vec!["علي".to_owned()];
    let query = Person {
        family_name: "محمد",
        given_names: &arabic,
        ..Person::default()
    };
    let m = score(&query, &recorded).expect("no filter applies");
    assert!(m.score >= POSSIBLE_MATCH && m.score < 1.0, "{m:?}");
    assert!(m.reasons.contains(&Reason::SimilarName), "{m:?}");
    // The same consonants in Latin letters are a spelling like any other: no code comparison.
    let latin = vec!["Ly".to_owned()];
    let skeleton = Person {
        family_name: "Mhmd",
        given_names: &latin,
        ..Person::default()
    };
    assert!(score(&skeleton, &recorded).unwrap().score < POSSIBLE_MATCH);
    let other = vec!["عمر".to_owned()];
    let omar = Person {
        given_names: &other,
        family_name: "حسن",
        ..Person::default()
    };
    assert!(score(&omar, &recorded).unwrap().score < POSSIBLE_MATCH);
}
