//! One link with a neighbour over one QUIC connection. Each side sends its own queue for the
//! other on up to four bidirectional streams, one per precedence (FLASH at the highest QUIC
//! stream priority, so it never waits behind a ROUTINE backlog), and answers the other side's
//! offers on the streams the other side opened.

use std::sync::Arc;
use std::time::Duration;

use bluehelm_proto::framing::write_transfer_frame;
use bluehelm_proto::{LinkFrame, MessageRef, NodeId, Precedence};
use quinn::{Connection, RecvStream, SendStream, VarInt};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::frames::{frame_name, read_frame, write_frames, LinkError};
use super::offered::Offered;
use crate::engine::backoff::Backoff;
use crate::engine::custody::{on_refusal, RefusalAction};
use crate::node::core::{Core, Stats};
use crate::node::custody::{decide_offers, give_up, Decided, Offer};
use crate::store::{QueueKey, Queued, Store};

/// Copies of one precedence class offered but not yet answered, per link. Bounds what a
/// silent peer costs us, and covers the bandwidth-delay product of two fsyncs.
const SEND_WINDOW: usize = 1024;
/// Most copies read from the store at a time: one read holds the store thread, and every
/// commit waits behind it (a FLASH one too).
const READ_BATCH: usize = 128;
/// Offers received but not yet decided on, per stream: bounds memory per peer; QUIC flow
/// control holds back the rest.
const RECEIVE_QUEUE: usize = 2048;
/// Most offers decided on in one batch (one batch verification, one commit).
const RECEIVE_BATCH: usize = 128;
/// Batches whose commit may be under way at once, per stream.
const BATCHES_IN_FLIGHT: usize = 4;
/// Bytes of offers read but not yet answered, per stream.
const RECEIVE_BYTES: usize = 16 * 1024 * 1024;

/// Application error codes on CONNECTION_CLOSE and stream resets.
pub const CLOSE_NORMAL: VarInt = VarInt::from_u32(0);
pub const CLOSE_PROTOCOL: VarInt = VarInt::from_u32(1);
pub const CLOSE_REFUSED: VarInt = VarInt::from_u32(2);

/// Retry timing after a temporary refusal.
const REFUSAL_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(200),
    max: Duration::from_secs(60),
};

/// Runs a link until the connection ends or the node stops.
pub async fn run_link(core: Arc<Core>, conn: Connection, peer: NodeId) {
    let cancel = core.cancel.child_token();
    let mut tasks = tokio::task::JoinSet::new();
    // Until each class has looked at its queue, assume it has a backlog.
    let (gate, _) = watch::channel([true; 4]);
    for &precedence in Precedence::ALL {
        let (core, conn, peer, cancel) = (core.clone(), conn.clone(), peer.clone(), cancel.clone());
        let gate = gate.clone();
        tasks.spawn(async move {
            if let Err(err) = send_loop(&core, &conn, &peer, precedence, gate, cancel).await {
                close_on_error(&core, &conn, &peer, &err);
            }
        });
    }
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = conn.accept_bi() => match accepted {
                Ok((send, recv)) => {
                    let (core, conn, peer) = (core.clone(), conn.clone(), peer.clone());
                    tasks.spawn(async move {
                        if let Err(err) = serve_stream(&core, &peer, send, recv).await {
                            close_on_error(&core, &conn, &peer, &err);
                        }
                    });
                }
                Err(err) => {
                    tracing::info!(%peer, reason = %err, "link closed");
                    break;
                }
            },
        }
    }
    cancel.cancel();
    conn.close(CLOSE_NORMAL, b"link closed");
    while tasks.join_next().await.is_some() {}
}

fn close_on_error(core: &Core, conn: &Connection, peer: &NodeId, err: &LinkError) {
    match err {
        LinkError::Frame(_) | LinkError::Protocol(_) => {
            Stats::add(&core.stats.protocol_errors, 1);
            tracing::warn!(%peer, error = %err, "closing link: peer broke the protocol");
            conn.close(CLOSE_PROTOCOL, b"protocol violation");
        }
        _ => {
            tracing::debug!(%peer, error = %err, "link stream ended");
            conn.close(CLOSE_NORMAL, b"stream failed");
        }
    }
}

/// QUIC stream priority of a precedence class (higher is sent first).
fn priority(precedence: Precedence) -> i32 {
    3 - i32::from(precedence.rank())
}

enum Answer {
    Accepted(Vec<MessageRef>),
    Refused(bluehelm_proto::Refusal),
}

/// Offers this node's queue of one precedence class for `peer`, and handles the answers.
///
/// `gate` holds, per class, whether it is busy: it may still have messages queued, or has
/// some offered and not yet answered. A class offers nothing while a higher one is busy, so
/// that a queue that built up while the link was down reaches the peer's inbox FLASH first,
/// and a FLASH message never shares the peer's attention with a ROUTINE flood.
async fn send_loop(
    core: &Arc<Core>,
    conn: &Connection,
    peer: &NodeId,
    precedence: Precedence,
    gate: watch::Sender<[bool; 4]>,
    cancel: CancellationToken,
) -> Result<(), LinkError> {
    let rank = usize::from(precedence.rank());
    let mut higher = gate.subscribe();
    let opener = StreamOpener {
        conn,
        precedence,
        max_frame: core.config.limits.max_frame_bytes,
    };
    // `None` once the peer ended the answer side with nothing unanswered (protocol.md 7.2).
    let mut stream = Some(opener.open().await?);

    let mut changes = core.store.hop_changes(peer);
    let hand_off = core.store.hand_off(peer, precedence);
    let mut offered = Offered::default();
    let mut paused_until: Option<Instant> = None;
    let mut refusals: u32 = 0;
    loop {
        if paused_until.is_some_and(|t| Instant::now() >= t) {
            paused_until = None;
        }
        let held_back = higher.borrow_and_update()[..rank].iter().any(|b| *b);
        if paused_until.is_none() && offered.in_flight() < SEND_WINDOW && !held_back {
            changes.borrow_and_update();
            let fresh = offered.handed_off(hand_off.take(), SEND_WINDOW - offered.in_flight());
            opener.offer(&mut stream, &fresh).await?;
            let room = (SEND_WINDOW - offered.in_flight()).min(READ_BATCH);
            let batch = core
                .store
                .queued(peer, precedence, offered.cursor(), room)
                .await?;
            let bytes: usize = batch.iter().map(|q| q.message.signed.len()).sum();
            // A short read means the queue is empty, unless it stopped at the byte bound.
            let backlog = batch.len() == room || bytes >= Store::READ_BYTES / 2;
            let read_some = !batch.is_empty();
            let batch = offered.read(batch, backlog);
            if read_some {
                opener.offer(&mut stream, &batch).await?;
                continue;
            }
        }
        let busy = offered.backlog() || offered.in_flight() > 0;
        gate.send_if_modified(|flags| std::mem::replace(&mut flags[rank], busy) != busy);
        let pause = paused_until.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ok(()),
            answer = next_answer(&mut stream) => match answer {
                Some(Ok(Answer::Accepted(refs))) => {
                    refusals = 0;
                    let keys = offered.accepted(&refs);
                    Stats::add(&core.stats.forwarded, keys.len() as u64);
                    forget(core, keys);
                }
                Some(Ok(Answer::Refused(refusal))) => {
                    let action = on_refusal(refusal.reason);
                    let retry = matches!(action, RefusalAction::RetryLater);
                    let Some(key) = offered.refused(&refusal.message, retry) else { continue };
                    tracing::info!(%peer, msg = %refusal.message, reason = %refusal.reason,
                        detail = %refusal.detail, "next hop refused custody");
                    match action {
                        RefusalAction::RetryLater => {
                            let delay = REFUSAL_BACKOFF.delay(refusals, rand::random());
                            refusals = refusals.saturating_add(1);
                            paused_until = Some(Instant::now() + delay);
                        }
                        RefusalAction::GiveUp(reason) => {
                            if let Some(queued) = fetch(core, peer, precedence, &key).await? {
                                give_up(core, &queued, reason, refusal.detail).await?;
                            }
                        }
                    }
                }
                Some(Err(err)) => return Err(err),
                // Offers on it would never be answered: the copies stay queued, and the next
                // link offers them again.
                None if offered.in_flight() > 0 => {
                    return Err(LinkError::Protocol(format!(
                        "answer stream ended with {} offers unanswered",
                        offered.in_flight()
                    )))
                }
                // Nothing lost: end our side too; the next offer opens a new stream.
                None => {
                    tracing::debug!(%peer, %precedence, "peer ended an idle answer stream");
                    stream = None;
                }
            },
            changed = changes.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            // A relayed copy arrives before the change above, which waits for its fsync.
            _ = hand_off.arrived() => {}
            _ = higher.changed() => {}
            _ = tokio::time::sleep_until(pause), if paused_until.is_some() => {}
        }
    }
}

/// A send loop's offer stream and the task reading its answers.
struct OfferStream {
    send: SendStream,
    answers: mpsc::Receiver<Result<Answer, LinkError>>,
    _reader: AbortOnDrop,
}

/// Opens a send loop's offer streams and writes its offers.
struct StreamOpener<'a> {
    conn: &'a Connection,
    precedence: Precedence,
    max_frame: usize,
}

impl StreamOpener<'_> {
    async fn open(&self) -> Result<OfferStream, LinkError> {
        let (mut send, recv) = self.conn.open_bi().await?;
        // The stream was just opened: it is not closed yet.
        let _ = send.set_priority(priority(self.precedence));
        write_frames(
            &mut send,
            &[LinkFrame::Open {
                precedence: self.precedence,
            }],
        )
        .await?;
        let (answers_tx, answers) = mpsc::channel(64);
        let reader = tokio::spawn(read_answers(recv, self.max_frame, answers_tx));
        Ok(OfferStream {
            send,
            answers,
            _reader: AbortOnDrop(reader),
        })
    }

    /// Offers `copies` on the stream, opening a new one if the peer ended the last.
    async fn offer(
        &self,
        stream: &mut Option<OfferStream>,
        copies: &[Queued],
    ) -> Result<(), LinkError> {
        if copies.is_empty() {
            return Ok(());
        }
        if stream.is_none() {
            *stream = Some(self.open().await?);
        }
        if let Some(open) = stream {
            open.send.write_all(&frames(copies)).await?;
        }
        Ok(())
    }
}

/// The next answer on the stream; `None` when the peer ended its answer side. Without a
/// stream, never.
async fn next_answer(stream: &mut Option<OfferStream>) -> Option<Result<Answer, LinkError>> {
    match stream {
        Some(open) => open.answers.recv().await,
        None => std::future::pending().await,
    }
}

/// Transfer frames, ready to write. The stored signed envelope goes out byte for byte as it
/// was verified on receipt (sled checksums its log, so a record that reads back is the record
/// that was written).
fn frames(copies: &[Queued]) -> Vec<u8> {
    let mut frames = Vec::new();
    for queued in copies {
        let message = &queued.message;
        write_transfer_frame(
            &message.signed,
            message.hops,
            &message.recipients,
            &mut frames,
        );
    }
    frames
}

/// Drops copies the next hop holds now. Not awaited: if the node stops first, the copies are
/// offered again on the next link and the peer acknowledges them as duplicates.
fn forget(core: &Arc<Core>, keys: Vec<QueueKey>) {
    if keys.is_empty() {
        return;
    }
    let core = core.clone();
    tokio::spawn(async move {
        let writes = keys.into_iter().map(crate::store::Write::Forget).collect();
        if let Err(err) = core.store.commit(writes).await {
            tracing::error!(error = %err, "cannot drop forwarded messages; they will be re-sent");
        }
    });
}

async fn fetch(
    core: &Core,
    peer: &NodeId,
    precedence: Precedence,
    key: &QueueKey,
) -> Result<Option<Queued>, LinkError> {
    let after = key.seq().checked_sub(1);
    let found = core.store.queued(peer, precedence, after, 1).await?;
    Ok(found.into_iter().find(|q| &q.key == key))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn read_answers(
    mut recv: RecvStream,
    max_frame: usize,
    answers: mpsc::Sender<Result<Answer, LinkError>>,
) {
    let mut buf = Vec::new();
    loop {
        let answer = match read_frame(&mut recv, max_frame, &mut buf).await {
            Ok(Some(LinkFrame::Accepted(refs))) => Ok(Answer::Accepted(refs)),
            Ok(Some(LinkFrame::Refused(refusal))) => Ok(Answer::Refused(refusal)),
            Ok(Some(other)) => Err(LinkError::Protocol(format!(
                "unexpected frame on an answer stream: {}",
                frame_name(&other)
            ))),
            Ok(None) => return,
            Err(err) => Err(err),
        };
        let failed = answer.is_err();
        if answers.send(answer).await.is_err() || failed {
            return;
        }
    }
}

/// Serves a stream the peer opened: a control stream (pings) or an offer stream.
async fn serve_stream(
    core: &Arc<Core>,
    peer: &NodeId,
    mut send: SendStream,
    mut recv: RecvStream,
) -> Result<(), LinkError> {
    let max_frame = core.config.limits.max_frame_bytes;
    let mut buf = Vec::new();
    match read_frame(&mut recv, max_frame, &mut buf).await? {
        Some(LinkFrame::Ping(nonce)) => {
            write_frames(&mut send, &[LinkFrame::Pong(nonce)]).await?;
            while let Some(frame) = read_frame(&mut recv, max_frame, &mut buf).await? {
                match frame {
                    LinkFrame::Ping(nonce) => {
                        write_frames(&mut send, &[LinkFrame::Pong(nonce)]).await?
                    }
                    other => {
                        return Err(LinkError::Protocol(format!(
                            "unexpected {} on the control stream",
                            frame_name(&other)
                        )))
                    }
                }
            }
            Ok(())
        }
        Some(LinkFrame::Open { precedence }) => {
            serve_offers(core, peer, precedence, send, recv).await
        }
        Some(other) => Err(LinkError::Protocol(format!(
            "stream must start with open or ping, not {}",
            frame_name(&other)
        ))),
        None => Ok(()),
    }
}

/// Reads offers, decides on them in batches, and answers batch by batch, in the order the
/// batches were read: per batch one `CustodyAccepted` listing every accepted offer, then one
/// `CustodyRefused` per refusal (senders match answers by message reference). Reading, deciding and
/// answering run concurrently so that verification overlaps the previous batch's fsync.
async fn serve_offers(
    core: &Arc<Core>,
    peer: &NodeId,
    precedence: Precedence,
    mut send: SendStream,
    mut recv: RecvStream,
) -> Result<(), LinkError> {
    tracing::debug!(%peer, %precedence, "offer stream opened");
    let max_frame = core.config.limits.max_frame_bytes;
    let (offers_tx, mut offers_rx) = mpsc::channel::<(Offer, OwnedSemaphorePermit)>(RECEIVE_QUEUE);
    let (pending_tx, mut pending_rx) =
        mpsc::channel::<(Decided, Vec<OwnedSemaphorePermit>)>(BATCHES_IN_FLIGHT);
    // Offers read but not yet answered hold their size in permits: what one stream can make
    // this node buffer is bounded in bytes, not only in count. QUIC flow control holds the
    // rest back at the sender.
    let budget = Arc::new(Semaphore::new(RECEIVE_BYTES));

    let decider = {
        let core = core.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(RECEIVE_BATCH);
            while offers_rx.recv_many(&mut batch, RECEIVE_BATCH).await > 0 {
                let (offers, permits): (Vec<Offer>, Vec<OwnedSemaphorePermit>) =
                    std::mem::take(&mut batch).into_iter().unzip();
                let decided = decide_offers(&core, offers, Some(precedence)).await;
                if pending_tx.send((decided, permits)).await.is_err() {
                    return;
                }
            }
        })
    };
    let _abort_decider = AbortOnDrop(decider);
    let answerer = {
        let core = core.clone();
        tokio::spawn(async move {
            while let Some((decided, permits)) = pending_rx.recv().await {
                let frames = answer_frames(decided.finish(&core).await);
                drop(permits);
                write_frames(&mut send, &frames).await?;
            }
            Ok::<(), LinkError>(())
        })
    };

    let mut buf = Vec::new();
    let result = loop {
        match read_frame(&mut recv, max_frame, &mut buf).await {
            Ok(Some(LinkFrame::Transfer(transfer))) => {
                // The frame's size, capped so that one frame can always get its permits.
                let size = u32::try_from(buf.len().min(RECEIVE_BYTES)).unwrap_or(u32::MAX);
                let Ok(permit) = budget.clone().acquire_many_owned(size).await else {
                    break Ok(());
                };
                let offer = Offer {
                    signed: transfer.envelope,
                    hops: transfer.hops,
                    recipients: transfer.recipients,
                    from: peer.clone(),
                };
                if offers_tx.send((offer, permit)).await.is_err() {
                    break Ok(());
                }
            }
            Ok(Some(other)) => {
                break Err(LinkError::Protocol(format!(
                    "unexpected {} on an offer stream",
                    frame_name(&other)
                )))
            }
            Ok(None) => break Ok(()),
            Err(err) => break Err(err),
        }
    };
    drop(offers_tx);
    if result.is_ok() {
        // Answer what was read before the stream ended.
        if let Ok(Err(err)) = answerer.await {
            return Err(err);
        }
    } else {
        answerer.abort();
    }
    result
}

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
