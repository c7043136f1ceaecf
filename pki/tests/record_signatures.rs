//! Record changes (issue 13): signed by their owner, verified with the owner's certificate,
//! every tampering refused; the hub's digest verified with the hub's certificate. Since
//! `bluehelm/8` (issue 16) an owner signs a batch of changes once, and each change verifies
//! with a multiproof of the changes that travel with it, whichever of its batch-mates were
//! dropped.

mod common;

use common::ncb;

use bluehelm_pki::batch::multiproof;
use bluehelm_pki::record_leaf_hash;
use bluehelm_pki::{CertificateAuthority, EnvelopeVerifier, NodeCredentials, RecordVerifyError};
use bluehelm_proto::records::{
    record_root_signing_input, ChangeSignature, Database, RecordBatchProof, RecordChange,
    ReplicaDigest, SignedRecordChange,
};
use bluehelm_proto::root_signing_input;

fn change(owner: &str, key: &str) -> RecordChange {
    RecordChange {
        database: Database::Sltd,
        key: key.into(),
        owner: owner.parse().unwrap(),
        version: 1,
        withdrawn: false,
        record: b"{}".to_vec(),
        release_to: None,
        changed_at_ms: bluehelm_pki::ca::now_unix() * 1000,
    }
}

struct Network {
    verifier: EnvelopeVerifier,
    fr: NodeCredentials,
    ke: NodeCredentials,
    certs: Vec<Vec<u8>>,
}

impl Network {
    fn new() -> Self {
        let mut ca = CertificateAuthority::generate(3650).unwrap();
        let verifier = EnvelopeVerifier::new(ca.trust_store().unwrap());
        let fr = ncb(&mut ca, "FR");
        let ke = ncb(&mut ca, "KE");
        let certs = vec![fr.node_cert_der().to_vec(), ke.node_cert_der().to_vec()];
        Network {
            verifier,
            fr,
            ke,
            certs,
        }
    }

    fn verify(
        &self,
        changes: &[SignedRecordChange],
        proofs: &[RecordBatchProof],
    ) -> Vec<Result<bluehelm_pki::VerifiedChange, RecordVerifyError>> {
        self.verifier.verify_record_changes(changes, proofs, |fp| {
            self.certs
                .iter()
                .find(|der| fingerprint(der) == *fp)
                .map(Vec::as_slice)
        })
    }
}

/// France's batch of `n` changes.
fn batch(net: &Network, n: usize) -> (Vec<SignedRecordChange>, RecordBatchProof) {
    batch_of(net, n, "X")
}

/// France's batch of `n` changes to keys `FR/{prefix}0`...
fn batch_of(net: &Network, n: usize, prefix: &str) -> (Vec<SignedRecordChange>, RecordBatchProof) {
    let changes: Vec<RecordChange> = (0..n)
        .map(|i| change("ncb.fr", &format!("FR/{prefix}{i}")))
        .collect();
    net.fr.signer().sign_record_batch(&changes)
}

/// The changes at `keep` with the proof a hub would send with them.
fn part(
    changes: &[SignedRecordChange],
    proof: &RecordBatchProof,
    keep: &[u64],
) -> (Vec<SignedRecordChange>, RecordBatchProof) {
    let leaves: Vec<_> = changes.iter().map(record_leaf_hash).collect();
    let kept = keep.iter().map(|&i| changes[i as usize].clone()).collect();
    let proof = RecordBatchProof {
        nodes: multiproof(&leaves, keep).unwrap(),
        ..proof.clone()
    };
    (kept, proof)
}

#[test]
fn an_owners_change_verifies_and_any_tampering_or_other_signer_is_refused() {
    let net = Network::new();
    let (mut changes, proof) = batch(&net, 1);
    let good = changes.remove(0);
    let mut flipped = good.clone();
    flipped.change[3] ^= 1;
    // Kenya signs a change that names France as the owner.
    let (impostor, ke_proof) = net
        .ke
        .signer()
        .sign_record_batch(&[change("ncb.fr", "FR/X1")]);
    let mut unknown = good.clone();
    unknown.signer = [7; 32];
    let mut unknown_proof = proof.clone();
    unknown_proof.batch.signer = [7; 32];
    let results = net.verify(std::slice::from_ref(&good), std::slice::from_ref(&proof));
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(net.verify(&[flipped], std::slice::from_ref(&proof))[0].is_err());
    assert!(matches!(
        net.verify(&impostor, &[ke_proof])[0],
        Err(RecordVerifyError::OwnerMismatch { .. })
    ));
    assert!(matches!(
        net.verify(&[unknown], &[unknown_proof])[0],
        Err(RecordVerifyError::UnknownSigner(_))
    ));
    // Without its batch's signature, a change does not verify.
    assert!(matches!(
        net.verify(&[good], &[])[0],
        Err(RecordVerifyError::NoBatchSignature)
    ));
}

#[test]
fn a_change_verifies_alone_or_with_any_of_its_batch_mates_after_the_rest_were_dropped() {
    let net = Network::new();
    let (changes, proof) = batch(&net, 11);
    for keep in [
        vec![4],
        vec![0],
        vec![10],
        vec![1, 2, 7],
        (0..11).collect::<Vec<u64>>(),
    ] {
        let (kept, proof) = part(&changes, &proof, &keep);
        let results = net.verify(&kept, &[proof]);
        assert!(results.iter().all(Result::is_ok), "{keep:?}: {results:?}");
        for (result, i) in results.iter().zip(&keep) {
            assert_eq!(result.as_ref().unwrap().change.key, format!("FR/X{i}"));
        }
    }
}

#[test]
fn a_flipped_byte_anywhere_fails() {
    let net = Network::new();
    let (changes, proof) = batch(&net, 6);
    let (kept, proof) = part(&changes, &proof, &[1, 4]);
    assert!(net
        .verify(&kept, std::slice::from_ref(&proof))
        .iter()
        .all(Result::is_ok));
    let fails = |kept: &[SignedRecordChange], proof: &RecordBatchProof| {
        net.verify(kept, std::slice::from_ref(proof))
            .iter()
            .all(Result::is_err)
    };
    // The change's bytes.
    for at in 0..kept[0].change.len() {
        let mut bad = kept.clone();
        bad[0].change[at] ^= 0x01;
        assert!(fails(&bad, &proof), "change byte {at}");
    }
    // The leaf index, the tree size, the root and the salt each change names.
    type Edit = dyn Fn(&mut u64, &mut u64, &mut [u8; 32], &mut [u8; 16]);
    let position = |f: &Edit| {
        let mut bad = kept.clone();
        if let ChangeSignature::Batch {
            leaf_index,
            tree_size,
            root,
            salt,
        } = &mut bad[1].signature
        {
            f(leaf_index, tree_size, root, salt);
        }
        bad
    };
    assert!(fails(&position(&|i, _, _, _| *i = 5), &proof), "leaf index");
    assert!(fails(&position(&|_, s, _, _| *s = 7), &proof), "tree size");
    for byte in 0..32 {
        assert!(
            fails(&position(&move |_, _, r, _| r[byte] ^= 1), &proof),
            "root byte {byte}"
        );
    }
    for byte in 0..16 {
        assert!(
            fails(&position(&move |_, _, _, salt| salt[byte] ^= 1), &proof),
            "salt byte {byte}"
        );
    }
    // The proof: its nodes, its tree size, its root, its signature.
    for node in 0..proof.nodes.len() {
        for byte in [0, 17, 31] {
            let mut bad = proof.clone();
            bad.nodes[node][byte] ^= 0x80;
            assert!(fails(&kept, &bad), "node {node} byte {byte}");
        }
    }
    for byte in 0..64 {
        let mut bad = proof.clone();
        bad.signature[byte] ^= 0x01;
        assert!(fails(&kept, &bad), "signature byte {byte}");
    }
    // A proof that names another size or root no longer belongs to the changes; with the
    // changes edited to match, the signature does not cover it.
    for edit in [
        &|p: &mut RecordBatchProof| p.batch.tree_size = 7 as _,
        &|p: &mut RecordBatchProof| p.batch.root[0] ^= 1,
    ] as [&dyn Fn(&mut RecordBatchProof); 2]
    {
        let mut bad = proof.clone();
        edit(&mut bad);
        assert!(fails(&kept, &bad));
        let renamed: Vec<SignedRecordChange> = kept
            .iter()
            .map(|c| {
                let mut c = c.clone();
                if let ChangeSignature::Batch {
                    leaf_index, salt, ..
                } = c.signature
                {
                    c.signature = ChangeSignature::Batch {
                        leaf_index,
                        tree_size: bad.batch.tree_size,
                        root: bad.batch.root,
                        salt,
                    };
                }
                c
            })
            .collect();
        assert!(fails(&renamed, &bad));
    }
}

#[test]
fn nodes_or_a_signature_from_another_batch_fail() {
    let net = Network::new();
    let (first, first_proof) = batch(&net, 6);
    let (second, second_proof) = batch_of(&net, 6, "Y");
    let (kept, proof) = part(&first, &first_proof, &[2]);
    let (_, other) = part(&second, &second_proof, &[2]);
    let mut borrowed_nodes = proof.clone();
    borrowed_nodes.nodes = other.nodes.clone();
    assert!(net.verify(&kept, &[borrowed_nodes])[0].is_err());
    let mut borrowed_signature = proof.clone();
    borrowed_signature.signature = other.signature;
    assert!(net.verify(&kept, &[borrowed_signature])[0].is_err());
    // A change moved into the other batch, under its leaf.
    let mut moved = kept[0].clone();
    moved.signature = second[2].signature.clone();
    assert!(net.verify(&[moved], &[other])[0].is_err());
    // Two proofs for one batch: neither is believed.
    assert!(matches!(
        net.verify(&kept, &[proof.clone(), proof])[0],
        Err(RecordVerifyError::BadBatchProof(_))
    ));
}

#[test]
fn a_bad_change_fails_alone_and_its_batch_mates_still_verify() {
    let net = Network::new();
    let changes = [
        change("ncb.fr", "FR/X1"),
        change("ncb.ke", "KE/X2"),
        change("ncb.fr", "FR/X3"),
    ];
    // France signs a batch in which one change names Kenya as its owner.
    let (signed, proof) = net.fr.signer().sign_record_batch(&changes);
    let results = net.verify(&signed, &[proof]);
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(matches!(
        results[1],
        Err(RecordVerifyError::OwnerMismatch { .. })
    ));
}

#[test]
fn record_roots_and_envelope_roots_are_signed_under_different_domains() {
    // The same key signs both; neither input can equal the other, whatever the root.
    for size in [1, 2, 2048] {
        let root = [9; 32];
        assert_ne!(
            record_root_signing_input(size, &root).as_slice(),
            root_signing_input(size, &root).as_slice()
        );
    }
}

#[test]
fn a_change_signed_alone_before_batches_still_verifies() {
    let net = Network::new();
    let good = net
        .fr
        .signer()
        .sign_record_change_alone(&change("ncb.fr", "FR/X1"));
    let mut bad_signature = good.clone();
    if let ChangeSignature::Alone(signature) = &mut bad_signature.signature {
        signature[10] ^= 1;
    }
    let mut flipped = good.clone();
    flipped.change[3] ^= 1;
    let results = net.verify(&[good, bad_signature, flipped], &[]);
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(matches!(results[1], Err(RecordVerifyError::BadSignature)));
    assert!(results[2].is_err());
}

#[test]
fn the_hubs_digest_verifies_only_with_the_hubs_certificate() {
    let net = Network::new();
    let digest = ReplicaDigest {
        database: Database::Sltd,
        replica: "ncb.ke".parse().unwrap(),
        seq: 9,
        records: 3,
        root: [5; 32],
        computed_at_ms: 1,
    };
    let signed = net.fr.signer().sign_digest(&digest);
    let now = bluehelm_pki::ca::now_unix();
    assert_eq!(
        net.verifier
            .verify_digest(&signed, net.fr.node_cert_der(), now)
            .unwrap(),
        digest
    );
    assert!(net
        .verifier
        .verify_digest(&signed, net.ke.node_cert_der(), now)
        .is_err());
    let mut tampered = signed.clone();
    tampered.digest[0] ^= 1;
    assert!(net
        .verifier
        .verify_digest(&tampered, net.fr.node_cert_der(), now)
        .is_err());
}

fn fingerprint(der: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().try_into().unwrap()
}

#[test]
fn a_leaf_hash_in_a_proof_cannot_be_tested_against_a_guess_of_the_change() {
    let net = Network::new();
    let (first, _) = batch(&net, 2);
    let (again, _) = batch(&net, 2);
    // The same change, signed twice: the same bytes, different salts, different leaves; and
    // neither leaf is the hash of the bytes alone.
    assert_eq!(first[1].change, again[1].change);
    assert_ne!(first[1].salt(), again[1].salt());
    assert_ne!(record_leaf_hash(&first[1]), record_leaf_hash(&again[1]));
    assert_ne!(
        record_leaf_hash(&first[1]),
        bluehelm_pki::batch::leaf_hash(&first[1].change)
    );
    assert_ne!(first[0].salt(), first[1].salt());
}
