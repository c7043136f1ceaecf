//! An entry's JSON, written by hand into a buffer the writer keeps. It is byte for byte what
//! `serde_json::to_string(&entry)` writes (the tests compare them), without its allocations
//! and its escaping of every byte: the writer formats several entries per message at every
//! node, and `perf` of a drain put serde_json's string escaping first among the audit
//! thread's costs. Readers still parse lines with serde (`Entry`'s `Deserialize`), and the
//! chain hashes the bytes as written, so nothing depends on this matching serde_json
//! exactly; matching it keeps one format.

use std::fmt::Write as _;

use super::{Entry, Event};

impl Event {
    /// The name serde writes for the event (`rename_all = "snake_case"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Accepted => "accepted",
            Event::Relayed => "relayed",
            Event::Delivered => "delivered",
            Event::Read => "read",
            Event::Refused => "refused",
            Event::Expired => "expired",
            Event::Quarantined => "quarantined",
            Event::Released => "released",
            Event::Dropped => "dropped",
            Event::Purged => "purged",
            Event::Rerouted => "rerouted",
            Event::Queried => "queried",
        }
    }
}

/// Appends `entry` as one line of JSON (no newline) to `out`.
pub(super) fn write_json(entry: &Entry, out: &mut String) {
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "{{\"seq\":{},\"at_ms\":{},\"event\":\"{}\"",
        entry.seq,
        entry.at_ms,
        entry.event.as_str()
    );
    let fields = [
        ("message_id", &entry.message_id),
        ("origin", &entry.origin),
        ("destination", &entry.destination),
        ("kind", &entry.kind),
        ("decision", &entry.decision),
        ("rule", &entry.rule),
        ("terminal", &entry.terminal),
        ("owner", &entry.owner),
    ];
    for (name, value) in fields {
        // As `skip_serializing_if = "String::is_empty"` on the struct.
        if value.is_empty() {
            continue;
        }
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":");
        push_json_string(value, out);
    }
    out.push('}');
}

/// `text` as a JSON string. Ids, node names and kinds need no escaping and are copied as
/// they are; anything else (a peer's refusal detail) goes through serde_json.
fn push_json_string(text: &str, out: &mut String) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        // A &str always serialises.
        out.push_str(&serde_json::to_string(text).expect("a string serialises"));
    }
}
