//! Length-prefixed framing of [`LinkFrame`]s on a byte stream.
//!
//! Each frame is a 4-byte big-endian length followed by that many bytes of an encoded
//! [`LinkFrame`]. The length is checked against a per-node maximum (never above
//! [`HARD_MAX_FRAME`]) before a single byte of the body is buffered, so a peer cannot make a
//! node allocate more than the maximum by announcing a large frame.
//!
//! Async readers read the 4-byte header, call [`frame_len`], then read exactly that many
//! bytes; byte-oriented callers feed a [`FrameDecoder`]. Writers use [`write_frame`] or
//! [`try_write_frame`].

use crate::error::DecodeError;
use crate::ids::NodeId;
use crate::link::LinkFrame;

/// Bytes in the length prefix.
pub const HEADER_LEN: usize = 4;

/// Largest frame any node accepts, whatever its configuration: 16 MiB bounds the memory a
/// single peer stream can pin while still carrying a text message with a few scanned
/// documents attached.
pub const HARD_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Default largest frame, and the smallest cap a node may configure: every node must take
/// the largest message any node may send ([`crate::limits::MAX_ENVELOPE_LEN`]). 4 MiB fits a
/// service request with a 3 MiB file (an ANSI/NIST-ITL record for `afis.check`, issue 13);
/// nodes that carry larger text attachments raise it (up to [`HARD_MAX_FRAME`]).
pub const DEFAULT_MAX_FRAME: usize = 4 * 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces more bytes than the limit. The stream cannot be
    /// resynchronised and must be closed.
    #[error("frame of {len} bytes is larger than the limit of {max} bytes")]
    TooLarge {
        /// The announced (or, when writing, actual) length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The length prefix is zero; no valid frame is empty. The stream must be closed.
    #[error("frame length is zero")]
    Empty,
    /// The frame was delimited correctly but its bytes are not a valid [`LinkFrame`].
    /// Framing is intact: the next frame can still be read.
    #[error("frame does not decode: {0}")]
    Decode(#[from] DecodeError),
}

/// The maximum actually enforced for a configured `max`: never above [`HARD_MAX_FRAME`].
pub fn effective_max(max: usize) -> usize {
    max.min(HARD_MAX_FRAME)
}

/// Appends the length prefix and the encoding of `frame` to `out`.
///
/// This does not check a size limit: a sender that may produce frames above its peer's
/// limit uses [`try_write_frame`]. A frame over 4 GiB (which no valid message reaches) gets
/// the prefix `u32::MAX`, which every reader rejects as too large.
pub fn write_frame(frame: &LinkFrame, out: &mut Vec<u8>) {
    let bytes = frame.encode_to_vec();
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.reserve(HEADER_LEN + bytes.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&bytes);
}

/// Writes a `Transfer` frame (length prefix included) around a `SignedEnvelope` that is
/// already encoded, such as the one a relay stored when it took custody, without decoding it.
/// The bytes are exactly those [`write_frame`] writes for the equivalent
/// `LinkFrame::Transfer`; a relay forwards what it verified byte for byte and saves a decode
/// and an encode per message.
pub fn write_transfer_frame(
    signed_envelope: &[u8],
    hops: u8,
    recipients: &[NodeId],
    out: &mut Vec<u8>,
) {
    use prost::encoding::{encode_key, encode_varint, key_len, WireType};
    let transfer_len = transfer_len(signed_envelope, hops, recipients);
    let frame_len =
        key_len(2) + prost::encoding::encoded_len_varint(transfer_len as u64) + transfer_len;
    out.reserve(HEADER_LEN + frame_len);
    out.extend_from_slice(&u32::try_from(frame_len).unwrap_or(u32::MAX).to_be_bytes());
    // LinkFrame.transfer = 2
    encode_key(2, WireType::LengthDelimited, out);
    encode_varint(transfer_len as u64, out);
    encode_transfer(signed_envelope, hops, recipients, out);
}

/// Appends the encoded Transfer message alone, as [`write_transfer_frame`] frames it: the
/// whole that a large copy's `TransferPart`s carry (issue 15, item 6).
pub fn encode_transfer(signed_envelope: &[u8], hops: u8, recipients: &[NodeId], out: &mut Vec<u8>) {
    use prost::encoding::{encode_key, encode_varint, WireType};
    out.reserve(transfer_len(signed_envelope, hops, recipients));
    // Transfer.envelope = 1, hops = 2, recipients = 3
    encode_key(1, WireType::LengthDelimited, out);
    encode_varint(signed_envelope.len() as u64, out);
    out.extend_from_slice(signed_envelope);
    if hops != 0 {
        encode_key(2, WireType::Varint, out);
        encode_varint(u64::from(hops), out);
    }
    for r in recipients {
        encode_key(3, WireType::LengthDelimited, out);
        encode_varint(r.as_str().len() as u64, out);
        out.extend_from_slice(r.as_str().as_bytes());
    }
}

fn transfer_len(signed_envelope: &[u8], hops: u8, recipients: &[NodeId]) -> usize {
    use prost::encoding::{encoded_len_varint, key_len};
    let field = |len: usize| key_len(1) + encoded_len_varint(len as u64) + len;
    let mut len = field(signed_envelope.len());
    if hops != 0 {
        len += key_len(2) + encoded_len_varint(u64::from(hops));
    }
    for r in recipients {
        len += field(r.as_str().len());
    }
    len
}

/// Like [`write_frame`], but refuses (and leaves `out` unchanged) when the encoded frame is
/// longer than `max` (itself capped at [`HARD_MAX_FRAME`]).
pub fn try_write_frame(frame: &LinkFrame, out: &mut Vec<u8>, max: usize) -> Result<(), FrameError> {
    let max = effective_max(max);
    let len = frame.encoded_len();
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    write_frame(frame, out);
    Ok(())
}

/// Reads a length prefix: the number of body bytes to read next, or an error if it is zero
/// or above `max` (itself capped at [`HARD_MAX_FRAME`]). Call before allocating the body.
pub fn frame_len(header: [u8; HEADER_LEN], max: usize) -> Result<usize, FrameError> {
    let max = effective_max(max);
    // u32 always fits in usize on the 32- and 64-bit targets we build for; saturating keeps
    // a hypothetical 16-bit target correct too (anything larger is above max).
    let len = usize::try_from(u32::from_be_bytes(header)).unwrap_or(usize::MAX);
    match len {
        0 => Err(FrameError::Empty),
        len if len > max => Err(FrameError::TooLarge { len, max }),
        len => Ok(len),
    }
}

/// An incremental decoder of length-prefixed frames for byte-oriented input.
///
/// Its buffer never holds more than `max + 4` bytes: [`FrameDecoder::extend`] takes only the
/// bytes that fit and says how many it took; the caller drains complete frames with
/// [`FrameDecoder::next_frame`] and offers the rest again. Each length prefix is checked as
/// soon as its 4 bytes arrive, and no byte after a bad prefix is taken.
///
/// ```
/// # use bluehelm_proto::{framing::{write_frame, FrameDecoder}, LinkFrame};
/// let mut wire = Vec::new();
/// write_frame(&LinkFrame::Ping(7), &mut wire);
/// let mut decoder = FrameDecoder::default();
/// let mut input = &wire[..];
/// let mut frames = Vec::new();
/// while !input.is_empty() {
///     let taken = decoder.extend(input);
///     input = &input[taken..];
///     while let Some(frame) = decoder.next_frame()? {
///         frames.push(frame);
///     }
/// }
/// assert_eq!(frames, [LinkFrame::Ping(7)]);
/// # Ok::<(), bluehelm_proto::FrameError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max: usize,
    buf: Vec<u8>,
    /// Start of the first complete frame not yet returned.
    start: usize,
    /// Start of the first frame not yet complete (its header may be partial).
    scan: usize,
    /// End of the frame at `scan`, once its header has been read and accepted.
    pending_end: Option<usize>,
    /// A bad length prefix at `scan`; reported once the frames before it are returned.
    error: Option<FrameError>,
}

impl Default for FrameDecoder {
    /// A decoder with [`DEFAULT_MAX_FRAME`].
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl FrameDecoder {
    /// A decoder that accepts frames up to `max` bytes (capped at [`HARD_MAX_FRAME`]).
    pub fn new(max: usize) -> Self {
        FrameDecoder {
            max: effective_max(max),
            buf: Vec::new(),
            start: 0,
            scan: 0,
            pending_end: None,
            error: None,
        }
    }

    /// The largest frame body accepted.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Bytes held in the internal buffer; never more than `max + 4`.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// Takes as many bytes of `data` as fit and returns how many it took. It takes none when
    /// the buffer is full of complete frames (drain them with [`FrameDecoder::next_frame`])
    /// or after a bad length prefix.
    #[must_use = "bytes not taken must be offered again"]
    pub fn extend(&mut self, mut data: &[u8]) -> usize {
        self.compact();
        let limit = self.max + HEADER_LEN;
        let mut taken = 0;
        while !data.is_empty() && self.error.is_none() {
            let want = match self.pending_end {
                Some(end) => end - self.buf.len(),
                None => HEADER_LEN - (self.buf.len() - self.scan),
            };
            let n = want.min(data.len()).min(limit - self.buf.len());
            if n == 0 {
                break;
            }
            self.grow(n, limit);
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            taken += n;
            match self.pending_end {
                Some(end) if self.buf.len() == end => {
                    self.scan = end;
                    self.pending_end = None;
                }
                Some(_) => {}
                None if self.buf.len() - self.scan == HEADER_LEN => {
                    let mut header = [0u8; HEADER_LEN];
                    header.copy_from_slice(&self.buf[self.scan..]);
                    match frame_len(header, self.max) {
                        Ok(len) => self.pending_end = Some(self.scan + HEADER_LEN + len),
                        Err(e) => self.error = Some(e),
                    }
                }
                None => {}
            }
        }
        taken
    }

    /// Returns the next complete frame, `None` if more bytes are needed, or an error.
    ///
    /// After [`FrameError::Decode`] the bad frame has been skipped and decoding can go on.
    /// [`FrameError::TooLarge`] and [`FrameError::Empty`] are returned again on every call:
    /// the stream is unusable.
    pub fn next_frame(&mut self) -> Result<Option<LinkFrame>, FrameError> {
        if self.start < self.scan {
            let mut header = [0u8; HEADER_LEN];
            header.copy_from_slice(&self.buf[self.start..self.start + HEADER_LEN]);
            // The header was accepted by `extend`, and the whole frame lies before `scan`.
            let len = frame_len(header, self.max)?;
            let body = self.start + HEADER_LEN..self.start + HEADER_LEN + len;
            let result = LinkFrame::decode(&self.buf[body.clone()]);
            self.start = body.end;
            if self.start == self.buf.len() {
                self.buf.clear();
                self.start = 0;
                self.scan = 0;
            }
            return result.map(Some).map_err(FrameError::Decode);
        }
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(None),
        }
    }

    /// Drops the bytes of frames already returned.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        self.buf.drain(..self.start);
        self.scan -= self.start;
        self.pending_end = self.pending_end.map(|end| end - self.start);
        self.start = 0;
    }

    /// Makes room for `n` more bytes, doubling the allocation but never past `limit`.
    fn grow(&mut self, n: usize, limit: usize) {
        let needed = self.buf.len() + n;
        if needed > self.buf.capacity() {
            let target = (self.buf.capacity() * 2).max(needed).max(256).min(limit);
            self.buf.reserve_exact(target - self.buf.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_len_rejects_zero_and_oversize_and_caps_at_the_hard_max() {
        assert_eq!(frame_len([0, 0, 0, 0], 100), Err(FrameError::Empty));
        assert_eq!(frame_len([0, 0, 0, 100], 100), Ok(100));
        assert_eq!(
            frame_len([0, 0, 0, 101], 100),
            Err(FrameError::TooLarge { len: 101, max: 100 })
        );
        let over_hard = u32::try_from(HARD_MAX_FRAME + 1).unwrap().to_be_bytes();
        assert_eq!(
            frame_len(over_hard, usize::MAX),
            Err(FrameError::TooLarge {
                len: HARD_MAX_FRAME + 1,
                max: HARD_MAX_FRAME
            })
        );
    }

    #[test]
    fn decoder_stops_taking_bytes_at_an_oversize_header() {
        let mut d = FrameDecoder::new(10);
        let mut wire = vec![0, 0, 0, 11];
        wire.extend_from_slice(&[0; 11]);
        assert_eq!(d.extend(&wire), 4);
        assert_eq!(d.buffered_len(), 4);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        );
        assert_eq!(d.extend(&wire[4..]), 0);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        );
    }

    #[test]
    fn decoder_reports_an_empty_frame() {
        let mut d = FrameDecoder::new(10);
        assert_eq!(d.extend(&[0, 0, 0, 0, 1]), 4);
        assert_eq!(d.next_frame(), Err(FrameError::Empty));
    }

    #[test]
    fn decoder_skips_a_frame_that_does_not_decode_and_reads_the_next() {
        let mut wire = vec![0, 0, 0, 1, 0xff];
        write_frame(&LinkFrame::Pong(3), &mut wire);
        let mut d = FrameDecoder::default();
        assert_eq!(d.extend(&wire), wire.len());
        assert!(matches!(d.next_frame(), Err(FrameError::Decode(_))));
        assert_eq!(d.next_frame(), Ok(Some(LinkFrame::Pong(3))));
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.buffered_len(), 0);
    }

    #[test]
    fn decoder_returns_frames_before_a_bad_header_first() {
        let mut wire = Vec::new();
        write_frame(&LinkFrame::Ping(1), &mut wire);
        wire.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
        let mut d = FrameDecoder::new(64);
        assert_eq!(d.extend(&wire), wire.len() - 3);
        assert_eq!(d.next_frame(), Ok(Some(LinkFrame::Ping(1))));
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn try_write_frame_refuses_frames_over_the_limit() {
        let mut out = Vec::new();
        let frame = LinkFrame::Ping(u64::MAX);
        let len = frame.encoded_len();
        assert_eq!(
            try_write_frame(&frame, &mut out, len - 1),
            Err(FrameError::TooLarge { len, max: len - 1 })
        );
        assert!(out.is_empty());
        try_write_frame(&frame, &mut out, len).unwrap();
        assert_eq!(out.len(), HEADER_LEN + len);
    }
}
