//! The digest a replica and the hub compare: a Merkle tree hash (RFC 6962, section 2.1) over
//! the replica's records in storage-key order. Each leaf is the record's storage key followed
//! by the SHA-256 of its signed change; leaves are hashed with a 0x00 prefix, inner nodes
//! with 0x01, so a leaf can never pass for a node.
//!
//! [`Digest`] builds the root in one pass in O(log n) memory: RFC 6962's tree splits n
//! leaves at the largest power of two below n, so its left subtrees are the perfect trees
//! of n's binary digits, largest first. The builder merges equal-sized perfect trees as
//! leaves arrive and folds what is left from the right at the end.

use bluehelm_proto::records::HASH_LEN;

type Hash = [u8; HASH_LEN];

/// Root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    super::sha256(&[])
}

fn leaf_hash(storage_key: &Hash, change_hash: &Hash) -> Hash {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&[0x00]);
    ctx.update(storage_key);
    ctx.update(change_hash);
    let mut out = [0; HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&[0x01]);
    ctx.update(left);
    ctx.update(right);
    let mut out = [0; HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Builds a root from leaves given in storage-key order.
#[derive(Debug, Default)]
pub struct Digest {
    /// Perfect subtrees not yet merged: (leaf count, root), counts strictly decreasing.
    stack: Vec<(u64, Hash)>,
    leaves: u64,
}

impl Digest {
    /// Adds the next record: its storage key and the SHA-256 of its signed change bytes.
    pub fn push(&mut self, storage_key: &Hash, change_hash: &Hash) {
        let mut top = (1u64, leaf_hash(storage_key, change_hash));
        while let Some(&(size, hash)) = self.stack.last() {
            if size != top.0 {
                break;
            }
            self.stack.pop();
            top = (size * 2, node_hash(&hash, &top.1));
        }
        self.stack.push(top);
        self.leaves += 1;
    }

    /// Records added so far.
    pub fn leaves(&self) -> u64 {
        self.leaves
    }

    /// The root over every record added.
    pub fn root(&self) -> Hash {
        let mut rest = self.stack.iter().rev();
        let Some(&(_, mut hash)) = rest.next() else {
            return empty_root();
        };
        for (_, left) in rest {
            hash = node_hash(left, &hash);
        }
        hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962's recursive definition, for comparison.
    fn reference(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = n.next_power_of_two() / 2;
                node_hash(&reference(&leaves[..k]), &reference(&leaves[k..]))
            }
        }
    }

    #[test]
    fn the_one_pass_root_is_rfc_6962s_for_every_size() {
        for n in 0..70u8 {
            let mut digest = Digest::default();
            let mut leaves = Vec::new();
            for i in 0..n {
                let (key, change) = ([i; 32], [i.wrapping_mul(7); 32]);
                digest.push(&key, &change);
                leaves.push(leaf_hash(&key, &change));
            }
            assert_eq!(digest.root(), reference(&leaves), "{n} leaves");
            assert_eq!(digest.leaves(), u64::from(n));
        }
    }

    #[test]
    fn any_difference_changes_the_root() {
        let build = |items: &[(u8, u8)]| {
            let mut d = Digest::default();
            items.iter().for_each(|(k, c)| d.push(&[*k; 32], &[*c; 32]));
            d.root()
        };
        let base = build(&[(1, 1), (2, 2), (3, 3)]);
        assert_ne!(base, build(&[(1, 1), (2, 2)]), "a record missing");
        assert_ne!(base, build(&[(1, 1), (2, 9), (3, 3)]), "another version");
        assert_ne!(base, build(&[(2, 2), (1, 1), (3, 3)]), "another order");
        assert_ne!(
            base,
            build(&[(1, 1), (2, 2), (3, 3), (4, 4)]),
            "a record more"
        );
    }
}
