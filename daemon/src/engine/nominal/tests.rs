use super::*;

fn given(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn folding_transliterates_scripts_and_drops_case_diacritics_and_punctuation() {
    assert_eq!(fold("Иванов"), "ivanov");
    assert_eq!(fold("Müller-Lüdenscheidt"), "muller ludenscheidt");
    assert_eq!(fold("  O'BRIEN "), "o brien");
    for other_script in ["Δημήτρης", "محمد"] {
        let latin = fold(other_script);
        assert!(
            !latin.is_empty() && latin.bytes().all(|b| b.is_ascii_lowercase()),
            "{other_script} -> {latin:?}"
        );
    }
}

#[test]
fn matches_across_scripts_swaps_and_typos_rank_in_that_order() {
    let ivan = given(&["Ivan"]);
    let recorded = Person {
        family_name: "IVANOV",
        given_names: &ivan,
        date_of_birth: "1980-02-29",
        ..Person::default()
    };
    let cyrillic = given(&["Иван"]);
    let swapped_given = given(&["Ivanov"]);
    let typo = given(&["Ivna"]);
    let other = given(&["John"]);
    let queries = [
        ("Иванов", &cyrillic, Reason::SameFoldedName),
        ("Ivan", &swapped_given, Reason::Swapped),
        ("Ivanof", &typo, Reason::SimilarName),
    ];
    let mut scores = Vec::new();
    for (family, given_names, reason) in queries {
        let query = Person {
            family_name: family,
            given_names,
            ..Person::default()
        };
        let m = score(&query, &recorded).expect("no filter applies");
        assert!(m.reasons.contains(&reason), "{family}: {m:?}");
        assert!(m.score >= POSSIBLE_MATCH, "{family}: {m:?}");
        scores.push(m.score);
    }
    assert!(
        scores.windows(2).all(|w| w[0] > w[1]),
        "folded before swapped before typo: {scores:?}"
    );
    let stranger = Person {
        family_name: "SMITH",
        given_names: &other,
        ..Person::default()
    };
    assert!(score(&stranger, &recorded).unwrap().score < POSSIBLE_MATCH);
}

#[test]
fn sex_nationality_and_date_of_birth_filter_only_when_both_sides_know_them() {
    let jean = given(&["Jean"]);
    let fr = given(&["FR"]);
    let recorded = Person {
        family_name: "DUPONT",
        given_names: &jean,
        date_of_birth: "1975-06-01",
        nationalities: &fr,
        sex: "M",
    };
    let base = Person {
        family_name: "Dupont",
        given_names: &jean,
        ..Person::default()
    };
    assert!(score(&base, &recorded).is_some());
    let de = given(&["DE"]);
    for query in [
        Person { sex: "F", ..base },
        Person {
            nationalities: &de,
            ..base
        },
        Person {
            date_of_birth: "1976",
            ..base
        },
        Person {
            date_of_birth: "1975-07",
            ..base
        },
    ] {
        assert!(score(&query, &recorded).is_none(), "{query:?}");
    }
    let partial = score(
        &Person {
            date_of_birth: "1975",
            ..base
        },
        &recorded,
    )
    .unwrap();
    assert!(partial.reasons.contains(&Reason::CompatibleDateOfBirth));
    let same = score(
        &Person {
            date_of_birth: "1975-06-01",
            ..base
        },
        &recorded,
    )
    .unwrap();
    assert!(same.reasons.contains(&Reason::SameDateOfBirth));
    assert!(
        same.reasons.contains(&Reason::SameName) || same.reasons.contains(&Reason::SameFoldedName)
    );
}

#[test]
fn rank_keeps_possible_matches_best_first() {
    let names = [given(&["John"]), given(&["Jon"]), given(&["Maria"])];
    let candidates = [
        Person {
            family_name: "DOE",
            given_names: &names[1],
            ..Person::default()
        },
        Person {
            family_name: "ROSSI",
            given_names: &names[2],
            ..Person::default()
        },
        Person {
            family_name: "DOE",
            given_names: &names[0],
            ..Person::default()
        },
    ];
    let query = Person {
        family_name: "Doe",
        given_names: &names[0],
        ..Person::default()
    };
    let ranked = rank(&query, candidates);
    let order: Vec<usize> = ranked.iter().map(|(n, _)| *n).collect();
    assert_eq!(order, [2, 0], "{ranked:?}");
}
