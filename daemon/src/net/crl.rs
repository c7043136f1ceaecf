//! Revocation in-band (issue 14, item 1): the CRL stream of a link. A node sends the CRL it
//! has in force first on every link that comes up, before any offer, and every newer CRL it
//! puts in force to every peer linked then. Each CRL goes on a stream of its own at a QUIC
//! priority above FLASH, as the stream's one frame ([`LinkFrame::Crl`]); the receiver ends
//! its side of the stream, with no frame, once it has dealt with the CRL (put it in force or
//! refused it), so that the sender of a link that comes up offers nothing before then: a
//! post that was offline has the CRL in force before it takes a message (docs/protocol.md).
//!
//! net only carries the bytes: what a CRL means and whether it is put in force is the node's
//! CRL task's to say (`node/crl.rs`), which gets each one through [`CrlExchange`].

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bluehelm_proto::{LinkFrame, NodeId, Precedence};
use quinn::{Connection, RecvStream, SendStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::frames::{frame_name, read_frame, write_frames, LinkError, Violation};
use super::link::priority;
use super::links::Links;

/// The QUIC priority of a CRL stream: above FLASH's, so that a revocation overtakes any
/// backlog, FLASH included.
pub fn crl_priority() -> i32 {
    priority(Precedence::Flash) + 1
}

/// How long a sender waits for the peer to deal with a CRL. The peer records it and writes
/// its file (a few fsyncs) before it answers; a peer that takes longer is not waited for:
/// at link-up, offers then go ahead, and the peer still has the CRL first on its stream.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// CRLs received from peers and not yet dealt with by the node's CRL task. A peer sends
/// one per link-up and one per new CRL, and waits for each: a few per peer at most.
const RECEIVED_QUEUE: usize = 64;

/// A CRL a peer sent, for the node's CRL task.
pub struct ReceivedCrl {
    /// The peer that sent it.
    pub from: NodeId,
    /// Its DER, unverified.
    pub der: Vec<u8>,
    /// Dropped or sent once the CRL has been dealt with: the stream then ends its side.
    pub handled: oneshot::Sender<()>,
}

/// What links and the node's CRL task share: the CRL in force, which every link sends
/// first, and the way to the CRL task for the CRLs peers send.
pub struct CrlExchange {
    in_force: RwLock<Option<Arc<[u8]>>>,
    received: mpsc::Sender<ReceivedCrl>,
}

impl CrlExchange {
    /// With the DER of the CRL in force at start; the receiver is the CRL task's.
    pub fn new(in_force: Option<&[u8]>) -> (Self, mpsc::Receiver<ReceivedCrl>) {
        let (received, receiver) = mpsc::channel(RECEIVED_QUEUE);
        let exchange = Self {
            in_force: RwLock::new(in_force.map(Arc::from)),
            received,
        };
        (exchange, receiver)
    }

    /// The DER of the CRL in force.
    pub fn in_force(&self) -> Option<Arc<[u8]>> {
        // A writer that panicked left a whole value: one assignment.
        self.in_force
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A new CRL came into force: links that come up from now on send it first.
    pub fn set_in_force(&self, der: &[u8]) {
        *self.in_force.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::from(der));
    }
}

/// Sends `der` on a new stream of `conn`, at [`crl_priority`], and waits until the peer has
/// dealt with it (it ends its side of the stream). `Ok(false)`: it did not within
/// [`ANSWER_TIMEOUT`].
pub async fn send(conn: &Connection, der: &[u8]) -> Result<bool, LinkError> {
    let (mut send, mut recv) = conn.open_bi().await?;
    // Fails only on a stream already closed: then the write below says so.
    let _ = send.set_priority(crl_priority());
    write_frames(&mut send, &[LinkFrame::Crl(der.to_vec())]).await?;
    let _ = send.finish();
    match tokio::time::timeout(ANSWER_TIMEOUT, end_of(&mut recv)).await {
        Err(_) => Ok(false),
        Ok(ended) => ended.map(|()| true),
    }
}

/// Reads to the end of a CRL stream's side that must carry nothing more: the answer is the
/// end of the stream alone, and the CRL frame is the only frame the other way. A frame cap
/// of 0 refuses any byte.
async fn end_of(recv: &mut RecvStream) -> Result<(), LinkError> {
    match read_frame(recv, 0).await? {
        None => Ok(()),
        Some(frame) => Err(Violation::UnexpectedFrame {
            frame: frame_name(&frame),
            stream: "a CRL stream",
        }
        .into()),
    }
}

/// At link-up, before the link offers anything: sends the CRL in force and waits for the
/// peer to deal with it.
pub async fn send_first(
    conn: &Connection,
    peer: &NodeId,
    exchange: &CrlExchange,
) -> Result<(), LinkError> {
    let Some(der) = exchange.in_force() else {
        return Ok(());
    };
    if !send(conn, &der).await? {
        tracing::warn!(%peer, "the peer did not deal with this node's CRL within 5 s; offering all the same");
    }
    Ok(())
}

/// Serves a CRL stream the peer opened with `der`: hands the CRL to the node's CRL task,
/// waits until it has dealt with it, and ends this side. A CRL the task refuses costs the
/// link nothing; only more bytes after the frame break the protocol.
pub async fn serve(
    exchange: &CrlExchange,
    peer: &NodeId,
    der: Vec<u8>,
    mut send: SendStream,
    mut recv: RecvStream,
) -> Result<(), LinkError> {
    end_of(&mut recv).await?;
    let (handled, done) = oneshot::channel();
    let received = ReceivedCrl {
        from: peer.clone(),
        der,
        handled,
    };
    // Closed only while the node stops.
    if exchange.received.send(received).await.is_ok() {
        let _ = done.await;
    }
    // Fails only if the peer has gone: it has nothing to wait for then.
    let _ = send.finish();
    Ok(())
}

/// Sends `der` to every peer linked now but those in `except` (the one it came from, those
/// it revokes), each on a task of `tasks`; returns how many.
pub fn broadcast(
    links: &Links,
    der: &Arc<[u8]>,
    except: &[NodeId],
    tasks: &mut JoinSet<()>,
) -> usize {
    let mut sent = 0;
    for (peer, conn) in links.connections() {
        if except.contains(&peer) {
            continue;
        }
        let der = der.clone();
        sent += 1;
        tasks.spawn(async move {
            match send(&conn, &der).await {
                Ok(true) => tracing::debug!(%peer, "the peer has dealt with the new CRL"),
                Ok(false) => tracing::info!(%peer, "the peer did not deal with the new CRL within 5 s"),
                Err(err) => tracing::info!(%peer, error = %err, "cannot send the new CRL to the peer (it gets it when its link comes up again)"),
            }
        });
    }
    sent
}
