//! Proving several leaves of one tree at once: the subtree roots a verifier needs besides
//! the leaves it holds, each once.
//!
//! What this is for: replicated record changes signed in batches (issue 16, item 1). A
//! replica receives only the changes released to it, some leaves of each signing batch; a
//! path per change made a stored change twice as large and the sync slower
//! (docs/performance.md, "Field databases"). With a multiproof a sync batch carries, per
//! signing batch, one root signature and the roots of the subtrees that hold none of the
//! changes it sends: nothing when it sends the whole batch, about two hashes per gap.
//!
//! The shape is RFC 6962's Merkle Tree Hash: a tree of n > 1 leaves splits at k, the largest
//! power of two below n. The proof is the roots of the largest subtrees holding none of the
//! proven leaves, left to right. It depends on nothing but the tree size and the proven
//! indexes, so a verifier knows how many nodes it must use, and refuses a proof with more or
//! fewer. Like the inclusion path, it allocates nothing sized by the sender but the leaves
//! and nodes it is handed, and its work is a hash per node on the way to the root.

use std::slice::Iter;

use super::{node_hash, Hash, MAX_TREE_SIZE};

/// A multiproof was refused, or could not be made. Every variant but `Tree` means the sender
/// built a wrong proof (or altered one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultiproofError {
    /// The tree size is zero or above [`MAX_TREE_SIZE`].
    #[error("a tree of {0} leaves: a batch has 1 to {MAX_TREE_SIZE}")]
    TreeSize(u64),
    /// No leaf to prove: a multiproof proves at least one.
    #[error("a multiproof proves at least one leaf")]
    NoLeaves,
    /// A leaf index is not below the tree size, or the indexes are not strictly ascending.
    #[error("leaf indexes must be strictly ascending and below the tree size of {0}")]
    BadIndexes(u64),
    /// The nodes ran out before the root.
    #[error("the multiproof has too few nodes for its leaves and tree size")]
    TooFewNodes,
    /// Nodes were left over at the root.
    #[error("the multiproof has more nodes than its leaves and tree size use")]
    TooManyNodes,
}

/// The multiproof of the leaves at `included` (strictly ascending) in the tree over `leaves`:
/// the roots of the largest subtrees holding none of them, left to right.
pub fn multiproof(leaves: &[Hash], included: &[u64]) -> Result<Vec<Hash>, MultiproofError> {
    let size = leaves.len() as u64;
    check(size, included.iter().copied())?;
    let mut nodes = Vec::new();
    prove(leaves, 0, included, &mut nodes);
    Ok(nodes)
}

/// The root of a tree of `tree_size` leaves from some of its leaves (index and hash, indexes
/// strictly ascending) and their multiproof. The caller then checks the root, as it does one
/// from [`super::root_from_path`]; as with a path, the proof does not bind the tree size (the
/// same nodes may lead to the same root in a tree of another size), so the signature must
/// cover the size with the root.
pub fn root_from_multiproof(
    tree_size: u64,
    included: &[(u64, Hash)],
    nodes: &[Hash],
) -> Result<Hash, MultiproofError> {
    check(tree_size, included.iter().map(|(index, _)| *index))?;
    let mut nodes = nodes.iter();
    let root = climb(0, tree_size, included, &mut nodes)?;
    if nodes.next().is_some() {
        return Err(MultiproofError::TooManyNodes);
    }
    Ok(root)
}

/// Refuses a size out of range, no leaves, or indexes not strictly ascending below the size.
fn check(size: u64, mut indexes: impl Iterator<Item = u64>) -> Result<(), MultiproofError> {
    if size == 0 || size > MAX_TREE_SIZE {
        return Err(MultiproofError::TreeSize(size));
    }
    let mut last = indexes.next().ok_or(MultiproofError::NoLeaves)?;
    for index in indexes {
        if index <= last {
            return Err(MultiproofError::BadIndexes(size));
        }
        last = index;
    }
    if last >= size {
        return Err(MultiproofError::BadIndexes(size));
    }
    Ok(())
}

/// Appends the proof's nodes for the subtree over `leaves`, whose first leaf is `offset`;
/// `included` lies within it.
fn prove(leaves: &[Hash], offset: u64, included: &[u64], nodes: &mut Vec<Hash>) {
    if included.is_empty() {
        nodes.push(subtree_root(leaves));
        return;
    }
    if leaves.len() == 1 {
        return;
    }
    let k = split(leaves.len() as u64);
    let cut = included.partition_point(|&i| i < offset + k);
    let (left, right) = leaves.split_at(k as usize);
    prove(left, offset, &included[..cut], nodes);
    prove(right, offset + k, &included[cut..], nodes);
}

/// The root of the subtree of `size` leaves from `offset`, from the proven leaves within it
/// and the next nodes.
fn climb(
    offset: u64,
    size: u64,
    included: &[(u64, Hash)],
    nodes: &mut Iter<'_, Hash>,
) -> Result<Hash, MultiproofError> {
    let Some((_, first)) = included.first() else {
        return nodes.next().copied().ok_or(MultiproofError::TooFewNodes);
    };
    // Indexes are strictly ascending within the subtree: a subtree of one leaf holds
    // exactly that leaf.
    if size == 1 {
        return Ok(*first);
    }
    let k = split(size);
    let cut = included.partition_point(|(i, _)| *i < offset + k);
    let left = climb(offset, k, &included[..cut], nodes)?;
    let right = climb(offset + k, size - k, &included[cut..], nodes)?;
    Ok(node_hash(&left, &right))
}

/// RFC 6962's Merkle Tree Hash of `leaves` (at least one).
fn subtree_root(leaves: &[Hash]) -> Hash {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let (left, right) = leaves.split_at(split(leaves.len() as u64) as usize);
    node_hash(&subtree_root(left), &subtree_root(right))
}

/// The largest power of two below `n` (n > 1): where RFC 6962 splits a tree of n leaves.
fn split(n: u64) -> u64 {
    1 << (u64::BITS - 1 - (n - 1).leading_zeros())
}
