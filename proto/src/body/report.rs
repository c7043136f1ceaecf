//! Delivery and non-delivery reports. The envelope's correlation id names the message
//! reported on.

use crate::check;
use crate::envelope::Destination;
use crate::error::ValidationError;
use crate::ids::NodeId;
use crate::limits::MAX_DETAIL_LEN;
use crate::pb;

/// The destination took the message into its inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The node that took the message.
    pub delivered_to: NodeId,
    /// When, Unix milliseconds.
    pub delivered_at_ms: i64,
}

impl DeliveryReport {
    /// Checks the delivery time.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::time("delivery_report.delivered_at_ms", self.delivered_at_ms)
    }

    pub(crate) fn to_pb(&self) -> pb::DeliveryReport {
        pb::DeliveryReport {
            delivered_to: self.delivered_to.as_str().to_owned(),
            delivered_at_ms: self.delivered_at_ms,
        }
    }

    pub(crate) fn from_pb(r: pb::DeliveryReport) -> Result<Self, ValidationError> {
        Ok(DeliveryReport {
            delivered_to: check::node_id("delivery_report.delivered_to", r.delivered_to)?,
            delivered_at_ms: r.delivered_at_ms,
        })
    }
}

wire_enum! {
    /// Why a message will not be delivered.
    pub enum NonDeliveryReason: pb::NonDeliveryReason, "non-delivery reason" {
        /// It expired before reaching its destination.
        Expired = "expired" => Expired,
        /// No node knows a route to its destination.
        NoRoute = "no-route" => NoRoute,
        /// It used up its hop limit.
        HopLimit = "hop-limit" => HopLimit,
        /// A node refused it permanently.
        Refused = "refused" => Refused,
        /// No node hosts the service it is addressed to.
        UnknownService = "unknown-service" => UnknownService,
        /// No node knows the group it is addressed to.
        UnknownGroup = "unknown-group" => UnknownGroup,
        /// A node refused it under the role policy; the detail names the rule (issue 12).
        Policy = "policy" => Policy,
    }
}

/// The message will not be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonDeliveryReport {
    /// Why.
    pub reason: NonDeliveryReason,
    /// The node that gave up on the message.
    pub reported_by: NodeId,
    /// A diagnostic for people.
    pub detail: String,
    /// The original message's destination, for the origin's records.
    pub original_destination: Destination,
}

impl NonDeliveryReport {
    /// Checks the detail's size.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::max_len(
            "non_delivery_report.detail",
            self.detail.len(),
            MAX_DETAIL_LEN,
        )
    }

    pub(crate) fn to_pb(&self) -> pb::NonDeliveryReport {
        pb::NonDeliveryReport {
            reason: self.reason.to_pb(),
            reported_by: self.reported_by.as_str().to_owned(),
            detail: self.detail.clone(),
            original_destination: Some(self.original_destination.to_pb()),
        }
    }

    pub(crate) fn from_pb(r: pb::NonDeliveryReport) -> Result<Self, ValidationError> {
        Ok(NonDeliveryReport {
            reason: NonDeliveryReason::from_pb(r.reason, "non_delivery_report.reason")?,
            reported_by: check::node_id("non_delivery_report.reported_by", r.reported_by)?,
            detail: r.detail,
            original_destination: Destination::from_pb(
                r.original_destination,
                "non_delivery_report.original_destination",
            )?,
        })
    }
}
