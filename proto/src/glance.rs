//! A first look at a stored signed envelope: its kind, whether it answers another message,
//! and a text's subject line, read from the bytes without decoding or copying them.
//!
//! A destination's API dispatcher looks at every message that enters the inbox, to act on
//! the few that are its business (reports, responses, requests, notices); the application
//! then reads the same messages. Decoding each envelope twice was a tenth of a destination's
//! CPU in a flood of text messages (`perf`, issue 16). A glance tells the plain ones apart.
//!
//! It reads the protobuf wire format field by field, as `envelope.proto` lays it out. Where
//! the bytes hold anything a glance is not sure of (a field twice, where protobuf would merge
//! or let the last one win; a sealed body; a wire type the schema does not give the field),
//! it gives up, and the caller decodes the envelope in full as before.

use prost::encoding::{self, WireType};

use crate::envelope::Kind;

/// What a glance saw of an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Glance<'a> {
    /// The body's kind (never a sealed body's: a glance gives up on those).
    pub kind: Kind,
    /// Whether the envelope carries a correlation id (it answers or follows up a message).
    pub correlated: bool,
    /// A text message's subject line; `None` for other kinds.
    pub subject_line: Option<&'a str>,
}

// `SignedEnvelope.envelope`.
const SIGNED_ENVELOPE: u32 = 1;
// `Envelope.correlation_id`.
const CORRELATION_ID: u32 = 7;
// `TextMessage.subject_line`.
const SUBJECT_LINE: u32 = 1;
// `Envelope.body`'s cases.
const NOTICE: u32 = 20;
const SEALED: u32 = 29;
const TEXT: u32 = 22;

/// A glance at the encoded `SignedEnvelope` `signed` (as a node stores it); `None` when the
/// bytes are not plain enough to be sure (see the module's doc): decode them then.
pub fn glance(signed: &[u8]) -> Option<Glance<'_>> {
    let envelope = only_field(signed, SIGNED_ENVELOPE)?;
    let mut correlated = None;
    let mut body = None;
    for field in Fields(envelope) {
        let (tag, value) = field?;
        match (tag, value) {
            (CORRELATION_ID, Value::Bytes(id)) if correlated.is_none() => {
                correlated = Some(!id.is_empty());
            }
            (NOTICE..=SEALED, Value::Bytes(bytes)) if body.is_none() => body = Some((tag, bytes)),
            (CORRELATION_ID | NOTICE..=SEALED, _) => return None,
            _ => {}
        }
    }
    let (case, bytes) = body?;
    let kind = kind_of(case)?;
    let subject_line = match kind {
        Kind::Text => Some(std::str::from_utf8(only_field(bytes, SUBJECT_LINE)?).ok()?),
        _ => None,
    };
    Some(Glance {
        kind,
        correlated: correlated.unwrap_or(false),
        subject_line,
    })
}

/// The body case's kind; `None` for a sealed body, whose kind is inside it.
fn kind_of(case: u32) -> Option<Kind> {
    Some(match case {
        20 => Kind::Notice,
        21 => Kind::Diffusion,
        TEXT => Kind::Text,
        23 => Kind::Request,
        24 => Kind::Response,
        25 => Kind::DeliveryReport,
        26 => Kind::NonDeliveryReport,
        27 => Kind::HitNotification,
        28 => Kind::RecordUpload,
        _ => return None,
    })
}

/// The bytes of length-delimited field `tag` of message `bytes`, if it occurs exactly once
/// and nothing in the message is malformed; an absent field is `Some(&[])`, its default.
fn only_field(bytes: &[u8], tag: u32) -> Option<&[u8]> {
    let mut found = None;
    for field in Fields(bytes) {
        match field? {
            (t, Value::Bytes(value)) if t == tag && found.is_none() => found = Some(value),
            (t, _) if t == tag => return None,
            _ => {}
        }
    }
    Some(found.unwrap_or(&[]))
}

enum Value<'a> {
    Bytes(&'a [u8]),
    /// A varint or fixed-size number: skipped.
    Number,
}

/// A message's fields in wire order; `None` for bytes that do not parse (and then no more).
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Option<(u32, Value<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let field = self.field();
        if field.is_none() {
            self.0 = &[];
        }
        Some(field)
    }
}

impl<'a> Fields<'a> {
    /// One field, read with prost's own key and varint decoders, so a glance refuses what
    /// prost refuses.
    fn field(&mut self) -> Option<(u32, Value<'a>)> {
        let (tag, wire_type) = encoding::decode_key(&mut self.0).ok()?;
        let value = match wire_type {
            WireType::Varint => {
                encoding::decode_varint(&mut self.0).ok()?;
                Value::Number
            }
            WireType::SixtyFourBit => {
                self.take(8)?;
                Value::Number
            }
            WireType::LengthDelimited => {
                let len = usize::try_from(encoding::decode_varint(&mut self.0).ok()?).ok()?;
                Value::Bytes(self.take(len)?)
            }
            WireType::ThirtyTwoBit => {
                self.take(4)?;
                Value::Number
            }
            // Not in the schema.
            WireType::StartGroup | WireType::EndGroup => return None,
        };
        Some((tag, value))
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(head)
    }
}

#[cfg(test)]
#[path = "glance_tests.rs"]
mod tests;
