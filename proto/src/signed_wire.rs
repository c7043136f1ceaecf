//! The protobuf message `SignedEnvelope` (`envelope.proto`), encoded and decoded by hand.
//! prost would decode its inclusion path, a `repeated bytes`, as one heap buffer per hash
//! (ten to a dozen per decode and per encode) and copy every `bytes` field twice. Here the
//! hashes go straight into one vector of 32-byte arrays and each field is copied once: a
//! mission post in a drain made 100 allocator calls per message instead of 172 (`heaptrack`,
//! issue 16 item 2; docs/performance.md). The bytes on the wire are the
//! ones prost writes and reads: the build points the generated code at this type
//! (`extern_path` in `build.rs`), and a property test holds the two to the same bytes.
//!
//! What the schema's comments forbid (an element that is not 32 bytes, more than
//! [`MAX_BATCH_PATH_LEN`] of them) is not a decoding error: the path remembers it, and
//! [`crate::SignedEnvelope`] refuses it with the same errors as before. Past that many
//! hashes nothing more is kept, and elements that are not hashes are never kept, so a frame
//! full of path elements costs no memory (prost's decoding allocated one buffer each).

use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{self, DecodeContext, WireType};
use prost::DecodeError;

use crate::limits::MAX_BATCH_PATH_LEN;
use crate::signed::{BatchHash, BATCH_HASH_LEN};

const TAG_ENVELOPE: u32 = 1;
const TAG_SIGNATURE: u32 = 2;
const TAG_SIGNER_CERTIFICATE: u32 = 3;
const TAG_LEAF_INDEX: u32 = 4;
const TAG_TREE_SIZE: u32 = 5;
const TAG_PATH: u32 = 6;

#[derive(Clone, PartialEq, Eq, Hash, Default, Debug)]
pub struct SignedEnvelope {
    pub envelope: Bytes,
    pub signature: Vec<u8>,
    pub signer_certificate: Bytes,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub path: WirePath,
}

/// An inclusion path as read from the wire.
#[derive(Clone, PartialEq, Eq, Hash, Default, Debug)]
pub struct WirePath {
    /// The elements that were hashes, in order, up to [`MAX_BATCH_PATH_LEN`].
    pub hashes: Vec<BatchHash>,
    /// Elements read, hashes or not.
    pub elements: usize,
    /// The length of the first element that was not [`BATCH_HASH_LEN`] bytes.
    pub first_bad_len: Option<usize>,
}

impl WirePath {
    /// A path of well-formed hashes, for encoding.
    pub fn of(hashes: Vec<BatchHash>) -> Self {
        Self {
            elements: hashes.len(),
            hashes,
            first_bad_len: None,
        }
    }

    /// `tree_size` as decoded so far (prost's encoders write it before the path): room for
    /// the path it implies is made at the first hash, rather than growing hash by hash.
    fn push_element(&mut self, buf: &mut impl Buf, len: usize, tree_size: u64) {
        self.elements += 1;
        if len == BATCH_HASH_LEN && self.hashes.len() < MAX_BATCH_PATH_LEN {
            if self.hashes.capacity() == 0 {
                let implied = 64 - tree_size.saturating_sub(1).leading_zeros() as usize;
                self.hashes
                    .reserve_exact(implied.clamp(1, MAX_BATCH_PATH_LEN));
            }
            let mut hash = [0; BATCH_HASH_LEN];
            buf.copy_to_slice(&mut hash);
            self.hashes.push(hash);
            return;
        }
        if len != BATCH_HASH_LEN && self.first_bad_len.is_none() {
            self.first_bad_len = Some(len);
        }
        buf.advance(len);
    }
}

/// A signed envelope's fields, borrowed: what encoding needs, so that the domain type
/// encodes without copying its envelope and certificate into a message first.
pub struct SignedEnvelopeRef<'a> {
    pub envelope: &'a [u8],
    pub signature: &'a [u8],
    pub signer_certificate: &'a [u8],
    pub leaf_index: u64,
    pub tree_size: u64,
    pub path: &'a [BatchHash],
}

impl SignedEnvelopeRef<'_> {
    /// Fields in number order, defaults left out: what prost's derive writes.
    pub fn encode_raw(&self, buf: &mut impl BufMut) {
        for (tag, value) in self.byte_fields() {
            if !value.is_empty() {
                encoding::encode_key(tag, WireType::LengthDelimited, buf);
                encoding::encode_varint(value.len() as u64, buf);
                buf.put_slice(value);
            }
        }
        for (tag, value) in self.number_fields() {
            if value != 0 {
                encoding::uint64::encode(tag, &value, buf);
            }
        }
        for hash in self.path {
            encoding::encode_key(TAG_PATH, WireType::LengthDelimited, buf);
            encoding::encode_varint(BATCH_HASH_LEN as u64, buf);
            buf.put_slice(hash);
        }
    }

    pub fn encoded_len(&self) -> usize {
        let bytes: usize = self
            .byte_fields()
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(tag, value)| {
                encoding::key_len(tag)
                    + encoding::encoded_len_varint(value.len() as u64)
                    + value.len()
            })
            .sum();
        let numbers: usize = self
            .number_fields()
            .into_iter()
            .filter(|(_, value)| *value != 0)
            .map(|(tag, value)| encoding::uint64::encoded_len(tag, &value))
            .sum();
        let hash_len = encoding::key_len(TAG_PATH)
            + encoding::encoded_len_varint(BATCH_HASH_LEN as u64)
            + BATCH_HASH_LEN;
        bytes + numbers + self.path.len() * hash_len
    }

    /// The message, encoded into a buffer of exactly its size.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.encoded_len());
        self.encode_raw(&mut buf);
        buf
    }

    fn byte_fields(&self) -> [(u32, &[u8]); 3] {
        [
            (TAG_ENVELOPE, self.envelope),
            (TAG_SIGNATURE, self.signature),
            (TAG_SIGNER_CERTIFICATE, self.signer_certificate),
        ]
    }

    fn number_fields(&self) -> [(u32, u64); 2] {
        [
            (TAG_LEAF_INDEX, self.leaf_index),
            (TAG_TREE_SIZE, self.tree_size),
        ]
    }
}

impl SignedEnvelope {
    fn as_ref(&self) -> SignedEnvelopeRef<'_> {
        SignedEnvelopeRef {
            envelope: &self.envelope,
            signature: &self.signature,
            signer_certificate: &self.signer_certificate,
            leaf_index: self.leaf_index,
            tree_size: self.tree_size,
            path: &self.path.hashes,
        }
    }
}

impl prost::Message for SignedEnvelope {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        self.as_ref().encode_raw(buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            TAG_ENVELOPE => merge_shared(wire_type, &mut self.envelope, buf),
            TAG_SIGNATURE => merge_bytes(wire_type, &mut self.signature, buf),
            TAG_SIGNER_CERTIFICATE => merge_shared(wire_type, &mut self.signer_certificate, buf),
            TAG_LEAF_INDEX => encoding::uint64::merge(wire_type, &mut self.leaf_index, buf, ctx),
            TAG_TREE_SIZE => encoding::uint64::merge(wire_type, &mut self.tree_size, buf, ctx),
            TAG_PATH => {
                let len = delimited_len(wire_type, buf)?;
                self.path.push_element(buf, len, self.tree_size);
                Ok(())
            }
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        self.as_ref().encoded_len()
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

/// A `bytes` field, last one wins as in prost, copied once into a buffer of its size (prost's
/// own merge copies into a `Bytes` first, then into the vector: two allocations).
fn merge_bytes(
    wire_type: WireType,
    value: &mut Vec<u8>,
    buf: &mut impl Buf,
) -> Result<(), DecodeError> {
    let len = delimited_len(wire_type, buf)?;
    value.clear();
    value.reserve_exact(len);
    value.put((&mut *buf).take(len));
    Ok(())
}

/// A `bytes` field kept as [`Bytes`], last one wins as in prost. Decoded from a [`Bytes`]
/// buffer (a link frame) it shares the frame's memory instead of copying it: an envelope
/// then costs no allocation or copy until it is stored, however often it is cloned for
/// verification. From a slice it is copied once.
fn merge_shared(
    wire_type: WireType,
    value: &mut Bytes,
    buf: &mut impl Buf,
) -> Result<(), DecodeError> {
    let len = delimited_len(wire_type, buf)?;
    *value = buf.copy_to_bytes(len);
    Ok(())
}

/// The length of a length-delimited field, checked to lie within the input.
fn delimited_len(wire_type: WireType, buf: &mut impl Buf) -> Result<usize, DecodeError> {
    encoding::check_wire_type(WireType::LengthDelimited, wire_type)?;
    let len = encoding::decode_varint(buf)?;
    usize::try_from(len)
        .ok()
        .filter(|&len| len <= buf.remaining())
        .ok_or_else(past_the_end)
}

/// prost's error for a length that runs past the end of the input: its constructors are not
/// public, so it is taken from decoding one byte that announces one more.
#[cold]
fn past_the_end() -> DecodeError {
    match <Vec<u8> as prost::Message>::decode_length_delimited(&[1u8][..]) {
        Err(err) => err,
        Ok(_) => unreachable!("one byte announcing one more is always short"),
    }
}

#[cfg(test)]
pub(crate) mod reference {
    //! What prost's derive makes of the same schema: tests craft wire bytes with it.

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct SignedEnvelope {
        #[prost(bytes = "vec", tag = "1")]
        pub envelope: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub signature: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub signer_certificate: Vec<u8>,
        #[prost(uint64, tag = "4")]
        pub leaf_index: u64,
        #[prost(uint64, tag = "5")]
        pub tree_size: u64,
        #[prost(bytes = "vec", repeated, tag = "6")]
        pub path: Vec<Vec<u8>>,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::Message;

    use super::*;

    fn reference_strategy() -> impl Strategy<Value = reference::SignedEnvelope> {
        let element = prop_oneof![
            4 => proptest::collection::vec(any::<u8>(), BATCH_HASH_LEN),
            1 => proptest::collection::vec(any::<u8>(), 0..40),
        ];
        (
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec(any::<u8>(), 0..70),
            proptest::collection::vec(any::<u8>(), 0..16),
            any::<u64>(),
            prop_oneof![Just(0u64), any::<u64>()],
            proptest::collection::vec(element, 0..40),
        )
            .prop_map(
                |(envelope, signature, signer_certificate, leaf_index, tree_size, path)| {
                    reference::SignedEnvelope {
                        envelope,
                        signature,
                        signer_certificate,
                        leaf_index,
                        tree_size,
                        path,
                    }
                },
            )
    }

    /// What the hand-written decoder should make of what prost's derive decoded.
    fn expected(reference: &reference::SignedEnvelope) -> SignedEnvelope {
        let mut path = WirePath::default();
        for element in &reference.path {
            path.elements += 1;
            if element.len() == BATCH_HASH_LEN {
                if path.hashes.len() < MAX_BATCH_PATH_LEN {
                    path.hashes.push(element.as_slice().try_into().unwrap());
                }
            } else if path.first_bad_len.is_none() {
                path.first_bad_len = Some(element.len());
            }
        }
        SignedEnvelope {
            envelope: reference.envelope.clone().into(),
            signature: reference.signature.clone(),
            signer_certificate: reference.signer_certificate.clone().into(),
            leaf_index: reference.leaf_index,
            tree_size: reference.tree_size,
            path,
        }
    }

    proptest! {
        #[test]
        fn reads_what_prost_writes(reference in reference_strategy()) {
            let bytes = reference.encode_to_vec();
            prop_assert_eq!(SignedEnvelope::decode(bytes.as_slice()).unwrap(), expected(&reference));
        }

        #[test]
        fn writes_what_prost_writes(reference in reference_strategy()) {
            let mut reference = reference;
            reference.path.retain(|e| e.len() == BATCH_HASH_LEN);
            reference.path.truncate(MAX_BATCH_PATH_LEN);
            let ours = expected(&reference);
            let bytes = ours.encode_to_vec();
            prop_assert_eq!(ours.encoded_len(), bytes.len());
            prop_assert_eq!(bytes, reference.encode_to_vec());
        }

        #[test]
        fn any_bytes_decode_as_prost_decodes_them_or_fail_as_it_does(
            bytes in proptest::collection::vec(any::<u8>(), 0..200)
        ) {
            let ours = SignedEnvelope::decode(bytes.as_slice());
            let theirs = reference::SignedEnvelope::decode(bytes.as_slice());
            match (ours, theirs) {
                (Ok(ours), Ok(theirs)) => prop_assert_eq!(ours, expected(&theirs)),
                (Err(_), Err(_)) => {}
                (ours, theirs) => prop_assert!(false, "ours {ours:?}, prost's {theirs:?}"),
            }
        }
    }

    #[test]
    fn a_path_past_the_limit_keeps_no_more_hashes_than_the_limit() {
        let reference = reference::SignedEnvelope {
            path: vec![vec![0; BATCH_HASH_LEN]; 10_000],
            ..Default::default()
        };
        let decoded = SignedEnvelope::decode(reference.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded.path.elements, 10_000);
        assert_eq!(decoded.path.hashes.len(), MAX_BATCH_PATH_LEN);
        assert_eq!(decoded.path.first_bad_len, None);
    }

    #[test]
    fn a_path_element_running_past_the_end_fails_to_decode() {
        // Field 6, length-delimited, announcing 32 bytes, giving 3.
        let bytes = [0x32, 32, 1, 2, 3];
        assert!(SignedEnvelope::decode(&bytes[..]).is_err());
        assert!(reference::SignedEnvelope::decode(&bytes[..]).is_err());
    }
}
