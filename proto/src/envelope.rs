//! The envelope: the unit an origin writes once and relays never change.

use std::fmt;
use std::str::FromStr;

use prost::Message as _;

use crate::body::Body;
use crate::check;
use crate::error::{DecodeError, ParseError, ValidationError};
use crate::ids::{GroupName, MessageId, NodeId, ServiceName};
use crate::limits::MAX_HOP_LIMIT;
use crate::link::MessageRef;
use crate::pb;
use crate::release::ReleaseList;

wire_enum! {
    /// How urgent a message is. Queues and links serve `Flash` before `Immediate` before
    /// `Priority` before `Routine`; `Ord` follows that order, so the most urgent sorts first,
    /// and [`Precedence::ALL`] lists the values in serving order.
    pub enum Precedence: pb::Precedence, "precedence" {
        /// Life or safety at stake now (e.g. an imminent threat).
        Flash = "flash" => Flash,
        /// Needs action within the hour (e.g. a subject at a border post).
        Immediate = "immediate" => Immediate,
        /// Needs action today.
        Priority = "priority" => Priority,
        /// Everything else.
        Routine = "routine" => Routine,
    }
}

impl Precedence {
    /// The serving rank: 0 for `Flash` up to 3 for `Routine`.
    pub fn rank(self) -> u8 {
        match self {
            Precedence::Flash => 0,
            Precedence::Immediate => 1,
            Precedence::Priority => 2,
            Precedence::Routine => 3,
        }
    }

    /// The precedence of a serving rank, or `None` past 3.
    pub fn from_rank(rank: u8) -> Option<Self> {
        Self::ALL.get(usize::from(rank)).copied()
    }
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Destination {
    /// One node.
    Node(NodeId),
    /// The node that hosts a service.
    Service(ServiceName),
    /// Every member of a group, fanned out at the node that knows the members.
    Group(GroupName),
}

impl Destination {
    pub(crate) fn to_pb(&self) -> pb::Destination {
        use pb::destination::Target;
        let target = match self {
            Destination::Node(n) => Target::Node(n.as_str().to_owned()),
            Destination::Service(s) => Target::Service(s.as_str().to_owned()),
            Destination::Group(g) => Target::Group(g.as_str().to_owned()),
        };
        pb::Destination {
            target: Some(target),
        }
    }

    pub(crate) fn from_pb(
        d: Option<pb::Destination>,
        field: &'static str,
    ) -> Result<Self, ValidationError> {
        use pb::destination::Target;
        let target = d
            .and_then(|d| d.target)
            .ok_or(ValidationError::Missing { field })?;
        let wrap = check::bad_id(field);
        Ok(match target {
            Target::Node(s) => Destination::Node(NodeId::new(s).map_err(wrap)?),
            Target::Service(s) => Destination::Service(ServiceName::new(s).map_err(wrap)?),
            Target::Group(s) => Destination::Group(GroupName::new(s).map_err(wrap)?),
        })
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Node(n) => write!(f, "node:{n}"),
            Destination::Service(s) => write!(f, "service:{s}"),
            Destination::Group(g) => write!(f, "group:{g}"),
        }
    }
}

impl FromStr for Destination {
    type Err = ParseError;

    /// Parses `node:ID`, `service:NAME`, `group:NAME`, or a bare node id.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.split_once(':') {
            None => Destination::Node(s.parse()?),
            Some(("node", id)) => Destination::Node(id.parse()?),
            Some(("service", name)) => Destination::Service(name.parse()?),
            Some(("group", name)) => Destination::Group(name.parse()?),
            Some((kind, _)) => {
                return Err(ParseError::Unknown {
                    what: "destination kind",
                    value: kind.to_owned(),
                })
            }
        })
    }
}

/// The kind of a message, given by its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A [`crate::Notice`].
    Notice,
    /// A [`crate::Diffusion`].
    Diffusion,
    /// A [`crate::TextMessage`].
    Text,
    /// A [`crate::ServiceRequest`].
    Request,
    /// A [`crate::ServiceResponse`].
    Response,
    /// A [`crate::DeliveryReport`].
    DeliveryReport,
    /// A [`crate::NonDeliveryReport`].
    NonDeliveryReport,
    /// A [`crate::HitNotification`].
    HitNotification,
    /// A [`crate::RecordUpload`].
    RecordUpload,
}

impl Kind {
    /// Every kind.
    pub const ALL: &'static [Kind] = &[
        Kind::Notice,
        Kind::Diffusion,
        Kind::Text,
        Kind::Request,
        Kind::Response,
        Kind::DeliveryReport,
        Kind::NonDeliveryReport,
        Kind::HitNotification,
        Kind::RecordUpload,
    ];

    /// The lower-case name, as printed by Display and accepted by FromStr.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Notice => "notice",
            Kind::Diffusion => "diffusion",
            Kind::Text => "text",
            Kind::Request => "request",
            Kind::Response => "response",
            Kind::DeliveryReport => "delivery-report",
            Kind::NonDeliveryReport => "non-delivery-report",
            Kind::HitNotification => "hit-notification",
            Kind::RecordUpload => "record-upload",
        }
    }

    /// Whether messages of this kind answer another message (and so need a correlation id).
    pub fn is_answer(self) -> bool {
        matches!(
            self,
            Kind::Response | Kind::DeliveryReport | Kind::NonDeliveryReport
        )
    }

    /// Whether this kind is a delivery or non-delivery report.
    pub fn is_report(self) -> bool {
        matches!(self, Kind::DeliveryReport | Kind::NonDeliveryReport)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseError::Unknown {
                what: "message kind",
                value: s.to_owned(),
            })
    }
}

/// A message as its origin wrote it. It travels inside a [`crate::SignedEnvelope`] as the
/// exact bytes that were signed.
///
/// The fields are public so that an origin can build an envelope; [`Envelope::validate`]
/// checks the rules that the types alone cannot, and [`Envelope::decode`] always validates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Unique per origin; orders by creation time.
    pub message_id: MessageId,
    /// The node that wrote and signed the message.
    pub origin: NodeId,
    /// Where the message goes.
    pub destination: Destination,
    /// How urgent it is.
    pub precedence: Precedence,
    /// Creation time, Unix milliseconds.
    pub created_at_ms: i64,
    /// Time after which no node may deliver or forward it, Unix milliseconds.
    pub expires_at_ms: i64,
    /// For responses and reports (required) and follow-ups (optional): the id of the message
    /// this one answers.
    pub correlation_id: Option<MessageId>,
    /// Most relay hops the message may take, `1..=MAX_HOP_LIMIT`.
    pub hop_limit: u8,
    /// Whether the origin wants a delivery report when the destination takes the message.
    pub want_delivery_report: bool,
    /// Who the origin releases the message to; `None`: the whole network (issue 12).
    pub release_to: Option<ReleaseList>,
    /// The content; its variant is the message's [`Kind`].
    pub body: Body,
}

impl Envelope {
    /// The message's kind, given by its body.
    pub fn kind(&self) -> Kind {
        self.body.kind()
    }

    /// The network-wide reference of this message.
    pub fn message_ref(&self) -> MessageRef {
        MessageRef {
            origin: self.origin.clone(),
            id: self.message_id,
        }
    }

    /// Checks every rule that the field types do not already guarantee: times, hop limit,
    /// which kinds may go to which destinations, correlation, and the body's own limits.
    ///
    /// It does not compare times with a clock: whether a message is still live is the
    /// engine's decision.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::time("created_at_ms", self.created_at_ms)?;
        if self.expires_at_ms <= self.created_at_ms {
            return Err(ValidationError::ExpiresBeforeCreated {
                created_at_ms: self.created_at_ms,
                expires_at_ms: self.expires_at_ms,
            });
        }
        if !(1..=MAX_HOP_LIMIT).contains(&self.hop_limit) {
            return Err(ValidationError::HopLimit(u32::from(self.hop_limit)));
        }
        let kind = self.kind();
        let wrong = |expected| ValidationError::WrongDestination {
            kind,
            destination: self.destination.clone(),
            expected,
        };
        match (&self.body, &self.destination) {
            (Body::Request(r), Destination::Service(s)) if r.service != *s => {
                return Err(ValidationError::ServiceMismatch {
                    body: r.service.clone(),
                    destination: self.destination.clone(),
                })
            }
            (Body::Request(_), Destination::Service(_)) => {}
            (Body::Request(_), _) => return Err(wrong("the service it names")),
            (_, Destination::Service(_)) => return Err(wrong("a node or a group")),
            (_, Destination::Group(_)) if kind.is_answer() => return Err(wrong("a node")),
            _ => {}
        }
        if kind.is_answer() && self.correlation_id.is_none() {
            return Err(ValidationError::MissingCorrelation(kind));
        }
        if kind.is_report() && self.want_delivery_report {
            return Err(ValidationError::ReportOnReport(kind));
        }
        if let Some(release) = &self.release_to {
            if !matches!(kind, Kind::Notice | Kind::Diffusion | Kind::Text) {
                return Err(ValidationError::ReleaseNotAllowed(kind));
            }
            release.validate()?;
        }
        self.body.validate()
    }

    /// Encodes the envelope as protobuf.
    ///
    /// Only an origin creating a message calls this, once, and then signs exactly these
    /// bytes. Protobuf encoding is not canonical: relays and verifiers keep and forward the
    /// received bytes and never re-encode a decoded envelope. Call [`Envelope::validate`]
    /// first: this encodes whatever the fields hold.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        self.to_pb().encode_to_vec()
    }

    /// The reference (origin, message id) of encoded envelope bytes, checking those two
    /// fields only. A receiver refusing an envelope that decodes but breaks another rule
    /// (hop limit 0, an oversized field, an unknown precedence) still names it with this, so
    /// that the sender can match the refusal (protocol.md 7.2). Fails when the bytes are not
    /// a protobuf envelope or the origin or the message id themselves are invalid.
    pub fn reference_of(bytes: &[u8]) -> Result<MessageRef, DecodeError> {
        let e = pb::Envelope::decode(bytes)?;
        Ok(MessageRef {
            origin: check::node_id("origin", e.origin)?,
            id: check::message_id("message_id", &e.message_id)?,
        })
    }

    /// Decodes and fully validates an envelope.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        let envelope = Self::from_pb(pb::Envelope::decode(bytes)?)?;
        envelope.validate()?;
        Ok(envelope)
    }

    pub(crate) fn to_pb(&self) -> pb::Envelope {
        pb::Envelope {
            message_id: self.message_id.as_bytes().to_vec(),
            origin: self.origin.as_str().to_owned(),
            destination: Some(self.destination.to_pb()),
            precedence: self.precedence.to_pb(),
            created_at_ms: self.created_at_ms,
            expires_at_ms: self.expires_at_ms,
            correlation_id: self
                .correlation_id
                .map(|id| id.as_bytes().to_vec())
                .unwrap_or_default(),
            hop_limit: u32::from(self.hop_limit),
            want_delivery_report: self.want_delivery_report,
            release_to: self.release_to.as_ref().map(ReleaseList::to_pb),
            body: Some(self.body.to_pb()),
        }
    }

    fn from_pb(e: pb::Envelope) -> Result<Self, ValidationError> {
        Ok(Envelope {
            message_id: check::message_id("message_id", &e.message_id)?,
            origin: check::node_id("origin", e.origin)?,
            destination: Destination::from_pb(e.destination, "destination")?,
            precedence: Precedence::from_pb(e.precedence, "precedence")?,
            created_at_ms: e.created_at_ms,
            expires_at_ms: e.expires_at_ms,
            correlation_id: match e.correlation_id.is_empty() {
                true => None,
                false => Some(check::message_id("correlation_id", &e.correlation_id)?),
            },
            hop_limit: u8::try_from(e.hop_limit)
                .map_err(|_| ValidationError::HopLimit(e.hop_limit))?,
            want_delivery_report: e.want_delivery_report,
            release_to: e.release_to.map(ReleaseList::from_pb).transpose()?,
            body: Body::from_pb(e.body.ok_or(ValidationError::Missing { field: "body" })?)?,
        })
    }
}
