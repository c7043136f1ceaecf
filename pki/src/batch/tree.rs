//! The tree an origin builds over one batch: every level kept, paths read from the levels.

use super::{node_hash, Hash, MAX_PATH_LEN, MAX_TREE_SIZE};

/// A batch tree could not be built. Always the caller's mistake, never a peer's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchTreeError {
    /// A batch has at least one leaf: there is nothing to sign in an empty round.
    #[error("a batch tree needs at least one leaf")]
    Empty,
    /// More leaves than [`MAX_TREE_SIZE`], so some path would exceed
    /// [`super::MAX_PATH_LEN`].
    #[error("a batch tree holds at most {MAX_TREE_SIZE} leaves, not {0}")]
    TooManyLeaves(usize),
}

/// The Merkle tree (RFC 9162 section 2.1) over the leaf hashes of one batch.
///
/// Every level is kept, from the leaves (level 0) to the root (the last level, one hash).
/// Level i+1 pairs level i's hashes two by two; an odd hash at the end of a level is carried
/// up unchanged. This builds exactly RFC 6962's Merkle Tree Hash, with its split at the
/// largest power of two below n: the left subtree of every split is complete, so it pairs
/// off evenly at every level, and only the right edge ever has an odd node. It costs n - 1
/// hashes and about 2n hashes of memory, and a path is then O(log n) copies: building the
/// tree and all n paths is O(n) hashing, where calling the recursive PATH per leaf would
/// rehash the whole tree each time, O(n^2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTree {
    /// `levels[0]` are the leaf hashes, the last level is `[root]`; never empty, and no
    /// level is empty.
    levels: Vec<Vec<Hash>>,
}

impl BatchTree {
    /// Builds the tree over `leaf_hashes` (each a [`super::leaf_hash`]), in batch order.
    pub fn from_leaf_hashes(leaf_hashes: Vec<Hash>) -> Result<BatchTree, BatchTreeError> {
        let len = leaf_hashes.len();
        if len == 0 {
            return Err(BatchTreeError::Empty);
        }
        if u64::try_from(len).map_or(true, |len| len > MAX_TREE_SIZE) {
            return Err(BatchTreeError::TooManyLeaves(len));
        }
        // The leaves and one level per path hash: 33 levels at most (MAX_TREE_SIZE = 2^32).
        let mut levels = Vec::with_capacity(MAX_PATH_LEN + 1);
        levels.push(leaf_hashes);
        while let Some(below) = levels.last().filter(|level| level.len() > 1) {
            let pairs = below.chunks_exact(2);
            // The odd node at the end of a level goes up unchanged (RFC 6962's split, not
            // Bitcoin's duplication).
            let odd = pairs.remainder();
            let mut above = Vec::with_capacity(below.len().div_ceil(2));
            // chunks_exact(2) yields slices of exactly two hashes: the indexing cannot fail.
            above.extend(pairs.map(|pair| node_hash(&pair[0], &pair[1])));
            above.extend_from_slice(odd);
            levels.push(above);
        }
        Ok(BatchTree { levels })
    }

    /// The root: the hash to sign, with the tree size.
    pub fn root(&self) -> Hash {
        // `levels` is never empty and its last level holds exactly the root (the loop in
        // from_leaf_hashes stops at a level of one hash): neither index can fail.
        self.levels[self.levels.len() - 1][0]
    }

    /// The number of leaves, at least one.
    #[allow(clippy::len_without_is_empty)] // A batch tree is never empty.
    pub fn len(&self) -> usize {
        self.levels[0].len()
    }

    /// The number of leaves as the envelope carries it, for [`super::root_from_path`].
    pub fn tree_size(&self) -> u64 {
        // from_leaf_hashes checked that the length fits in u64 (it is at most MAX_TREE_SIZE).
        self.len() as u64
    }

    /// The inclusion path of leaf `index` (RFC 9162 section 2.1.3.1), from the leaf upwards,
    /// or `None` if the tree has no such leaf.
    pub fn path(&self, index: usize) -> Option<Vec<Hash>> {
        if index >= self.len() {
            return None;
        }
        let mut path = Vec::with_capacity(self.levels.len() - 1);
        let mut node = index;
        // Every level but the root's: the sibling at each level, if there is one. There is
        // none only for the odd node at the end of a level, which went up unchanged.
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(sibling) = level.get(node ^ 1) {
                path.push(*sibling);
            }
            node /= 2;
        }
        Some(path)
    }
}
