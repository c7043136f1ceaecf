//! One precedence class's offer stream: a writer task that owns the stream's send side and
//! builds the Transfer frames, and a reader task per stream that passes the answers on. A
//! writer of its own per class means a ROUTINE stream stalled by QUIC flow control never
//! delays a FLASH offer: the link's task only hands each writer its offers through a
//! bounded channel and goes on.

use bluehelm_proto::framing::write_transfer_frame;
use bluehelm_proto::{HeldPart, LinkFrame, MessageRef, Precedence, Refusal};
use bytes::Bytes;
use quinn::{Connection, RecvStream, SendStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::AbortOnDropHandle;

use super::parts::{goes_in_parts, write_parts};
use super::priority;
use crate::engine::sender::SEND_WINDOW;
use crate::net::frames::{frame_name, read_frame, write_frames, LinkError, Violation};
use crate::store::Queued;

/// A writer's queue: one slot per copy the window lets be in flight (each offer holds at
/// least one), and one for a [`WriterCommand::Close`], which comes only with nothing in
/// flight. So the link's task never waits for a writer; a full queue means the peer
/// answered offers it cannot have read yet.
pub(super) const WRITE_QUEUE: usize = SEND_WINDOW + 1;
/// Answers read but not yet taken by the link's task, per class.
pub(super) const ANSWER_QUEUE: usize = 64;
/// Most offers a writer turns into one write.
const WRITE_BATCH: usize = 64;
/// The next frame buffer is sized like the last write, up to this.
const KEEP_BUFFER: usize = 1024 * 1024;

pub(super) enum WriterCommand {
    /// Write these copies as Transfer frames, opening a stream if there is none.
    Offer(Vec<Queued>),
    /// End this side of the stream (the peer ended its answers with nothing unanswered).
    Close,
}

/// What the peer said on a class's answer stream.
pub(super) enum AnswerEvent {
    Accepted(Vec<MessageRef>),
    Refused(Refusal),
    /// The peer ended the answer side (FIN) between frames.
    Ended,
    /// The answers broke the protocol, or the stream failed; the reader has stopped.
    Failed(LinkError),
}

/// An open offer stream and the task reading its answers.
struct OfferStream {
    send: SendStream,
    /// What the receiver holds of copies begun earlier: coming (its first answer), or come.
    held: Held,
    _reader: AbortOnDropHandle<()>,
}

enum Held {
    Coming(oneshot::Receiver<Vec<HeldPart>>),
    Known(Vec<HeldPart>),
}

/// Opens a class's offer streams and writes its offers, until the link's task drops its
/// channel. The first stream is opened at once: a peer sees one offer stream per class
/// when the link comes up.
pub(super) async fn write_offers(
    conn: Connection,
    class: Precedence,
    max_frame: usize,
    mut commands: mpsc::Receiver<WriterCommand>,
    answers: mpsc::Sender<AnswerEvent>,
) -> Result<(), LinkError> {
    let opener = Opener {
        conn: &conn,
        class,
        max_frame,
        answers: &answers,
    };
    let mut stream = Some(opener.open().await?);
    let mut frames = Vec::new();
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while commands.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        for command in batch.drain(..) {
            match command {
                WriterCommand::Offer(copies) => {
                    for queued in &copies {
                        if goes_in_parts(queued) {
                            // Sent from where the receiver stands, which its first answer
                            // says: what is built so far goes first, then we wait for it.
                            opener.flush(&mut stream, &mut frames).await?;
                            let held = opener.held(&mut stream).await?;
                            let skipped = write_parts(queued, held, &mut frames);
                            if skipped > 0 {
                                tracing::debug!(msg = %queued.message.message, %class, skipped,
                                    "resuming a large copy where the peer stands");
                            }
                            continue;
                        }
                        // The stored signed envelope goes out byte for byte as it was
                        // verified on receipt.
                        let message = &queued.message;
                        write_transfer_frame(
                            &message.signed,
                            message.hops,
                            &message.recipients,
                            &mut frames,
                        );
                    }
                }
                WriterCommand::Close => {
                    opener.flush(&mut stream, &mut frames).await?;
                    // Dropping the send side finishes it; the next offer opens a new stream.
                    stream = None;
                }
            }
        }
        opener.flush(&mut stream, &mut frames).await?;
    }
    Ok(())
}

struct Opener<'a> {
    conn: &'a Connection,
    class: Precedence,
    max_frame: usize,
    answers: &'a mpsc::Sender<AnswerEvent>,
}

impl Opener<'_> {
    async fn open(&self) -> Result<OfferStream, LinkError> {
        let (mut send, recv) = self.conn.open_bi().await?;
        // The stream was just opened: it is not closed yet.
        let _ = send.set_priority(priority(self.class));
        write_frames(
            &mut send,
            &[LinkFrame::Open {
                precedence: self.class,
            }],
        )
        .await?;
        // Owned by the stream and aborted with it (the writer task, which the link's send
        // half awaits). It holds only the stream's receive half and a sender of answers:
        // nothing of the store or the node, so an abort loses nothing the peer cannot resend.
        let (held_tx, held_rx) = oneshot::channel();
        let reader = tokio::spawn(read_answers(
            recv,
            self.max_frame,
            held_tx,
            self.answers.clone(),
        ));
        Ok(OfferStream {
            send,
            held: Held::Coming(held_rx),
            _reader: AbortOnDropHandle::new(reader),
        })
    }

    /// What the receiver holds of copies begun earlier, waiting for its first answer if
    /// need be; opens a stream if there is none.
    async fn held<'s>(
        &self,
        stream: &'s mut Option<OfferStream>,
    ) -> Result<&'s mut Vec<HeldPart>, LinkError> {
        let open = match stream {
            Some(open) => open,
            None => stream.insert(self.open().await?),
        };
        if let Held::Coming(coming) = &mut open.held {
            // Gone without an answer: the reader failed and says why to the link's task;
            // nothing is held as far as this writer knows.
            open.held = Held::Known(coming.await.unwrap_or_default());
        }
        match &mut open.held {
            Held::Known(held) => Ok(held),
            Held::Coming(_) => unreachable!("set to known just above"),
        }
    }

    /// Writes the frames built so far, opening a stream if there is none.
    async fn flush(
        &self,
        stream: &mut Option<OfferStream>,
        frames: &mut Vec<u8>,
    ) -> Result<(), LinkError> {
        if frames.is_empty() {
            return Ok(());
        }
        let open = match stream {
            Some(open) => open,
            None => stream.insert(self.open().await?),
        };
        // Handed to quinn as it is (write_all would copy it into quinn's buffers); the next
        // write gets a buffer of this one's size, so it is not grown copy by copy either.
        let next = Vec::with_capacity(frames.len().min(KEEP_BUFFER));
        let written = Bytes::from(std::mem::replace(frames, next));
        open.send.write_chunk(written).await?;
        Ok(())
    }
}

/// Passes a stream's answers on, until the stream ends or breaks the protocol. The first
/// answer, what the receiver holds of copies begun earlier, goes to the writer.
async fn read_answers(
    mut recv: RecvStream,
    max_frame: usize,
    held: oneshot::Sender<Vec<HeldPart>>,
    answers: mpsc::Sender<AnswerEvent>,
) {
    let first = match read_frame(&mut recv, max_frame).await {
        Ok(Some(LinkFrame::PartsHeld(parts))) => {
            let _ = held.send(parts);
            None
        }
        Ok(Some(other)) => Some(AnswerEvent::Failed(
            Violation::NoPartsHeld(frame_name(&other)).into(),
        )),
        Ok(None) => Some(AnswerEvent::Ended),
        Err(err) => Some(AnswerEvent::Failed(err)),
    };
    if let Some(event) = first {
        let _ = answers.send(event).await;
        return;
    }
    loop {
        let event = match read_frame(&mut recv, max_frame).await {
            Ok(Some(LinkFrame::Accepted(refs))) => AnswerEvent::Accepted(refs),
            Ok(Some(LinkFrame::Refused(refusal))) => AnswerEvent::Refused(refusal),
            Ok(Some(other)) => AnswerEvent::Failed(
                Violation::UnexpectedFrame {
                    frame: frame_name(&other),
                    stream: "an answer stream",
                }
                .into(),
            ),
            Ok(None) => AnswerEvent::Ended,
            Err(err) => AnswerEvent::Failed(err),
        };
        let last = matches!(event, AnswerEvent::Ended | AnswerEvent::Failed(_));
        if answers.send(event).await.is_err() || last {
            return;
        }
    }
}
