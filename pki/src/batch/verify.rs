//! Checking an inclusion path: RFC 9162 section 2.1.3.2, on what a peer sent.
//!
//! Everything here comes from the envelope, so nothing may panic, and nothing is allocated
//! but a [`RootMemo`]'s room for one path: the work is one hash per path element, at most
//! [`MAX_PATH_LEN`], after the sizes are checked.

use super::{node_hash, Hash, MAX_PATH_LEN, MAX_TREE_SIZE};

/// An inclusion path was refused. Every variant means the sender built a wrong proof (or
/// altered one); none is this node's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InclusionError {
    /// The tree size is zero: a batch has at least one leaf.
    #[error("the tree size is zero: a batch has at least one leaf")]
    EmptyTree,
    /// The tree size is above [`MAX_TREE_SIZE`].
    #[error("the tree size {0} exceeds the maximum of {MAX_TREE_SIZE} leaves")]
    TreeTooLarge(u64),
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is outside a tree of {tree_size} leaves")]
    IndexOutOfRange {
        /// The leaf index sent.
        index: u64,
        /// The tree size sent.
        tree_size: u64,
    },
    /// The path has too many or too few hashes for this leaf of a tree of this size.
    #[error("the inclusion path of leaf {index} in a tree of {tree_size} leaves has {got} hashes, not {expected}")]
    PathLength {
        /// The leaf index sent.
        index: u64,
        /// The tree size sent.
        tree_size: u64,
        /// How many hashes the path must have.
        expected: usize,
        /// How many it has.
        got: usize,
    },
    /// The path is well formed but leads to another root ([`verify_inclusion`] only).
    #[error("the inclusion path leads to another root than the expected one")]
    RootMismatch,
}

/// Recomputes the root of a tree of `tree_size` leaves from the hash of leaf `index` and its
/// inclusion path, with RFC 9162 section 2.1.3.2's algorithm. The caller then checks the
/// root, for instance by looking it up among the roots whose signature it verified (with the
/// tree size: see the module documentation). Never returns
/// [`InclusionError::RootMismatch`].
pub fn root_from_path(
    leaf_hash: &Hash,
    index: u64,
    tree_size: u64,
    path: &[Hash],
) -> Result<Hash, InclusionError> {
    climb(leaf_hash, index, tree_size, path, |_, _| None)
}

/// RFC 9162 section 2.1.3.2, step by step, with `stop` asked after each step (its number and
/// where it left the climb) whether the root is known from there.
fn climb(
    leaf_hash: &Hash,
    index: u64,
    tree_size: u64,
    path: &[Hash],
    mut stop: impl FnMut(usize, Step) -> Option<Hash>,
) -> Result<Hash, InclusionError> {
    let expected = path_len(index, tree_size)?;
    let wrong_length = InclusionError::PathLength {
        index,
        tree_size,
        expected,
        got: path.len(),
    };
    // Refused before hashing anything.
    if path.len() != expected {
        return Err(wrong_length);
    }
    // The RFC's own length checks stay, although the check above already makes them
    // unreachable.
    let mut fn_ = index;
    let mut sn = tree_size - 1; // tree_size >= 1 (path_len checked)
    let mut r = *leaf_hash;
    for (k, p) in path.iter().enumerate() {
        if sn == 0 {
            return Err(wrong_length);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            // A right-edge node with no sibling at this level: go up (unchanged) to the
            // level where it has a left sibling. fn_ halves each turn: at most 64 turns.
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
        if let Some(root) = stop(k, (fn_, sn, r)) {
            return Ok(root);
        }
    }
    if sn != 0 {
        return Err(wrong_length);
    }
    Ok(r)
}

/// The last path [`RootMemo::root_from_path`] followed to its root, with where each step
/// left it: the next leaf of the same tree joins that path after a step or two.
///
/// Envelopes of one batch arrive together and in order, and neighbouring leaves share all
/// but the lowest nodes of their paths: recomputing each path whole was eight hashes per
/// envelope at the hub and again at the destination, a few percent of all their CPU.
#[derive(Debug, Default)]
pub struct RootMemo {
    tree_size: u64,
    path: Vec<Hash>,
    /// After each step: the position reached (RFC 9162's `fn` and `sn`) and its hash.
    steps: Vec<Step>,
    next: Vec<Step>,
    root: Option<Hash>,
}

type Step = (u64, u64, Hash);

impl RootMemo {
    /// [`root_from_path`], with the same result for any input. Where this path reaches the
    /// same position of a tree of the same size as the last path followed, with the same
    /// hash, and its remaining elements are the last path's, the rest of the computation is
    /// the last one's step for step: the root is the last root, and no more is hashed.
    pub fn root_from_path(
        &mut self,
        leaf_hash: &Hash,
        index: u64,
        tree_size: u64,
        path: &[Hash],
    ) -> Result<Hash, InclusionError> {
        let last_root = self
            .root
            .filter(|_| self.tree_size == tree_size && self.path.len() == path.len());
        self.next.clear();
        let (last_steps, last_path, next) = (&self.steps, &self.path, &mut self.next);
        let mut joined_at = None;
        let root = climb(leaf_hash, index, tree_size, path, |k, step| {
            next.push(step);
            let root = last_root?;
            let joins = last_steps[k] == step && path[k + 1..] == last_path[k + 1..];
            joins.then(|| {
                joined_at = Some(k);
                root
            })
        })?;
        match joined_at {
            // The steps up to the join are this path's; the rest are shared.
            Some(k) => {
                self.steps[..=k].copy_from_slice(&self.next);
                self.path[..=k].copy_from_slice(&path[..=k]);
            }
            None => {
                std::mem::swap(&mut self.steps, &mut self.next);
                self.path.clear();
                self.path.extend_from_slice(path);
                self.tree_size = tree_size;
                self.root = Some(root);
            }
        }
        Ok(root)
    }
}

/// Checks that leaf `index`, with hash `leaf_hash`, is in the tree of `tree_size` leaves
/// whose root is `root`: [`root_from_path`], then a comparison with `root`.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    tree_size: u64,
    path: &[Hash],
    root: &Hash,
) -> Result<(), InclusionError> {
    // Roots are public values: an ordinary comparison leaks nothing.
    if root_from_path(leaf_hash, index, tree_size, path)? == *root {
        Ok(())
    } else {
        Err(InclusionError::RootMismatch)
    }
}

/// How many hashes the inclusion path of leaf `index` in a tree of `tree_size` leaves has,
/// after checking the sizes.
///
/// Levels are counted from the leaves. Below the level where the leaf's ancestor meets the
/// tree's last node (the bit length of `index ^ (tree_size - 1)`), every ancestor has a
/// sibling; from there up, the ancestor is on the right edge and has a (left) sibling
/// exactly where `index` has a one bit. The same decomposition as transparency-dev/merkle's
/// `proof.decompInclProof`.
fn path_len(index: u64, tree_size: u64) -> Result<usize, InclusionError> {
    if tree_size == 0 {
        return Err(InclusionError::EmptyTree);
    }
    if tree_size > MAX_TREE_SIZE {
        return Err(InclusionError::TreeTooLarge(tree_size));
    }
    if index >= tree_size {
        return Err(InclusionError::IndexOutOfRange { index, tree_size });
    }
    let last = tree_size - 1;
    // Both below 2^32: at most 32 inner levels, and the shift below is in range.
    let inner = u64::BITS - (index ^ last).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    let len = (inner + border) as usize;
    debug_assert!(len <= MAX_PATH_LEN);
    Ok(len)
}
