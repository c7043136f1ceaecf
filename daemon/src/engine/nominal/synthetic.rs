//! A synthetic population for tests and the `nominal` bench (issue 13, item 4): persons of
//! several origins (French, English, East African, Arabic, Slavic) with a realistic skew (a
//! few very common names, a long tail of rare ones), dates of birth, sex and nationality;
//! and the variants of a person that a query may be (another script, swapped names, typing
//! errors, no diacritics, a partial date of birth).
//!
//! Deterministic: the same seed gives the same persons and variants. The callers seed
//! `rand::rngs::StdRng`, whose stream rand 0.8 (locked in Cargo.lock) keeps stable.

mod names;
pub mod script;
#[cfg(test)]
mod tests;

use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;

use super::Person;
pub use names::{Origin, ORIGINS};
use script::{Typo, TYPOS};

/// A synthetic person, owning its fields; [`SyntheticPerson::person`] is what is scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticPerson {
    pub family_name: String,
    pub given_names: Vec<String>,
    pub date_of_birth: String,
    pub nationalities: Vec<String>,
    pub sex: String,
}

impl SyntheticPerson {
    pub fn person(&self) -> Person<'_> {
        Person {
            family_name: &self.family_name,
            given_names: &self.given_names,
            date_of_birth: &self.date_of_birth,
            nationalities: &self.nationalities,
            sex: &self.sex,
        }
    }
}

/// Share of family names drawn from the common ones; the rest come from the long tail.
const COMMON_FAMILY: f64 = 0.5;
/// Share of given names drawn from the common ones (given names are more concentrated).
const COMMON_GIVEN: f64 = 0.85;
/// Share of persons with a second given name.
const SECOND_GIVEN: f64 = 0.2;
/// Share of persons whose sex is not recorded.
const UNKNOWN_SEX: f64 = 0.02;
/// Share of persons whose date of birth is known only to the year.
const YEAR_ONLY: f64 = 0.05;
/// Zipf exponent of the common names: the first is several times as common as the tenth.
const ZIPF: f64 = 1.0;

/// Draws synthetic persons. Build once (it holds the weight tables), draw many.
pub struct Generator {
    origins: WeightedIndex<f64>,
    family: Vec<WeightedIndex<f64>>,
    male: Vec<WeightedIndex<f64>>,
    female: Vec<WeightedIndex<f64>>,
}

impl Default for Generator {
    fn default() -> Self {
        Self::new()
    }
}

impl Generator {
    pub fn new() -> Self {
        let zipf = |n: usize| {
            // Non-empty lists of positive weights: WeightedIndex cannot refuse them.
            WeightedIndex::new((1..=n).map(|r| 1.0 / (r as f64).powf(ZIPF)))
                .expect("the name lists are not empty")
        };
        let lists = |pick: fn(&names::Names) -> usize| {
            ORIGINS
                .iter()
                .map(|o| zipf(pick(names::names(*o))))
                .collect()
        };
        Self {
            origins: WeightedIndex::new([1.0; ORIGINS.len()]).expect("five equal weights"),
            family: lists(|n| n.family.len()),
            male: lists(|n| n.male.len()),
            female: lists(|n| n.female.len()),
        }
    }

    /// One person.
    pub fn person<R: Rng + ?Sized>(&self, rng: &mut R) -> SyntheticPerson {
        let o = self.origins.sample(rng);
        let names = names::names(ORIGINS[o]);
        let sex = match rng.gen_bool(UNKNOWN_SEX) {
            true => "",
            false if rng.gen_bool(0.5) => "F",
            false => "M",
        };
        let family_name = match rng.gen_bool(COMMON_FAMILY) {
            true => names.family[self.family[o].sample(rng)].to_owned(),
            false => tail_name(names, rng),
        };
        let mut given_names = vec![self.given(o, sex, rng)];
        if rng.gen_bool(SECOND_GIVEN) {
            let second = self.given(o, sex, rng);
            if second != given_names[0] {
                given_names.push(second);
            }
        }
        let year = rng.gen_range(1940..=2008);
        let date_of_birth = match rng.gen_bool(YEAR_ONLY) {
            true => format!("{year}"),
            false => format!(
                "{year}-{:02}-{:02}",
                rng.gen_range(1..=12),
                rng.gen_range(1..=28)
            ),
        };
        // Mostly the origin's first nationality, sometimes another of its region.
        let n = names.nationalities;
        let nationality = match rng.gen_bool(0.6) {
            true => n[0],
            false => n[rng.gen_range(0..n.len())],
        };
        SyntheticPerson {
            family_name: family_name.to_uppercase(),
            given_names,
            date_of_birth,
            nationalities: vec![nationality.to_owned()],
            sex: sex.to_owned(),
        }
    }

    fn given<R: Rng + ?Sized>(&self, o: usize, sex: &str, rng: &mut R) -> String {
        let names = names::names(ORIGINS[o]);
        let female = match sex {
            "F" => true,
            "M" => false,
            _ => rng.gen_bool(0.5),
        };
        if !rng.gen_bool(COMMON_GIVEN) {
            return capitalised(&tail_name(names, rng));
        }
        match female {
            true => names.female[self.female[o].sample(rng)].to_owned(),
            false => names.male[self.male[o].sample(rng)].to_owned(),
        }
    }
}

/// `count` persons from `seed`: the same seed, the same persons.
pub fn population(seed: u64, count: usize) -> impl Iterator<Item = SyntheticPerson> {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let generator = Generator::new();
    (0..count).map(move |_| generator.person(&mut rng))
}

/// A rare name: a start, a middle and an ending of the origin's (tens of thousands of
/// combinations per origin, each drawn uniformly: the long tail).
fn tail_name<R: Rng + ?Sized>(names: &names::Names, rng: &mut R) -> String {
    let pick = |list: &[&str], rng: &mut R| list[rng.gen_range(0..list.len())].to_owned();
    let mut name = pick(names.starts, rng);
    name.push_str(&pick(names.middles, rng));
    name.push_str(&pick(names.middles, rng));
    name.push_str(&pick(names.endings, rng));
    capitalised(&name)
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// How a query differs from the recorded person it should find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantKind {
    /// Names written in Cyrillic.
    Cyrillic,
    /// Names written in Arabic script (no short vowels).
    Arabic,
    /// Family and given names swapped.
    Swapped,
    /// One typing error in one name.
    OneTypo,
    /// Two typing errors in one name.
    TwoTypos,
    /// Diacritics dropped, case changed.
    NoDiacritics,
    /// Only the year, or the year and month, of birth.
    PartialDateOfBirth,
}

pub const VARIANT_KINDS: [VariantKind; 7] = [
    VariantKind::Cyrillic,
    VariantKind::Arabic,
    VariantKind::Swapped,
    VariantKind::OneTypo,
    VariantKind::TwoTypos,
    VariantKind::NoDiacritics,
    VariantKind::PartialDateOfBirth,
];

/// Shortest name given one typing error, and two: two errors in a name of three letters make
/// another name, which no officer expects to be found.
const ONE_TYPO_LETTERS: usize = 4;
const TWO_TYPOS_LETTERS: usize = 6;

/// The query an officer elsewhere may type for `person`.
pub fn variant<R: Rng + ?Sized>(
    person: &SyntheticPerson,
    kind: VariantKind,
    rng: &mut R,
) -> SyntheticPerson {
    let mut query = person.clone();
    let all_names = |query: &mut SyntheticPerson, write: fn(&str) -> String| {
        query.family_name = write(&query.family_name);
        for given in &mut query.given_names {
            *given = write(given);
        }
    };
    match kind {
        VariantKind::Cyrillic => all_names(&mut query, script::cyrillic),
        VariantKind::Arabic => all_names(&mut query, script::arabic),
        VariantKind::NoDiacritics => {
            all_names(&mut query, script::without_diacritics);
            let case: fn(&str) -> String = match rng.gen_bool(0.5) {
                true => str::to_lowercase,
                false => str::to_uppercase,
            };
            all_names(&mut query, case);
        }
        VariantKind::Swapped => {
            let given = query.given_names.join(" ");
            query.given_names = vec![std::mem::replace(&mut query.family_name, given)];
        }
        VariantKind::OneTypo => typos(&mut query, 1, ONE_TYPO_LETTERS, rng),
        VariantKind::TwoTypos => typos(&mut query, 2, TWO_TYPOS_LETTERS, rng),
        VariantKind::PartialDateOfBirth => {
            let keep = match rng.gen_bool(0.5) {
                true => 4,
                false => 7,
            };
            query
                .date_of_birth
                .truncate(keep.min(query.date_of_birth.len()));
        }
    }
    query
}

/// `count` typing errors in one name of at least `letters` letters (the longest name if
/// none is that long).
fn typos<R: Rng + ?Sized>(query: &mut SyntheticPerson, count: usize, letters: usize, rng: &mut R) {
    let lengths = |name: &String| name.chars().filter(|c| c.is_alphabetic()).count();
    let mut names: Vec<&mut String> = std::iter::once(&mut query.family_name)
        .chain(query.given_names.iter_mut())
        .collect();
    let long: Vec<usize> = (0..names.len())
        .filter(|&n| lengths(names[n]) >= letters)
        .collect();
    let target = match long.is_empty() {
        true => (0..names.len())
            .max_by_key(|&n| lengths(names[n]))
            .unwrap_or(0),
        false => long[rng.gen_range(0..long.len())],
    };
    let Some(name) = names.get_mut(target) else {
        return;
    };
    for _ in 0..count {
        let kind: Typo = TYPOS[rng.gen_range(0..TYPOS.len())];
        **name = script::typo(name, kind, rng);
    }
}
