//! Checks answered from this node's replica (issue 13, item 3): in milliseconds, with the
//! link to the hub up or down, and saying so: every such answer carries `answered_by =
//! replica` and the replica's freshness ("as of change N, 2 h 10 min behind gs"). A hit
//! found while the hub is out of reach is told to the record's owner by this node, in a hit
//! notification that waits in custody until the link returns; with the link up the check
//! also goes to the hub, whose answer wins and whose notification the owner gets.

use std::collections::BTreeMap;

use bluehelm_proto::{
    Database, MessageId, Precedence, ResponseStatus, ServiceName, ServiceRequest,
};

use super::{find, notify_owner, Answer, Asked, Hit};
use crate::custody::{now_ms, BureauHandle};
use crate::engine::policy::Party;
use crate::records::status::Part;
use crate::store::{Failure, StoreError};

/// A replica's answer.
pub struct LocalAnswer {
    /// The service asked, e.g. `sltd.check`.
    pub service: String,
    pub status: ResponseStatus,
    pub fields: BTreeMap<String, String>,
    pub detail: String,
    /// "as of change N, ... behind gs".
    pub freshness: String,
    /// Milliseconds since the replica was last level with the hub; `None`: never.
    pub behind_ms: Option<i64>,
    hit: Option<Hit>,
}

impl LocalAnswer {
    pub fn is_hit(&self) -> bool {
        self.hit.is_some()
    }
}

/// The database this node keeps a replica of that answers `service`, if any.
pub fn replicated(node: &BureauHandle, service: &ServiceName) -> Option<Database> {
    let database = super::database_of(service.as_str())?;
    (Part::of(&node.config(), node.identity().role, database) == Part::Replica).then_some(database)
}

/// Answers `request` from the replica of `database`, as this node may see it.
pub async fn answer(
    node: &BureauHandle,
    database: Database,
    request: &ServiceRequest,
) -> Result<LocalAnswer, StoreError> {
    let identity = node.identity().clone();
    let Answer {
        status,
        mut fields,
        detail,
        hit,
    } = Answer::of(find(node, database, request, Party::of(&identity)).await?);
    node.audit().record(super::audited::queried(
        node.me(),
        None,
        request,
        status,
        hit.as_ref(),
        now_ms(),
    ));
    let store = node.records().clone();
    let position = tokio::task::spawn_blocking(move || store.position(database))
        .await
        .map_err(|_| StoreError::Closed)?
        .map_err(|e| StoreError::Failed(Failure::Records(e.to_string())))?;
    let now = now_ms();
    let hub = node.config().databases.hub.clone();
    let freshness = position.describe(now, hub.as_str());
    fields.insert("answered_by".into(), "replica".into());
    fields.insert("as_of_change".into(), position.applied_seq.to_string());
    fields.insert("freshness".into(), freshness.clone());
    Ok(LocalAnswer {
        service: request.service.to_string(),
        status,
        fields,
        detail: format!("{detail} (from this node's replica, {freshness})"),
        freshness,
        behind_ms: position.behind_ms(now),
        hit,
    })
}

/// Tells the record's owner of a hit found while the hub was out of reach: the notification
/// names this node as the requester, the check's id and time, and waits in custody for the
/// link.
pub async fn notify_offline_hit(
    node: &BureauHandle,
    database: Database,
    request: &ServiceRequest,
    answer: &mut LocalAnswer,
    checked_at_ms: i64,
) -> Result<(), StoreError> {
    let Some(hit) = answer.hit.take() else {
        return Ok(());
    };
    let asked = Asked {
        requester: node.me().clone(),
        request_id: MessageId::generate(u64::try_from(checked_at_ms).unwrap_or(0)),
        requested_at_ms: checked_at_ms,
        precedence: Precedence::Immediate,
    };
    notify_owner(node, database, request, hit, asked).await
}
