//! The reading side of a peer's offer stream: frames in, offers to the decider.
//!
//! A ROUTINE or PRIORITY stream is read where it arrived (the node's runtime) while it is
//! calm, so that a lone message waits for nothing, and on the bulk runtime (`custody::bulk`,
//! nice 19) while it floods: tokio runs a runtime's tasks in turn, whatever they carry, and a
//! flood's reader woken for every frame put FLASH streams' tasks behind it (FLASH p50 3.39
//! against 2.78 ms under a backlog, docs/performance.md). A FLASH or IMMEDIATE stream is
//! always read where it arrived.

use std::sync::Arc;

use bluehelm_proto::{LinkFrame, NodeId, Precedence, Transfer};
use quinn::RecvStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::task::AbortOnDropHandle;

use super::{parts, Incoming, RECEIVE_BYTES, RECEIVE_QUEUE};
use crate::custody::{Bulk, LinkHandle, Offer};
use crate::net::frames::{frame_name, read_sized_frame, LinkError, Violation};

/// Offers waiting for the decider above which a stream is a flood: more than one small
/// batch (batches of more than 8 are decided on the bulk runtime too).
const FLOOD_WAITING: usize = 8;
/// Offers waiting at or below which a flooding stream has calmed down: the one just read.
const CALM_WAITING: usize = 1;

pub(super) struct Reader {
    pub(super) core: LinkHandle,
    pub(super) peer: NodeId,
    pub(super) precedence: Precedence,
    pub(super) recv: RecvStream,
    /// Bytes of offers read but not yet answered (see `RECEIVE_BYTES`).
    pub(super) budget: Arc<Semaphore>,
    pub(super) offers: mpsc::Sender<Incoming>,
}

/// Whether a reader at `place` moves, with `waiting` offers read and not yet taken by the
/// decider.
fn moves(place: Place, waiting: usize) -> Option<Turn> {
    match place {
        Place::Node if waiting > FLOOD_WAITING => Some(Turn::Flood),
        Place::Bulk if waiting <= CALM_WAITING => Some(Turn::Calm),
        _ => None,
    }
}

/// Why [`Reader::read`] returned.
#[derive(Debug)]
enum Turn {
    /// The stream ended: cleanly, or why not.
    Ended(Result<(), LinkError>),
    /// The stream floods: read on at the bulk runtime.
    Flood,
    /// The flood is over: read on where urgent traffic is.
    Calm,
}

/// Where a reader runs, and so when it stops to move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The node's runtime; never moves (a FLASH or IMMEDIATE stream).
    Stays,
    /// The node's runtime until the stream floods.
    Node,
    /// The bulk runtime until the stream calms down.
    Bulk,
}

impl Reader {
    /// Reads the stream to its end, moving between the runtimes as it floods and calms down.
    /// The offers' sender is dropped on return: the decider then ends.
    pub(super) async fn read_all(mut self) -> Result<(), LinkError> {
        if !Bulk::takes(self.precedence) {
            // A FLASH or IMMEDIATE stream never moves: only its end makes `read` return, and
            // nothing else may stop its reading.
            loop {
                if let Turn::Ended(result) = self.read(Place::Stays).await {
                    return result;
                }
            }
        }
        loop {
            match self.read(Place::Node).await {
                Turn::Ended(result) => return result,
                Turn::Flood | Turn::Calm => {}
            }
            let core = self.core.clone();
            // Aborted with this task (the link going away), as the stream's other tasks are.
            let task = AbortOnDropHandle::new(core.spawn_bulk(async move {
                let turn = self.read(Place::Bulk).await;
                (self, turn)
            }));
            match task.await {
                Ok((_, Turn::Ended(result))) => return result,
                Ok((reader, Turn::Flood | Turn::Calm)) => self = reader,
                Err(_) => {
                    return Err(LinkError::LocalStream(
                        "the stream's reader ended early on the bulk runtime (node stopping)",
                    ))
                }
            }
        }
    }

    /// Reads and passes on offers until the stream ends or, depending on `place`, it floods
    /// or calms down.
    async fn read(&mut self, place: Place) -> Turn {
        let max_frame = self.core.max_frame();
        loop {
            let passed = match read_sized_frame(&mut self.recv, max_frame).await {
                Ok(Some((LinkFrame::Transfer(transfer), size))) => self.offer(transfer, size).await,
                Ok(Some((LinkFrame::TransferPart(part), _))) => {
                    match parts::take_part(&self.core, &self.peer, self.precedence, part) {
                        Ok(parts::Reassembled::Pending) => Ok(()),
                        Ok(parts::Reassembled::Transfer(transfer, size)) => {
                            self.offer(transfer, size).await
                        }
                        Ok(parts::Reassembled::Refused(refusal)) => self
                            .offers
                            .send(Incoming::Refuse(refusal))
                            .await
                            .map_err(|_| ()),
                        Err(err) => return Turn::Ended(Err(err)),
                    }
                }
                Ok(Some((other, _))) => {
                    return Turn::Ended(Err(Violation::UnexpectedFrame {
                        frame: frame_name(&other),
                        stream: "an offer stream",
                    }
                    .into()))
                }
                Ok(None) => return Turn::Ended(Ok(())),
                Err(err) => return Turn::Ended(Err(err)),
            };
            if passed.is_err() {
                // The decider is gone: the stream is ending.
                return Turn::Ended(Ok(()));
            }
            if let Some(turn) = moves(place, RECEIVE_QUEUE - self.offers.capacity()) {
                return turn;
            }
        }
    }

    /// Passes a Transfer of `size` encoded bytes to the decider, once the stream's byte
    /// budget has room for it. An error: the decider or the budget is gone, the stream is
    /// ending.
    async fn offer(&self, transfer: Transfer, size: usize) -> Result<(), ()> {
        // The frame's size, capped so that one frame can always get its permits.
        let size = u32::try_from(size.min(RECEIVE_BYTES)).unwrap_or(u32::MAX);
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(size)
            .await
            .map_err(|_| ())?;
        let offer = Offer {
            signed: transfer.envelope,
            hops: transfer.hops,
            recipients: transfer.recipients,
            from: self.peer.clone(),
        };
        self.offers
            .send(Incoming::Offer(offer, permit))
            .await
            .map_err(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_moves_to_the_bulk_runtime_when_it_floods_and_back_when_it_calms_down() {
        // A lone message, or a few: read where urgent traffic is.
        for waiting in [0, 1, FLOOD_WAITING] {
            assert!(moves(Place::Node, waiting).is_none(), "{waiting} waiting");
        }
        assert!(matches!(
            moves(Place::Node, FLOOD_WAITING + 1),
            Some(Turn::Flood)
        ));
        assert!(matches!(
            moves(Place::Node, RECEIVE_QUEUE),
            Some(Turn::Flood)
        ));
        // A flood stays on the bulk runtime while the decider has work queued.
        for waiting in [CALM_WAITING + 1, FLOOD_WAITING + 1, RECEIVE_QUEUE] {
            assert!(moves(Place::Bulk, waiting).is_none(), "{waiting} waiting");
        }
        assert!(matches!(moves(Place::Bulk, CALM_WAITING), Some(Turn::Calm)));
        assert!(matches!(moves(Place::Bulk, 0), Some(Turn::Calm)));
        // FLASH and IMMEDIATE never move.
        for waiting in [0, FLOOD_WAITING + 1, RECEIVE_QUEUE] {
            assert!(moves(Place::Stays, waiting).is_none());
        }
    }
}
