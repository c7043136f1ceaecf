//! The batch roots whose signature a verifier has checked (issue 16, item 1), so that the
//! other envelopes of a batch cost a path check each instead of a signature.

use std::collections::HashMap;

use bluehelm_proto::{root_signing_input, ROOT_SIGNING_INPUT_LEN, SIGNATURE_LEN};

use crate::batch::Hash;
use crate::defaults::ROOT_CACHE_CAPACITY;

/// What a batch signature vouches for: a signer (the SHA-256 of its certificate), a tree
/// size and a root. The size is part of the key because an inclusion path does not bind it
/// (see [`crate::batch`]): the same path can lead to the same root in trees of several sizes,
/// and only the signature says which size the signer meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct RootKey {
    pub(super) signer: [u8; 32],
    pub(super) tree_size: u64,
    pub(super) root: Hash,
}

impl RootKey {
    /// The bytes the signature is over.
    pub(super) fn signing_input(&self) -> [u8; ROOT_SIGNING_INPUT_LEN] {
        root_signing_input(self.tree_size, &self.root)
    }
}

/// Verified roots, each with the exact signature that verified, at most
/// [`ROOT_CACHE_CAPACITY`]. A hit counts only for the same signature bytes: a batch-mate
/// that carries an altered signature is checked again (and fails), as it would be by a
/// verifier that never saw its batch.
#[derive(Default)]
pub(super) struct RootCache {
    verified: HashMap<RootKey, [u8; SIGNATURE_LEN]>,
}

impl RootCache {
    /// Whether `signature` over `key` has verified here.
    pub(super) fn holds(&self, key: &RootKey, signature: &[u8; SIGNATURE_LEN]) -> bool {
        // Signatures are public values: an ordinary comparison leaks nothing.
        self.verified.get(key) == Some(signature)
    }

    /// Remembers that `signature` over `key` verified; when full, forgets another root first.
    pub(super) fn insert(&mut self, key: RootKey, signature: [u8; SIGNATURE_LEN]) {
        if !self.verified.contains_key(&key) && self.verified.len() >= ROOT_CACHE_CAPACITY {
            // Any entry will do, as for the signer cache: a miss only costs one signature
            // check, and a peer that sends many distinct roots (each needs a valid
            // signature of a trusted node) only evicts entries.
            if let Some(victim) = self.verified.keys().next().copied() {
                self.verified.remove(&victim);
            }
        }
        self.verified.insert(key, signature);
    }

    /// Forgets every root.
    pub(super) fn clear(&mut self) {
        self.verified.clear();
    }

    /// How many roots are remembered.
    pub(super) fn len(&self) -> usize {
        self.verified.len()
    }
}
