//! Identifiers: node ids, service and group names, message ids.
//!
//! Each is a newtype that can only hold a valid value, so code that receives one never
//! checks it again.

use std::fmt;
use std::str::FromStr;

/// Longest node id, service name or group name, in bytes (the length of a DNS label, so that
/// a node id fits in one label of the reserved DNS name that peers dial).
pub const MAX_NAME_ID_LEN: usize = 63;

/// Why a string or byte string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The name is empty.
    #[error("{what} is empty")]
    Empty {
        /// "node id", "service name" or "group name".
        what: &'static str,
    },
    /// The name is longer than 63 bytes.
    #[error("{what} is {len} bytes long, more than {max}", max = MAX_NAME_ID_LEN)]
    TooLong {
        /// "node id", "service name" or "group name".
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The name does not start with a lower-case ASCII letter.
    #[error("{what} {value:?} does not start with a lower-case letter")]
    BadStart {
        /// "node id", "service name" or "group name".
        what: &'static str,
        /// The name.
        value: String,
    },
    /// The name holds a character other than `a-z`, `0-9`, `.` and `-`.
    #[error("{what} {value:?} contains {ch:?}; only a-z, 0-9, '.' and '-' are allowed")]
    BadChar {
        /// "node id", "service name" or "group name".
        what: &'static str,
        /// The name.
        value: String,
        /// The first character not allowed.
        ch: char,
    },
    /// The name ends with `.` or `-`.
    #[error("{what} {value:?} ends with {ch:?}")]
    BadEnd {
        /// "node id", "service name" or "group name".
        what: &'static str,
        /// The name.
        value: String,
        /// The last character.
        ch: char,
    },
    /// The name contains an empty label (`..`).
    #[error("{what} {value:?} contains \"..\"")]
    EmptyLabel {
        /// "node id", "service name" or "group name".
        what: &'static str,
        /// The name.
        value: String,
    },
    /// A message id is not exactly 16 bytes.
    #[error("message id is {0} bytes long, expected 16")]
    MessageIdLength(usize),
    /// A message id string is not 32 hexadecimal digits.
    #[error("message id {0:?} is not 32 hexadecimal digits")]
    MessageIdHex(String),
}

/// Checks the rules shared by node ids, service and group names.
fn check_name(what: &'static str, value: &str) -> Result<(), IdError> {
    let bytes = value.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return Err(IdError::Empty { what });
    };
    if bytes.len() > MAX_NAME_ID_LEN {
        return Err(IdError::TooLong {
            what,
            len: bytes.len(),
        });
    }
    if !first.is_ascii_lowercase() {
        return Err(IdError::BadStart {
            what,
            value: value.to_owned(),
        });
    }
    if let Some(ch) = value
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'))
    {
        return Err(IdError::BadChar {
            what,
            value: value.to_owned(),
            ch,
        });
    }
    if last == b'.' || last == b'-' {
        return Err(IdError::BadEnd {
            what,
            value: value.to_owned(),
            ch: char::from(last),
        });
    }
    if value.contains("..") {
        return Err(IdError::EmptyLabel {
            what,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// Defines a validated name newtype.
macro_rules! name_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        ///
        /// 1 to 63 bytes of `a-z`, `0-9`, `.` and `-`; starts with a letter; does not end with
        /// `.` or `-`; contains no `..`.
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps a name.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check_name($what, &value)?;
                Ok(Self(value))
            }

            /// The name as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The name as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;

            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_id!(
    /// The id of a node (a bureau, a hub, the general secretariat), e.g. `gs`, `ncb.fr`,
    /// `mission.unmiss`.
    NodeId,
    "node id"
);
name_id!(
    /// The name of a service that answers requests, e.g. `sltd.check`.
    ServiceName,
    "service name"
);
name_id!(
    /// The name of a group of nodes that a message fans out to, e.g. `all-ncb`.
    GroupName,
    "group name"
);

/// A message id: 48-bit big-endian Unix time in milliseconds, then 80 random bits.
///
/// Ids are unique per origin. Because the time comes first, the byte order (`Ord`) is the
/// creation order, to the millisecond. Display and FromStr use 32 hexadecimal digits
/// (lower-case when printed; either case accepted when parsed).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId([u8; 16]);

impl MessageId {
    /// The length of a message id in bytes.
    pub const LEN: usize = 16;

    /// Makes an id for a message created at `now_ms` (Unix milliseconds; only the low 48 bits
    /// are kept, which last until the year 10889).
    pub fn new(now_ms: u64, rng: &mut impl rand::RngCore) -> Self {
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&now_ms.to_be_bytes()[2..]);
        rng.fill_bytes(&mut bytes[6..]);
        Self(bytes)
    }

    /// Makes an id for a message created at `now_ms` with the thread-local random generator.
    pub fn generate(now_ms: u64) -> Self {
        Self::new(now_ms, &mut rand::thread_rng())
    }

    /// The creation time recorded in the id, Unix milliseconds.
    pub fn timestamp_ms(&self) -> u64 {
        let mut be = [0u8; 8];
        be[2..].copy_from_slice(&self.0[..6]);
        u64::from_be_bytes(be)
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Wraps 16 bytes; any other length is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        <[u8; 16]>::try_from(bytes)
            .map(Self)
            .map_err(|_| IdError::MessageIdLength(bytes.len()))
    }
}

impl From<[u8; 16]> for MessageId {
    fn from(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One write, not sixteen: ids are formatted for every audit entry (issue 14).
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 32];
        for (i, b) in self.0.iter().enumerate() {
            text[2 * i] = DIGITS[usize::from(b >> 4)];
            text[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
        }
        // ASCII hex digits only.
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

impl FromStr for MessageId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || IdError::MessageIdHex(s.to_owned());
        // Checked digit by digit: from_str_radix alone would also accept a '+' sign.
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            // The string is ASCII hex digits (checked above), so every index is a char boundary.
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Self(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn node_ids_accept_the_documented_examples() {
        for ok in ["gs", "ncb.fr", "mission.unmiss", "a", "ncb-2.x9"] {
            assert_eq!(NodeId::new(ok).unwrap().as_str(), ok);
        }
        assert!(NodeId::new("a".repeat(63)).is_ok());
    }

    #[test]
    fn node_ids_reject_each_rule_with_its_own_error() {
        let what = "node id";
        assert_eq!(NodeId::new(""), Err(IdError::Empty { what }));
        assert_eq!(
            NodeId::new("a".repeat(64)),
            Err(IdError::TooLong { what, len: 64 })
        );
        assert!(matches!(NodeId::new("1ab"), Err(IdError::BadStart { .. })));
        assert!(matches!(NodeId::new(".ab"), Err(IdError::BadStart { .. })));
        assert!(matches!(NodeId::new("-ab"), Err(IdError::BadStart { .. })));
        assert!(matches!(NodeId::new("Ncb"), Err(IdError::BadStart { .. })));
        assert!(matches!(
            NodeId::new("ncb.FR"),
            Err(IdError::BadChar { ch: 'F', .. })
        ));
        assert!(matches!(
            NodeId::new("ncb_fr"),
            Err(IdError::BadChar { ch: '_', .. })
        ));
        assert!(matches!(
            NodeId::new("ncbé"),
            Err(IdError::BadChar { ch: 'é', .. })
        ));
        assert!(matches!(
            NodeId::new("ncb."),
            Err(IdError::BadEnd { ch: '.', .. })
        ));
        assert!(matches!(
            NodeId::new("ncb-"),
            Err(IdError::BadEnd { ch: '-', .. })
        ));
        assert!(matches!(
            NodeId::new("ncb..fr"),
            Err(IdError::EmptyLabel { .. })
        ));
    }

    #[test]
    fn service_and_group_names_follow_the_same_rules() {
        assert_eq!(
            "sltd.check".parse::<ServiceName>().unwrap().to_string(),
            "sltd.check"
        );
        assert_eq!("all-ncb".parse::<GroupName>().unwrap().as_str(), "all-ncb");
        assert!(matches!(
            ServiceName::new("SLTD"),
            Err(IdError::BadStart {
                what: "service name",
                ..
            })
        ));
        assert!(matches!(
            GroupName::new("all ncb"),
            Err(IdError::BadChar {
                what: "group name",
                ch: ' ',
                ..
            })
        ));
    }

    #[test]
    fn message_id_carries_its_timestamp_and_sorts_by_time() {
        let mut rng = StdRng::seed_from_u64(7);
        let now = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        let a = MessageId::new(now, &mut rng);
        let b = MessageId::new(now + 1, &mut rng);
        assert_eq!(a.timestamp_ms(), now);
        assert_eq!(b.timestamp_ms(), now + 1);
        assert!(a < b);
        assert_ne!(a.as_bytes()[6..], b.as_bytes()[6..]);
    }

    #[test]
    fn message_id_text_form_round_trips() {
        let id = MessageId::generate(1_767_225_600_000);
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(text.parse::<MessageId>().unwrap(), id);
        assert_eq!(text.to_uppercase().parse::<MessageId>().unwrap(), id);
        assert!(matches!(
            "xyz".parse::<MessageId>(),
            Err(IdError::MessageIdHex(_))
        ));
        let plus = format!("+{}", &text[1..]);
        assert!(matches!(
            plus.parse::<MessageId>(),
            Err(IdError::MessageIdHex(_))
        ));
        let bad = format!("{}g", &text[..31]);
        assert!(matches!(
            bad.parse::<MessageId>(),
            Err(IdError::MessageIdHex(_))
        ));
        let multibyte = format!("{}é", &text[..30]);
        assert!(matches!(
            multibyte.parse::<MessageId>(),
            Err(IdError::MessageIdHex(_))
        ));
    }

    #[test]
    fn message_id_from_bytes_requires_exactly_16() {
        assert_eq!(
            MessageId::from_bytes(&[0; 15]),
            Err(IdError::MessageIdLength(15))
        );
        assert_eq!(
            MessageId::from_bytes(&[0; 17]),
            Err(IdError::MessageIdLength(17))
        );
        assert_eq!(
            MessageId::from_bytes(&[9; 16]).unwrap().as_bytes(),
            &[9; 16]
        );
    }
}
