//! Release markings ("REL TO", issue 12 item 2): the data owner's list of who may see a
//! message. It travels inside the signed envelope, so no relay can widen or drop it.
//!
//! A list names countries (ISO 3166-1 alpha-2, e.g. `FR`), mission codes (e.g. `UNMISS`) and
//! roles (`hub`, `ncb`, `mission`). Who a list admits is the node's decision
//! (`engine/release.rs` in the daemon), from certificates: an NCB whose country is listed, a
//! mission post whose mission is listed, any node whose role is listed, and the hub always.
//! An envelope without a list is releasable to the whole network.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::error::{ParseError, ValidationError};
use crate::limits::MAX_LIST_LEN;
use crate::pb;

/// The longest mission code (the same bound as a certificate's mission attribute).
pub const MAX_MISSION_CODE_LEN: usize = 32;

/// A role a release list can name. Terminals are no nodes: they read through their home
/// node, which must itself be released to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReleaseRole {
    /// The hub (always admitted; naming it changes nothing, but is allowed).
    Hub,
    /// Every national central bureau.
    Ncb,
    /// Every mission post.
    Mission,
}

impl ReleaseRole {
    /// Every role, in the order they are printed.
    pub const ALL: [ReleaseRole; 3] = [ReleaseRole::Hub, ReleaseRole::Ncb, ReleaseRole::Mission];

    /// The word used on the wire, in config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseRole::Hub => "hub",
            ReleaseRole::Ncb => "ncb",
            ReleaseRole::Mission => "mission",
        }
    }

    fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == word)
    }

    /// As [`ReleaseRole::from_word`], in any case: what a person typed (`NCB` is the role,
    /// never a mission code; the CA refuses mission codes that are role words).
    fn from_typed(word: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(word))
    }
}

/// Who a message may be released to. Never empty: "no marking" is the absence of a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ReleaseList {
    /// ISO 3166-1 alpha-2 codes, upper case.
    pub countries: BTreeSet<String>,
    /// Mission codes, upper case.
    pub missions: BTreeSet<String>,
    /// Roles.
    pub roles: BTreeSet<ReleaseRole>,
}

impl ReleaseList {
    /// How many entries the list has.
    pub fn len(&self) -> usize {
        self.countries.len() + self.missions.len() + self.roles.len()
    }

    /// Whether the list names nobody (never valid on the wire).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a mission code is listed (codes compare without regard to case).
    pub fn names_mission(&self, code: &str) -> bool {
        self.missions.iter().any(|m| m.eq_ignore_ascii_case(code))
    }

    /// Whether a country is listed.
    pub fn names_country(&self, code: &str) -> bool {
        self.countries.iter().any(|c| c.eq_ignore_ascii_case(code))
    }

    /// Checks the rules of the wire format: at most [`MAX_LIST_LEN`] entries, at least one;
    /// countries of two upper-case letters; mission codes of 3 to 32 upper-case letters,
    /// digits or `-` (two letters would read as a country).
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.is_empty() {
            return Err(ValidationError::Empty {
                field: "release_to",
            });
        }
        crate::check::max_count("release_to", self.len(), MAX_LIST_LEN)?;
        for country in &self.countries {
            crate::check::country("release_to.countries", country)?;
        }
        for mission in &self.missions {
            if !is_mission_code(mission) {
                return Err(ValidationError::BadMissionCode {
                    value: mission.chars().take(40).collect(),
                });
            }
        }
        Ok(())
    }

    pub(crate) fn to_pb(&self) -> pb::ReleaseList {
        pb::ReleaseList {
            countries: self.countries.iter().cloned().collect(),
            missions: self.missions.iter().cloned().collect(),
            roles: self.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        }
    }

    pub(crate) fn from_pb(list: pb::ReleaseList) -> Result<Self, ValidationError> {
        let count = list.countries.len() + list.missions.len() + list.roles.len();
        // Bounded before anything is collected: a peer's list of a million entries costs
        // nothing more than its decoding did.
        crate::check::max_count("release_to", count, MAX_LIST_LEN)?;
        let mut roles = BTreeSet::new();
        for word in &list.roles {
            let role = ReleaseRole::from_word(word).ok_or_else(|| {
                ValidationError::UnknownReleaseRole {
                    value: word.chars().take(40).collect(),
                }
            })?;
            roles.insert(role);
        }
        let release = Self {
            countries: list.countries.into_iter().collect(),
            missions: list.missions.into_iter().collect(),
            roles,
        };
        release.validate()?;
        Ok(release)
    }
}

/// Whether `code` is a valid mission code in a release list: 3 to 32 upper-case ASCII
/// letters, digits or `-`.
pub fn is_mission_code(code: &str) -> bool {
    (3..=MAX_MISSION_CODE_LEN).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

impl fmt::Display for ReleaseList {
    /// `FR,KE,UNMISS,ncb`: countries, then missions, then roles; the form `FromStr` reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = self
            .countries
            .iter()
            .map(String::as_str)
            .chain(self.missions.iter().map(String::as_str))
            .chain(self.roles.iter().map(|r| r.as_str()));
        for (n, word) in words.enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            f.write_str(word)?;
        }
        Ok(())
    }
}

impl FromStr for ReleaseList {
    type Err = ParseError;

    /// Reads `FR,KE,UNMISS,ncb`: a role word (`hub`, `ncb`, `mission`) is a role, two letters
    /// are a country, anything else a mission code. Letters are taken in either case (`fr`,
    /// `unmiss`, `NCB`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut list = ReleaseList::default();
        for token in s.split(',').map(str::trim) {
            let bad = |why: &str| ParseError::Invalid {
                what: "release list",
                value: token.to_owned(),
                why: why.to_owned(),
            };
            if token.is_empty() {
                return Err(bad(
                    "an empty entry: separate entries with single commas, e.g. FR,KE,UNMISS",
                ));
            }
            if let Some(role) = ReleaseRole::from_typed(token) {
                list.roles.insert(role);
                continue;
            }
            let upper = token.to_ascii_uppercase();
            if upper.len() == 2 && upper.bytes().all(|b| b.is_ascii_uppercase()) {
                list.countries.insert(upper);
            } else if is_mission_code(&upper) {
                list.missions.insert(upper);
            } else {
                return Err(bad(
                    "not a country (two letters such as FR), a mission code (3 to 32 letters, \
                     digits or -, such as UNMISS) or a role (hub, ncb, mission)",
                ));
            }
        }
        if list.len() > MAX_LIST_LEN {
            return Err(ParseError::Invalid {
                what: "release list",
                value: format!("{} entries", list.len()),
                why: format!("at most {MAX_LIST_LEN} entries"),
            });
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_countries_missions_and_roles_in_either_case() {
        let list: ReleaseList = "FR, ke,UNMISS,minusma,NCB".parse().unwrap();
        assert_eq!(list.to_string(), "FR,KE,MINUSMA,UNMISS,ncb");
        assert!(list.validate().is_ok());
        assert!(list.names_mission("unmiss"));
        assert!(list.names_country("ke"));
    }

    #[test]
    fn refuses_empty_entries_and_bad_words() {
        for bad in ["", "FR,,KE", "F", "UN MISS", "x!", &"A".repeat(33)] {
            assert!(bad.parse::<ReleaseList>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn the_wire_form_is_strict() {
        let ok = pb::ReleaseList {
            countries: vec!["FR".into()],
            missions: vec!["UNMISS".into()],
            roles: vec!["ncb".into()],
        };
        assert!(ReleaseList::from_pb(ok.clone()).is_ok());
        let cases = [
            pb::ReleaseList::default(),
            pb::ReleaseList {
                countries: vec!["fr".into()],
                ..ok.clone()
            },
            pb::ReleaseList {
                missions: vec!["UN".into()],
                ..ok.clone()
            },
            pb::ReleaseList {
                missions: vec!["unmiss".into()],
                ..ok.clone()
            },
            pb::ReleaseList {
                roles: vec!["terminal".into()],
                ..ok.clone()
            },
            pb::ReleaseList {
                countries: vec!["FR".into(); MAX_LIST_LEN + 1],
                ..ok
            },
        ];
        for case in cases {
            assert!(ReleaseList::from_pb(case.clone()).is_err(), "{case:?}");
        }
    }
}
