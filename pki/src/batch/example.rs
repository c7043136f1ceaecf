//! The worked example of docs/protocol.md section 9.1a (batch signatures), computed here and
//! asserted, so that the numbers in the document are the code's. If this test fails after a
//! deliberate change, print the new values, check them, and paste them into both places.

use bluehelm_proto::framing::write_frame;
use bluehelm_proto::testing::node;
use bluehelm_proto::{
    root_signing_input, Body, Destination, Envelope, LinkFrame, MessageId, Precedence, TextMessage,
    Transfer,
};
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _};

use super::*;
use crate::Signer;

/// RFC 8032 section 7.1, test 1: the secret key (seed) every example of protocol.md uses.
const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

/// Its public key, from the same test vector.
const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/// Envelope #0 of the batch: the 65 bytes of protocol.md 9.1. #1 and #2 differ from it only
/// in the last byte of the message id (`ab`, `ac`, at offset 17).
const ENVELOPE_0: &str = "\
    0a 10 01 9b 76 da a8 00 11 22 33 44 55 66 77 88 99 aa \
    12 06 6e 63 62 2e 66 72 \
    1a 04 0a 02 67 73 \
    20 01 \
    28 80 d0 ea b6 b7 33 \
    30 80 88 84 e0 b7 33 \
    40 10 \
    48 01 \
    b2 01 0a 0a 02 48 69 12 04 54 65 73 74";

const LEAF_0: &str = "e74a04defecc529d0c3ad330c0469201e6871737261c527c8aafc392c1822e6d";
const LEAF_1: &str = "804c167d7852f660d95703fd1b0178af434540837ab42886e52e554cc3867d55";
const LEAF_2: &str = "fe5110095d0b732abf47e729992fefcd51a484c86fef4d5a5a898a46354760db";
const NODE_01: &str = "f31b4ca9756e80fa5afce6573a12d94f5e34b8c934c82022fcf9e3826237d2b4";
const ROOT: &str = "da010a75def8d7a12f357dbc5228d8969242a3995c3d7e7313131e90f53bc478";
/// 67 bytes: the domain (27), the tree size 3 (8), the root (32).
const SIGNING_INPUT: &str = "\
    626c756568656c6d2f76322f656e76656c6f70652d626174636800\
    0000000000000003\
    da010a75def8d7a12f357dbc5228d8969242a3995c3d7e7313131e90f53bc478";
const SIGNATURE: &str = "\
    837e66a51e8b2eb63b95f6211ae9a004c82586b07db46eecd1f7b99024612324\
    58d58748893c5f731cffccf5241dae03695eb628c425ccbc60904d6b076e5c07";

/// A Transfer (hops 1) of envelope #1, framed, with the 3-byte stand-in certificate of 9.2.
const TRANSFER_1: &str = "\
    00 00 00 da \
    12 d7 01 \
    0a d2 01 \
    0a 41 0a 10 01 9b 76 da a8 00 11 22 33 44 55 66 77 88 99 ab 12 06 6e 63 62 2e 66 72 \
          1a 04 0a 02 67 73 20 01 28 80 d0 ea b6 b7 33 30 80 88 84 e0 b7 33 40 10 48 01 \
          b2 01 0a 0a 02 48 69 12 04 54 65 73 74 \
    12 40 83 7e 66 a5 1e 8b 2e b6 3b 95 f6 21 1a e9 a0 04 c8 25 86 b0 7d b4 6e ec d1 f7 b9 90 24 61 23 24 \
          58 d5 87 48 89 3c 5f 73 1c ff cc f5 24 1d ae 03 69 5e b6 28 c4 25 cc bc 60 90 4d 6b 07 6e 5c 07 \
    1a 03 30 01 00 \
    20 01 \
    28 03 \
    32 20 e7 4a 04 de fe cc 52 9d 0c 3a d3 30 c0 46 92 01 e6 87 17 37 26 1c 52 7c 8a af c3 92 c1 82 2e 6d \
    32 20 fe 51 10 09 5d 0b 73 2a bf 47 e7 29 99 2f ef cd 51 a4 84 c8 6f ef 4d 5a 5a 89 8a 46 35 47 60 db \
    10 01";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex to bytes; spaces (and line breaks kept by a string continuation) are ignored.
fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// The FLASH text of 9.1 with the last byte of its message id replaced.
fn text(last_id_byte: u8) -> Envelope {
    let mut id = [
        0x01, 0x9b, 0x76, 0xda, 0xa8, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99,
        0xaa,
    ];
    id[15] = last_id_byte;
    Envelope {
        message_id: MessageId::from(id),
        origin: node("ncb.fr"),
        destination: Destination::Node(node("gs")),
        precedence: Precedence::Flash,
        created_at_ms: 1_767_225_600_000,
        expires_at_ms: 1_767_312_000_000,
        correlation_id: None,
        hop_limit: 16,
        want_delivery_report: true,
        release_to: None,
        body: Body::Text(TextMessage {
            subject_line: "Hi".into(),
            body: "Test".into(),
            attachments: Vec::new(),
        }),
    }
}

#[test]
fn worked_example_of_protocol_md() {
    let key = SigningKey::from_bytes(&unhex(SEED).try_into().unwrap());
    assert_eq!(hex(key.verifying_key().as_bytes()), PUBLIC);
    // The 3-byte stand-in certificate of 9.2: signing does not look at it.
    let signer = Signer::new(key.clone(), vec![0x30, 0x01, 0x00], node("ncb.fr"));

    let envelopes: Vec<Vec<u8>> = [0xaa, 0xab, 0xac]
        .into_iter()
        .map(|last| text(last).encode_to_vec())
        .collect();
    assert_eq!(envelopes[0], unhex(ENVELOPE_0));
    for e in &envelopes[1..] {
        assert_eq!(e.len(), 65);
        assert_eq!(e[..17], envelopes[0][..17]);
        assert_eq!(e[18..], envelopes[0][18..]);
    }

    // The tree, by hand: leaves, the one interior node, the root (RFC 9162 2.1.1: three
    // leaves split at 2, so leaf 2 goes up unpaired and meets the node over leaves 0 and 1).
    let leaves: Vec<Hash> = envelopes.iter().map(|e| leaf_hash(e)).collect();
    let node_01 = node_hash(&leaves[0], &leaves[1]);
    let root = node_hash(&node_01, &leaves[2]);
    let input = root_signing_input(3, &root);
    let signature = key.sign(&input);
    println!("leaf 0    {}", hex(&leaves[0]));
    println!("leaf 1    {}", hex(&leaves[1]));
    println!("leaf 2    {}", hex(&leaves[2]));
    println!("node 0-1  {}", hex(&node_01));
    println!("root      {}", hex(&root));
    println!("input     {}", hex(&input));
    println!("signature {}", hex(&signature.to_bytes()));

    // The same from the code that signs and the code that verifies.
    let signed = signer.sign_batch(envelopes.clone()).unwrap();
    assert_eq!(signed.len(), 3);
    for (i, s) in signed.iter().enumerate() {
        assert_eq!(s.signature(), &signature.to_bytes());
        assert_eq!(s.proof().unwrap().leaf_index(), i as u64);
        assert_eq!(s.proof().unwrap().tree_size(), 3);
        assert_eq!(
            root_from_path(&leaves[i], i as u64, 3, s.proof().unwrap().path()),
            Ok(root)
        );
    }
    assert_eq!(signed[0].proof().unwrap().path(), &[leaves[1], leaves[2]]);
    assert_eq!(signed[1].proof().unwrap().path(), &[leaves[0], leaves[2]]);
    assert_eq!(signed[2].proof().unwrap().path(), &[node_01]);
    assert!(key.verifying_key().verify(&input, &signature).is_ok());

    let mut frame = Vec::new();
    write_frame(
        &LinkFrame::Transfer(Transfer {
            envelope: signed[1].clone(),
            hops: 1,
            recipients: Vec::new(),
        }),
        &mut frame,
    );
    println!("transfer  {}", hex(&frame));

    assert_eq!(hex(&leaves[0]), LEAF_0);
    assert_eq!(hex(&leaves[1]), LEAF_1);
    assert_eq!(hex(&leaves[2]), LEAF_2);
    assert_eq!(hex(&node_01), NODE_01);
    assert_eq!(hex(&root), ROOT);
    assert_eq!(hex(&input), SIGNING_INPUT);
    assert_eq!(hex(&signature.to_bytes()), SIGNATURE);
    assert_eq!(frame, unhex(TRANSFER_1));
}
