//! The send half of a link: a frame pump around the send-side state machine
//! (`engine::sender`). One task owns the machine; it waits, most urgent first, for the
//! answers of the four classes, hand-off arrivals, queue changes, queue reads, and the end
//! of a pause, tells the machine, and carries out what the machine asks: store reads run
//! concurrently (at most one per class, never blocking another class), offers go to the
//! class's writer (`offer_stream.rs`), forgets and give-ups to the store. The decisions are
//! all the machine's; this file knows the store only through its methods.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use bluehelm_proto::{MessageRef, NodeId, NonDeliveryReason, Precedence};
use quinn::Connection;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::offer_stream::{write_offers, AnswerEvent, WriterCommand, ANSWER_QUEUE, WRITE_QUEUE};
use crate::custody::{LinkHandle, Stats};
use crate::engine::sender::{Action, QueuedCopy, Sender};
use crate::net::frames::{LinkError, Violation};
use crate::store::{HandOff, Queued, Store, StoreError};

impl QueuedCopy for Queued {
    fn seq(&self) -> u64 {
        self.key.seq()
    }

    fn message(&self) -> &MessageRef {
        &self.message.message
    }
}

/// Runs the send half of the link with `peer` until the node stops, the store closes, or
/// the link fails.
pub(super) async fn run(
    core: &LinkHandle,
    conn: &Connection,
    peer: &NodeId,
    cancel: CancellationToken,
) -> Result<(), LinkError> {
    // Writers, forgets and give-ups. When the link ends they are aborted, and awaited, so
    // that none outlives it (issue 11). A forget is queued at the store when it is made
    // (only its outcome is awaited in here); a give-up cut short leaves its copy queued, and
    // the next link offers it again.
    let mut tasks: JoinSet<Result<(), LinkError>> = JoinSet::new();
    let result = pump(core, conn, peer, cancel, &mut tasks).await;
    tasks.shutdown().await;
    result
}

/// [`run`]'s loop: the machine, its events and its actions.
async fn pump(
    core: &LinkHandle,
    conn: &Connection,
    peer: &NodeId,
    cancel: CancellationToken,
    tasks: &mut JoinSet<Result<(), LinkError>>,
) -> Result<(), LinkError> {
    let mut machine: Sender<Queued> = Sender::new();
    let mut changes = core.queue_changes(peer);
    let hand_offs: [HandOff; 4] = std::array::from_fn(|rank| core.hand_off(peer, class(rank)));
    let max_frame = core.max_frame();
    let answers: [_; 4] = std::array::from_fn(|_| mpsc::channel(ANSWER_QUEUE));
    let writers: [_; 4] = std::array::from_fn(|rank| {
        let (writer, commands) = mpsc::channel(WRITE_QUEUE);
        let answers = answers[rank].0.clone();
        tasks.spawn(write_offers(
            conn.clone(),
            class(rank),
            max_frame,
            commands,
            answers,
        ));
        writer
    });
    let [(_, mut flash), (_, mut immediate), (_, mut priority), (_, mut routine)] = answers;
    let mut reads = Reads::default();
    let mut pump = Pump {
        core,
        peer,
        hand_offs: &hand_offs,
        writers: &writers,
    };
    loop {
        // Pauses end even while events keep the select below busy.
        let now = Instant::now();
        if machine.poll_timeout().is_some_and(|t| t <= now) {
            machine.handle_timeout(now);
        }
        while let Some(action) = machine.poll_action() {
            pump.execute(&mut machine, &mut reads, tasks, action)?;
        }
        let pause = machine.poll_timeout();
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ok(()),
            Some(done) = tasks.join_next() => match done {
                Ok(result) => result?,
                Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                Err(_) => {}
            },
            Some(event) = flash.recv() => answer(core, &mut machine, peer, Precedence::Flash, event)?,
            Some(event) = immediate.recv() => answer(core, &mut machine, peer, Precedence::Immediate, event)?,
            Some(event) = priority.recv() => answer(core, &mut machine, peer, Precedence::Priority, event)?,
            Some(event) = routine.recv() => answer(core, &mut machine, peer, Precedence::Routine, event)?,
            // A relayed copy arrives before the change below, which waits for its fsync.
            _ = hand_offs[0].arrived() => machine.handle_hand_off_arrived(class(0)),
            _ = hand_offs[1].arrived() => machine.handle_hand_off_arrived(class(1)),
            _ = hand_offs[2].arrived() => machine.handle_hand_off_arrived(class(2)),
            _ = hand_offs[3].arrived() => machine.handle_hand_off_arrived(class(3)),
            changed = changes.changed() => match changed {
                Ok(()) => machine.handle_queue_changed(),
                // The store has shut down.
                Err(_) => return Ok(()),
            },
            (class, limit, read) = reads.next() => {
                let batch = read?;
                let bytes: usize = batch.iter().map(|q| q.message.signed.len()).sum();
                // A short read means the queue is empty, unless it stopped at the byte bound.
                let stopped_at_bound = batch.len() == limit || bytes >= Store::READ_BYTES / 2;
                machine.handle_read(class, batch, stopped_at_bound);
            }
            _ = sleep_until(pause), if pause.is_some() => machine.handle_timeout(Instant::now()),
        }
    }
}

/// The class of a rank; ranks here are array indices 0..4, and `Precedence::ALL` holds the
/// four classes in rank order.
fn class(rank: usize) -> Precedence {
    Precedence::ALL[rank]
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline.into()).await;
    }
}

/// Tells the machine what the peer answered.
fn answer(
    core: &LinkHandle,
    machine: &mut Sender<Queued>,
    peer: &NodeId,
    class: Precedence,
    event: AnswerEvent,
) -> Result<(), LinkError> {
    match event {
        AnswerEvent::Accepted(refs) => {
            let relayed = machine.handle_accepted(class, &refs);
            core.relayed(peer, &relayed);
        }
        AnswerEvent::Refused(refusal) => {
            let now = Instant::now();
            if machine
                .handle_refused(now, class, &refusal, rand::random())
                .is_some()
            {
                tracing::info!(%peer, msg = %refusal.message, reason = %refusal.reason,
                    detail = %refusal.detail, "next hop refused custody");
            }
        }
        AnswerEvent::Ended => {
            machine.handle_stream_ended(class)?;
            tracing::debug!(%peer, %class, "peer ended an idle answer stream");
        }
        AnswerEvent::Failed(err) => return Err(err),
    }
    Ok(())
}

/// What the link's task needs to carry out the machine's actions.
struct Pump<'a> {
    core: &'a LinkHandle,
    peer: &'a NodeId,
    hand_offs: &'a [HandOff; 4],
    writers: &'a [mpsc::Sender<WriterCommand>; 4],
}

impl<'a> Pump<'a> {
    fn execute(
        &mut self,
        machine: &mut Sender<Queued>,
        reads: &mut Reads<'a>,
        tasks: &mut JoinSet<Result<(), LinkError>>,
        action: Action<Queued>,
    ) -> Result<(), LinkError> {
        match action {
            Action::Take { class } => {
                let copies = self.hand_offs[rank(class)].take();
                machine.handle_handed_off(class, copies);
            }
            Action::Read {
                class,
                after,
                limit,
            } => {
                let (core, peer): (&'a LinkHandle, &'a NodeId) = (self.core, self.peer);
                let read = core.queued(peer, class, after, limit);
                reads.0[rank(class)] = Some((limit, Box::pin(read)));
            }
            Action::Offer { class, copies } => {
                machine.handle_offered(class, Instant::now());
                self.write(class, WriterCommand::Offer(copies))?;
            }
            Action::Forget { class, seqs } => {
                Stats::add(&self.core.stats().forwarded, seqs.len() as u64);
                self.core
                    .stats()
                    .traffic
                    .forwarded(class, seqs.len() as u64);
                // Queued at the store now, in answer order; not awaited here. If the node
                // stops first, the copies are offered again on the next link and the peer
                // acknowledges them as duplicates.
                let forget = self.core.forget(self.peer, class, seqs);
                tasks.spawn(async move {
                    if let Err(err) = forget.await {
                        tracing::error!(error = %err, "cannot drop forwarded messages; they will be re-sent");
                    }
                    Ok(())
                });
            }
            Action::GiveUp {
                class,
                seq,
                reason,
                detail,
            } => {
                let (core, peer) = (self.core.clone(), self.peer.clone());
                tasks.spawn(
                    async move { give_up_copy(&core, &peer, class, seq, reason, detail).await },
                );
            }
            Action::CloseStream { class } => self.write(class, WriterCommand::Close)?,
        }
        Ok(())
    }

    fn write(&self, class: Precedence, command: WriterCommand) -> Result<(), LinkError> {
        match self.writers[rank(class)].try_send(command) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(Violation::AnsweredUnsent.into()),
            // The writer failed: its error comes out of `tasks`.
            Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
        }
    }
}

fn rank(class: Precedence) -> usize {
    usize::from(class.rank())
}

/// Reads the one copy the peer refused for good, and gives it up: drops it and reports its
/// non-delivery to its origin, in one commit (`custody::shell::give_up`).
async fn give_up_copy(
    core: &LinkHandle,
    peer: &NodeId,
    class: Precedence,
    seq: u64,
    reason: NonDeliveryReason,
    detail: String,
) -> Result<(), LinkError> {
    let found = core.queued(peer, class, seq.checked_sub(1), 1).await?;
    // Gone already (expired meanwhile, say): nothing to give up.
    if let Some(queued) = found.into_iter().find(|q| q.key.seq() == seq) {
        core.give_up(&queued, reason, detail).await?;
    }
    Ok(())
}

type ReadFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<Queued>, StoreError>> + Send + 'a>>;

/// The queue read under way per class, with its limit.
#[derive(Default)]
struct Reads<'a>([Option<(usize, ReadFuture<'a>)>; 4]);

impl<'a> Reads<'a> {
    /// The next read to finish, most urgent class first; never, while none is under way.
    async fn next(&mut self) -> (Precedence, usize, Result<Vec<Queued>, StoreError>) {
        std::future::poll_fn(|cx| {
            for (rank, slot) in self.0.iter_mut().enumerate() {
                if let Some((limit, read)) = slot {
                    if let Poll::Ready(result) = read.as_mut().poll(cx) {
                        let limit = *limit;
                        *slot = None;
                        return Poll::Ready((class(rank), limit, result));
                    }
                }
            }
            Poll::Pending
        })
        .await
    }
}
