//! `Status` and `DeliveryState`: what the node can tell about itself and about a message it
//! sent.

use std::collections::{BTreeMap, BTreeSet};

use bluehelm_proto::{MessageId, MessageRef, NonDeliveryReason, Precedence, RefusalReason};
use tonic::Status;

use super::notes;
use super::pb;
use super::PAGE;
use crate::custody::{now_ms, BureauHandle, LinkedPeers, Stats};
use crate::store::StoreError;

/// Clock slack when looking for a message's queued copy: copies that arrived this much
/// after the message was created were queued after it, so the search can stop there.
const QUEUE_SCAN_SLACK_MS: i64 = 5_000;

fn store_error(err: StoreError) -> Status {
    Status::internal(err.to_string())
}

pub async fn status(
    node: &BureauHandle,
    links: &dyn LinkedPeers,
) -> Result<pb::StatusResponse, Status> {
    let configured: BTreeSet<_> = node.config().peers.iter().map(|p| p.node.clone()).collect();
    let linked: BTreeSet<_> = links.linked_peers().into_iter().collect();
    let links = configured
        .union(&linked)
        .map(|peer| pb::LinkStatus {
            peer: peer.to_string(),
            connected: linked.contains(peer),
            configured: configured.contains(peer),
        })
        .collect();

    let now = now_ms();
    let mut queues = Vec::new();
    for (hop, depth) in node.queue_depths() {
        if depth == 0 {
            continue;
        }
        let mut oldest: Option<i64> = None;
        for precedence in Precedence::ALL {
            let first = node
                .queued(&hop, *precedence, None, 1)
                .await
                .map_err(store_error)?;
            if let Some(q) = first.first() {
                let at = q.message.accepted_at_ms;
                oldest = Some(oldest.map_or(at, |o| o.min(at)));
            }
        }
        queues.push(pb::QueueStatus {
            next_hop: hop.to_string(),
            depth: depth as u64,
            oldest_age_ms: oldest.map_or(0, |at| u64::try_from(now - at).unwrap_or(0)),
        });
    }

    let inbox_size = node.inbox_len().await.map_err(store_error)?;

    let s = node.stats();
    let mut counters: BTreeMap<String, u64> = [
        ("accepted", &s.accepted),
        ("duplicates", &s.duplicates),
        ("refused", &s.refused),
        ("rejected_signatures", &s.rejected_signatures),
        ("protocol_errors", &s.protocol_errors),
        ("forwarded", &s.forwarded),
        ("expired", &s.expired),
        ("delivery_reports_sent", &s.delivery_reports_sent),
        ("non_delivery_reports_sent", &s.non_delivery_reports_sent),
        ("reports_refused", &s.reports_refused),
        ("responses_refused", &s.responses_refused),
    ]
    .into_iter()
    .map(|(name, counter)| (name.to_owned(), Stats::get(counter)))
    .collect();
    // `refused_hop_limit`, `refused_bad_signature`, ...: every reason, zeros included, so
    // that a dashboard finds each name from the start.
    counters.extend(s.refusals().map(|(reason, n)| (refused_counter(reason), n)));

    let crl_number = node
        .verifier()
        .trust_store()
        .crl_info()
        .and_then(bluehelm_pki::CrlInfo::crl_number)
        .map_or_else(|| "none".to_owned(), |n| n.to_string());
    Ok(pb::StatusResponse {
        node_id: node.me().to_string(),
        links,
        queues,
        inbox_size,
        counters: counters.into_iter().collect(),
        certificate_revoked: node.standing().revoked_because().unwrap_or_default(),
        crl_number,
    })
}

/// The state of a message this node sent: a report that came back wins; otherwise the
/// message is held while a copy is queued here, forwarded once none is, and unknown when
/// this node has no record of sending it (not its message, or its dedup entry has expired).
pub async fn delivery_state(
    node: &BureauHandle,
    id: MessageId,
) -> Result<pb::DeliveryStateResponse, Status> {
    use pb::DeliveryStatus as S;
    let mut answer = pb::DeliveryStateResponse::default();
    let note = notes::load(node, id).await.map_err(store_error)?;
    if let Some(failure) = note.failure {
        answer.status = S::Failed as i32;
        answer.failure_reason = failure
            .reason
            .parse::<NonDeliveryReason>()
            .map_or(0, wire_reason);
        answer.failure_detail = failure.detail;
        answer.reported_by = failure.reported_by;
        answer.failure_signed_by = failure.signed_by;
        return Ok(answer);
    }
    if !note.delivered_to.is_empty() {
        answer.status = S::Delivered as i32;
        answer.delivery_signed_by = note.delivery_signed_by;
        answer
            .delivery_signed_by
            .resize(note.delivered_to.len(), String::new());
        answer.delivered_to = note.delivered_to;
        return Ok(answer);
    }
    let sent = MessageRef {
        origin: node.me().clone(),
        id,
    };
    let known = node.seen(vec![sent]).await.map_err(store_error)?;
    if known.first() != Some(&true) {
        answer.status = S::Unknown as i32;
        return Ok(answer);
    }
    answer.held_for = held_for(node, id).await.map_err(store_error)?;
    answer.status = match answer.held_for.is_empty() {
        true => S::Forwarded as i32,
        false => S::Held as i32,
    };
    Ok(answer)
}

/// Next hops that still hold a copy of `id` queued here. Queues are in arrival order, so
/// each class is read only up to the copies queued after the message was created: the cost
/// is the number of older copies still waiting.
async fn held_for(node: &BureauHandle, id: MessageId) -> Result<Vec<String>, StoreError> {
    let created = i64::try_from(id.timestamp_ms()).unwrap_or(i64::MAX);
    let mut hops = Vec::new();
    for (hop, depth) in node.queue_depths() {
        if depth == 0 {
            continue;
        }
        'classes: for precedence in Precedence::ALL {
            let mut after = None;
            loop {
                let page = node.queued(&hop, *precedence, after, PAGE).await?;
                for q in &page {
                    if q.message.message.id == id && q.message.message.origin == *node.me() {
                        hops.push(hop.to_string());
                        break 'classes;
                    }
                    if q.message.accepted_at_ms > created.saturating_add(QUEUE_SCAN_SLACK_MS) {
                        continue 'classes;
                    }
                }
                match page.last() {
                    Some(last) => after = Some(last.key.seq()),
                    None => continue 'classes,
                }
            }
        }
    }
    Ok(hops)
}

/// The snake_case counter name of offers refused for `reason`.
fn refused_counter(reason: RefusalReason) -> String {
    format!("refused_{}", reason.as_str().replace('-', "_"))
}

fn wire_reason(reason: NonDeliveryReason) -> i32 {
    use pb::NonDeliveryReason as W;
    (match reason {
        NonDeliveryReason::Expired => W::Expired,
        NonDeliveryReason::NoRoute => W::NoRoute,
        NonDeliveryReason::HopLimit => W::HopLimit,
        NonDeliveryReason::Refused => W::Refused,
        NonDeliveryReason::UnknownService => W::UnknownService,
        NonDeliveryReason::UnknownGroup => W::UnknownGroup,
        NonDeliveryReason::Policy => W::Policy,
    }) as i32
}
