//! Service requests and responses, e.g. a check against the stolen and lost travel documents
//! database (`sltd.check`).

use std::collections::BTreeMap;

use crate::check;
use crate::error::ValidationError;
use crate::ids::{NodeId, ServiceName};
use crate::limits::{MAX_DETAIL_LEN, MAX_PURPOSE_LEN};
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
}

impl ServiceRequest {
    /// Checks the parameters' count and sizes and the purpose.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::map("request.params", &self.params)?;
        check::one_line("request.purpose", &self.purpose, MAX_PURPOSE_LEN)
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
        })
    }
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
