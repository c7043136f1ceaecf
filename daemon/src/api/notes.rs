//! What the API remembers about messages this node sent, kept in the store
//! (`Record::Note`, key `a` + message id) so that it outlives the inbox entries it came from
//! and node restarts: the reports that came back, and whether a `Request` call is over.

use bluehelm_proto::{MessageId, NodeId, NonDeliveryReport};
use serde::{Deserialize, Serialize};

use crate::custody::{BureauHandle, Record};
use crate::store::StoreError;

/// The note on one sent message. JSON in the store: small, rare, and readable in a dump.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentNote {
    /// Nodes that sent a delivery report (several for a group message).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivered_to: Vec<String>,
    /// The signer of each delivery report, in the order of `delivered_to` (the same nodes
    /// since reports are bound to their signer, issue 10). Shorter in notes written before
    /// signers were kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivery_signed_by: Vec<String>,
    /// The non-delivery report that came back, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// A `Request` call sent this message and is no longer waiting: a response to it is
    /// late, and is dropped rather than shown to anyone.
    #[serde(default)]
    pub request_closed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// `NonDeliveryReason` as its lower-case name.
    pub reason: String,
    pub reported_by: String,
    pub detail: String,
    /// The node that signed the report; empty in notes written before signers were kept.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signed_by: String,
}

impl Failure {
    /// The failure a non-delivery report signed by `signer` tells of.
    pub fn reported(ndr: &NonDeliveryReport, signer: &NodeId) -> Self {
        Self {
            reason: ndr.reason.as_str().to_owned(),
            reported_by: ndr.reported_by.to_string(),
            detail: ndr.detail.clone(),
            signed_by: signer.to_string(),
        }
    }
}

impl SentNote {
    /// Records a delivery report signed by `signer` (once per delivering node).
    pub fn delivered(&mut self, to: &NodeId, signer: &NodeId) {
        let to = to.to_string();
        if !self.delivered_to.contains(&to) {
            // A note from before signers were kept: unknown ones stay empty, in place.
            self.delivery_signed_by
                .resize(self.delivered_to.len(), String::new());
            self.delivered_to.push(to);
            self.delivery_signed_by.push(signer.to_string());
        }
    }

    pub fn record(&self, id: MessageId) -> Record {
        // Serializing a struct of strings, a vector and a bool cannot fail.
        let value = serde_json::to_vec(self).expect("a note serializes");
        Record::Note { id, value }
    }
}

/// The note on `id`, or an empty one. A note that does not parse (written by a later
/// version?) counts as empty, with a warning: it only informs `DeliveryState`.
pub async fn load(node: &BureauHandle, id: MessageId) -> Result<SentNote, StoreError> {
    let Some(bytes) = node.note(id).await? else {
        return Ok(SentNote::default());
    };
    Ok(serde_json::from_slice(&bytes).unwrap_or_else(|err| {
        tracing::warn!(message = %id, error = %err, "unreadable note on a sent message");
        SentNote::default()
    }))
}
