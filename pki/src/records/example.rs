//! The worked example of docs/protocol.md section 11.2a (record changes in a batch), computed
//! here and asserted, so that the numbers in the document are the code's. If this test fails
//! after a deliberate change, print the new values, check them, and paste them into both
//! places.

use bluehelm_proto::records::{
    record_root_signing_input, ChangeSignature, Database, RecordBatchId, RecordBatchProof,
    RecordChange, SignedRecordChange,
};
use ed25519_dalek::{Signer as _, SigningKey};

use crate::batch::{multiproof, node_hash, root_from_multiproof, BatchTree};
use crate::records::record_leaf_hash;

/// RFC 8032 section 7.1, test 1: the secret key (seed) every example of protocol.md uses.
const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

/// Change #0: sltd, `FR/X1`, owner `ncb.fr`, version 1, record `{}`, changed at
/// 2026-01-01T00:00:00Z. #1 and #2 differ only in the key's last character (`2`, `3`).
const CHANGE_0: &str = "\
    0a 04 73 6c 74 64 \
    12 05 46 52 2f 58 31 \
    1a 06 6e 63 62 2e 66 72 \
    20 01 \
    32 02 7b 7d \
    40 80 d0 ea b6 b7 33";

const SALT_0: &str = "000102030405060708090a0b0c0d0e0f";
const LEAF_0: &str = "ae54e0eb5f35d81b2aaefce80f211d6546ee18765b915dab9a9e3df6227eb29d";
const LEAF_1: &str = "026b52c5240aa4b9e69797875283876b6b47210208203fcec50040480a399a33";
const LEAF_2: &str = "23a0741c593ef92ca3c5132a5e88d5f91041039326b2ef2ee25214be77fb4d21";
const NODE_01: &str = "9973da7becf42c98f9381e61c209a556677640a0fbff0c77a53dc0483b4093ac";
const ROOT: &str = "7dcb1f28397a82e2ca8a2ae79f726e30a8ef9c421bb13b332b3b8e28a28bb2db";
const SIGNATURE: &str = "\
    6b2d68d3758b72e8cb712d12c9ae6160d9d8954eaf0bbc66cbfc724d960e3e60\
    9b03876edeaef3938ed17db2f98e885f262f71ee2d22fe513e37d2d0ba182a06";

fn bytes(hex_text: &str) -> Vec<u8> {
    let digits: String = hex_text.split_whitespace().collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn change(n: u8) -> RecordChange {
    RecordChange {
        database: Database::Sltd,
        key: format!("FR/X{}", n + 1),
        owner: "ncb.fr".parse().unwrap(),
        version: 1,
        withdrawn: false,
        record: b"{}".to_vec(),
        release_to: None,
        changed_at_ms: 1_767_225_600_000,
    }
}

#[test]
fn the_documented_record_batch_is_what_the_code_computes() {
    let key = SigningKey::from_bytes(&bytes(SEED).try_into().unwrap());
    let encoded: Vec<Vec<u8>> = (0..3).map(|n| change(n).encode_to_vec()).collect();
    assert_eq!(hex(&encoded[0]), hex(&bytes(CHANGE_0)), "change #0");
    // Salts: 00..0f, 10..1f, 20..2f.
    let salt = |n: u8| -> [u8; 16] { std::array::from_fn(|i| n * 16 + i as u8) };
    assert_eq!(hex(&salt(0)), SALT_0);
    let unsigned = |n: u8, root: [u8; 32]| SignedRecordChange {
        change: encoded[usize::from(n)].clone(),
        signer: [0; 32],
        signature: ChangeSignature::Batch {
            leaf_index: u64::from(n),
            tree_size: 3,
            root,
            salt: salt(n),
        },
    };
    let leaves: Vec<[u8; 32]> = (0..3)
        .map(|n| record_leaf_hash(&unsigned(n, [0; 32])))
        .collect();
    let node_01 = node_hash(&leaves[0], &leaves[1]);
    let root = BatchTree::from_leaf_hashes(leaves.clone()).unwrap().root();
    assert_eq!(root, node_hash(&node_01, &leaves[2]));
    let input = record_root_signing_input(3, &root);
    let signature = key.sign(&input).to_bytes();
    // A replica that gets #0 and #2: the multiproof is leaf 1.
    let nodes = multiproof(&leaves, &[0, 2]).unwrap();
    assert_eq!(nodes, vec![leaves[1]]);
    let proof = RecordBatchProof {
        batch: RecordBatchId {
            signer: [0; 32],
            tree_size: 3,
            root,
        },
        signature,
        nodes,
    };
    let recomputed = root_from_multiproof(3, &[(0, leaves[0]), (2, leaves[2])], &proof.nodes);
    assert_eq!(recomputed, Ok(root));
    let computed = [
        ("LEAF_0", hex(&leaves[0])),
        ("LEAF_1", hex(&leaves[1])),
        ("LEAF_2", hex(&leaves[2])),
        ("NODE_01", hex(&node_01)),
        ("ROOT", hex(&root)),
        ("SIGNATURE", hex(&signature)),
    ];
    let documented = [LEAF_0, LEAF_1, LEAF_2, NODE_01, ROOT, SIGNATURE];
    for ((name, value), doc) in computed.iter().zip(documented) {
        assert_eq!(value, doc, "{name}: {computed:#?}");
    }
}
