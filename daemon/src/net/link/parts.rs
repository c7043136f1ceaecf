//! Large copies in parts (issue 15, item 6; docs/protocol.md 7.6), the IO side of
//! `engine::partials`: the receiver's reassembly and its `PartsHeld` answer, and the
//! sender's cutting of a copy into `TransferPart` frames from where the receiver stands.

use std::time::Instant;

use bluehelm_proto::framing::{encode_transfer, write_frame};
use bluehelm_proto::{
    HeldPart, LinkFrame, MessageRef, NodeId, PartDigest, Precedence, Refusal, RefusalReason,
    Transfer, TransferPart,
};
use ring::digest::{digest, SHA256};

use crate::custody::LinkHandle;
use crate::engine::partials::{part_ranges, resume_from, PartOutcome, PART_THRESHOLD};
use crate::net::frames::{LinkError, Violation};
use crate::store::Queued;
use bluehelm_proto::framing::FrameError;

/// What a part came to at the receiver.
pub(super) enum Reassembled {
    /// Nothing yet: the part was kept (or dropped, and the sender will hear at the last).
    Pending,
    /// The copy is whole and its digest matches: a Transfer, to decide on like any other.
    Transfer(Transfer, usize),
    /// The copy's last part came but earlier bytes are not held: a temporary refusal, so
    /// that the sender offers it again, from the start.
    Refused(Refusal),
}

/// Takes a part `peer` sent on its `class` stream.
pub(super) fn take_part(
    core: &LinkHandle,
    peer: &NodeId,
    class: Precedence,
    part: TransferPart,
) -> Result<Reassembled, LinkError> {
    let message = part.message.clone();
    let claimed = part.digest;
    let outcome = core
        .partials()
        .add(Instant::now(), peer, class, part, core.max_frame())
        .map_err(Violation::Part)?;
    match outcome {
        PartOutcome::Kept | PartOutcome::Dropped => Ok(Reassembled::Pending),
        PartOutcome::Incomplete => {
            tracing::debug!(%peer, msg = %message, "parts of a copy missing here; asking for it again");
            Ok(Reassembled::Refused(Refusal {
                message,
                reason: RefusalReason::StorageUnavailable,
                detail: "parts of this copy were dropped here: offer it again".to_owned(),
            }))
        }
        PartOutcome::Whole(bytes) => {
            if sha256(&bytes) != claimed {
                return Err(Violation::PartDigest(message).into());
            }
            let transfer =
                Transfer::decode(&bytes).map_err(|e| LinkError::Frame(FrameError::Decode(e)))?;
            Ok(Reassembled::Transfer(transfer, bytes.len()))
        }
    }
}

/// The first answer on a new offer stream of `class` from `peer`.
pub(super) fn held_frame(core: &LinkHandle, peer: &NodeId, class: Precedence) -> LinkFrame {
    LinkFrame::PartsHeld(core.partials().held(Instant::now(), peer, class))
}

/// Whether a copy goes in parts.
pub(super) fn goes_in_parts(queued: &Queued) -> bool {
    queued.message.signed.len() > PART_THRESHOLD
}

/// Appends the parts of `queued` that the receiver does not hold yet to `out`, as
/// `TransferPart` frames. `held` is what the receiver said at the stream's start; the entry
/// used is taken out, so that an offer again on the same stream (after a refusal) starts
/// from zero. Returns the bytes of the copy skipped.
pub(super) fn write_parts(queued: &Queued, held: &mut Vec<HeldPart>, out: &mut Vec<u8>) -> usize {
    let stored = &queued.message;
    let mut whole = Vec::new();
    encode_transfer(&stored.signed, stored.hops, &stored.recipients, &mut whole);
    let digest = sha256(&whole);
    let message: &MessageRef = &stored.message;
    let start = resume_from(held, message, &digest, whole.len());
    held.retain(|h| h.message != *message);
    // The whole is below the frame cap (MAX_ENVELOPE_LEN), so its length fits a u32.
    let total_len = u32::try_from(whole.len()).unwrap_or(u32::MAX);
    for range in part_ranges(start, whole.len()) {
        let frame = LinkFrame::TransferPart(TransferPart {
            message: message.clone(),
            digest,
            total_len,
            offset: u32::try_from(range.start).unwrap_or(u32::MAX),
            data: whole[range].to_vec(),
        });
        write_frame(&frame, out);
    }
    start
}

fn sha256(bytes: &[u8]) -> PartDigest {
    let mut out = [0; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}
