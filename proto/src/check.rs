//! Small checks shared by the validation of every message type.

use std::collections::BTreeMap;

use crate::error::ValidationError;
use crate::ids::{IdError, MessageId, NodeId};
use crate::limits::{MAX_MAP_ENTRIES, MAX_NAME_LEN, MAX_TEXT_LEN};

/// The string or bytes is at most `max` bytes long.
pub(crate) fn max_len(field: &'static str, len: usize, max: usize) -> Result<(), ValidationError> {
    if len > max {
        return Err(ValidationError::TooLong { field, len, max });
    }
    Ok(())
}

/// The string is not empty and at most `max` bytes long.
pub(crate) fn required(field: &'static str, s: &str, max: usize) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    max_len(field, s.len(), max)
}

/// The repeated field has at most `max` entries.
pub(crate) fn max_count(
    field: &'static str,
    count: usize,
    max: usize,
) -> Result<(), ValidationError> {
    if count > max {
        return Err(ValidationError::TooMany { field, count, max });
    }
    Ok(())
}

/// Every string of a repeated field is at most `max_each` bytes; at most `max` entries.
pub(crate) fn list(
    field: &'static str,
    items: &[String],
    max: usize,
    max_each: usize,
) -> Result<(), ValidationError> {
    max_count(field, items.len(), max)?;
    items
        .iter()
        .try_for_each(|s| max_len(field, s.len(), max_each))
}

/// A map of names to text: non-empty names, bounded sizes.
pub(crate) fn map(
    field: &'static str,
    entries: &BTreeMap<String, String>,
) -> Result<(), ValidationError> {
    max_count(field, entries.len(), MAX_MAP_ENTRIES)?;
    for (key, value) in entries {
        required(field, key, MAX_NAME_LEN)?;
        max_len(field, value.len(), MAX_TEXT_LEN)?;
    }
    Ok(())
}

/// At most `max` bytes and no control characters: one line of text shown to people.
pub(crate) fn one_line(field: &'static str, s: &str, max: usize) -> Result<(), ValidationError> {
    max_len(field, s.len(), max)?;
    if s.chars().any(char::is_control) {
        return Err(ValidationError::ControlCharacter { field });
    }
    Ok(())
}

/// An ISO 3166-1 alpha-2 code: exactly two upper-case ASCII letters.
pub(crate) fn country(field: &'static str, s: &str) -> Result<(), ValidationError> {
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) {
        return Ok(());
    }
    Err(ValidationError::BadCountryCode {
        field,
        value: truncated(s),
    })
}

/// Empty, or an ISO 8601 calendar date, possibly partial: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`
/// (a date of birth is often known only to the year or month; issue 12 item 5). The date must
/// exist in the proleptic Gregorian calendar: `1980-02-30`, `1981-02-29` and month `13` are
/// refused, `1984-02-29` is taken. Whether it lies in the future needs a clock, so the node
/// checks that where the date enters (the API), not here.
pub(crate) fn date(field: &'static str, s: &str) -> Result<(), ValidationError> {
    if s.is_empty() || calendar_date(s).is_some() {
        return Ok(());
    }
    Err(ValidationError::BadDate {
        field,
        value: truncated(s),
    })
}

/// Empty, or a whole calendar date `YYYY-MM-DD` that exists: a validity end names a day,
/// never only a year or a month.
pub(crate) fn full_date(field: &'static str, s: &str) -> Result<(), ValidationError> {
    if s.is_empty() || (s.len() == 10 && calendar_date(s).is_some()) {
        return Ok(());
    }
    Err(ValidationError::BadFullDate {
        field,
        value: truncated(s),
    })
}

/// The first day a possibly partial date (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`) can mean, if it
/// is one: `1980` is 1980-01-01, `1980-02` is 1980-02-01.
pub fn calendar_date(s: &str) -> Option<jiff::civil::Date> {
    let b = s.as_bytes();
    // Only read as numbers once the shape (ASCII digits at fixed places) is known, so that
    // no sign, space or other digit form gets through `parse`.
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let number = |r: std::ops::Range<usize>| s.get(r).and_then(|n| n.parse::<i8>().ok());
    let shape_ok = match b.len() {
        4 => digits(0..4),
        7 => digits(0..4) && b[4] == b'-' && digits(5..7),
        10 => digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10),
        _ => false,
    };
    if !shape_ok {
        return None;
    }
    let year: i16 = s.get(0..4)?.parse().ok()?;
    let month = if b.len() >= 7 { number(5..7)? } else { 1 };
    let day = if b.len() == 10 { number(8..10)? } else { 1 };
    // Year 0000 is no one's year of birth or report; jiff checks month and day lengths.
    if year < 1 {
        return None;
    }
    jiff::civil::Date::new(year, month, day).ok()
}

/// Unix milliseconds not before the epoch.
pub(crate) fn time(field: &'static str, value: i64) -> Result<(), ValidationError> {
    if value < 0 {
        return Err(ValidationError::NegativeTime { field, value });
    }
    Ok(())
}

/// Parses a node id received in `field`.
pub(crate) fn node_id(field: &'static str, s: String) -> Result<NodeId, ValidationError> {
    NodeId::new(s).map_err(|source| ValidationError::BadId { field, source })
}

/// Parses a list of node ids received in `field`.
pub(crate) fn node_ids(
    field: &'static str,
    v: Vec<String>,
) -> Result<Vec<NodeId>, ValidationError> {
    v.into_iter().map(|s| node_id(field, s)).collect()
}

/// Parses a message id received in `field`.
pub(crate) fn message_id(field: &'static str, b: &[u8]) -> Result<MessageId, ValidationError> {
    MessageId::from_bytes(b).map_err(|source| ValidationError::BadId { field, source })
}

/// Wraps an id error for `field`.
pub(crate) fn bad_id(field: &'static str) -> impl FnOnce(IdError) -> ValidationError {
    move |source| ValidationError::BadId { field, source }
}

/// A bounded copy of a bad value for an error message: a peer must not be able to make us
/// log megabytes.
fn truncated(s: &str) -> String {
    s.chars().take(32).collect()
}
