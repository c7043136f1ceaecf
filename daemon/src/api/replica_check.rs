//! The API's answers to checks at a node with a replica (issue 13, item 3): the replica's
//! answer alone, the replica's answer when the hub did not confirm it in time, or the hub's
//! answer with the replica's beside it.

use std::time::Duration;

use bluehelm_proto::MessageId;

use super::pb;
use crate::custody::BureauHandle;
use crate::services::local::LocalAnswer;

fn response(answer: &LocalAnswer, service: &str) -> pb::ServiceResponse {
    pb::ServiceResponse {
        service: service.to_owned(),
        status: status(answer.status),
        fields: answer.fields.clone(),
        detail: answer.detail.clone(),
    }
}

fn status(status: bluehelm_proto::ResponseStatus) -> i32 {
    use bluehelm_proto::ResponseStatus as S;
    match status {
        S::Hit => pb::ResponseStatus::Hit as i32,
        S::NoHit => pb::ResponseStatus::NoHit as i32,
        S::Error => pb::ResponseStatus::Error as i32,
    }
}

/// The replica's answer, the only one.
pub fn only(node: &BureauHandle, answer: LocalAnswer) -> pb::ServiceAnswer {
    pb::ServiceAnswer {
        request_id: String::new(),
        responder: node.me().to_string(),
        response: Some(response(&answer, &answer.service)),
        answered_by: "replica".into(),
        freshness: answer.freshness.clone(),
        ..Default::default()
    }
}

/// The replica's answer, after the hub did not answer `id` within `timeout`.
pub fn unconfirmed(
    node: &BureauHandle,
    mut answer: LocalAnswer,
    id: MessageId,
    timeout: Duration,
) -> pb::ServiceAnswer {
    answer.detail = format!(
        "{}; the hub did not confirm it within {} s (request {id}; a later answer is dropped as late)",
        answer.detail,
        timeout.as_secs()
    );
    pb::ServiceAnswer {
        request_id: id.to_string(),
        ..only(node, answer)
    }
}

/// The hub's answer, with the replica's beside it: the hub's wins.
pub fn compare(hub: &mut pb::ServiceAnswer, local: LocalAnswer) {
    let service = hub
        .response
        .as_ref()
        .map(|r| r.service.clone())
        .unwrap_or_default();
    let replica = response(&local, &service);
    hub.differs = hub.response.as_ref().map(|r| r.status) != Some(replica.status);
    hub.freshness = local.freshness;
    hub.replica_response = Some(replica);
}
