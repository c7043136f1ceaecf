//! Nominal matching (issue 13, item 4): how close a recorded person is to the person asked
//! about. Pure: the index that picks candidates, and the service that answers, come later
//! and call [`rank`].
//!
//! Names in any script are transliterated to Latin (`deunicode`: Cyrillic, Greek, Arabic and
//! others), then folded: lower case, diacritics gone, anything but letters a word break. Family
//! and given names are compared with Jaro-Winkler similarity, both ways round (a clerk may
//! have swapped them). The score is in 0..=1; at or above [`POSSIBLE_MATCH`] a candidate is a
//! possible match. Sex, nationality and date of birth filter: a candidate whose recorded value
//! contradicts the query's is no candidate, while a value missing on either side passes.

pub mod index;
pub mod phonetic;
pub mod synthetic;
#[cfg(test)]
mod tests;

/// The documented threshold for "possible match" (docs/bureau-guide.md): a typo or two in
/// a name of ordinary length stays above it, another person's name falls below.
pub const POSSIBLE_MATCH: f64 = 0.85;

/// The family name's share of a name's score; the given names have the rest.
const FAMILY_WEIGHT: f64 = 0.6;
/// What swapping family and given names costs: a straight match of equal similarity ranks
/// first.
const SWAP_PENALTY: f64 = 0.02;
/// What comparing consonant codes instead of spellings costs, for a name written in another
/// script: the same code is a likely match, never a certain one (محمد is Mohamed, Muhammad or
/// Mahmud).
const UNVOCALISED_PENALTY: f64 = 0.03;

/// A person as asked about, or as recorded. Empty fields are unknown.
#[derive(Debug, Clone, Copy, Default)]
pub struct Person<'a> {
    pub family_name: &'a str,
    pub given_names: &'a [String],
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, or empty.
    pub date_of_birth: &'a str,
    /// ISO 3166-1 alpha-2 codes.
    pub nationalities: &'a [String],
    pub sex: &'a str,
}

/// Why a candidate matched, for the officer reading the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The names are the same as written.
    SameName,
    /// The names are the same once transliterated and folded (script, case, diacritics).
    SameFoldedName,
    /// Family and given names are swapped.
    Swapped,
    /// The names differ by typing errors or variant spellings.
    SimilarName,
    /// The dates of birth are the same day.
    SameDateOfBirth,
    /// The dates of birth agree as far as the less precise one goes (`1980` and `1980-02-29`).
    CompatibleDateOfBirth,
}

/// A candidate's score and the reasons for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub score: f64,
    pub reasons: Vec<Reason>,
}

/// Latin lower-case words, separated by single spaces: `"Müller-Lüdenscheidt"` becomes
/// `"muller ludenscheidt"`, `"Иванов"` becomes `"ivanov"`.
pub fn fold(name: &str) -> String {
    let latin = deunicode::deunicode(name).to_ascii_lowercase();
    latin
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Scores `candidate` against `query`; `None` when a filter rules it out.
pub fn score(query: &Person<'_>, candidate: &Person<'_>) -> Option<Match> {
    Query::new(*query).score(candidate)
}

/// A query folded and coded once, to score many candidates: folding (a transliteration)
/// costs more than the comparison itself, and an index scan scores thousands of entries.
pub struct Query<'q> {
    asked: Person<'q>,
    names: Names,
    transliterated: bool,
}

/// A side's names, folded, and their consonant codes when a script change calls for them.
struct Names {
    family: String,
    given: String,
}

impl Names {
    fn of(person: &Person<'_>) -> Self {
        Self {
            family: fold(person.family_name),
            given: fold(&person.given_names.join(" ")),
        }
    }

    fn codes(&self) -> (String, String) {
        (phonetic::code(&self.family), phonetic::code(&self.given))
    }
}

impl<'q> Query<'q> {
    pub fn new(asked: Person<'q>) -> Self {
        let transliterated = names_written(&asked).any(phonetic::transliterated);
        Self {
            names: Names::of(&asked),
            asked,
            transliterated,
        }
    }

    /// Scores a candidate as recorded (names in any script).
    pub fn score(&self, candidate: &Person<'_>) -> Option<Match> {
        let date = self.filters(candidate)?;
        let transliterated = names_written(candidate).any(phonetic::transliterated);
        Some(self.score_names(candidate, &Names::of(candidate), transliterated, date))
    }

    /// Scores a candidate whose names are already folded (an index entry): the same score as
    /// [`Self::score`] on those names, without folding them again.
    pub fn score_folded(&self, candidate: &Person<'_>) -> Option<Match> {
        let date = self.filters(candidate)?;
        let names = Names {
            family: candidate.family_name.to_owned(),
            given: candidate.given_names.join(" "),
        };
        Some(self.score_names(candidate, &names, false, date))
    }

    /// `None` when sex, nationality or date of birth rule the candidate out; else what the
    /// dates say.
    fn filters(&self, candidate: &Person<'_>) -> Option<Option<Reason>> {
        let query = &self.asked;
        if contradicts(query.sex, candidate.sex) {
            return None;
        }
        if !query.nationalities.is_empty()
            && !candidate.nationalities.is_empty()
            && !query.nationalities.iter().any(|n| {
                candidate
                    .nationalities
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(n))
            })
        {
            return None;
        }
        dates_of_birth(query.date_of_birth, candidate.date_of_birth)
    }

    fn score_names(
        &self,
        candidate: &Person<'_>,
        c: &Names,
        candidate_transliterated: bool,
        date: Option<Reason>,
    ) -> Match {
        let (query, q) = (&self.asked, &self.names);
        let mut straight = names(&q.family, &q.given, &c.family, &c.given);
        let mut swapped = names(&q.family, &q.given, &c.given, &c.family) - SWAP_PENALTY;
        // Transliteration is lossy: Arabic script leaves short vowels out ("محمد" comes back
        // from deunicode as `mhmd`, which no spelling comparison brings near "Mohamed"), and a
        // Cyrillic "Джохн" comes back as `dzhokhn`. Names in another script are compared on
        // their consonant codes as well (issue 13: names in any script).
        if self.transliterated || candidate_transliterated {
            let ((q_family, q_given), (c_family, c_given)) = (q.codes(), c.codes());
            let penalty = UNVOCALISED_PENALTY;
            straight = straight.max(names(&q_family, &q_given, &c_family, &c_given) - penalty);
            swapped = swapped
                .max(names(&q_family, &q_given, &c_given, &c_family) - penalty - SWAP_PENALTY);
        }
        let mut reasons = Vec::new();
        let score = if swapped > straight {
            reasons.push(Reason::Swapped);
            swapped
        } else if q.family == c.family && q.given == c.given {
            let as_written = query.family_name == candidate.family_name
                && query.given_names == candidate.given_names;
            reasons.push(match as_written {
                true => Reason::SameName,
                false => Reason::SameFoldedName,
            });
            straight
        } else {
            straight
        };
        if score < 1.0 && !reasons.contains(&Reason::SameFoldedName) {
            reasons.push(Reason::SimilarName);
        }
        reasons.extend(date);
        Match {
            score: score.clamp(0.0, 1.0),
            reasons,
        }
    }
}

/// A person's names as written.
fn names_written<'a>(person: &'a Person<'_>) -> impl Iterator<Item = &'a str> {
    std::iter::once(person.family_name).chain(person.given_names.iter().map(String::as_str))
}

/// The candidates that are possible matches, best first, each with its index in
/// `candidates`. Equal scores keep the candidates' order.
pub fn rank<'a>(
    query: &Person<'_>,
    candidates: impl IntoIterator<Item = Person<'a>>,
) -> Vec<(usize, Match)> {
    let query = Query::new(*query);
    let mut found: Vec<(usize, Match)> = candidates
        .into_iter()
        .enumerate()
        .filter_map(|(n, c)| query.score(&c).map(|m| (n, m)))
        .filter(|(_, m)| m.score >= POSSIBLE_MATCH)
        .collect();
    found.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    found
}

/// The similarity of two names (family and given, folded). Given names count only when
/// both sides have them.
fn names(q_family: &str, q_given: &str, c_family: &str, c_given: &str) -> f64 {
    let family = strsim::jaro_winkler(q_family, c_family);
    if q_given.is_empty() || c_given.is_empty() {
        return family;
    }
    FAMILY_WEIGHT * family + (1.0 - FAMILY_WEIGHT) * strsim::jaro_winkler(q_given, c_given)
}

fn contradicts(asked: &str, recorded: &str) -> bool {
    !asked.is_empty() && !recorded.is_empty() && !asked.eq_ignore_ascii_case(recorded)
}

/// `None` if the dates contradict; else what they say (nothing when one is unknown).
fn dates_of_birth(asked: &str, recorded: &str) -> Option<Option<Reason>> {
    if asked.is_empty() || recorded.is_empty() {
        return Some(None);
    }
    let common = asked.len().min(recorded.len());
    if asked.get(..common) != recorded.get(..common) {
        return None;
    }
    Some(Some(match asked.len() == recorded.len() {
        true => Reason::SameDateOfBirth,
        false => Reason::CompatibleDateOfBirth,
    }))
}
