//! One link with a neighbour over one QUIC connection. Each side sends its own queue for the
//! other on up to four bidirectional streams, one per precedence (FLASH at the highest QUIC
//! stream priority, so it never waits behind a ROUTINE backlog), and answers the other side's
//! offers on the streams the other side opened.
//!
//! The send half is one task per link (`send.rs`), a frame pump around the send-side state
//! machine (`engine::sender`), with one writer per class (`offer_stream.rs`). The receive
//! half is below: per stream the peer opened, a reader, a decider and an answerer.

mod offer_stream;
mod parts;
mod reader;
mod send;

use std::sync::Arc;

use bluehelm_proto::{LinkFrame, MessageRef, NodeId, Precedence, Refusal};
use quinn::{Connection, ConnectionError, RecvStream, SendStream, VarInt};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::task::AbortOnDropHandle;

use super::crl::CrlExchange;
use super::frames::{frame_name, read_frame, write_frames, Blame, LinkError, Violation};
use crate::custody::{Decided, Offer};
use crate::custody::{LinkHandle, Stats};

/// Offers received but not yet decided on, per stream: bounds memory per peer; QUIC flow
/// control holds back the rest.
const RECEIVE_QUEUE: usize = 2048;
/// Most offers decided on in one batch (one batch verification, one commit). 256 rather
/// than the sender's 128-copy reads: a batch may take two reads' worth that waited, which
/// measured 1.14x `throughput` and 0.9x its CPU with FLASH under a backlog unchanged
/// (docs/performance.md, "Receive batches of 256"); 512 did worse.
const RECEIVE_BATCH: usize = 256;
/// Batches whose commit may be under way at once, per stream.
const BATCHES_IN_FLIGHT: usize = 4;
/// Bytes of offers read but not yet answered, per stream.
const RECEIVE_BYTES: usize = 16 * 1024 * 1024;

/// Application error codes on CONNECTION_CLOSE and stream resets.
pub const CLOSE_NORMAL: VarInt = VarInt::from_u32(0);
pub const CLOSE_PROTOCOL: VarInt = VarInt::from_u32(1);
pub const CLOSE_REFUSED: VarInt = VarInt::from_u32(2);

/// Runs a link until the connection ends or the node stops: why the connection ended, or
/// `None` when the node is stopping.
pub async fn run_link(
    core: LinkHandle,
    conn: Connection,
    peer: NodeId,
    crl: Arc<CrlExchange>,
) -> Option<ConnectionError> {
    let cancel = core.cancel().child_token();
    let mut tasks = tokio::task::JoinSet::new();
    {
        let (core, conn, peer, cancel) = (core.clone(), conn.clone(), peer.clone(), cancel.clone());
        let crl = crl.clone();
        tasks.spawn(async move {
            // The CRL in force first: the peer deals with it before it is offered anything
            // (issue 14: an offline post gets the CRL first when it reconnects).
            let sent = super::crl::send_first(&conn, &peer, &crl).await;
            if let Err(err) = match sent {
                Ok(()) => send::run(&core, &conn, &peer, cancel).await,
                Err(err) => Err(err),
            } {
                close_on_error(&core, &conn, &peer, &err);
            }
        });
    }
    // A replica keeps its databases level with the hub while the link is up (issue 13).
    if core.config().databases.hub == peer {
        for database in core.config().databases.replicate.iter().copied() {
            let (core, conn, peer) = (core.clone(), conn.clone(), peer.clone());
            tasks.spawn(crate::records::sync::client::run(
                core, conn, peer, database,
            ));
        }
    }
    let reason = loop {
        tokio::select! {
            // Cancellation first: a node that stops also closes its endpoint, and a link
            // that saw both must end as stopping (`None`), not as a link down at WARN (200 of
            // them at once when the fanout bench stops its NCBs).
            biased;
            _ = cancel.cancelled() => break None,
            accepted = conn.accept_bi() => match accepted {
                Ok((send, recv)) => {
                    let (core, conn, peer) = (core.clone(), conn.clone(), peer.clone());
                    let crl = crl.clone();
                    tasks.spawn(async move {
                        if let Err(err) = serve_stream(&core, &peer, &crl, send, recv).await {
                            close_on_error(&core, &conn, &peer, &err);
                        }
                    });
                }
                // Reported at WARN by the caller, which knows whether it was the live link.
                Err(err) => {
                    tracing::debug!(%peer, reason = %err, "link closed");
                    break Some(err);
                }
            },
        }
    };
    cancel.cancel();
    conn.close(CLOSE_NORMAL, b"link closed");
    while tasks.join_next().await.is_some() {}
    reason
}

/// Closes the link after an error: with `CLOSE_PROTOCOL` (and counted) if the peer broke
/// the protocol, else normally.
fn close_on_error(core: &LinkHandle, conn: &Connection, peer: &NodeId, err: &LinkError) {
    match err.blame() {
        Blame::PeerMisbehaved => {
            Stats::add(&core.stats().protocol_errors, 1);
            tracing::warn!(%peer, error = %err, "closing link: peer broke the protocol");
            conn.close(CLOSE_PROTOCOL, b"protocol violation");
        }
        blame => {
            tracing::debug!(%peer, ?blame, error = %err, "link stream ended");
            conn.close(CLOSE_NORMAL, b"stream failed");
        }
    }
}

/// QUIC stream priority of a precedence class (higher is sent first).
pub(super) fn priority(precedence: Precedence) -> i32 {
    3 - i32::from(precedence.rank())
}

/// Serves a stream the peer opened: a control stream (pings), an offer stream, a sync
/// stream or a CRL stream.
async fn serve_stream(
    core: &LinkHandle,
    peer: &NodeId,
    crl: &CrlExchange,
    mut send: SendStream,
    mut recv: RecvStream,
) -> Result<(), LinkError> {
    let max_frame = core.max_frame();
    match read_frame(&mut recv, max_frame).await? {
        Some(LinkFrame::Ping(nonce)) => {
            write_frames(&mut send, &[LinkFrame::Pong(nonce)]).await?;
            while let Some(frame) = read_frame(&mut recv, max_frame).await? {
                match frame {
                    LinkFrame::Ping(nonce) => {
                        write_frames(&mut send, &[LinkFrame::Pong(nonce)]).await?
                    }
                    other => {
                        return Err(Violation::UnexpectedFrame {
                            frame: frame_name(&other),
                            stream: "the control stream",
                        }
                        .into())
                    }
                }
            }
            Ok(())
        }
        Some(LinkFrame::Open { precedence }) => {
            serve_offers(core, peer, precedence, send, recv).await
        }
        Some(LinkFrame::SyncRequest(request)) => {
            crate::records::sync::serve::serve(core, peer, request, send, recv).await
        }
        Some(LinkFrame::Crl(der)) => super::crl::serve(crl, peer, der, send, recv).await,
        Some(other) => Err(Violation::BadFirstFrame(frame_name(&other)).into()),
        None => Ok(()),
    }
}

/// Reads offers, decides on them in batches, and answers batch by batch, in the order the
/// batches were read: per batch one `CustodyAccepted` listing every accepted offer, then one
/// `CustodyRefused` per refusal (senders match answers by message reference). Reading, deciding and
/// answering run concurrently so that verification overlaps the previous batch's fsync.
async fn serve_offers(
    core: &LinkHandle,
    peer: &NodeId,
    precedence: Precedence,
    mut send: SendStream,
    recv: RecvStream,
) -> Result<(), LinkError> {
    tracing::debug!(%peer, %precedence, "offer stream opened");
    // What is held of copies this peer did not finish: its writer resumes after it (7.6).
    write_frames(&mut send, &[parts::held_frame(core, peer, precedence)]).await?;
    let (offers_tx, mut offers_rx) = mpsc::channel::<Incoming>(RECEIVE_QUEUE);
    let (pending_tx, mut pending_rx) = mpsc::channel::<Pending>(BATCHES_IN_FLIGHT);
    // Offers read but not yet answered hold their size in permits: what one stream can make
    // this node buffer is bounded in bytes, not only in count. QUIC flow control holds the
    // rest back at the sender.
    let budget = Arc::new(Semaphore::new(RECEIVE_BYTES));

    let decider = {
        let core = core.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(RECEIVE_BATCH);
            while offers_rx.recv_many(&mut batch, RECEIVE_BATCH).await > 0 {
                let (mut offers, mut permits, mut refusals) = (Vec::new(), Vec::new(), Vec::new());
                for incoming in batch.drain(..) {
                    match incoming {
                        Incoming::Offer(offer, permit) => {
                            offers.push(offer);
                            permits.push(permit);
                        }
                        Incoming::Refuse(refusal) => refusals.push(refusal),
                    }
                }
                let decided = if offers.is_empty() {
                    None
                } else {
                    match core.decide_offers(offers, precedence).await {
                        Some(decided) => Some(decided),
                        // Not decided (the node is stopping): the peer offers them again.
                        None => return,
                    }
                };
                if pending_tx.send((decided, permits, refusals)).await.is_err() {
                    return;
                }
            }
        })
    };
    // Both helpers are aborted if this stream's task is (the link's `JoinSet` going away),
    // and awaited below otherwise: no task of a stream outlives it (issue 11).
    let decider = AbortOnDropHandle::new(decider);
    let answerer = {
        let core = core.clone();
        AbortOnDropHandle::new(tokio::spawn(async move {
            while let Some((decided, permits, refusals)) = pending_rx.recv().await {
                let mut answers = match decided {
                    Some(decided) => core.finish(decided).await,
                    None => Vec::new(),
                };
                answers.extend(refusals.into_iter().map(Err));
                let frames = answer_frames(answers);
                drop(permits);
                write_frames(&mut send, &frames).await?;
            }
            Ok::<(), LinkError>(())
        }))
    };

    let reader = reader::Reader {
        core: core.clone(),
        peer: peer.clone(),
        precedence,
        recv,
        budget,
        offers: offers_tx,
    };
    let result = reader.read_all().await;
    if result.is_err() {
        answerer.abort();
        decider.abort();
    }
    // Otherwise the answerer answers what was read before the stream ended. Either way both
    // end now: the decider once its queue is empty (its sender is gone) or its answerer is,
    // the answerer once the decider is gone.
    let answered = answerer.await;
    let _ = decider.await;
    match (result, answered) {
        (Ok(()), Ok(Err(err))) => Err(err),
        (result, _) => result,
    }
}

/// What the reader hands the decider: an offer with the bytes it holds, or a refusal
/// decided already (a large copy whose parts were dropped here, 7.6).
pub(super) enum Incoming {
    Offer(Offer, OwnedSemaphorePermit),
    Refuse(Refusal),
}

/// A batch on its way to the answerer: the decided offers (none: only refusals), their
/// permits, and the refusals decided already.
type Pending = (Option<Decided>, Vec<OwnedSemaphorePermit>, Vec<Refusal>);

fn answer_frames(answers: Vec<Result<MessageRef, bluehelm_proto::Refusal>>) -> Vec<LinkFrame> {
    let mut frames = Vec::new();
    let mut accepted = Vec::new();
    for answer in answers {
        match answer {
            Ok(message) => accepted.push(message),
            Err(refusal) => frames.push(LinkFrame::Refused(refusal)),
        }
    }
    if !accepted.is_empty() {
        frames.insert(0, LinkFrame::Accepted(accepted));
    }
    frames
}
