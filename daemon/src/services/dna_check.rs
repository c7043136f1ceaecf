//! `dna.check` (issue 13 item 5), pure: the request's `profile` (as engine/dna.rs reads it)
//! against the stored profiles the caller supplies. The caller sends the answer and
//! notifies each named record's owner of the hit.
//!
//! A hit's fields name the best hit at the top level, as sltd.check's do: `owner_bureau`,
//! `reference` (the owner's id for the profile), `match` (`full`, `partial` or
//! `one_mismatch`), `loci_compared`, `loci_matched`, `case_reference` (when the owner gave
//! one), `reported_at`, `instructions`, and `hits` (how many stored profiles matched). The
//! same profile may be held by several bureaus: hits 2 to [`MAX_HITS`] follow as
//! `hit.N.owner_bureau`, `hit.N.reference`, `hit.N.match`, `hit.N.loci_compared` and
//! `hit.N.loci_matched`. Full matches rank first, then partial ones, then those with one
//! mismatch; more loci compared first; then by key.
//!
//! A no-hit is the status, no field, and the detail `no hit`: nothing about how many
//! profiles were searched, compared, or came close (issue 13 item 5).

#[cfg(test)]
mod tests;

use std::borrow::Borrow;
use std::collections::BTreeMap;

use bluehelm_proto::ResponseStatus;

use super::answer::{Answer, Best, Fields, Named};
use super::dna_record::{DnaRecord, MAX_PROFILE_LEN};
use super::record;
use crate::engine::dna::{self, Outcome, Profile};
use crate::engine::policy::Party;

/// The one parameter `dna.check` reads.
pub const PROFILE_PARAM: &str = "profile";
/// Most hits an answer names: beyond a handful, the owners are asked anyway.
pub const MAX_HITS: usize = 10;
/// The detail of every no-hit, the same whatever is stored.
pub const NO_HIT_DETAIL: &str = "no hit";

/// Reads a request's `profile`; a profile with too few loci to compare with anything is
/// refused here rather than answered with a no-hit that would mean nothing.
pub fn query(params: &BTreeMap<String, String>) -> Result<Profile, String> {
    if let Some(unknown) = params.keys().find(|k| *k != PROFILE_PARAM) {
        return Err(format!(
            "unknown parameter {:?}; dna.check reads {PROFILE_PARAM}",
            super::owned::clip(unknown)
        ));
    }
    let text = params.get(PROFILE_PARAM).map_or("", |v| v.trim());
    if text.is_empty() {
        return Err(format!(
            "give {PROFILE_PARAM}, e.g. D3S1358=15,16; vWA=17,18; FGA=21,22; ..."
        ));
    }
    if text.len() > MAX_PROFILE_LEN {
        return Err(format!(
            "{PROFILE_PARAM} is longer than {MAX_PROFILE_LEN} bytes"
        ));
    }
    let profile = Profile::parse(text).map_err(|e| format!("{PROFILE_PARAM}: {e}"))?;
    if profile.str_loci() < dna::MIN_LOCI_COMPARED {
        return Err(format!(
            "{PROFILE_PARAM}: {} STR loci, fewer than the {} a comparison needs (Amelogenin \
             does not count)",
            profile.str_loci(),
            dna::MIN_LOCI_COMPARED
        ));
    }
    Ok(profile)
}

/// Answers a request's parameters from `candidates`: [`query`] then [`answer`], or an
/// error answer saying what is wrong with the request.
pub fn check<'r>(
    params: &BTreeMap<String, String>,
    candidates: impl IntoIterator<Item = &'r DnaRecord>,
    requester: Party<'_>,
) -> Answer {
    match query(params) {
        Ok(profile) => answer(&profile, candidates, requester),
        Err(detail) => Answer::error(detail),
    }
}

/// [`answer_parsed`] over records whose profiles are read here. A stored profile that no
/// longer reads (written by another version) is passed over, as a record not released to
/// the requester is.
pub fn answer<'r>(
    query: &Profile,
    candidates: impl IntoIterator<Item = &'r DnaRecord>,
    requester: Party<'_>,
) -> Answer {
    let parsed = candidates
        .into_iter()
        .filter_map(|r| r.profile().ok().map(|p| (r, p)));
    answer_parsed(query, parsed, requester)
}

/// The hits among `candidates` (each record with its profile, for a caller that keeps them
/// read) that their owners released to `requester`. Memory is bounded by [`MAX_HITS`].
pub fn answer_parsed<'r, P: Borrow<Profile>>(
    query: &Profile,
    candidates: impl IntoIterator<Item = (&'r DnaRecord, P)>,
    requester: Party<'_>,
) -> Answer {
    let mut best: Best<(Hit, String, &DnaRecord)> = Best::new(MAX_HITS);
    for (candidate, profile) in candidates {
        if !record::released_to(&candidate.release_to, requester) {
            continue;
        }
        let Some(hit) = Hit::of(dna::compare(query, profile.borrow())) else {
            continue;
        };
        best.offer(
            (hit, candidate.key(), candidate),
            |(a, a_key, _), (b, b_key, _)| (a.rank(), a_key) < (b.rank(), b_key),
        );
    }
    let hits = best.offered;
    let best = best.into_vec();
    let Some((top, top_key, top_record)) = best.first() else {
        return Answer {
            status: ResponseStatus::NoHit,
            fields: BTreeMap::new(),
            detail: NO_HIT_DETAIL.to_owned(),
            named: Vec::new(),
        };
    };
    let more = match hits {
        1 => String::new(),
        n => format!(", and {} more hit(s)", n - 1),
    };
    let detail = format!(
        "hit: {} ({top_key}), {} match on {} of {} loci{more}; {}",
        top_record.describe(),
        top.name(),
        top.matched,
        top.compared,
        top_record.instructions
    );
    let mut fields = Fields::default();
    fields.put("hits".into(), &hits.to_string());
    fields.put("reported_at".into(), &top_record.reported_at);
    fields.put("instructions".into(), &top_record.instructions);
    if !top_record.case_reference.is_empty() {
        fields.put("case_reference".into(), &top_record.case_reference);
    }
    let mut named = Vec::with_capacity(best.len());
    for (n, (hit, key, candidate)) in (1..).zip(&best) {
        let prefix = if n == 1 {
            String::new()
        } else {
            format!("hit.{n}.")
        };
        fields.put(format!("{prefix}owner_bureau"), &candidate.owner_bureau);
        fields.put(format!("{prefix}reference"), &candidate.id);
        fields.put(format!("{prefix}match"), hit.name());
        fields.put(format!("{prefix}loci_compared"), &hit.compared.to_string());
        fields.put(format!("{prefix}loci_matched"), &hit.matched.to_string());
        named.push(Named {
            key: key.clone(),
            owner_bureau: candidate.owner_bureau.clone(),
            record: candidate.describe(),
        });
    }
    Answer {
        status: ResponseStatus::Hit,
        fields: fields.into_map(),
        detail: super::answer::one_line(&detail, bluehelm_proto::limits::MAX_DETAIL_LEN),
        named,
    }
}

/// A comparison that is a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hit {
    outcome: Outcome,
    compared: usize,
    matched: usize,
}

impl Hit {
    fn of(outcome: Outcome) -> Option<Self> {
        let (compared, matched) = match outcome {
            Outcome::Full { compared } | Outcome::Partial { compared } => (compared, compared),
            Outcome::OneMismatch { compared } => (compared, compared.saturating_sub(1)),
            Outcome::NoHit => return None,
        };
        Some(Self {
            outcome,
            compared,
            matched,
        })
    }

    /// Smaller ranks first: the kind of match, then more loci compared.
    fn rank(&self) -> (u8, std::cmp::Reverse<usize>) {
        let kind = match self.outcome {
            Outcome::Full { .. } => 0,
            Outcome::Partial { .. } => 1,
            _ => 2,
        };
        (kind, std::cmp::Reverse(self.compared))
    }

    fn name(&self) -> &'static str {
        match self.outcome {
            Outcome::Full { .. } => "full",
            Outcome::Partial { .. } => "partial",
            _ => "one_mismatch",
        }
    }
}
