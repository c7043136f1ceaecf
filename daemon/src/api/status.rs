//! `Status` and `DeliveryState`: what the node can tell about itself and about a message it
//! sent.

use std::collections::BTreeMap;

use bluehelm_proto::{MessageId, MessageRef, NonDeliveryReason, Precedence, RefusalReason};
use tonic::Status;

use super::notes;
use super::pb;
use super::PAGE;
use crate::custody::{BureauHandle, LinkedPeers, Stats};
use crate::metrics::histogram::HistogramReading;
use crate::metrics::snapshot;
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
    // The same figures as `/metrics` (issue 15): one gathering for both.
    let figures = snapshot::gather(node, links).await.map_err(store_error)?;
    let link_status = figures
        .links
        .iter()
        .map(|l| pb::LinkStatus {
            peer: l.peer.to_string(),
            connected: l.up,
            configured: l.configured,
        })
        .collect();

    let mut queues: Vec<pb::QueueStatus> = Vec::new();
    for q in figures.queues.iter().filter(|q| q.depth > 0) {
        let class = pb::QueueClassStatus {
            precedence: q.precedence.as_str().to_owned(),
            depth: q.depth,
            oldest_age_ms: q.oldest_age_ms,
        };
        match queues.last_mut() {
            Some(hop) if hop.next_hop == q.next_hop.as_str() => {
                hop.depth += q.depth;
                hop.oldest_age_ms = hop.oldest_age_ms.max(q.oldest_age_ms);
                hop.classes.push(class);
            }
            _ => queues.push(pb::QueueStatus {
                next_hop: q.next_hop.to_string(),
                depth: q.depth,
                oldest_age_ms: q.oldest_age_ms,
                classes: vec![class],
            }),
        }
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

    let traffic = Precedence::ALL
        .iter()
        .map(|p| pb::PrecedenceTraffic {
            precedence: p.as_str().to_owned(),
            messages_in: count_of(&figures.messages_in, *p),
            messages_out: count_of(&figures.messages_out, *p),
            refused: figures
                .messages_refused
                .iter()
                .filter(|(_, class, _)| *class == Some(*p))
                .map(|(_, _, n)| n)
                .sum(),
        })
        .collect();
    let latency = |h: &HistogramReading| pb::LatencySummary {
        count: h.count,
        sum_seconds: h.sum_seconds,
    };
    Ok(pb::StatusResponse {
        node_id: node.me().to_string(),
        links: link_status,
        queues,
        inbox_size,
        counters: counters.into_iter().collect(),
        certificate_revoked: node.standing().revoked_because().unwrap_or_default(),
        crl_number: figures.crl.number_text.clone(),
        crl_next_update: figures.crl.next_update_s.unwrap_or(0),
        ready: figures.health.is_ready(),
        not_ready: figures.health.reasons.clone(),
        handshake_failures: figures
            .handshake_failures
            .iter()
            .map(|(why, n)| (why.as_str().to_owned(), *n))
            .collect(),
        traffic,
        store_bytes: figures.store_bytes,
        disk_free_bytes: figures.disk_free_bytes,
        replicas: figures
            .replicas
            .iter()
            .map(|r| pb::ReplicaLag {
                database: r.database.to_owned(),
                lag_changes: r.lag_changes,
                lag_ms: r.lag_ms.unwrap_or(-1),
            })
            .collect(),
        review_queue: figures.review_queue,
        failed_over: figures
            .failed_over
            .iter()
            .map(ToString::to_string)
            .collect(),
        custody_latency: Some(latency(&figures.custody_latency)),
        fsync_latency: Some(latency(&figures.fsync_latency)),
    })
}

fn count_of(counts: &[(Precedence, u64)], class: Precedence) -> u64 {
    counts
        .iter()
        .find(|(p, _)| *p == class)
        .map_or(0, |(_, n)| *n)
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
