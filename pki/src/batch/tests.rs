//! Batch trees (issue 16, item 1): the Certificate Transparency test vectors, a plain
//! recursive RFC 9162 implementation to compare with, and property tests of the verifier.

use proptest::prelude::*;

use super::*;

/// The test leaves of the Certificate Transparency implementations (C++ and Go), as in
/// transparency-dev/merkle `proof/verify_test.go` (commit 02194e9a).
const CT_LEAVES: [&[u8]; 8] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
];

/// The roots of the trees over the first 1, 2, .., 8 of [`CT_LEAVES`], from the same file.
const CT_ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Inclusion paths from the same file: (leaf index, tree size, path). The Go file numbers
/// leaves from 1; these indexes are from 0.
const CT_PATHS: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

fn unhex(s: &str) -> Hash {
    assert_eq!(s.len(), 2 * HASH_LEN, "{s}");
    let mut out = [0; HASH_LEN];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn ct_leaf_hashes(n: usize) -> Vec<Hash> {
    CT_LEAVES[..n].iter().map(|leaf| leaf_hash(leaf)).collect()
}

fn tree(leaf_hashes: &[Hash]) -> BatchTree {
    BatchTree::from_leaf_hashes(leaf_hashes.to_vec()).unwrap()
}

// The reference: RFC 9162 section 2.1.1 and 2.1.3.1 as written, recursively, with no
// attention to cost.

/// The largest power of two below `n` (n > 1).
fn split(n: u64) -> u64 {
    assert!(n > 1);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]), n >= 1.
fn mth(leaves: &[Hash]) -> Hash {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = split(leaves.len() as u64) as usize;
    node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
}

/// PATH(m, D[n]).
fn reference_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    if leaves.len() == 1 {
        return Vec::new();
    }
    let k = split(leaves.len() as u64) as usize;
    let (mut path, sibling) = if m < k {
        (reference_path(m, &leaves[..k]), mth(&leaves[k..]))
    } else {
        (reference_path(m - k, &leaves[k..]), mth(&leaves[..k]))
    };
    path.push(sibling);
    path
}

/// The shape of PATH(m, D[n]) without the hashes: for each path element from the leaf up,
/// whether it is a left sibling. Cheap for any n, so it can judge the verifier on huge trees.
fn route(m: u64, n: u64) -> Vec<bool> {
    if n == 1 {
        return Vec::new();
    }
    let k = split(n);
    let (mut route, left) = if m < k {
        (route(m, k), false)
    } else {
        (route(m - k, n - k), true)
    };
    route.push(left);
    route
}

/// Distinct leaves (each starts with `tag` and its index), so that no two subtrees share
/// a hash and every wrong proof really is wrong.
fn distinct_leaf_hashes(tag: u8, suffixes: &[Vec<u8>]) -> Vec<Hash> {
    suffixes
        .iter()
        .enumerate()
        .map(|(i, suffix)| {
            let mut leaf = vec![tag];
            leaf.extend_from_slice(&(i as u32).to_be_bytes());
            leaf.extend_from_slice(suffix);
            leaf_hash(&leaf)
        })
        .collect()
}

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut out = *hash;
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

#[test]
fn roots_match_the_certificate_transparency_vectors() {
    for (n, root) in (1..=8).zip(CT_ROOTS) {
        let leaves = ct_leaf_hashes(n);
        assert_eq!(tree(&leaves).root(), unhex(root), "tree of {n} leaves");
        assert_eq!(mth(&leaves), unhex(root), "reference, tree of {n} leaves");
    }
}

#[test]
fn paths_match_the_certificate_transparency_vectors() {
    for (index, size, expected) in CT_PATHS {
        let leaves = ct_leaf_hashes(size as usize);
        let expected: Vec<Hash> = expected.iter().map(|h| unhex(h)).collect();
        let path = tree(&leaves).path(index as usize).unwrap();
        assert_eq!(path, expected, "leaf {index} of {size}");
        let root = unhex(CT_ROOTS[size as usize - 1]);
        let leaf = &leaves[index as usize];
        assert_eq!(root_from_path(leaf, index, size, &expected), Ok(root));
        assert_eq!(
            verify_inclusion(leaf, index, size, &expected, &root),
            Ok(())
        );
    }
}

#[test]
fn a_one_leaf_tree_has_the_leaf_hash_as_root_and_an_empty_path() {
    let leaf = leaf_hash(b"the only envelope");
    let tree = tree(&[leaf]);
    assert_eq!((tree.root(), tree.len(), tree.tree_size()), (leaf, 1, 1));
    assert_eq!(tree.path(0), Some(Vec::new()));
    assert_eq!(verify_inclusion(&leaf, 0, 1, &[], &leaf), Ok(()));
    assert_eq!(
        verify_inclusion(&leaf, 0, 1, &[leaf], &leaf),
        Err(InclusionError::PathLength {
            index: 0,
            tree_size: 1,
            expected: 0,
            got: 1
        })
    );
}

#[test]
fn an_empty_batch_is_refused() {
    assert_eq!(
        BatchTree::from_leaf_hashes(Vec::new()),
        Err(BatchTreeError::Empty)
    );
}

#[test]
fn a_path_to_a_missing_leaf_is_none() {
    let tree = tree(&ct_leaf_hashes(5));
    assert!(tree.path(4).is_some());
    assert_eq!(tree.path(5), None);
    assert_eq!(tree.path(usize::MAX), None);
}

#[test]
fn a_leaf_hash_never_equals_the_node_hash_of_the_same_bytes() {
    let (a, b) = (leaf_hash(b"left"), leaf_hash(b"right"));
    let mut both = a.to_vec();
    both.extend_from_slice(&b);
    assert_ne!(leaf_hash(&both), node_hash(&a, &b));
}

#[test]
fn the_odd_node_at_the_end_of_a_level_is_promoted_not_duplicated() {
    let l = ct_leaf_hashes(3);
    let root = tree(&l).root();
    assert_eq!(root, node_hash(&node_hash(&l[0], &l[1]), &l[2]));
    assert_ne!(
        root,
        node_hash(&node_hash(&l[0], &l[1]), &node_hash(&l[2], &l[2]))
    );
    // Bitcoin's duplication would give these two batches the same root.
    let padded = tree(&[l[0], l[1], l[2], l[2]]).root();
    assert_ne!(root, padded);
}

/// Why the batch signature must cover the tree size: the path of leaf 0 in a tree of 5
/// leaves also verifies as leaf 0 of trees of 6, 7 and 8 leaves, where that leaf takes the
/// same turns (three times left child); other sizes need another path length.
#[test]
fn the_path_does_not_bind_the_tree_size() {
    let leaves = ct_leaf_hashes(5);
    let tree = tree(&leaves);
    let path = tree.path(0).unwrap();
    for size in 1..=12 {
        let result = verify_inclusion(&leaves[0], 0, size, &path, &tree.root());
        assert_eq!(result.is_ok(), (5..=8).contains(&size), "size {size}");
        assert_eq!(route(0, size) == route(0, 5), (5..=8).contains(&size));
    }
}

#[test]
fn sizes_and_indexes_out_of_range_are_refused_before_hashing() {
    let h = leaf_hash(b"x");
    let path = [h; MAX_PATH_LEN];
    assert_eq!(
        root_from_path(&h, 0, 0, &[]),
        Err(InclusionError::EmptyTree)
    );
    for size in [MAX_TREE_SIZE + 1, u64::MAX] {
        assert_eq!(
            root_from_path(&h, 0, size, &path),
            Err(InclusionError::TreeTooLarge(size))
        );
    }
    for (index, tree_size) in [
        (1, 1),
        (7, 7),
        (u64::MAX, 8),
        (MAX_TREE_SIZE, MAX_TREE_SIZE),
    ] {
        assert_eq!(
            root_from_path(&h, index, tree_size, &[]),
            Err(InclusionError::IndexOutOfRange { index, tree_size })
        );
    }
    // The largest tree: its last leaf has a path of exactly MAX_PATH_LEN hashes.
    let last = MAX_TREE_SIZE - 1;
    assert!(root_from_path(&h, last, MAX_TREE_SIZE, &path).is_ok());
    assert_eq!(
        root_from_path(&h, last, MAX_TREE_SIZE, &path[1..]),
        Err(InclusionError::PathLength {
            index: last,
            tree_size: MAX_TREE_SIZE,
            expected: MAX_PATH_LEN,
            got: MAX_PATH_LEN - 1
        })
    );
}

#[test]
fn error_messages_are_lower_case() {
    let errors = [
        InclusionError::EmptyTree.to_string(),
        InclusionError::TreeTooLarge(u64::MAX).to_string(),
        InclusionError::RootMismatch.to_string(),
        BatchTreeError::Empty.to_string(),
    ];
    for message in errors {
        assert!(message.starts_with(char::is_lowercase), "{message}");
    }
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Leaf suffixes for a batch of 1 to 300 leaves.
fn batch() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), 1..=300)
}

/// Tree sizes a peer might send: small, near the limit, and anything.
fn any_tree_size() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..=600u64,
        (MAX_TREE_SIZE - 600)..=(MAX_TREE_SIZE + 600),
        Just(u64::MAX),
        any::<u64>(),
    ]
}

proptest! {
    // The recursive reference hashes the whole tree for every path (O(n^2)): fewer cases.
    #![proptest_config(config(64))]

    #[test]
    fn the_levels_build_the_recursive_tree_and_every_path_verifies(suffixes in batch()) {
        let leaves = distinct_leaf_hashes(0, &suffixes);
        let tree = tree(&leaves);
        let root = tree.root();
        prop_assert_eq!(root, mth(&leaves));
        prop_assert_eq!(tree.len(), leaves.len());
        for (i, leaf) in leaves.iter().enumerate() {
            let path = tree.path(i).unwrap();
            prop_assert_eq!(&path, &reference_path(i, &leaves));
            prop_assert!(path.len() <= MAX_PATH_LEN);
            prop_assert_eq!(root_from_path(leaf, i as u64, tree.tree_size(), &path), Ok(root));
            prop_assert_eq!(verify_inclusion(leaf, i as u64, tree.tree_size(), &path, &root), Ok(()));
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_altered_proof_fails(suffixes in batch(), pick in any::<prop::sample::Index>()) {
        let leaves = distinct_leaf_hashes(0, &suffixes);
        let tree = tree(&leaves);
        let (root, size) = (tree.root(), tree.tree_size());
        let i = pick.index(leaves.len());
        let (leaf, index, path) = (leaves[i], i as u64, tree.path(i).unwrap());
        for bit in 0..8 * HASH_LEN {
            prop_assert!(verify_inclusion(&flip(&leaf, bit), index, size, &path, &root).is_err());
            prop_assert!(verify_inclusion(&leaf, index, size, &path, &flip(&root, bit)).is_err());
            for k in 0..path.len() {
                let mut altered = path.clone();
                altered[k] = flip(&path[k], bit);
                prop_assert!(verify_inclusion(&leaf, index, size, &altered, &root).is_err());
            }
        }
        for bit in 0..u64::BITS {
            let other = index ^ (1 << bit);
            prop_assert!(verify_inclusion(&leaf, other, size, &path, &root).is_err());
            // The tree size is not bound by the path (see the module documentation): the
            // proof still holds exactly when the leaf takes the same turns in a tree of the
            // other size, which the signature over (size, root) must then refuse.
            let other = size ^ (1 << bit);
            let same_turns = (1..=MAX_TREE_SIZE).contains(&other)
                && index < other
                && route(index, other) == route(index, size);
            prop_assert_eq!(
                verify_inclusion(&leaf, index, other, &path, &root).is_ok(),
                same_turns,
                "tree size {} for {}", other, size
            );
        }
    }

    #[test]
    fn a_path_from_another_tree_or_leaf_fails(
        suffixes in batch(),
        pick in any::<prop::sample::Index>(),
        other_pick in any::<prop::sample::Index>(),
    ) {
        let leaves = distinct_leaf_hashes(0, &suffixes);
        let tree = tree(&leaves);
        let (root, size) = (tree.root(), tree.tree_size());
        let i = pick.index(leaves.len());
        // The same number of other leaves: the same shape, other hashes. (A one-leaf
        // tree's path is empty, the same in every tree.)
        let other_tree = self::tree(&distinct_leaf_hashes(1, &suffixes));
        let foreign = other_tree.path(i).unwrap();
        prop_assert_eq!(
            verify_inclusion(&leaves[i], i as u64, size, &foreign, &root).is_ok(),
            leaves.len() == 1
        );
        let j = other_pick.index(leaves.len());
        if j != i {
            let path_j = tree.path(j).unwrap();
            prop_assert!(verify_inclusion(&leaves[i], i as u64, size, &path_j, &root).is_err());
            prop_assert!(verify_inclusion(&leaves[i], j as u64, size, &path_j, &root).is_err());
        }
    }

    #[test]
    fn a_truncated_or_extended_path_fails(
        suffixes in batch(),
        pick in any::<prop::sample::Index>(),
        extra in any::<[u8; HASH_LEN]>(),
    ) {
        let leaves = distinct_leaf_hashes(0, &suffixes);
        let tree = tree(&leaves);
        let (root, size) = (tree.root(), tree.tree_size());
        let i = pick.index(leaves.len());
        let path = tree.path(i).unwrap();
        let wrong_length = |got| InclusionError::PathLength {
            index: i as u64,
            tree_size: size,
            expected: path.len(),
            got,
        };
        for len in 0..path.len() {
            prop_assert_eq!(
                verify_inclusion(&leaves[i], i as u64, size, &path[..len], &root),
                Err(wrong_length(len))
            );
        }
        for extension in [extra, root, leaves[i]] {
            let mut longer = path.clone();
            longer.push(extension);
            prop_assert_eq!(
                verify_inclusion(&leaves[i], i as u64, size, &longer, &root),
                Err(wrong_length(path.len() + 1))
            );
            longer.rotate_right(1);
            prop_assert_eq!(
                verify_inclusion(&leaves[i], i as u64, size, &longer, &root),
                Err(wrong_length(path.len() + 1))
            );
        }
    }

    /// Whatever a peer sends: no panic, and a result only for a valid size and index with a
    /// path of exactly the length RFC 9162's PATH gives.
    #[test]
    fn the_verifier_never_panics(
        index in prop_oneof![any_tree_size(), Just(0u64)],
        tree_size in any_tree_size(),
        path in prop::collection::vec(any::<[u8; HASH_LEN]>(), 0..=MAX_PATH_LEN + 8),
        leaf in any::<[u8; HASH_LEN]>(),
    ) {
        let result = root_from_path(&leaf, index, tree_size, &path);
        let valid = (1..=MAX_TREE_SIZE).contains(&tree_size)
            && index < tree_size
            && route(index, tree_size).len() == path.len();
        prop_assert_eq!(result.is_ok(), valid, "{:?}", result);
        let _ = verify_inclusion(&leaf, index, tree_size, &path, &leaf);
    }

    #[test]
    fn the_expected_path_length_is_the_recursive_one(
        tree_size in 1..=MAX_TREE_SIZE,
        pick in any::<prop::sample::Index>(),
    ) {
        let index = pick.index(tree_size as usize) as u64;
        let path = [[0; HASH_LEN]; MAX_PATH_LEN];
        let expected = route(index, tree_size).len();
        prop_assert!(root_from_path(&[0; HASH_LEN], index, tree_size, &path[..expected]).is_ok());
    }
}

/// One proof handed to a [`RootMemo`]: a leaf of one of two trees, perhaps altered.
#[derive(Debug, Clone)]
struct Claimed {
    other_tree: bool,
    leaf: prop::sample::Index,
    /// Which part to alter (leaf hash, a path element, the index, the size), if any.
    alter: Option<(u8, prop::sample::Index, usize)>,
}

fn claimed() -> impl Strategy<Value = Claimed> {
    (
        prop::bool::weighted(0.2),
        any::<prop::sample::Index>(),
        prop::option::weighted(0.3, (0..4u8, any::<prop::sample::Index>(), 0..256usize)),
    )
        .prop_map(|(other_tree, leaf, alter)| Claimed {
            other_tree,
            leaf,
            alter,
        })
}

proptest! {
    #![proptest_config(config(256))]

    /// The memo is only a shortcut: for any sequence of proofs, right or altered, from one
    /// tree or another, it gives what `root_from_path` gives for each.
    #[test]
    fn a_root_memo_gives_what_root_from_path_gives(
        suffixes in batch(),
        other_size in 1..=300usize,
        claims in prop::collection::vec(claimed(), 1..64),
        in_order in any::<bool>(),
    ) {
        let other_suffixes: Vec<Vec<u8>> = (0..other_size).map(|n| n.to_be_bytes().to_vec()).collect();
        let leaves = [
            distinct_leaf_hashes(0, &suffixes),
            distinct_leaf_hashes(1, &other_suffixes),
        ];
        let trees = [tree(&leaves[0]), tree(&leaves[1])];
        let mut memo = RootMemo::default();
        for (n, claim) in claims.iter().enumerate() {
            let which = usize::from(claim.other_tree);
            let tree = &trees[which];
            // Mostly consecutive leaves, as a batch arrives; or any.
            let i = if in_order { n % tree.len() } else { claim.leaf.index(tree.len()) };
            let mut leaf = leaves[which][i];
            let mut path = tree.path(i).unwrap();
            let (mut index, mut size) = (i as u64, tree.tree_size());
            if let Some((part, at, bit)) = claim.alter {
                match part {
                    0 => leaf = flip(&leaf, bit),
                    1 if !path.is_empty() => {
                        let k = at.index(path.len());
                        path[k] = flip(&path[k], bit);
                    }
                    2 => index ^= 1 << (bit % 9),
                    _ => size ^= 1 << (bit % 9),
                }
            }
            prop_assert_eq!(
                memo.root_from_path(&leaf, index, size, &path),
                root_from_path(&leaf, index, size, &path),
                "claim {} of {:?}", n, claims
            );
        }
    }
}

/// Every non-empty subset of the leaves of a tree of `n`, as ascending indexes.
fn subsets(n: usize) -> impl Iterator<Item = Vec<u64>> {
    (1u32..1 << n).map(move |mask| (0..n as u64).filter(|i| mask & (1 << i) != 0).collect())
}

fn with_hashes(leaves: &[Hash], included: &[u64]) -> Vec<(u64, Hash)> {
    included.iter().map(|&i| (i, leaves[i as usize])).collect()
}

#[test]
fn every_subset_of_the_leaves_of_small_trees_proves_the_root() {
    for n in 1..=10 {
        let leaves = distinct_leaf_hashes(0, &vec![Vec::new(); n]);
        let root = tree(&leaves).root();
        for included in subsets(n) {
            let nodes = multiproof(&leaves, &included).unwrap();
            assert_eq!(
                root_from_multiproof(n as u64, &with_hashes(&leaves, &included), &nodes),
                Ok(root),
                "{n} leaves, proving {included:?}"
            );
        }
        let all: Vec<u64> = (0..n as u64).collect();
        assert!(multiproof(&leaves, &all).unwrap().is_empty(), "{n}");
    }
}

#[test]
fn one_leafs_multiproof_holds_its_inclusion_path() {
    for n in 1..=40 {
        let leaves = distinct_leaf_hashes(0, &vec![Vec::new(); n]);
        let tree = tree(&leaves);
        for i in 0..n {
            let mut nodes = multiproof(&leaves, &[i as u64]).unwrap();
            let mut path = tree.path(i).unwrap();
            nodes.sort_unstable();
            path.sort_unstable();
            assert_eq!(nodes, path, "leaf {i} of {n}");
        }
    }
}

#[test]
fn a_multiproof_of_a_bad_shape_is_refused_before_hashing() {
    let leaves = distinct_leaf_hashes(0, &vec![Vec::new(); 5]);
    let leaf = leaves[0];
    for (included, error) in [
        (vec![], MultiproofError::NoLeaves),
        (vec![2, 1], MultiproofError::BadIndexes(5)),
        (vec![1, 1], MultiproofError::BadIndexes(5)),
        (vec![5], MultiproofError::BadIndexes(5)),
        (vec![0, u64::MAX], MultiproofError::BadIndexes(5)),
    ] {
        assert_eq!(multiproof(&leaves, &included), Err(error.clone()));
        let claimed: Vec<_> = included.iter().map(|&i| (i, leaf)).collect();
        assert_eq!(root_from_multiproof(5, &claimed, &[leaf; 4]), Err(error));
    }
    for size in [0, MAX_TREE_SIZE + 1, u64::MAX] {
        assert_eq!(
            root_from_multiproof(size, &[(0, leaf)], &[]),
            Err(MultiproofError::TreeSize(size))
        );
    }
    assert_eq!(multiproof(&[], &[0]), Err(MultiproofError::TreeSize(0)));
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn an_altered_multiproof_fails(
        suffixes in batch(),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 1..8),
        alteration in 0..5u8,
        at in any::<prop::sample::Index>(),
        bit in 0..8 * HASH_LEN,
    ) {
        let leaves = distinct_leaf_hashes(0, &suffixes);
        let n = leaves.len();
        let root = tree(&leaves).root();
        let mut included: Vec<u64> = picks.iter().map(|p| p.index(n) as u64).collect();
        included.sort_unstable();
        included.dedup();
        let mut nodes = multiproof(&leaves, &included).unwrap();
        let mut claimed = with_hashes(&leaves, &included);
        prop_assert_eq!(root_from_multiproof(n as u64, &claimed, &nodes), Ok(root));
        match alteration {
            0 if !nodes.is_empty() => {
                let k = at.index(nodes.len());
                nodes[k] = flip(&nodes[k], bit);
                prop_assert_ne!(root_from_multiproof(n as u64, &claimed, &nodes), Ok(root));
            }
            1 => {
                let k = at.index(claimed.len());
                claimed[k].1 = flip(&claimed[k].1, bit);
                prop_assert_ne!(root_from_multiproof(n as u64, &claimed, &nodes), Ok(root));
            }
            2 if !nodes.is_empty() => {
                nodes.remove(at.index(nodes.len()));
                prop_assert_eq!(
                    root_from_multiproof(n as u64, &claimed, &nodes),
                    Err(MultiproofError::TooFewNodes)
                );
            }
            3 => {
                nodes.push(root);
                prop_assert_eq!(
                    root_from_multiproof(n as u64, &claimed, &nodes),
                    Err(MultiproofError::TooManyNodes)
                );
            }
            _ => {
                // A leaf claimed at an index next to its own that the proof does not cover.
                let k = at.index(claimed.len());
                let moved = claimed[k].0 + 1;
                if moved < n as u64 && !included.contains(&moved)
                    && claimed.get(k + 1).is_none_or(|next| next.0 > moved)
                {
                    claimed[k].0 = moved;
                    prop_assert_ne!(root_from_multiproof(n as u64, &claimed, &nodes), Ok(root));
                }
            }
        }
    }
}
