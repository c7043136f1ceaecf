//! Times for people (issue 10): ISO 8601 to the second, never seconds since 1970. Output for
//! the operator at this machine shows its local zone (`2026-12-01T23:05:17+01:00`); text that
//! crosses borders (a notification to another bureau) shows UTC (`2026-12-01T22:05:17Z`).
//!
//! jiff reads the zone itself (the `TZ` variable, else `/etc/localtime`). The `time` crate
//! asks libc instead, which it refuses to do once a process has a second thread (tokio's
//! runtime): its local offset is unreliable in this program. jiff also applies the offset in
//! force at each instant (summer time), not today's.

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// `2026-12-01T23:05:17+01:00` in the local zone; `@<ms>` for a time out of range.
pub fn local_from_ms(unix_ms: i64) -> String {
    shown(Timestamp::from_millisecond(unix_ms), unix_ms, local)
}

/// As [`local_from_ms`], from Unix seconds (certificate and CRL times).
pub fn local_from_secs(unix_secs: i64) -> String {
    shown(Timestamp::from_second(unix_secs), unix_secs, local)
}

/// `2026-12-01T22:05:17Z` (RFC 3339, UTC); `@<ms>` for a time out of range.
pub fn utc_from_ms(unix_ms: i64) -> String {
    shown(Timestamp::from_millisecond(unix_ms), unix_ms, utc)
}

/// As [`utc_from_ms`], from Unix seconds.
pub fn utc_from_secs(unix_secs: i64) -> String {
    shown(Timestamp::from_second(unix_secs), unix_secs, utc)
}

/// A time out of jiff's range (year -9999..=9999) is shown as the raw number, not an error:
/// it came from a peer or a file, and the rest of the output is still worth printing.
fn shown(t: Result<Timestamp, jiff::Error>, raw: i64, form: fn(Timestamp) -> String) -> String {
    t.map(form).unwrap_or_else(|_| format!("@{raw}"))
}

fn local(t: Timestamp) -> String {
    t.to_zoned_datetime(TimeZone::system())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

fn utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_is_rfc_3339_to_the_second() {
        assert_eq!(utc_from_ms(1_764_626_717_999), "2025-12-01T22:05:17Z");
        assert_eq!(utc_from_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_from_secs(i64::MAX), format!("@{}", i64::MAX));
    }

    #[test]
    fn local_time_carries_its_offset() {
        let text = local_from_secs(1_764_626_717);
        // The offset depends on the machine's zone; its shape does not.
        let (_, offset) = text.split_at(19);
        assert!(offset.len() == 6 && offset.as_bytes()[3] == b':', "{text}");
        assert_eq!(&text[..11], &local_from_ms(1_764_626_717_000)[..11]);
    }
}
