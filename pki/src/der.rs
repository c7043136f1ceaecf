//! The few DER primitives the identity extension needs: a TLV writer and a strict reader.
//!
//! The reader accepts only definite, minimally encoded lengths of at most two octets and
//! never reads past its input: the bytes come from certificates that peers present.

/// Why a DER value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DerError(pub(crate) &'static str);

/// Appends one tag-length-value to `out`.
pub(crate) fn write_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        // The identity extension is a few dozen bytes; callers bound their inputs well below
        // 64 KiB (see `role::MAX_MISSION_LEN`), so two length octets always suffice.
        assert!(len <= 0xffff, "DER value too long for this writer");
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
}

/// Reads consecutive TLVs from a byte slice.
pub(crate) struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.input.first().copied()
    }

    /// Reads one TLV whose tag must be `tag` and returns its content.
    pub(crate) fn read(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
        let (found, content) = self.read_any()?;
        if found != tag {
            return Err(DerError("unexpected tag"));
        }
        Ok(content)
    }

    /// Reads one TLV and returns its tag and content.
    pub(crate) fn read_any(&mut self) -> Result<(u8, &'a [u8]), DerError> {
        let [tag, first, rest @ ..] = self.input else {
            return Err(DerError("truncated header"));
        };
        if tag & 0x1f == 0x1f {
            return Err(DerError("multi-byte tags are not used here"));
        }
        let (len, rest) = match *first {
            n if n < 0x80 => (usize::from(n), rest),
            0x81 => match rest {
                [n, rest @ ..] if *n >= 0x80 => (usize::from(*n), rest),
                [_, ..] => return Err(DerError("length not minimally encoded")),
                [] => return Err(DerError("truncated length")),
            },
            0x82 => match rest {
                [hi, lo, rest @ ..] => {
                    let n = usize::from(*hi) << 8 | usize::from(*lo);
                    if n < 0x100 {
                        return Err(DerError("length not minimally encoded"));
                    }
                    (n, rest)
                }
                _ => return Err(DerError("truncated length")),
            },
            0x80 => return Err(DerError("indefinite length is not DER")),
            _ => return Err(DerError("length too large")),
        };
        if rest.len() < len {
            return Err(DerError("value runs past the end of its container"));
        }
        let (content, remaining) = rest.split_at(len);
        let tag = *tag;
        self.input = remaining;
        Ok((tag, content))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 1000] {
            let content = vec![7u8; len];
            let mut out = Vec::new();
            write_tlv(&mut out, 0x0c, &content);
            let mut r = Reader::new(&out);
            assert_eq!(r.read(0x0c).unwrap(), &content[..]);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn refuses_non_minimal_indefinite_and_overlong_lengths() {
        for bad in [
            &[0x0c, 0x81, 0x05, 0, 0, 0, 0, 0][..],
            &[0x0c, 0x82, 0x00, 0x05, 0, 0, 0, 0, 0],
            &[0x0c, 0x80, 0, 0],
            &[0x0c, 0x83, 0, 0, 1, 0],
            &[0x0c, 0x05, 0, 0],
            &[0x0c],
            &[0x1f, 0x01, 0x00],
        ] {
            assert!(Reader::new(bad).read_any().is_err(), "{bad:?}");
        }
    }
}
