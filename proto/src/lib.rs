//! The Bluehelm wire format.
//!
//! This crate owns everything that a Bluehelm node puts on the wire or reads from it:
//!
//! - the protobuf schema (`proto/bluehelm/v1/*.proto`), compiled at build time without a
//!   system `protoc`. The generated structs stay private: code outside this crate only ever
//!   sees the validated domain types re-exported here;
//! - identifiers ([`NodeId`], [`ServiceName`], [`GroupName`], [`MessageId`]) that cannot hold
//!   an invalid value;
//! - the [`Envelope`] (the message an origin writes once) with its [`Body`] kinds, and the
//!   [`SignedEnvelope`] that carries the exact signed bytes together with the signature of
//!   their batch, their [`BatchProof`] and the signer's certificate. [`root_signing_input`]
//!   gives the bytes to sign for a batch's Merkle root;
//! - the [`LinkFrame`]s that two adjacent nodes exchange, and their length-prefixed
//!   [`framing`] with a hard size cap checked before any allocation.
//!
//! Decoding is strict: [`Envelope::decode`], [`SignedEnvelope::decode`] and
//! [`LinkFrame::decode`] either return a fully valid value or a typed error that names the
//! offending field. Nothing a peer sends can make them panic.
//!
//! This crate does **not** do cryptography (the `pki` crate hashes the batch trees, and signs
//! and verifies the bytes given by [`root_signing_input`]), IO (no sockets, no tokio:
//! [`framing::FrameDecoder`] is a synchronous incremental decoder that an async reader
//! feeds), routing, storage or policy.
//! It does not check time either: [`Envelope::validate`] checks that an envelope is
//! well-formed, not that it is still live.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The prost-generated structs. Private: they can hold half-valid values (unspecified enums,
/// absent oneofs, ids of any length), so they are converted to domain types at this border.
#[allow(clippy::all, missing_docs, dead_code)]
pub(crate) mod pb {
    include!(concat!(env!("OUT_DIR"), "/bluehelm.v1.rs"));
    pub use crate::signed_wire::SignedEnvelope;
}

#[macro_use]
mod wire_enum;

mod body;
mod check;
mod envelope;
mod error;
pub mod framing;
mod glance;
mod ids;
pub mod limits;
mod link;
pub mod records;
mod release;
mod signed;
mod signed_wire;
pub mod testing;
#[cfg(test)]
mod wire_tests;

pub use body::{
    Attachment, Body, DeliveryReport, Diffusion, HitNotification, IdentityDocument,
    NonDeliveryReason, NonDeliveryReport, Notice, NoticeLifecycle, NoticeType, ResponseStatus,
    SealedBody, SealedKey, SealedKind, ServiceRequest, ServiceResponse, Subject, TextMessage,
    SEALED_CONTENT_KEY_LEN, SEALED_ENC_LEN, SEALED_KEY_ID_LEN, SEALED_TAG_LEN,
};
pub use check::calendar_date;
pub use envelope::{Destination, Envelope, Kind, Precedence};
pub use error::{DecodeError, ParseError, ValidationError};
pub use framing::{
    frame_len, write_frame, FrameDecoder, FrameError, DEFAULT_MAX_FRAME, HARD_MAX_FRAME,
};
pub use glance::{glance, Glance};
pub use ids::{GroupName, IdError, MessageId, NodeId, ServiceName};
pub use limits::MAX_HOP_LIMIT;
pub use link::{
    HeldPart, LinkFrame, MessageRef, PartDigest, Refusal, RefusalReason, Transfer, TransferPart,
};
pub use records::{Database, RecordChange, RecordUpload, SignedRecordChange};
pub use release::{is_mission_code, ReleaseList, ReleaseRole, MAX_MISSION_CODE_LEN};
pub use signed::{
    alone_signing_input, root_signing_input, BatchHash, BatchProof, SignedEnvelope,
    ALONE_SIGNING_DOMAIN, BATCH_HASH_LEN, ROOT_SIGNING_DOMAIN, ROOT_SIGNING_INPUT_LEN,
    SIGNATURE_LEN,
};
