use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::script::{self, Typo};
use super::*;
use crate::engine::nominal::fold;

fn ivanov() -> SyntheticPerson {
    SyntheticPerson {
        family_name: "KUZNETSOV".into(),
        given_names: vec!["Aleksandr".into(), "Jiří".into()],
        date_of_birth: "1980-02-29".into(),
        nationalities: vec!["RU".into()],
        sex: "M".into(),
    }
}

#[test]
fn the_same_seed_gives_the_same_population() {
    let a: Vec<_> = population(7, 200).collect();
    let b: Vec<_> = population(7, 200).collect();
    let c: Vec<_> = population(8, 200).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn names_are_skewed_a_few_common_and_a_long_tail() {
    let mut families: HashMap<String, usize> = HashMap::new();
    for p in population(1, 20_000) {
        *families.entry(p.family_name).or_default() += 1;
        assert!(!p.given_names.is_empty());
        assert!(p.date_of_birth.len() == 4 || p.date_of_birth.len() == 10);
    }
    let mut counts: Vec<usize> = families.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    // The most common name is hundreds of persons; most names are one or two.
    assert!(counts[0] > 200, "{:?}", &counts[..5]);
    let rare = counts.iter().filter(|&&c| c <= 2).count();
    assert!(rare * 2 > counts.len(), "{rare} of {}", counts.len());
}

#[test]
fn cyrillic_variant_is_cyrillic_and_folds_back_near_the_latin() {
    assert_eq!(script::cyrillic("Shevchenko"), "Шевченко");
    assert_eq!(script::cyrillic("IVANOV"), "Иванов");
    assert_eq!(fold(&script::cyrillic("Walker")), "ualker");
    let q = variant(
        &ivanov(),
        VariantKind::Cyrillic,
        &mut StdRng::seed_from_u64(1),
    );
    assert_eq!(q.family_name, "Кузнецов");
    assert!(q.given_names[1].chars().all(|c| !c.is_ascii_alphabetic()));
    assert_eq!(q.date_of_birth, "1980-02-29");
}

#[test]
fn arabic_variant_leaves_out_short_vowels() {
    assert_eq!(script::arabic("Mohamed"), "موهمد");
    assert_eq!(fold(&script::arabic("Ali")), "ly");
    assert_eq!(
        script::arabic("Hassan"),
        "هسن",
        "a doubled letter is written once"
    );
    let q = variant(
        &ivanov(),
        VariantKind::Arabic,
        &mut StdRng::seed_from_u64(1),
    );
    assert!(q
        .family_name
        .chars()
        .all(|c| ('\u{0600}'..='\u{06FF}').contains(&c)));
}

#[test]
fn swapped_variant_exchanges_family_and_given_names() {
    let q = variant(
        &ivanov(),
        VariantKind::Swapped,
        &mut StdRng::seed_from_u64(1),
    );
    assert_eq!(q.family_name, "Aleksandr Jiří");
    assert_eq!(q.given_names, ["KUZNETSOV"]);
}

#[test]
fn no_diacritics_variant_drops_accents_and_changes_case() {
    let q = variant(
        &ivanov(),
        VariantKind::NoDiacritics,
        &mut StdRng::seed_from_u64(1),
    );
    assert!(q.given_names[1].eq_ignore_ascii_case("jiri"), "{q:?}");
    assert!(q.family_name.eq_ignore_ascii_case("kuznetsov"));
    assert_eq!(
        script::without_diacritics("Łukasz Lefèvre"),
        "Lukasz Lefevre"
    );
}

#[test]
fn partial_date_variant_keeps_the_year_or_year_and_month() {
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..20 {
        let q = variant(&ivanov(), VariantKind::PartialDateOfBirth, &mut rng);
        assert!(
            ["1980", "1980-02"].contains(&q.date_of_birth.as_str()),
            "{q:?}"
        );
    }
}

#[test]
fn each_typo_changes_the_name_by_one_edit() {
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..50 {
        let name = "KUZNETSOV";
        let inserted = script::typo(name, Typo::Insertion, &mut rng);
        assert_eq!(inserted.len(), name.len() + 1);
        assert!(
            inserted.chars().all(|c| c.is_ascii_uppercase()),
            "{inserted}"
        );
        let deleted = script::typo(name, Typo::Deletion, &mut rng);
        assert_eq!(deleted.len(), name.len() - 1);
        let substituted = script::typo(name, Typo::Substitution, &mut rng);
        let differ = name
            .chars()
            .zip(substituted.chars())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            (substituted.len(), differ),
            (name.len(), 1),
            "{substituted}"
        );
        let transposed = script::typo(name, Typo::Transposition, &mut rng);
        let mut sorted: Vec<char> = transposed.chars().collect();
        sorted.sort_unstable();
        let mut original: Vec<char> = name.chars().collect();
        original.sort_unstable();
        assert_eq!(sorted, original);
        let differ = name
            .chars()
            .zip(transposed.chars())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differ, 2, "{transposed}");
    }
    assert_eq!(
        script::typo("A", Typo::Deletion, &mut rng),
        "A",
        "too short to err"
    );
}

#[test]
fn typo_variants_err_in_one_long_enough_name() {
    let mut rng = StdRng::seed_from_u64(9);
    for (kind, letters) in [(VariantKind::OneTypo, 4), (VariantKind::TwoTypos, 6)] {
        for _ in 0..50 {
            let recorded = ivanov();
            let q = variant(&recorded, kind, &mut rng);
            let changed: Vec<(&String, &String)> =
                std::iter::once((&recorded.family_name, &q.family_name))
                    .chain(recorded.given_names.iter().zip(&q.given_names))
                    .filter(|(a, b)| a != b)
                    .collect();
            assert!(changed.len() <= 1, "{changed:?}");
            if let Some((name, _)) = changed.first() {
                assert!(name.chars().count() >= letters);
            }
        }
    }
}
