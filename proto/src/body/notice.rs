//! Notices and diffusions: the alerts that bureaus and the general secretariat circulate.

use crate::body::Subject;
use crate::check;
use crate::error::ValidationError;
use crate::ids::NodeId;
use crate::limits::{MAX_ADDRESSEES, MAX_NAME_LEN, MAX_TEXT_LEN};
use crate::pb;
use crate::signed::SignedEnvelope;

wire_enum! {
    /// The colour of a notice, which says what is asked of the bureaus that receive it.
    pub enum NoticeType: pb::NoticeType, "notice type" {
        /// Locate and provisionally arrest a person wanted for prosecution or a sentence.
        Red = "red" => Red,
        /// Locate a missing person.
        Yellow = "yellow" => Yellow,
        /// Collect information on a person's identity, location or activities.
        Blue = "blue" => Blue,
        /// Identify an unidentified body.
        Black = "black" => Black,
        /// Warn about a person's criminal activities.
        Green = "green" => Green,
        /// Warn of an imminent threat.
        Orange = "orange" => Orange,
        /// Seek or give information on criminal methods.
        Purple = "purple" => Purple,
        /// INTERPOL-United Nations Security Council special notice.
        UnSpecial = "un-special" => UnSpecial,
    }
}

wire_enum! {
    /// The step of a notice's life that a message carries.
    pub enum NoticeLifecycle: pb::NoticeLifecycle, "notice lifecycle" {
        /// A bureau asks the general secretariat to publish.
        Requested = "requested" => Requested,
        /// The general secretariat published the notice.
        Published = "published" => Published,
        /// A published notice changed.
        Updated = "updated" => Updated,
        /// The notice is withdrawn.
        Cancelled = "cancelled" => Cancelled,
    }
}

/// A notice, or a step in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Stable reference across the lifecycle, e.g. "A-1234/5-2026". Required.
    pub notice_ref: String,
    /// The colour.
    pub notice_type: NoticeType,
    /// The lifecycle step.
    pub lifecycle: NoticeLifecycle,
    /// The bureau that requested the notice.
    pub requesting_bureau: NodeId,
    /// The person concerned: required when the notice is requested or published.
    pub subject: Option<Subject>,
    /// What the person is wanted for.
    pub offence_summary: String,
    /// The arrest warrant or court decision the notice rests on.
    pub legal_basis: String,
    /// Free text from the reviewer or the bureau (reason for an update or cancellation).
    pub remarks: String,
    /// On a publication (PUBLISHED, UPDATED or CANCELLED from `gs`): the requesting
    /// bureau's signed request, exactly as `gs` received it. Only its shape is checked
    /// here; the receiving node verifies its signature. Boxed: only publications carry
    /// one, and inline it would make every notice (and so every [`crate::Body`]) larger by
    /// a whole signed envelope with its batch proof.
    pub request: Option<Box<SignedEnvelope>>,
    /// The last day the notice is valid, "YYYY-MM-DD" (UTC); empty: until cancelled.
    pub valid_until: String,
}

impl Notice {
    /// Checks sizes, the subject, and that a requested or published notice has a subject.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::required("notice.notice_ref", &self.notice_ref, MAX_NAME_LEN)?;
        match &self.subject {
            Some(subject) => subject.validate()?,
            None if matches!(
                self.lifecycle,
                NoticeLifecycle::Requested | NoticeLifecycle::Published
            ) =>
            {
                return Err(ValidationError::NoticeWithoutSubject(self.lifecycle))
            }
            None => {}
        }
        check::max_len(
            "notice.offence_summary",
            self.offence_summary.len(),
            MAX_TEXT_LEN,
        )?;
        check::max_len("notice.legal_basis", self.legal_basis.len(), MAX_TEXT_LEN)?;
        check::max_len("notice.remarks", self.remarks.len(), MAX_TEXT_LEN)?;
        check::full_date("notice.valid_until", &self.valid_until)
    }

    pub(crate) fn to_pb(&self) -> pb::Notice {
        pb::Notice {
            notice_ref: self.notice_ref.clone(),
            notice_type: self.notice_type.to_pb(),
            lifecycle: self.lifecycle.to_pb(),
            requesting_bureau: self.requesting_bureau.as_str().to_owned(),
            subject: self.subject.as_ref().map(Subject::to_pb),
            offence_summary: self.offence_summary.clone(),
            legal_basis: self.legal_basis.clone(),
            remarks: self.remarks.clone(),
            request: self.request.as_deref().map(SignedEnvelope::to_pb),
            valid_until: self.valid_until.clone(),
        }
    }

    pub(crate) fn from_pb(n: pb::Notice) -> Result<Self, ValidationError> {
        Ok(Notice {
            notice_ref: n.notice_ref,
            notice_type: NoticeType::from_pb(n.notice_type, "notice.notice_type")?,
            lifecycle: NoticeLifecycle::from_pb(n.lifecycle, "notice.lifecycle")?,
            requesting_bureau: check::node_id("notice.requesting_bureau", n.requesting_bureau)?,
            subject: n.subject.map(Subject::from_pb),
            offence_summary: n.offence_summary,
            legal_basis: n.legal_basis,
            remarks: n.remarks,
            request: n
                .request
                .map(|signed| SignedEnvelope::from_pb(signed).map(Box::new))
                .transpose()?,
            valid_until: n.valid_until,
        })
    }
}

/// A diffusion: a bureau's direct alert to chosen bureaus, without a published notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diffusion {
    /// The bureau's reference. Required.
    pub reference: String,
    /// One line saying what the diffusion is about. Required.
    pub subject_line: String,
    /// The text.
    pub body: String,
    /// The bureaus it is addressed to; empty means all bureaus.
    pub addressees: Vec<NodeId>,
    /// The person concerned, if any.
    pub subject: Option<Subject>,
}

impl Diffusion {
    /// Checks sizes and the subject.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::required("diffusion.reference", &self.reference, MAX_NAME_LEN)?;
        check::required("diffusion.subject_line", &self.subject_line, MAX_NAME_LEN)?;
        check::max_len("diffusion.body", self.body.len(), MAX_TEXT_LEN)?;
        check::max_count(
            "diffusion.addressees",
            self.addressees.len(),
            MAX_ADDRESSEES,
        )?;
        self.subject.as_ref().map_or(Ok(()), Subject::validate)
    }

    pub(crate) fn to_pb(&self) -> pb::Diffusion {
        pb::Diffusion {
            reference: self.reference.clone(),
            subject_line: self.subject_line.clone(),
            body: self.body.clone(),
            addressees: self
                .addressees
                .iter()
                .map(|n| n.as_str().to_owned())
                .collect(),
            subject: self.subject.as_ref().map(Subject::to_pb),
        }
    }

    pub(crate) fn from_pb(d: pb::Diffusion) -> Result<Self, ValidationError> {
        Ok(Diffusion {
            reference: d.reference,
            subject_line: d.subject_line,
            body: d.body,
            addressees: check::node_ids("diffusion.addressees", d.addressees)?,
            subject: d.subject.map(Subject::from_pb),
        })
    }
}
