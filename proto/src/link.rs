//! Frames exchanged between two adjacent nodes: custody transfer and liveness.
//!
//! A stream starts with [`LinkFrame::Open`], which says the precedence it carries; the
//! sender then offers messages with [`LinkFrame::Transfer`] and the receiver answers with
//! [`LinkFrame::Accepted`] (it now holds them durably) or [`LinkFrame::Refused`].
//! [`LinkFrame::Crl`] carries a CRL on a stream of its own (revocation in-band, issue 14).
//! A large Transfer may go as [`LinkFrame::TransferPart`]s instead, and the receiver's
//! [`LinkFrame::PartsHeld`] says what it kept of copies cut off earlier (issue 15, item 6).

use std::fmt;

use bytes::Bytes;
use prost::Message as _;

use crate::check;
use crate::envelope::Precedence;
use crate::error::{DecodeError, ValidationError};
use crate::framing::HARD_MAX_FRAME;
use crate::ids::{MessageId, NodeId};
use crate::limits::{
    MAX_ACCEPTED_REFS, MAX_ADDRESSEES, MAX_CRL_LEN, MAX_DETAIL_LEN, MAX_HELD_PARTS, MAX_HOP_LIMIT,
    MAX_PART_LEN, PART_DIGEST_LEN,
};
use crate::pb;
use crate::records::{SyncBatch, SyncRequest};
use crate::signed::SignedEnvelope;

/// Identifies a message network-wide: message ids are unique per origin.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageRef {
    /// The node that wrote the message.
    pub origin: NodeId,
    /// Its id.
    pub id: MessageId,
}

impl MessageRef {
    pub(crate) fn to_pb(&self) -> pb::MessageRef {
        pb::MessageRef {
            origin: self.origin.as_str().to_owned(),
            message_id: self.id.as_bytes().to_vec(),
        }
    }

    fn from_pb(r: pb::MessageRef) -> Result<Self, ValidationError> {
        Ok(MessageRef {
            origin: check::node_id("message_ref.origin", r.origin)?,
            id: check::message_id("message_ref.message_id", &r.message_id)?,
        })
    }
}

impl fmt::Display for MessageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.origin, self.id)
    }
}

/// One message offered for custody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The message, as its origin signed it.
    pub envelope: SignedEnvelope,
    /// Relay hops already taken, incremented by each relay; must stay below the envelope's
    /// hop limit (the receiver checks that after decoding the envelope).
    pub hops: u8,
    /// Final recipients resolved by a group or service fan-out on the way; empty when the
    /// envelope's own destination says where the message goes. Set by relays, so unsigned.
    pub recipients: Vec<NodeId>,
}

impl Transfer {
    /// Encodes the Transfer message alone (no LinkFrame around it): the whole that
    /// [`TransferPart`]s carry.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        self.to_pb().encode_to_vec()
    }

    /// Decodes and validates a Transfer reassembled from [`TransferPart`]s, by the rules of
    /// a Transfer frame.
    pub fn decode(bytes: &[u8]) -> Result<Transfer, DecodeError> {
        Ok(Self::from_pb(pb::Transfer::decode(bytes)?)?)
    }

    fn to_pb(&self) -> pb::Transfer {
        pb::Transfer {
            envelope: Some(self.envelope.to_pb()),
            hops: u32::from(self.hops),
            recipients: self
                .recipients
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
        }
    }

    fn from_pb(t: pb::Transfer) -> Result<Transfer, ValidationError> {
        let envelope = t.envelope.ok_or(ValidationError::Missing {
            field: "transfer.envelope",
        })?;
        // No envelope may allow more than MAX_HOP_LIMIT hops, so a larger count is
        // malformed whatever the envelope says.
        let hops = u8::try_from(t.hops)
            .ok()
            .filter(|&h| h <= MAX_HOP_LIMIT)
            .ok_or(ValidationError::HopCount(t.hops))?;
        check::max_count("transfer.recipients", t.recipients.len(), MAX_ADDRESSEES)?;
        let recipients = check::node_ids("transfer.recipients", t.recipients)?;
        Ok(Transfer {
            envelope: SignedEnvelope::from_pb(envelope)?,
            hops,
            recipients,
        })
    }
}

/// The SHA-256 digest of a whole encoded Transfer sent in parts.
pub type PartDigest = [u8; PART_DIGEST_LEN];

/// A byte range of one encoded [`Transfer`] (issue 15, item 6). Its bytes are checked to lie
/// within `total_len`; whether they fit what the receiver holds is the receiver's to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferPart {
    /// The message the whole Transfer carries.
    pub message: MessageRef,
    /// SHA-256 of the whole encoded Transfer.
    pub digest: PartDigest,
    /// Length of the whole, 1..=[`HARD_MAX_FRAME`].
    pub total_len: u32,
    /// Where `data` starts in the whole.
    pub offset: u32,
    /// 1..=[`MAX_PART_LEN`] bytes of the whole.
    pub data: Vec<u8>,
}

/// What a receiver holds of one copy it got only part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPart {
    /// The message.
    pub message: MessageRef,
    /// The copy's digest, as its parts said.
    pub digest: PartDigest,
    /// The receiver holds bytes `0..held_len` of the copy (at least 1).
    pub held_len: u32,
}

wire_enum! {
    /// Why a receiver did not take custody. See [`RefusalReason::is_permanent`].
    pub enum RefusalReason: pb::RefusalReason, "refusal reason" {
        /// The message does not decode or breaks a rule of the protocol.
        Malformed = "malformed" => Malformed,
        /// The signature does not verify.
        BadSignature = "bad-signature" => BadSignature,
        /// The signer's certificate is not trusted (unknown issuer, revoked, expired, or its
        /// node id differs from the origin).
        UntrustedSigner = "untrusted-signer" => UntrustedSigner,
        /// The message has expired.
        Expired = "expired" => Expired,
        /// The message has used up its hop limit.
        HopLimit = "hop-limit" => HopLimit,
        /// The receiver knows no route to the destination.
        NoRoute = "no-route" => NoRoute,
        /// The message's precedence differs from the stream's.
        WrongStream = "wrong-stream" => WrongStream,
        /// The role policy forbids its signer to send it there; the detail names the rule
        /// (issue 12).
        Policy = "policy" => Policy,
        /// The receiver holds too much from this sender or origin; retry later.
        QuotaExceeded = "quota-exceeded" => QuotaExceeded,
        /// The receiver cannot write to its store now; retry later.
        StorageUnavailable = "storage-unavailable" => StorageUnavailable,
    }
}

impl RefusalReason {
    /// Whether retrying can never help: the sender should give up on this message via this
    /// peer. Temporary reasons (quota, storage) call for a retry with backoff.
    pub fn is_permanent(self) -> bool {
        !matches!(
            self,
            RefusalReason::QuotaExceeded | RefusalReason::StorageUnavailable
        )
    }
}

/// The receiver did not take custody of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The message refused.
    pub message: MessageRef,
    /// Why.
    pub reason: RefusalReason,
    /// A diagnostic for people, at most [`MAX_DETAIL_LEN`] bytes.
    pub detail: String,
}

/// A frame between two adjacent nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkFrame {
    /// First frame of a stream: the precedence of every transfer on it.
    Open {
        /// The stream's precedence class.
        precedence: Precedence,
    },
    /// Take custody of this message, please.
    Transfer(Transfer),
    /// These messages are now held durably by the receiver (at least one).
    Accepted(Vec<MessageRef>),
    /// This message was not taken.
    Refused(Refusal),
    /// Are you there? Carries a nonce to echo.
    Ping(u64),
    /// Answer to a ping, echoing its nonce.
    Pong(u64),
    /// First frame of a replica's sync stream (issue 13).
    SyncRequest(SyncRequest),
    /// The hub's next batch on a sync stream.
    SyncBatch(SyncBatch),
    /// The DER of a CRL, unverified: the receiver checks it with its CA (issue 14). Not
    /// empty, at most [`MAX_CRL_LEN`] bytes.
    Crl(Vec<u8>),
    /// A part of a large Transfer, on an offer stream (issue 15, item 6).
    TransferPart(TransferPart),
    /// The first answer on every offer stream: what the receiver holds of copies this
    /// sender did not finish sending (at most [`MAX_HELD_PARTS`]).
    PartsHeld(Vec<HeldPart>),
}

impl LinkFrame {
    /// Encodes as protobuf (without the length prefix; see [`crate::framing`]).
    pub fn encode_to_vec(&self) -> Vec<u8> {
        self.to_pb().encode_to_vec()
    }

    /// The encoded length in bytes, without encoding.
    pub fn encoded_len(&self) -> usize {
        self.to_pb().encoded_len()
    }

    /// Decodes and validates a frame. A transfer's envelope is checked for shape only: it is
    /// decoded after its signature is verified.
    pub fn decode(bytes: &[u8]) -> Result<LinkFrame, DecodeError> {
        Ok(Self::from_pb(pb::LinkFrame::decode(bytes)?)?)
    }

    /// [`LinkFrame::decode`] of a frame that has a buffer of its own: a transfer's envelope
    /// and signer certificate share `frame`'s memory instead of being copied out of it.
    pub fn decode_shared(frame: Bytes) -> Result<LinkFrame, DecodeError> {
        Ok(Self::from_pb(pb::LinkFrame::decode(frame)?)?)
    }

    pub(crate) fn to_pb(&self) -> pb::LinkFrame {
        use pb::link_frame::Frame;
        let frame = match self {
            LinkFrame::Open { precedence } => Frame::Open(pb::StreamOpen {
                precedence: precedence.to_pb(),
            }),
            LinkFrame::Transfer(t) => Frame::Transfer(t.to_pb()),
            LinkFrame::Accepted(refs) => Frame::Accepted(pb::CustodyAccepted {
                refs: refs.iter().map(MessageRef::to_pb).collect(),
            }),
            LinkFrame::Refused(r) => Frame::Refused(pb::CustodyRefused {
                r#ref: Some(r.message.to_pb()),
                reason: r.reason.to_pb(),
                detail: r.detail.clone(),
            }),
            LinkFrame::Ping(nonce) => Frame::Ping(pb::Ping { nonce: *nonce }),
            LinkFrame::Pong(nonce) => Frame::Pong(pb::Pong { nonce: *nonce }),
            LinkFrame::SyncRequest(r) => Frame::SyncRequest(r.to_pb()),
            LinkFrame::SyncBatch(b) => Frame::SyncBatch(b.to_pb()),
            LinkFrame::Crl(der) => Frame::Crl(pb::CrlUpdate { der: der.clone() }),
            LinkFrame::TransferPart(p) => Frame::TransferPart(pb::TransferPart {
                r#ref: Some(p.message.to_pb()),
                digest: p.digest.to_vec(),
                total_len: p.total_len,
                offset: p.offset,
                data: p.data.clone(),
            }),
            LinkFrame::PartsHeld(held) => Frame::PartsHeld(pb::PartsHeld {
                parts: held
                    .iter()
                    .map(|h| pb::HeldPart {
                        r#ref: Some(h.message.to_pb()),
                        digest: h.digest.to_vec(),
                        held_len: h.held_len,
                    })
                    .collect(),
            }),
        };
        pb::LinkFrame { frame: Some(frame) }
    }

    fn from_pb(f: pb::LinkFrame) -> Result<Self, ValidationError> {
        use pb::link_frame::Frame;
        let frame = f.frame.ok_or(ValidationError::Missing { field: "frame" })?;
        Ok(match frame {
            Frame::Open(o) => LinkFrame::Open {
                precedence: Precedence::from_pb(o.precedence, "open.precedence")?,
            },
            Frame::Transfer(t) => LinkFrame::Transfer(Transfer::from_pb(t)?),
            Frame::Accepted(a) => {
                if a.refs.is_empty() {
                    return Err(ValidationError::NoEntries {
                        field: "accepted.refs",
                    });
                }
                check::max_count("accepted.refs", a.refs.len(), MAX_ACCEPTED_REFS)?;
                let refs = a.refs.into_iter().map(MessageRef::from_pb);
                LinkFrame::Accepted(refs.collect::<Result<_, _>>()?)
            }
            Frame::Refused(r) => {
                let message = r.r#ref.ok_or(ValidationError::Missing {
                    field: "refused.ref",
                })?;
                check::max_len("refused.detail", r.detail.len(), MAX_DETAIL_LEN)?;
                LinkFrame::Refused(Refusal {
                    message: MessageRef::from_pb(message)?,
                    reason: RefusalReason::from_pb(r.reason, "refused.reason")?,
                    detail: r.detail,
                })
            }
            Frame::Ping(p) => LinkFrame::Ping(p.nonce),
            Frame::Pong(p) => LinkFrame::Pong(p.nonce),
            Frame::SyncRequest(r) => LinkFrame::SyncRequest(SyncRequest::from_pb(r)?),
            Frame::SyncBatch(b) => LinkFrame::SyncBatch(SyncBatch::from_pb(b)?),
            Frame::Crl(c) => {
                if c.der.is_empty() {
                    return Err(ValidationError::Missing { field: "crl.der" });
                }
                check::max_len("crl.der", c.der.len(), MAX_CRL_LEN)?;
                LinkFrame::Crl(c.der)
            }
            Frame::TransferPart(p) => LinkFrame::TransferPart(part_from_pb(p)?),
            Frame::PartsHeld(h) => {
                check::max_count("parts_held.parts", h.parts.len(), MAX_HELD_PARTS)?;
                let held = h.parts.into_iter().map(held_from_pb);
                LinkFrame::PartsHeld(held.collect::<Result<_, _>>()?)
            }
        })
    }
}

fn digest(field: &'static str, bytes: &[u8]) -> Result<PartDigest, ValidationError> {
    bytes.try_into().map_err(|_| ValidationError::BadLength {
        field,
        len: bytes.len(),
        expected: PART_DIGEST_LEN,
    })
}

fn part_from_pb(p: pb::TransferPart) -> Result<TransferPart, ValidationError> {
    let message = p.r#ref.ok_or(ValidationError::Missing {
        field: "transfer_part.ref",
    })?;
    let total = usize::try_from(p.total_len).unwrap_or(usize::MAX);
    if total == 0 {
        return Err(ValidationError::Empty {
            field: "transfer_part.total_len",
        });
    }
    check::max_len("transfer_part.total_len", total, HARD_MAX_FRAME)?;
    if p.data.is_empty() {
        return Err(ValidationError::Empty {
            field: "transfer_part.data",
        });
    }
    check::max_len("transfer_part.data", p.data.len(), MAX_PART_LEN)?;
    let end = u64::from(p.offset) + p.data.len() as u64;
    if end > u64::from(p.total_len) {
        return Err(ValidationError::PartOutOfRange {
            offset: u64::from(p.offset),
            end,
            total: p.total_len,
        });
    }
    Ok(TransferPart {
        message: MessageRef::from_pb(message)?,
        digest: digest("transfer_part.digest", &p.digest)?,
        total_len: p.total_len,
        offset: p.offset,
        data: p.data,
    })
}

fn held_from_pb(h: pb::HeldPart) -> Result<HeldPart, ValidationError> {
    let message = h.r#ref.ok_or(ValidationError::Missing {
        field: "parts_held.ref",
    })?;
    if h.held_len == 0 {
        return Err(ValidationError::Empty {
            field: "parts_held.held_len",
        });
    }
    Ok(HeldPart {
        message: MessageRef::from_pb(message)?,
        digest: digest("parts_held.digest", &h.digest)?,
        held_len: h.held_len,
    })
}
