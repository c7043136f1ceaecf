//! Frames exchanged between two adjacent nodes: custody transfer and liveness.
//!
//! A stream starts with [`LinkFrame::Open`], which says the precedence it carries; the
//! sender then offers messages with [`LinkFrame::Transfer`] and the receiver answers with
//! [`LinkFrame::Accepted`] (it now holds them durably) or [`LinkFrame::Refused`].
//! [`LinkFrame::Crl`] carries a CRL on a stream of its own (revocation in-band, issue 14).

use std::fmt;

use prost::Message as _;

use crate::check;
use crate::envelope::Precedence;
use crate::error::{DecodeError, ValidationError};
use crate::ids::{MessageId, NodeId};
use crate::limits::{
    MAX_ACCEPTED_REFS, MAX_ADDRESSEES, MAX_CRL_LEN, MAX_DETAIL_LEN, MAX_HOP_LIMIT,
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

    pub(crate) fn to_pb(&self) -> pb::LinkFrame {
        use pb::link_frame::Frame;
        let frame = match self {
            LinkFrame::Open { precedence } => Frame::Open(pb::StreamOpen {
                precedence: precedence.to_pb(),
            }),
            LinkFrame::Transfer(t) => Frame::Transfer(pb::Transfer {
                envelope: Some(t.envelope.to_pb()),
                hops: u32::from(t.hops),
                recipients: t.recipients.iter().map(|r| r.as_str().to_owned()).collect(),
            }),
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
            Frame::Transfer(t) => {
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
                LinkFrame::Transfer(Transfer {
                    envelope: SignedEnvelope::from_pb(envelope)?,
                    hops,
                    recipients,
                })
            }
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
        })
    }
}
