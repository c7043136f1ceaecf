//! The `bluehelm.v1.Bureau` service: each call a thin wrapper over `BureauHandle` and the
//! dispatcher.

use std::sync::Arc;

use bluehelm_proto::{Body, NodeId, NonDeliveryReason, ServiceName};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status, Streaming};

use super::convert::{self, Draft};
use super::dispatch::{Dispatcher, Outcome};
use super::edge;
use super::pb::bureau_server::Bureau;
use super::replica_check;
use super::seal;
use super::serve::{self, Serving};
use super::terminal::TerminalInfo;
use super::{pb, status, DEFAULT_REQUEST_TIMEOUT, PAGE};
use crate::config::live::ReloadHandle;
use crate::custody::{now_ms, Delivered, SubmitError};
use crate::custody::{BureauHandle, LinkedPeers};

/// Messages buffered per stream towards a slow client.
const STREAM_BUFFER: usize = 64;

/// Cloned for each listener (the Unix socket and the terminal listener): clones share the
/// dispatcher and the set of served services.
#[derive(Clone)]
pub struct BureauService {
    pub node: BureauHandle,
    /// The peers with a live link (net's link table), for `Status`.
    pub links: Arc<dyn LinkedPeers>,
    pub dispatcher: Arc<Dispatcher>,
    pub serving: Arc<Serving>,
    /// The node's tasks: streams stop with the node, and it waits for them.
    pub tasks: TaskTracker,
    /// Asks the node to read its config file again (`Reload`).
    pub reloads: ReloadHandle,
}

/// The API's answer to a submission the node did not take (also for review decisions).
pub(super) fn submit_error(err: SubmitError) -> Status {
    match err {
        SubmitError::Invalid(detail) => Status::invalid_argument(detail),
        // A role policy refusal (issue 12) is the caller's permission, not the node's state.
        SubmitError::Refused(refusal)
            if refusal.reason == bluehelm_proto::RefusalReason::Policy =>
        {
            Status::permission_denied(format!("refused: {}: {}", refusal.reason, refusal.detail))
        }
        SubmitError::Refused(refusal) => {
            Status::failed_precondition(format!("refused: {}: {}", refusal.reason, refusal.detail))
        }
        revoked @ SubmitError::CertificateRevoked(_) => {
            Status::failed_precondition(revoked.to_string())
        }
        SubmitError::Store(err) => Status::internal(err.to_string()),
        internal @ SubmitError::Internal(_) => Status::internal(internal.to_string()),
    }
}

/// The terminal a call came from: tonic puts the terminal listener's connection info
/// (from the verified certificate) in every request's extensions; the Unix socket has none.
fn terminal_of<T>(request: &Request<T>) -> Option<NodeId> {
    request
        .extensions()
        .get::<TerminalInfo>()
        .map(|info| info.terminal.clone())
}

/// Requests for services this node hosts go to `ServeRequests`, not to followers.
fn for_followers(node: &BureauHandle, message: &Delivered) -> bool {
    match &message.envelope.body {
        Body::Request(request) => !serve::hosts(node, &request.service),
        _ => true,
    }
}

impl BureauService {
    /// A `Submit` or `SubmitSealed` request as a message to send, checked with the wire
    /// rules and this node's edge checks.
    fn checked_outgoing(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<crate::custody::Outgoing, Status> {
        let terminal = terminal_of(&request);
        let draft = convert::submit_draft(self.node.me(), terminal.as_ref(), request.into_inner())?;
        let outgoing = convert::outgoing(self.node.me(), draft)?;
        edge::check(&self.node.config().routing, now_ms(), &outgoing)?;
        Ok(outgoing)
    }
}

#[tonic::async_trait]
impl Bureau for BureauService {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let outgoing = self.checked_outgoing(request)?;
        let ids = self
            .node
            .submit(vec![outgoing])
            .await
            .map_err(submit_error)?;
        let id = ids
            .first()
            .ok_or_else(|| Status::internal("submit returned no id"))?;
        Ok(Response::new(pb::SubmitResponse {
            message_id: id.to_string(),
        }))
    }

    async fn submit_sealed(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let outgoing = self.checked_outgoing(request)?;
        let recipients = seal::recipients(&self.node, &outgoing)?;
        let id = self
            .node
            .submit_sealed(outgoing, &recipients)
            .await
            .map_err(submit_error)?;
        Ok(Response::new(pb::SubmitResponse {
            message_id: id.to_string(),
        }))
    }

    type FollowInboxStream = ReceiverStream<Result<pb::InboxMessage, Status>>;

    async fn follow_inbox(
        &self,
        request: Request<pb::FollowInboxRequest>,
    ) -> Result<Response<Self::FollowInboxStream>, Status> {
        let request = request.into_inner();
        let (after, follow) = (request.after_seq, request.follow);
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let node = self.node.clone();
        let dispatcher = self.dispatcher.clone();
        let mut dispatched = self.dispatcher.subscribe();
        let opener = seal::Opener::load(&self.node);
        self.tasks.spawn(async move {
            if let Err(err) = dispatcher.catch_up().await {
                let _ = tx.send(Err(Status::internal(err.to_string()))).await;
                return;
            }
            let mut cursor = (after > 0).then_some(after);
            loop {
                let upto = *dispatched.borrow_and_update();
                'pages: loop {
                    let page = match node.inbox(cursor, PAGE).await {
                        Ok(page) => page,
                        Err(err) => {
                            let _ = tx.send(Err(Status::internal(err.to_string()))).await;
                            return;
                        }
                    };
                    let full = page.len() == PAGE;
                    for message in &page {
                        if message.seq > upto {
                            break 'pages;
                        }
                        cursor = Some(message.seq);
                        if !for_followers(&node, message) {
                            continue;
                        }
                        let item = convert::inbox_message(message, &opener);
                        let failed = item.is_err();
                        if tx.send(item).await.is_err() || failed {
                            return;
                        }
                    }
                    if !full {
                        break;
                    }
                }
                if !follow {
                    return;
                }
                tokio::select! {
                    _ = node.cancel().cancelled() => return,
                    _ = tx.closed() => return,
                    changed = dispatched.changed() => if changed.is_err() { return },
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn ack(
        &self,
        request: Request<pb::AckRequest>,
    ) -> Result<Response<pb::AckResponse>, Status> {
        let seqs = request.into_inner().seqs;
        let removed = self
            .node
            .ack_inbox(&seqs)
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(pb::AckResponse {
            removed: u32::try_from(removed).unwrap_or(u32::MAX),
        }))
    }

    async fn delivery_state(
        &self,
        request: Request<pb::DeliveryStateRequest>,
    ) -> Result<Response<pb::DeliveryStateResponse>, Status> {
        let id = convert::message_id("message_id", &request.into_inner().message_id)?;
        Ok(Response::new(status::delivery_state(&self.node, id).await?))
    }

    async fn request(
        &self,
        request: Request<pb::ServiceCall>,
    ) -> Result<Response<pb::ServiceAnswer>, Status> {
        let terminal = terminal_of(&request);
        let call = request.into_inner();
        let service: ServiceName = call
            .service
            .parse()
            .map_err(|e| Status::invalid_argument(format!("service: {e}")))?;
        let timeout = convert::seconds(
            "timeout_seconds",
            call.timeout_seconds,
            DEFAULT_REQUEST_TIMEOUT,
        )?;
        let ttl = convert::seconds("ttl_seconds", call.ttl_seconds, timeout)?;
        let precedence = match call.precedence {
            0 => pb::Precedence::Immediate as i32,
            p => p,
        };
        let body = pb::envelope::Body::Request(convert::with_terminal(
            pb::ServiceRequest {
                service: service.to_string(),
                params: call.params,
                purpose: call.purpose,
                terminal: String::new(),
                attachment: call.attachment,
            },
            terminal.as_ref(),
        ));
        let draft = Draft {
            destination: Some(pb::Destination {
                target: Some(pb::destination::Target::Service(service.to_string())),
            }),
            precedence,
            ttl,
            want_delivery_report: false,
            release_to: None,
            correlation_id: None,
            body,
        };
        let outgoing = convert::outgoing(self.node.me(), draft)?;
        // Issue 13: a node with a replica answers from it at once; it asks the hub too only
        // when the hub is linked and the caller did not ask for the replica's answer alone.
        let mut local = None;
        if let (Some(database), bluehelm_proto::Body::Request(request)) = (
            crate::services::local::replicated(&self.node, &service),
            &outgoing.body,
        ) {
            let checked_at = now_ms();
            let mut answer = crate::services::local::answer(&self.node, database, request)
                .await
                .map_err(|e| Status::internal(e.to_string()))?;
            let hub = &self.node.config().databases.hub;
            let hub_linked = self.links.linked_peers().contains(hub);
            if call.local_only || !hub_linked {
                if !hub_linked {
                    crate::services::local::notify_offline_hit(
                        &self.node,
                        database,
                        request,
                        &mut answer,
                        checked_at,
                    )
                    .await
                    .map_err(|e| Status::internal(e.to_string()))?;
                }
                return Ok(Response::new(replica_check::only(&self.node, answer)));
            }
            local = Some(answer);
        }

        let ticket = self.dispatcher.begin_request();
        let ids = self
            .node
            .submit(vec![outgoing])
            .await
            .map_err(submit_error)?;
        let id = *ids
            .first()
            .ok_or_else(|| Status::internal("submit returned no id"))?;
        let mut answer = ticket.register(id, service.clone());

        let outcome = tokio::select! {
            outcome = &mut answer => outcome.ok(),
            _ = tokio::time::sleep(timeout) => None,
            _ = self.node.cancel().cancelled() => None,
        };
        let outcome = match outcome {
            Some(outcome) => outcome,
            None => {
                self.dispatcher
                    .close_request(id)
                    .await
                    .map_err(|e| Status::internal(e.to_string()))?;
                // It may have been handed over just before the request was closed.
                match answer.try_recv() {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        if let Some(answer) = local {
                            return Ok(Response::new(replica_check::unconfirmed(
                                &self.node, answer, id, timeout,
                            )));
                        }
                        return Err(Status::deadline_exceeded(format!(
                            "no response from {service} within {} s (request {id})",
                            timeout.as_secs()
                        )));
                    }
                }
            }
        };
        match outcome {
            Outcome::Answered(message) => {
                let wire = convert::wire_envelope(&message)?;
                let response = match wire.body {
                    Some(pb::envelope::Body::Response(r)) => r,
                    _ => return Err(Status::internal("answer is not a service response")),
                };
                let mut answer = pb::ServiceAnswer {
                    request_id: id.to_string(),
                    responder: message.envelope.origin.to_string(),
                    response: Some(response),
                    answered_by: "hub".into(),
                    ..Default::default()
                };
                if let Some(local) = local {
                    replica_check::compare(&mut answer, local);
                }
                Ok(Response::new(answer))
            }
            Outcome::Failed(ndr) => {
                let text = format!(
                    "request {id} to {service} not delivered: {} ({}, reported by {})",
                    ndr.reason, ndr.detail, ndr.reported_by
                );
                // Across a hop, an unknown service comes back as NoRoute ("unknown service
                // ..."): links have no refusal reason of its own for it.
                Err(match ndr.reason {
                    NonDeliveryReason::UnknownService | NonDeliveryReason::NoRoute => {
                        Status::not_found(text)
                    }
                    _ => Status::aborted(text),
                })
            }
        }
    }

    async fn database_status(
        &self,
        _request: Request<pb::DatabaseStatusRequest>,
    ) -> Result<Response<pb::DatabaseStatusResponse>, Status> {
        super::records::database_status(&self.node)
            .await
            .map(Response::new)
    }

    type ExportRecordsStream = ReceiverStream<Result<pb::ExportChunk, Status>>;

    async fn export_records(
        &self,
        request: Request<pb::ExportRequest>,
    ) -> Result<Response<Self::ExportRecordsStream>, Status> {
        super::records::export(&self.node, request.into_inner()).map(Response::new)
    }

    type ServeRequestsStream = ReceiverStream<Result<pb::IncomingRequest, Status>>;

    async fn serve_requests(
        &self,
        request: Request<Streaming<pb::ServeMessage>>,
    ) -> Result<Response<Self::ServeRequestsStream>, Status> {
        let mut inbound = request.into_inner();
        let first = inbound.message().await?;
        if let Some(pb::serve_message::Kind::Serve(name)) =
            first.as_ref().and_then(|m| m.kind.as_ref())
        {
            if let Some(db) = name
                .parse()
                .ok()
                .and_then(|s| crate::services::serves(&self.node.config(), &s))
            {
                return Err(Status::already_exists(format!(
                    "this node answers {name} itself ([reference_services] {} = true)",
                    db.as_str()
                )));
            }
        }
        let guard = serve::claim(&self.node, &self.serving, first)?;
        let (tx, rx) = mpsc::channel(serve::MAX_OUTSTANDING);
        self.tasks
            .spawn(serve::run(self.node.clone(), guard, inbound, tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let status = status::status(&self.node, self.links.as_ref()).await?;
        Ok(Response::new(status))
    }

    async fn import_records(
        &self,
        request: Request<Streaming<pb::ImportChunk>>,
    ) -> Result<Response<pb::ImportReport>, Status> {
        let report = super::import::import_records(&self.node, request.into_inner()).await?;
        Ok(Response::new(report))
    }

    async fn list_reviews(
        &self,
        _request: Request<pb::ListReviewsRequest>,
    ) -> Result<Response<pb::ListReviewsResponse>, Status> {
        Ok(Response::new(super::review::list(&self.node).await?))
    }

    async fn show_review(
        &self,
        request: Request<pb::ReviewId>,
    ) -> Result<Response<pb::ReviewItem>, Status> {
        let id = request.into_inner().message_id;
        Ok(Response::new(super::review::show(&self.node, &id).await?))
    }

    async fn approve_notice(
        &self,
        request: Request<pb::ApproveNoticeRequest>,
    ) -> Result<Response<pb::ApproveNoticeResponse>, Status> {
        let answer = super::review::approve(&self.node, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn refuse_notice(
        &self,
        request: Request<pb::RefuseNoticeRequest>,
    ) -> Result<Response<pb::RefuseNoticeResponse>, Status> {
        let answer = super::review::refuse(&self.node, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn list_notices(
        &self,
        _request: Request<pb::ListNoticesRequest>,
    ) -> Result<Response<pb::ListNoticesResponse>, Status> {
        Ok(Response::new(super::notices::list(&self.node)))
    }

    async fn show_notice(
        &self,
        request: Request<pb::NoticeRef>,
    ) -> Result<Response<pb::NoticeEntry>, Status> {
        let notice_ref = request.into_inner().notice_ref;
        Ok(Response::new(super::notices::show(
            &self.node,
            &notice_ref,
        )?))
    }

    async fn quarantine_add(
        &self,
        request: Request<pb::QuarantineRule>,
    ) -> Result<Response<pb::QuarantineAddResponse>, Status> {
        operator_only(&request)?;
        let answer = super::quarantine::add(&self.node, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn quarantine_list(
        &self,
        request: Request<pb::QuarantineListRequest>,
    ) -> Result<Response<pb::QuarantineListResponse>, Status> {
        operator_only(&request)?;
        Ok(Response::new(super::quarantine::list(&self.node).await?))
    }

    async fn quarantine_show(
        &self,
        request: Request<pb::QuarantineId>,
    ) -> Result<Response<pb::QuarantinedCopy>, Status> {
        operator_only(&request)?;
        let id = request.into_inner().id;
        Ok(Response::new(
            super::quarantine::show(&self.node, id).await?,
        ))
    }

    async fn quarantine_release(
        &self,
        request: Request<pb::QuarantineId>,
    ) -> Result<Response<pb::QuarantinedCopy>, Status> {
        operator_only(&request)?;
        let id = request.into_inner().id;
        Ok(Response::new(
            super::quarantine::release(&self.node, id).await?,
        ))
    }

    async fn quarantine_drop(
        &self,
        request: Request<pb::QuarantineId>,
    ) -> Result<Response<pb::QuarantinedCopy>, Status> {
        operator_only(&request)?;
        let id = request.into_inner().id;
        Ok(Response::new(
            super::quarantine::drop_held(&self.node, id).await?,
        ))
    }

    async fn queue_list(
        &self,
        request: Request<pb::QueueListRequest>,
    ) -> Result<Response<pb::QueueListResponse>, Status> {
        operator_only(&request)?;
        let answer = super::queues::list(&self.node, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn queue_show(
        &self,
        request: Request<pb::QueueShowRequest>,
    ) -> Result<Response<pb::QueuedCopy>, Status> {
        operator_only(&request)?;
        let answer = super::queues::show(&self.node, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn queue_purge(
        &self,
        request: Request<pb::QueuePurgeRequest>,
    ) -> Result<Response<pb::QueuePurgeResponse>, Status> {
        operator_only(&request)?;
        let answer = super::queues::purge(&self.node, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn reload(
        &self,
        request: Request<pb::ReloadRequest>,
    ) -> Result<Response<pb::ReloadResponse>, Status> {
        operator_only(&request)?;
        Ok(Response::new(super::reload::reload(&self.reloads).await?))
    }

    async fn list_suspect(
        &self,
        _request: Request<pb::ListSuspectRequest>,
    ) -> Result<Response<pb::ListSuspectResponse>, Status> {
        Ok(Response::new(super::quarantine::suspect(&self.node).await?))
    }
}

/// Quarantine, the queues and reloading the config are the operator's, on the node's own
/// Unix socket: a terminal may not hold, release or purge a bureau's traffic, nor change
/// the node's config.
fn operator_only<T>(request: &Request<T>) -> Result<(), Status> {
    match terminal_of(request) {
        Some(terminal) => Err(Status::permission_denied(format!(
            "quarantine, queues and reload are for the node's operator, not terminal {terminal}"
        ))),
        None => Ok(()),
    }
}
