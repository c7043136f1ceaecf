//! Reading and writing length-prefixed link frames on QUIC streams. The length is checked
//! against the node's frame cap before any buffer is sized from it.

use bluehelm_proto::framing::{self, FrameError};
use bluehelm_proto::LinkFrame;
use quinn::{ReadExactError, RecvStream, SendStream};

/// Why a link or one of its streams failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The peer broke the framing or sent something undecodable: its stream is closed.
    #[error("peer sent a bad frame: {0}")]
    Frame(#[from] FrameError),
    /// The peer sent a well-formed frame that the protocol does not allow here.
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("stream read failed: {0}")]
    Read(#[from] quinn::ReadError),
    #[error("stream write failed: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("connection failed: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("connect failed: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The peer's certificate does not name the node we expected or may accept.
    #[error("peer refused: {0}")]
    Identity(String),
    #[error("timed out: {0}")]
    Timeout(&'static str),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Reads one frame; `Ok(None)` when the peer finished the stream cleanly between frames.
pub async fn read_frame(
    recv: &mut RecvStream,
    max_frame: usize,
    buf: &mut Vec<u8>,
) -> Result<Option<LinkFrame>, LinkError> {
    let mut header = [0u8; 4];
    match recv.read_exact(&mut header).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(ReadExactError::FinishedEarly(_)) => {
            return Err(LinkError::Protocol(
                "stream ended inside a frame header".into(),
            ))
        }
        Err(ReadExactError::ReadError(e)) => return Err(e.into()),
    }
    let len = framing::frame_len(header, max_frame)?;
    buf.clear();
    buf.resize(len, 0);
    match recv.read_exact(buf).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(_)) => {
            return Err(LinkError::Protocol("stream ended inside a frame".into()))
        }
        Err(ReadExactError::ReadError(e)) => return Err(e.into()),
    }
    Ok(Some(
        LinkFrame::decode(buf).map_err(|e| LinkError::Frame(FrameError::Decode(e)))?,
    ))
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
    }
}
