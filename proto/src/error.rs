//! Errors of validation, decoding and parsing.
//!
//! Every variant names the field that is wrong, using the schema's field names, so that a
//! refusal sent back to a peer or a log line says exactly what to fix.

use crate::envelope::{Destination, Kind};
use crate::ids::{IdError, ServiceName};

/// A value that is well-typed but breaks a rule of the protocol. Decoding reports these for
/// what a peer sent; [`crate::Envelope::validate`] reports them for what we are about to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A required message field or oneof is absent.
    #[error("{field} is missing")]
    Missing {
        /// The absent field.
        field: &'static str,
    },
    /// A required string or bytes field is empty.
    #[error("{field} is empty")]
    Empty {
        /// The empty field.
        field: &'static str,
    },
    /// An enum field holds its `UNSPECIFIED` value, which is never valid on the wire.
    #[error("{field} is unspecified")]
    Unspecified {
        /// The enum field.
        field: &'static str,
    },
    /// An enum field holds a number this version does not know.
    #[error("{field} has unknown value {value}")]
    UnknownEnumValue {
        /// The enum field.
        field: &'static str,
        /// The number received.
        value: i32,
    },
    /// A field meant to hold an identifier does not hold a valid one.
    #[error("{field} is not valid: {source}")]
    BadId {
        /// The identifier field.
        field: &'static str,
        /// What is wrong with it.
        source: IdError,
    },
    /// A field holds a byte string of the wrong length.
    #[error("{field} is {len} bytes long, expected {expected}")]
    BadLength {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The only length allowed.
        expected: usize,
    },
    /// A string or bytes field is longer than its limit (see [`crate::limits`]).
    #[error("{field} is {len} bytes long, more than the limit of {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A repeated or map field has more entries than its limit (see [`crate::limits`]).
    #[error("{field} has {count} entries, more than the limit of {max}")]
    TooMany {
        /// The field.
        field: &'static str,
        /// Its number of entries.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A repeated field that must hold at least one entry is empty.
    #[error("{field} has no entries")]
    NoEntries {
        /// The field.
        field: &'static str,
    },
    /// A one-line text field holds a control character (a line break, an escape): it is
    /// shown to people in other bureaus, on one line.
    #[error("{field} holds a control character: give one line of plain text")]
    ControlCharacter {
        /// The field.
        field: &'static str,
    },
    /// A country field is not an ISO 3166-1 alpha-2 code (two upper-case ASCII letters).
    #[error("{field} is not an ISO 3166-1 alpha-2 country code: {value:?}")]
    BadCountryCode {
        /// The field.
        field: &'static str,
        /// The value received.
        value: String,
    },
    /// A date field is neither empty nor an ISO 8601 calendar date that exists
    /// (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`).
    #[error("{field} is not a calendar date (YYYY, YYYY-MM or YYYY-MM-DD, a day that exists): {value:?}")]
    BadDate {
        /// The field.
        field: &'static str,
        /// The value received.
        value: String,
    },
    /// A date field that names a day is neither empty nor a `YYYY-MM-DD` date that exists.
    #[error("{field} is not a calendar date YYYY-MM-DD (a day that exists): {value:?}")]
    BadFullDate {
        /// The field.
        field: &'static str,
        /// The value received.
        value: String,
    },
    /// A timestamp is before the Unix epoch.
    #[error("{field} is negative ({value})")]
    NegativeTime {
        /// The field.
        field: &'static str,
        /// The value received.
        value: i64,
    },
    /// The envelope expires at or before the moment it was created.
    #[error("expires_at_ms ({expires_at_ms}) is not later than created_at_ms ({created_at_ms})")]
    ExpiresBeforeCreated {
        /// Creation time, Unix milliseconds.
        created_at_ms: i64,
        /// Expiry time, Unix milliseconds.
        expires_at_ms: i64,
    },
    /// The envelope's hop limit is outside `1..=MAX_HOP_LIMIT`.
    #[error("hop_limit {0} is outside 1..={max}", max = crate::limits::MAX_HOP_LIMIT)]
    HopLimit(u32),
    /// A transfer part's bytes do not lie within the copy it is a part of.
    #[error("transfer_part bytes {offset}..{end} lie beyond total_len {total}")]
    PartOutOfRange {
        /// Where the part starts.
        offset: u64,
        /// Where it ends.
        end: u64,
        /// The length of the whole copy.
        total: u32,
    },
    /// A signed envelope's batch has no leaves or more than
    /// [`MAX_BATCH_TREE_SIZE`](crate::limits::MAX_BATCH_TREE_SIZE) (issue 16, item 1).
    #[error("signed_envelope.tree_size {0} is outside 1..={max}", max = crate::limits::MAX_BATCH_TREE_SIZE)]
    TreeSize(u64),
    /// A signed envelope's leaf index is not below its batch's tree size.
    #[error("signed_envelope.leaf_index {index} is not below tree_size {tree_size}")]
    LeafIndex {
        /// The leaf index received.
        index: u64,
        /// The tree size received.
        tree_size: u64,
    },
    /// A transfer says it has taken more hops than any envelope may allow.
    #[error("transfer.hops {0} is more than the maximum hop limit {max}", max = crate::limits::MAX_HOP_LIMIT)]
    HopCount(u32),
    /// A service request names another service than the one it is addressed to.
    #[error("request is for service {body} but is addressed to {destination}")]
    ServiceMismatch {
        /// The service named in the request body.
        body: ServiceName,
        /// The envelope's destination.
        destination: Destination,
    },
    /// A message of this kind cannot go to this kind of destination.
    #[error("a {kind} cannot be addressed to {destination}: it must go to {expected}")]
    WrongDestination {
        /// The message's kind.
        kind: Kind,
        /// The envelope's destination.
        destination: Destination,
        /// What it must be addressed to.
        expected: &'static str,
    },
    /// A response or report does not say which message it answers.
    #[error("a {0} needs a correlation_id")]
    MissingCorrelation(Kind),
    /// A report asks for a delivery report, which would make reports about reports.
    #[error("a {0} must not ask for a delivery report")]
    ReportOnReport(Kind),
    /// A release list names a mission code that is not 3 to 32 upper-case letters, digits
    /// or `-`.
    #[error("release_to names mission {value:?}: use 3 to 32 upper-case letters, digits or -")]
    BadMissionCode {
        /// The code received (cut to 40 characters).
        value: String,
    },
    /// A release list names a role other than `hub`, `ncb` or `mission`.
    #[error("release_to names role {value:?}: use hub, ncb or mission")]
    UnknownReleaseRole {
        /// The word received (cut to 40 characters).
        value: String,
    },
    /// A release list on a kind that does not take one (only notices, diffusions and text
    /// messages carry their owner's marking).
    #[error("a {0} carries no release list: only notices, diffusions and text messages do")]
    ReleaseNotAllowed(Kind),
    /// A sealed body names one recipient twice (issue 14, item 4).
    #[error("sealed.keys names recipient {0} twice")]
    DuplicateRecipient(crate::ids::NodeId),
    /// A bytes field is shorter than its least length.
    #[error("{field} is {len} bytes long, less than the least {min}")]
    TooShort {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The least length allowed.
        min: usize,
    },
    /// A notice that is requested or published carries no subject.
    #[error("a {0} notice needs a subject")]
    NoticeWithoutSubject(crate::body::NoticeLifecycle),
    /// A name from a fixed list (a database) is not on it.
    #[error("{field} names no known database: {value:?} (sltd, smv, persons or dna)")]
    BadName {
        /// The field.
        field: &'static str,
        /// The name given (truncated).
        value: String,
    },
    /// A record change's `withdrawn` and `record` disagree.
    #[error("record_change: a withdrawal carries no record, and any other change carries one")]
    WithdrawalRecord,
    /// A sync batch's sequence numbers are out of order.
    #[error(
        "sync_batch: after_seq {after} <= through_seq {through} <= head_seq {head} does not hold"
    )]
    SyncSequence {
        /// The batch's start.
        after: u64,
        /// The batch's end.
        through: u64,
        /// The hub's head.
        head: u64,
    },
}

/// Why bytes received from a peer are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a protobuf encoding of the expected message.
    #[error("malformed protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// The bytes decode, but the message breaks a rule of the protocol.
    #[error("invalid message: {0}")]
    Invalid(#[from] ValidationError),
}

/// Why a string given by a person or a configuration file does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The string is not one of the names this type knows.
    #[error("unknown {what} {value:?}")]
    Unknown {
        /// The type being parsed, e.g. "precedence".
        what: &'static str,
        /// The string given.
        value: String,
    },
    /// The string holds an identifier that is not valid.
    #[error(transparent)]
    Id(#[from] IdError),
    /// The string is not valid for the type, for the reason given.
    #[error("{what} entry {value:?}: {why}")]
    Invalid {
        /// The type being parsed, e.g. "release list".
        what: &'static str,
        /// The part of the string at fault.
        value: String,
        /// What is wrong and what to write instead.
        why: String,
    },
}
