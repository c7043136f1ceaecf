//! The framing of link frames (`bluehelm_proto::framing`) on arbitrary bytes: `frame_len` on
//! the first header, and `FrameDecoder` fed the same bytes whole and in chunks, with the
//! default cap and with a small one. The two feedings must return the same frames and
//! errors, the buffer must stay within its cap, and nothing may panic.
#![no_main]

use bluehelm_proto::framing::{frame_len, FrameDecoder, FrameError, DEFAULT_MAX_FRAME, HEADER_LEN};
use bluehelm_proto::LinkFrame;
use libfuzzer_sys::fuzz_target;

/// Feeds `input` to a decoder of cap `max`, at most `chunk` bytes per `extend`, draining
/// frames as they complete. Stops at the first error that ends the stream.
fn decode_all(max: usize, input: &[u8], chunk: usize) -> Vec<Result<LinkFrame, FrameError>> {
    let mut decoder = FrameDecoder::new(max);
    let mut out = Vec::new();
    let mut rest = input;
    loop {
        let offered = &rest[..chunk.min(rest.len())];
        let taken = decoder.extend(offered);
        assert!(taken <= offered.len());
        assert!(decoder.buffered_len() <= decoder.max() + HEADER_LEN);
        rest = &rest[taken..];
        let mut drained = false;
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => break,
                Err(FrameError::Decode(e)) => out.push(Err(FrameError::Decode(e))),
                Err(fatal) => {
                    // Fatal errors repeat: the stream is unusable.
                    assert_eq!(decoder.next_frame(), Err(fatal.clone()));
                    out.push(Err(fatal));
                    return out;
                }
            }
            drained = true;
        }
        if rest.is_empty() || (taken == 0 && !drained) {
            return out;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(header) = data.get(..HEADER_LEN) {
        let header: [u8; HEADER_LEN] = header.try_into().expect("four bytes");
        if let Ok(len) = frame_len(header, DEFAULT_MAX_FRAME) {
            assert!((1..=DEFAULT_MAX_FRAME).contains(&len));
        }
    }
    // The first byte picks the chunk size and a small cap, so that chunk boundaries fall
    // inside headers and bodies and full buffers are reached with short inputs.
    let Some((&knob, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(knob % 16) + 1;
    let small = 16 + usize::from(knob);
    for max in [DEFAULT_MAX_FRAME, small] {
        let whole = decode_all(max, stream, usize::MAX);
        let chunked = decode_all(max, stream, chunk);
        assert_eq!(whole, chunked, "cap {max}, chunks of {chunk}");
    }
});
