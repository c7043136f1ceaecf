//! DNA profile matching (issue 13, item 5), the kind of rules the DNA Gateway and the Prüm
//! exchange apply. Pure: the service that answers `dna.check`, and the store of profiles,
//! come later and call [`compare`].
//!
//! A profile is a set of STR loci, each with its pair of alleles (`15,16`; a homozygote is
//! `15,15`; microvariants such as `9.3` are kept as written). Two profiles are compared on
//! the loci both have; Amelogenin (sex) is never counted. The outcome:
//! - fewer than [`MIN_LOCI_COMPARED`] loci in common: no hit, whatever they say;
//! - no mismatch, at least [`FULL_LOCI`] compared: a full match;
//! - no mismatch, fewer compared: a partial match;
//! - exactly one mismatching locus: a match with one mismatch (a typing error or a close
//!   relative: the owner confirms);
//! - more: no hit.
//!
//! A no-hit says nothing about the stored profile: not how many loci were compared or
//! matched.

use std::collections::BTreeMap;

#[cfg(test)]
mod tests;

/// The loci this network knows: the European Standard Set (12) and the CODIS core (20),
/// which overlap, and Amelogenin.
pub const LOCI: &[&str] = &[
    "AMEL", "CSF1PO", "D10S1248", "D12S391", "D13S317", "D16S539", "D18S51", "D19S433", "D1S1656",
    "D21S11", "D22S1045", "D2S1338", "D2S441", "D3S1358", "D5S818", "D7S820", "D8S1179", "FGA",
    "TH01", "TPOX", "VWA",
];

/// Fewest loci two profiles must share for any answer but no-hit (Prüm: six).
pub const MIN_LOCI_COMPARED: usize = 6;
/// Loci compared without a mismatch for a full match; fewer is a partial one.
pub const FULL_LOCI: usize = 10;

/// One profile: locus -> allele pair, smaller allele first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    loci: BTreeMap<&'static str, (String, String)>,
}

/// Why a profile's text does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("unknown locus {0:?}: use the ESS and CODIS names, e.g. D3S1358, vWA, FGA, AMEL")]
    UnknownLocus(String),
    #[error("locus {0} appears twice")]
    Repeated(&'static str),
    #[error("locus {locus}: {value:?} is not an allele pair such as 15,16 or 9.3,10")]
    BadAlleles { locus: &'static str, value: String },
    #[error("an entry {0:?} is not LOCUS=ALLELE,ALLELE")]
    BadEntry(String),
    #[error("the profile names no locus")]
    Empty,
}

/// What a comparison found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Full {
        compared: usize,
    },
    Partial {
        compared: usize,
    },
    OneMismatch {
        compared: usize,
    },
    /// Nothing more: a no-hit reveals nothing about the stored profile.
    NoHit,
}

impl Profile {
    /// Reads `D3S1358=15,16; vWA=17,17; AMEL=X,Y` (locus names in any case, entries
    /// separated by `;`).
    pub fn parse(text: &str) -> Result<Self, ProfileError> {
        let mut loci = BTreeMap::new();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, alleles) = entry
                .split_once('=')
                .ok_or_else(|| ProfileError::BadEntry(entry.chars().take(40).collect()))?;
            let name = name.trim();
            let locus = LOCI
                .iter()
                .copied()
                .find(|l| l.eq_ignore_ascii_case(name))
                .ok_or_else(|| ProfileError::UnknownLocus(name.chars().take(40).collect()))?;
            let pair = alleles
                .split_once(',')
                .map(|(a, b)| (a.trim(), b.trim()))
                .filter(|(a, b)| allele(locus, a) && allele(locus, b))
                .ok_or_else(|| ProfileError::BadAlleles {
                    locus,
                    value: alleles.chars().take(40).collect(),
                })?;
            let (a, b) = (pair.0.to_ascii_uppercase(), pair.1.to_ascii_uppercase());
            let ordered = if sort_key(&a) <= sort_key(&b) {
                (a, b)
            } else {
                (b, a)
            };
            if loci.insert(locus, ordered).is_some() {
                return Err(ProfileError::Repeated(locus));
            }
        }
        if loci.is_empty() {
            return Err(ProfileError::Empty);
        }
        Ok(Self { loci })
    }

    /// How many loci it has, Amelogenin aside.
    pub fn str_loci(&self) -> usize {
        self.loci.keys().filter(|l| **l != "AMEL").count()
    }
}

/// Compares a queried profile with a stored one (see the module doc).
pub fn compare(query: &Profile, stored: &Profile) -> Outcome {
    let mut compared = 0;
    let mut mismatches = 0;
    for (locus, pair) in query.loci.iter().filter(|(l, _)| **l != "AMEL") {
        if let Some(other) = stored.loci.get(locus) {
            compared += 1;
            if other != pair {
                mismatches += 1;
            }
        }
    }
    match (compared, mismatches) {
        (c, _) if c < MIN_LOCI_COMPARED => Outcome::NoHit,
        (c, 0) if c >= FULL_LOCI => Outcome::Full { compared: c },
        (c, 0) => Outcome::Partial { compared: c },
        (c, 1) => Outcome::OneMismatch { compared: c },
        _ => Outcome::NoHit,
    }
}

/// A repeat number (`15`, `9.3`, at most 99.9), or X/Y at Amelogenin.
fn allele(locus: &str, value: &str) -> bool {
    if locus == "AMEL" {
        return value.eq_ignore_ascii_case("X") || value.eq_ignore_ascii_case("Y");
    }
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits =
        |s: &str, max: usize| (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole, 2) && (fraction.is_empty() || digits(fraction, 1))
}

/// Orders alleles numerically (`9.3` before `10`); X before Y.
fn sort_key(allele: &str) -> (u32, u32, String) {
    let (whole, fraction) = allele.split_once('.').unwrap_or((allele, "0"));
    (
        whole.parse().unwrap_or(u32::MAX),
        fraction.parse().unwrap_or(0),
        allele.to_owned(),
    )
}
