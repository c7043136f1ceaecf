//! Reading and writing length-prefixed link frames on QUIC streams. The length is checked
//! against the node's frame cap before any buffer is sized from it.

use bluehelm_proto::framing::{self, FrameError};
use bluehelm_proto::LinkFrame;
use bytes::BytesMut;
use quinn::{ReadExactError, RecvStream, SendStream};

/// Why a link or one of its streams failed, grouped by who is at fault, so that a log line
/// says whether to look at the peer or at this node (issue 11). Messages say which group.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    // The peer misbehaved: it broke the link protocol (docs/protocol.md 5 and 7). Counted in
    // `protocol_errors`; the link closes with `CLOSE_PROTOCOL`.
    /// The peer broke the framing or sent bytes that do not decode.
    #[error("peer misbehaved: bad frame: {0}")]
    Frame(#[from] FrameError),
    /// The peer sent a well-formed frame the protocol does not allow there, or ended a
    /// stream where it may not.
    #[error("peer misbehaved: {0}")]
    Protocol(#[from] Violation),

    // The peer is not acceptable, or gave up on a stream.
    /// The peer's certificate does not name the node we expected or may accept.
    #[error("peer not acceptable: {0}")]
    Identity(#[from] IdentityError),
    /// The peer reset a stream it was sending on (a QUIC RESET_STREAM).
    #[error("peer reset a stream (error code {0})")]
    PeerReset(quinn::VarInt),
    /// The peer stopped reading a stream this node sends on (a QUIC STOP_SENDING).
    #[error("peer stopped reading a stream (error code {0})")]
    PeerStopped(quinn::VarInt),

    // The connection was lost: closed by either side, timed out, or reset.
    /// The connection ended; quinn's error says how (who closed it, or an idle timeout).
    #[error("connection lost: {0}")]
    Connection(#[from] quinn::ConnectionError),

    // This node failed.
    /// This node's store failed: it cannot read its queue or drop what the peer took.
    #[error("local store failed: {0}")]
    Store(#[from] crate::store::StoreError),
    /// This node could not start a connection (its endpoint or configuration).
    #[error("local endpoint cannot dial: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// This node used a stream in a way quinn does not allow (a stream it had closed).
    #[error("local stream misuse: {0}")]
    LocalStream(&'static str),

    // Timed out here.
    /// This node stopped waiting for the peer (a handshake, or the first ping).
    #[error("timed out waiting for the {0}")]
    Timeout(&'static str),
}

/// Who is at fault for a [`LinkError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The peer broke the protocol.
    PeerMisbehaved,
    /// The peer is not acceptable, or gave up on a stream.
    Peer,
    /// Nobody known: the connection was lost.
    Connection,
    /// This node failed.
    Local,
    /// This node stopped waiting.
    Timeout,
}

impl LinkError {
    pub fn blame(&self) -> Blame {
        match self {
            LinkError::Frame(_) | LinkError::Protocol(_) => Blame::PeerMisbehaved,
            LinkError::Identity(_) | LinkError::PeerReset(_) | LinkError::PeerStopped(_) => {
                Blame::Peer
            }
            LinkError::Connection(_) => Blame::Connection,
            LinkError::Store(_) | LinkError::Connect(_) | LinkError::LocalStream(_) => Blame::Local,
            LinkError::Timeout(_) => Blame::Timeout,
        }
    }
}

impl From<quinn::ReadError> for LinkError {
    fn from(err: quinn::ReadError) -> Self {
        match err {
            quinn::ReadError::Reset(code) => LinkError::PeerReset(code),
            quinn::ReadError::ConnectionLost(err) => LinkError::Connection(err),
            quinn::ReadError::ClosedStream => LinkError::LocalStream("read from a closed stream"),
            quinn::ReadError::IllegalOrderedRead => {
                LinkError::LocalStream("ordered read after an unordered one")
            }
            // No 0-RTT here (docs/protocol.md 6.1): only a peer that somehow took it.
            quinn::ReadError::ZeroRttRejected => LinkError::LocalStream("0-rtt rejected"),
        }
    }
}

impl From<quinn::WriteError> for LinkError {
    fn from(err: quinn::WriteError) -> Self {
        match err {
            quinn::WriteError::Stopped(code) => LinkError::PeerStopped(code),
            quinn::WriteError::ConnectionLost(err) => LinkError::Connection(err),
            quinn::WriteError::ClosedStream => LinkError::LocalStream("write to a closed stream"),
            quinn::WriteError::ZeroRttRejected => LinkError::LocalStream("0-rtt rejected"),
        }
    }
}

impl From<crate::engine::sender::SendError> for LinkError {
    fn from(err: crate::engine::sender::SendError) -> Self {
        LinkError::Protocol(Violation::Answers(err))
    }
}

/// How a peer broke the link protocol.
#[derive(Debug, thiserror::Error)]
pub enum Violation {
    /// A frame of a kind that has no place on this stream.
    #[error("unexpected {frame} frame on {stream}")]
    UnexpectedFrame {
        frame: &'static str,
        stream: &'static str,
    },
    /// A peer-opened stream must start with `StreamOpen`, `Ping`, `SyncRequest` or `Crl`
    /// (7.1).
    #[error("stream must start with open, ping, sync-request or crl, not {0}")]
    BadFirstFrame(&'static str),
    /// FIN inside a frame's length prefix (5).
    #[error("stream ended inside a frame header")]
    EndedInHeader,
    /// FIN inside a frame's body (5).
    #[error("stream ended inside a frame")]
    EndedInFrame,
    /// The answers broke a rule of 7.2 (an answer stream ended with offers unanswered).
    #[error(transparent)]
    Answers(crate::engine::sender::SendError),
    /// More offers waiting to be written than the window allows: the peer answered offers
    /// it cannot have read yet.
    #[error("answers to offers not yet sent")]
    AnsweredUnsent,
    /// A part of a large copy no honest sender sends (7.6).
    #[error("bad transfer part: {0}")]
    Part(#[from] crate::engine::partials::PartError),
    /// A large copy's parts, put together, do not have the digest they claimed (7.6).
    #[error("the parts of {0} do not match their digest")]
    PartDigest(bluehelm_proto::MessageRef),
    /// The answers on an offer stream must start with `PartsHeld` (7.6).
    #[error("answers must start with parts-held, not {0}")]
    NoPartsHeld(&'static str),
    /// The dialler's first ping got no matching pong (7.1).
    #[error("first ping not answered")]
    PingNotAnswered,
}

/// Why a connected peer's certificate does not admit it on this link.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("peer presented no certificate")]
    NoCertificate,
    #[error("peer presented an empty chain")]
    EmptyChain,
    /// The certificate does not verify as a node's now (with the CRL in force).
    #[error(transparent)]
    Untrusted(#[from] bluehelm_pki::TrustError),
    /// The dialler reached another node than the one it dialled.
    #[error("dialled {dialled} but the certificate names {named}")]
    NotDialled {
        dialled: bluehelm_proto::NodeId,
        named: bluehelm_proto::NodeId,
    },
}

/// Reads one frame; `Ok(None)` when the peer finished the stream cleanly between frames.
pub async fn read_frame(
    recv: &mut RecvStream,
    max_frame: usize,
) -> Result<Option<LinkFrame>, LinkError> {
    Ok(read_sized_frame(recv, max_frame)
        .await?
        .map(|(frame, _)| frame))
}

/// [`read_frame`], with the frame's length on the wire (its header left out).
///
/// Each frame is read into a buffer of its own that a transfer's envelope and certificate
/// go on sharing ([`LinkFrame::decode_shared`]): they are not copied out of it, nor again
/// when verification takes them off the async workers.
pub async fn read_sized_frame(
    recv: &mut RecvStream,
    max_frame: usize,
) -> Result<Option<(LinkFrame, usize)>, LinkError> {
    let mut header = [0u8; 4];
    match recv.read_exact(&mut header).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(ReadExactError::FinishedEarly(_)) => return Err(Violation::EndedInHeader.into()),
        Err(ReadExactError::ReadError(e)) => return Err(e.into()),
    }
    let len = framing::frame_len(header, max_frame)?;
    let mut buf = BytesMut::zeroed(len);
    match recv.read_exact(&mut buf).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(_)) => return Err(Violation::EndedInFrame.into()),
        Err(ReadExactError::ReadError(e)) => return Err(e.into()),
    }
    let frame = LinkFrame::decode_shared(buf.freeze())
        .map_err(|e| LinkError::Frame(FrameError::Decode(e)))?;
    Ok(Some((frame, len)))
}

/// Writes frames as one buffer, so that a batch goes out in as few packets as possible.
pub async fn write_frames(send: &mut SendStream, frames: &[LinkFrame]) -> Result<(), LinkError> {
    let mut out = Vec::new();
    for frame in frames {
        framing::write_frame(frame, &mut out);
    }
    send.write_all(&out).await?;
    Ok(())
}

/// A frame's kind, for log lines and protocol errors.
pub fn frame_name(frame: &LinkFrame) -> &'static str {
    match frame {
        LinkFrame::Open { .. } => "open",
        LinkFrame::Transfer(_) => "transfer",
        LinkFrame::Accepted(_) => "accepted",
        LinkFrame::Refused(_) => "refused",
        LinkFrame::Ping(_) => "ping",
        LinkFrame::Pong(_) => "pong",
        LinkFrame::SyncRequest(_) => "sync-request",
        LinkFrame::SyncBatch(_) => "sync-batch",
        LinkFrame::Crl(_) => "crl",
        LinkFrame::TransferPart(_) => "transfer-part",
        LinkFrame::PartsHeld(_) => "parts-held",
    }
}
