//! Merkle trees for batch signatures (issue 16, item 1): the pure tree and proof code.
//!
//! An origin signs, once per round, the root of a Merkle tree over the envelopes it commits
//! in that round ([`crate::Signer::sign_batch`]); each envelope then carries the root
//! signature, its leaf index, the tree size and its inclusion path, and the verifier
//! ([`crate::EnvelopeVerifier`]) recomputes the root from them. This module builds the tree
//! ([`BatchTree`]), reads the inclusion paths from it, and recomputes a root from a path
//! ([`root_from_path`]). It does no signing, knows no wire format, and holds no state.
//!
//! The tree is exactly RFC 6962's, as restated in RFC 9162 section 2.1:
//! - leaf hash = SHA-256(0x00 || leaf), node hash = SHA-256(0x01 || left || right)
//!   ([`leaf_hash`], [`node_hash`]): the prefixes keep a leaf from passing for a node;
//! - the Merkle Tree Hash of n > 1 leaves splits them at k, the largest power of two below
//!   n, so the tree is unbalanced on its right edge, and an odd node at the end of a level
//!   is carried up unchanged (never paired with a copy of itself, as Bitcoin does: that
//!   lets two different leaf lists share a root, CVE-2012-2459);
//! - the inclusion path is RFC 9162 section 2.1.3.1's PATH, from the leaf upwards, and it
//!   is checked with section 2.1.3.2's algorithm.
//!
//! # What an inclusion path does not prove
//!
//! A path binds the leaf, its index and the root, but not the tree size: for some sizes the
//! same leaf index takes the same left/right turns in a larger or smaller tree (leaf 0 in
//! trees of 5 to 8 leaves, see the tests), and the verifier then returns the same root for
//! all of these sizes. RFC 6962 signs the tree size together with the root for this reason, and
//! so must the batch signature: sign (tree size, root), and key any cache of verified roots
//! by both.

mod multiproof;
mod tree;
mod verify;

pub use multiproof::{multiproof, root_from_multiproof, MultiproofError};
pub use tree::{BatchTree, BatchTreeError};
pub use verify::{root_from_path, verify_inclusion, InclusionError, RootMemo};

use ring::digest::{Context, SHA256};

/// The length of every hash in the tree: SHA-256.
pub const HASH_LEN: usize = 32;

/// A leaf hash, an interior node hash or a root.
pub type Hash = [u8; HASH_LEN];

/// The longest inclusion path: a tree of at most 2^32 leaves ([`MAX_TREE_SIZE`]) is at most
/// 32 levels deep, and a path holds at most one hash per level. A batch is one round of one
/// origin's envelopes, thousands at most, so 2^32 is far beyond any real batch; the bound
/// lets the wire format cap a proof at 32 hashes (1 KiB) and the verifier refuse a longer
/// one before hashing anything.
pub const MAX_PATH_LEN: usize = 32;

/// The largest tree: 2^32 leaves, so that every path fits in [`MAX_PATH_LEN`] hashes.
pub const MAX_TREE_SIZE: u64 = 1 << MAX_PATH_LEN;

/// RFC 6962 section 2.1: the prefix of a leaf's bytes before hashing.
const LEAF_PREFIX: u8 = 0x00;

/// RFC 6962 section 2.1: the prefix of two child hashes before hashing.
const NODE_PREFIX: u8 = 0x01;

/// The hash of one leaf: SHA-256(0x00 || leaf).
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut context = Context::new(&SHA256);
    context.update(&[LEAF_PREFIX]);
    context.update(leaf);
    finish(context)
}

/// The hash of a leaf with a salt before it: SHA-256(0x00 || salt || leaf). Record changes'
/// leaves are salted (docs/protocol.md 11.2); envelopes' are not.
pub(crate) fn salted_leaf_hash(salt: &[u8], leaf: &[u8]) -> Hash {
    let mut context = Context::new(&SHA256);
    context.update(&[LEAF_PREFIX]);
    context.update(salt);
    context.update(leaf);
    finish(context)
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut context = Context::new(&SHA256);
    context.update(&[NODE_PREFIX]);
    context.update(left);
    context.update(right);
    finish(context)
}

fn finish(context: Context) -> Hash {
    let mut out = [0; HASH_LEN];
    // A SHA-256 digest is always HASH_LEN bytes long: the copy cannot panic.
    out.copy_from_slice(context.finish().as_ref());
    out
}

#[cfg(test)]
mod example;
#[cfg(test)]
mod tests;
