//! Service requests and responses, e.g. a check against the stolen and lost travel documents
//! database (`sltd.check`).

use std::collections::BTreeMap;

use super::text::Attachment;
use crate::check;
use crate::error::ValidationError;
use crate::ids::{NodeId, ServiceName};
use crate::limits::{MAX_DETAIL_LEN, MAX_NAME_LEN, MAX_PURPOSE_LEN, MAX_REQUEST_ATTACHMENT_LEN};
use crate::pb;

/// A query to a service. The envelope must be addressed to the same service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRequest {
    /// The service asked.
    pub service: ServiceName,
    /// Named arguments, e.g. `document_number` = "X123", `issuing_country` = "FR".
    pub params: BTreeMap<String, String>,
    /// Why the requester asks (issue 12, item 4); empty when not given. Told to the owner
    /// of a record that matches.
    pub purpose: String,
    /// The terminal that asked through the origin node, from that terminal's certificate;
    /// set by the origin node only (`api/service.rs`), never from a client's message.
    pub terminal: Option<NodeId>,
    /// A file the service is asked about (issue 13, item 6), e.g. an ANSI/NIST-ITL record
    /// for `afis.check`. At most [`MAX_REQUEST_ATTACHMENT_LEN`] bytes.
    pub attachment: Option<Attachment>,
}

impl ServiceRequest {
    /// Checks the parameters' count and sizes, the purpose and the attachment.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::map("request.params", &self.params)?;
        check::one_line("request.purpose", &self.purpose, MAX_PURPOSE_LEN)?;
        if let Some(attachment) = &self.attachment {
            validate_attachment(attachment)?;
        }
        Ok(())
    }

    pub(crate) fn to_pb(&self) -> pb::ServiceRequest {
        pb::ServiceRequest {
            service: self.service.as_str().to_owned(),
            params: self.params.clone(),
            purpose: self.purpose.clone(),
            terminal: self
                .terminal
                .as_ref()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            attachment: self.attachment.as_ref().map(Attachment::to_pb),
        }
    }

    pub(crate) fn from_pb(r: pb::ServiceRequest) -> Result<Self, ValidationError> {
        Ok(ServiceRequest {
            service: ServiceName::new(r.service).map_err(check::bad_id("request.service"))?,
            params: r.params,
            purpose: r.purpose,
            terminal: match r.terminal.is_empty() {
                true => None,
                false => Some(check::node_id("request.terminal", r.terminal)?),
            },
            attachment: r.attachment.map(Attachment::from_pb),
        })
    }
}

/// A request's file: named, typed, not empty, and small enough that the request fits the
/// smallest frame cap of every node (`limits::MAX_REQUEST_ATTACHMENT_LEN`). The field names
/// are those of the request so that a refusal says which part of the call is wrong.
fn validate_attachment(a: &Attachment) -> Result<(), ValidationError> {
    check::required("request.attachment.filename", &a.filename, MAX_NAME_LEN)?;
    check::required("request.attachment.media_type", &a.media_type, MAX_NAME_LEN)?;
    if a.content.is_empty() {
        return Err(ValidationError::Empty {
            field: "request.attachment.content",
        });
    }
    check::max_len(
        "request.attachment.content",
        a.content.len(),
        MAX_REQUEST_ATTACHMENT_LEN,
    )
}

wire_enum! {
    /// The outcome of a service request.
    pub enum ResponseStatus: pb::ResponseStatus, "response status" {
        /// The service found nothing.
        NoHit = "no-hit" => NoHit,
        /// The service found a match; the fields say what.
        Hit = "hit" => Hit,
        /// The service could not answer; the detail says why.
        Error = "error" => Error,
    }
}

/// A service's answer. The envelope's correlation id names the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceResponse {
    /// The service that answers.
    pub service: ServiceName,
    /// The outcome.
    pub status: ResponseStatus,
    /// Named results, e.g. `status` = "stolen", `reported_by` = "FR".
    pub fields: BTreeMap<String, String>,
    /// A diagnostic for people, mostly for errors.
    pub detail: String,
}

impl ServiceResponse {
    /// Checks the fields' count and sizes and the detail's size.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::map("response.fields", &self.fields)?;
        check::max_len("response.detail", self.detail.len(), MAX_DETAIL_LEN)
    }

    pub(crate) fn to_pb(&self) -> pb::ServiceResponse {
        pb::ServiceResponse {
            service: self.service.as_str().to_owned(),
            status: self.status.to_pb(),
            fields: self.fields.clone(),
            detail: self.detail.clone(),
        }
    }

    pub(crate) fn from_pb(r: pb::ServiceResponse) -> Result<Self, ValidationError> {
        Ok(ServiceResponse {
            service: ServiceName::new(r.service).map_err(check::bad_id("response.service"))?,
            status: ResponseStatus::from_pb(r.status, "response.status")?,
            fields: r.fields,
            detail: r.detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(len: usize) -> ServiceRequest {
        ServiceRequest {
            service: "afis.check".parse().unwrap(),
            params: BTreeMap::new(),
            purpose: String::new(),
            terminal: None,
            attachment: Some(Attachment {
                filename: "prints.an2".into(),
                media_type: "application/x-ansi-nist".into(),
                content: vec![7; len],
            }),
        }
    }

    #[test]
    fn request_attachment_up_to_the_limit_is_valid_and_one_byte_more_is_not() {
        assert_eq!(with_file(MAX_REQUEST_ATTACHMENT_LEN).validate(), Ok(()));
        assert_eq!(
            with_file(MAX_REQUEST_ATTACHMENT_LEN + 1).validate(),
            Err(ValidationError::TooLong {
                field: "request.attachment.content",
                len: MAX_REQUEST_ATTACHMENT_LEN + 1,
                max: MAX_REQUEST_ATTACHMENT_LEN,
            })
        );
    }

    #[test]
    fn request_attachment_needs_a_name_a_type_and_content() {
        let mut r = with_file(0);
        assert_eq!(
            r.validate(),
            Err(ValidationError::Empty {
                field: "request.attachment.content"
            })
        );
        r = with_file(1);
        r.attachment.as_mut().unwrap().media_type.clear();
        assert_eq!(
            r.validate(),
            Err(ValidationError::Empty {
                field: "request.attachment.media_type"
            })
        );
    }

    #[test]
    fn request_attachment_round_trips_and_absence_stays_absent() {
        let r = with_file(3);
        assert_eq!(ServiceRequest::from_pb(r.to_pb()), Ok(r.clone()));
        let bare = ServiceRequest {
            attachment: None,
            ..r
        };
        let wire = bare.to_pb();
        assert!(wire.attachment.is_none());
        assert_eq!(ServiceRequest::from_pb(wire), Ok(bare));
    }
}
