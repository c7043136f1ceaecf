//! The message bodies: one type per message kind, mirroring the schema with validated types.
//!
//! Conversions from the wire check structure (identifiers, enums, required sub-messages);
//! each type's `validate` checks sizes and formats, and is called by
//! [`crate::Envelope::validate`].

mod hit;
mod notice;
mod report;
mod sealed;
mod service;
mod subject;
mod text;

pub use hit::HitNotification;
pub use notice::{Diffusion, Notice, NoticeLifecycle, NoticeType};
pub use report::{DeliveryReport, NonDeliveryReason, NonDeliveryReport};
pub use sealed::{
    SealedBody, SealedKey, SealedKind, SEALED_CONTENT_KEY_LEN, SEALED_ENC_LEN, SEALED_KEY_ID_LEN,
    SEALED_TAG_LEN,
};
pub use service::{ResponseStatus, ServiceRequest, ServiceResponse};
pub use subject::{IdentityDocument, Subject};
pub use text::{Attachment, TextMessage};

use crate::envelope::Kind;
use crate::error::ValidationError;
use crate::pb;
use crate::records::RecordUpload;

/// The content of an envelope. Its variant is the message's [`Kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A notice or a step in its lifecycle.
    Notice(Notice),
    /// A diffusion: a bureau's direct alert to other bureaus.
    Diffusion(Diffusion),
    /// A free-text message with optional attachments.
    Text(TextMessage),
    /// A query to a service, such as a check against the stolen and lost travel documents
    /// database.
    Request(ServiceRequest),
    /// A service's answer to a request.
    Response(ServiceResponse),
    /// The destination took a message into its inbox.
    DeliveryReport(DeliveryReport),
    /// A message will not be delivered.
    NonDeliveryReport(NonDeliveryReport),
    /// A record owned by the destination was queried and matched (issue 12, item 4).
    HitNotification(HitNotification),
    /// An owner's signed record changes on their way to the hub (issue 13).
    RecordUpload(RecordUpload),
    /// A diffusion or text message encrypted to its recipients (issue 14, item 4). Its kind
    /// is the kind of the body inside.
    Sealed(SealedBody),
}

impl Body {
    /// Whether the body is sealed: only its recipients can read it.
    pub fn is_sealed(&self) -> bool {
        matches!(self, Body::Sealed(_))
    }

    /// The kind of message this body makes.
    pub fn kind(&self) -> Kind {
        match self {
            Body::Notice(_) => Kind::Notice,
            Body::Diffusion(_) => Kind::Diffusion,
            Body::Text(_) => Kind::Text,
            Body::Request(_) => Kind::Request,
            Body::Response(_) => Kind::Response,
            Body::DeliveryReport(_) => Kind::DeliveryReport,
            Body::NonDeliveryReport(_) => Kind::NonDeliveryReport,
            Body::HitNotification(_) => Kind::HitNotification,
            Body::RecordUpload(_) => Kind::RecordUpload,
            Body::Sealed(s) => s.kind.kind(),
        }
    }

    /// Checks the body's sizes and formats.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Body::Notice(b) => b.validate(),
            Body::Diffusion(b) => b.validate(),
            Body::Text(b) => b.validate(),
            Body::Request(b) => b.validate(),
            Body::Response(b) => b.validate(),
            Body::DeliveryReport(b) => b.validate(),
            Body::NonDeliveryReport(b) => b.validate(),
            Body::HitNotification(b) => b.validate(),
            Body::RecordUpload(b) => b.validate(),
            Body::Sealed(b) => b.validate(),
        }
    }

    pub(crate) fn to_pb(&self) -> pb::envelope::Body {
        use pb::envelope::Body as P;
        match self {
            Body::Notice(b) => P::Notice(b.to_pb()),
            Body::Diffusion(b) => P::Diffusion(b.to_pb()),
            Body::Text(b) => P::Text(b.to_pb()),
            Body::Request(b) => P::Request(b.to_pb()),
            Body::Response(b) => P::Response(b.to_pb()),
            Body::DeliveryReport(b) => P::DeliveryReport(b.to_pb()),
            Body::NonDeliveryReport(b) => P::NonDeliveryReport(b.to_pb()),
            Body::HitNotification(b) => P::HitNotification(b.to_pb()),
            Body::RecordUpload(b) => P::RecordUpload(b.to_pb()),
            Body::Sealed(b) => P::Sealed(b.to_pb()),
        }
    }

    pub(crate) fn from_pb(body: pb::envelope::Body) -> Result<Self, ValidationError> {
        use pb::envelope::Body as P;
        Ok(match body {
            P::Notice(b) => Body::Notice(Notice::from_pb(b)?),
            P::Diffusion(b) => Body::Diffusion(Diffusion::from_pb(b)?),
            P::Text(b) => Body::Text(TextMessage::from_pb(b)),
            P::Request(b) => Body::Request(ServiceRequest::from_pb(b)?),
            P::Response(b) => Body::Response(ServiceResponse::from_pb(b)?),
            P::DeliveryReport(b) => Body::DeliveryReport(DeliveryReport::from_pb(b)?),
            P::NonDeliveryReport(b) => Body::NonDeliveryReport(NonDeliveryReport::from_pb(b)?),
            P::HitNotification(b) => Body::HitNotification(HitNotification::from_pb(b)?),
            P::RecordUpload(b) => Body::RecordUpload(RecordUpload::from_pb(b)?),
            P::Sealed(b) => Body::Sealed(SealedBody::from_pb(b)?),
        })
    }
}
