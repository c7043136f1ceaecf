use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn entry_key(origin: &str, id: [u8; 16]) -> Vec<u8> {
    let mut key = vec![SEEN, origin.len() as u8];
    key.extend_from_slice(origin.as_bytes());
    key.extend_from_slice(&id);
    key
}

/// An id at millisecond `ms` with `n` in its last bytes.
fn id_at(ms: u64, n: u32) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    id[12..].copy_from_slice(&n.to_be_bytes());
    id
}

fn pack(entries: &BTreeMap<Vec<u8>, i64>, checkpoint: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut packer = Packer::new(checkpoint);
    for (key, expiry) in entries {
        assert!(packer.add(key, &expiry.to_be_bytes()));
    }
    packer.finish()
}

/// Whether the parts hold `key`, looked up as the store does: the parts under its prefix.
fn parts_hold(parts: &[(Vec<u8>, Vec<u8>)], key: &[u8]) -> bool {
    let prefix = prefix_for(key).unwrap();
    parts
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .any(|(_, v)| Part::decode(v).unwrap().holds(&key[key.len() - 16..]))
}

#[test]
fn a_quarter_second_of_one_origin_is_one_part_with_the_latest_expiry() {
    let mut entries = BTreeMap::new();
    for n in 0..300 {
        // 0..255 ms share the time prefix; 256 ms starts another part.
        entries.insert(entry_key("ncb.fr", id_at(n, n as u32)), 1_000 + n as i64);
    }
    entries.insert(entry_key("ncb.ke", id_at(5, 0)), 7);
    let parts = pack(&entries, 42);
    assert_eq!(parts.len(), 3, "ncb.fr 0-255 ms, ncb.fr 256-299 ms, ncb.ke");
    let first = Part::decode(&parts[0].1).unwrap();
    assert_eq!(first.len(), 256);
    assert_eq!(first.latest_expiry_ms(), 1_255);
    assert_eq!(Part::decode(&parts[1].1).unwrap().latest_expiry_ms(), 1_299);
    // The key: tag, origin, time prefix, checkpoint, part number.
    let key = &parts[1].0;
    assert_eq!(&key[..8], b"t\x06ncb.fr");
    assert_eq!(&key[8..13], &id_at(256, 0)[..5]);
    assert_eq!(&key[13..21], &42u64.to_be_bytes());
    assert_eq!(&key[21..], &1u32.to_be_bytes());
}

#[test]
fn a_part_holds_at_most_its_limit_and_the_rest_goes_to_the_next() {
    let entries: BTreeMap<_, _> = (0..MAX_PART_IDS as u32 * 2 + 1)
        .map(|n| (entry_key("gs", id_at(9, n)), 5))
        .collect();
    let parts = pack(&entries, 1);
    let sizes: Vec<usize> = parts
        .iter()
        .map(|(_, v)| Part::decode(v).unwrap().len())
        .collect();
    assert_eq!(sizes, vec![MAX_PART_IDS, MAX_PART_IDS, 1]);
    assert!(entries.keys().all(|k| parts_hold(&parts, k)));
}

#[test]
fn keys_of_another_shape_are_left_to_the_caller() {
    let mut packer = Packer::new(1);
    let good = entry_key("gs", id_at(1, 1));
    assert!(!packer.add(&good[..good.len() - 1], &5i64.to_be_bytes()));
    assert!(!packer.add(b"q\x02gs0123456789abcdef", &5i64.to_be_bytes()));
    assert!(!packer.add(&good, b"short"));
    assert!(!packer.add(b"s", &5i64.to_be_bytes()));
    assert!(!packer.add(b"", &5i64.to_be_bytes()));
    assert!(packer.finish().is_empty());
}

#[test]
fn values_of_another_shape_do_not_decode() {
    assert!(Part::decode(b"").is_none());
    assert!(Part::decode(&[0u8; 7]).is_none());
    assert!(Part::decode(&[0u8; 8 + 15]).is_none());
    assert_eq!(Part::decode(&[0u8; 8]).unwrap().len(), 0);
    assert!(!Part::decode(&[0u8; 8]).unwrap().holds(&[0u8; 16]));
    // A part key of the wrong length gives no entry keys.
    let part = Part::decode(&[0u8; 8 + 16]).unwrap();
    assert!(part.entry_keys(b"t\x02gs").is_none());
    assert!(part.entry_keys(b"").is_none());
}

#[test]
fn values_over_the_limit_or_out_of_order_do_not_decode() {
    let part = |ids: &[[u8; 16]]| {
        let mut value = 5i64.to_be_bytes().to_vec();
        ids.iter().for_each(|id| value.extend_from_slice(id));
        value
    };
    let ids: Vec<[u8; 16]> = (0..=MAX_PART_IDS as u32).map(|n| id_at(1, n)).collect();
    assert!(Part::decode(&part(&ids[..MAX_PART_IDS])).is_some());
    assert!(Part::decode(&part(&ids)).is_none(), "one id too many");
    assert!(
        Part::decode(&part(&[ids[1], ids[0]])).is_none(),
        "out of order"
    );
    assert!(Part::decode(&part(&[ids[1], ids[1]])).is_none(), "twice");
}

#[test]
fn a_parts_prefix_is_the_prefix_of_its_ids() {
    let key = entry_key("ncb.fr", id_at(700, 3));
    let parts = pack(&BTreeMap::from([(key.clone(), 9)]), 3);
    assert_eq!(
        prefix_of_part(&parts[0].0),
        Some(prefix_for(&key).unwrap().as_slice())
    );
    assert_eq!(prefix_of_part(b"t\x02gs"), None);
    assert_eq!(prefix_of_part(&key), None, "a dedup entry is no part");
}

proptest! {
    /// Every entry packed is found, under its prefix and in no other origin's parts; ids not
    /// packed are not found; the parts give back exactly the entries' keys, and each part's
    /// expiry is the latest of its entries.
    #[test]
    fn packed_entries_are_found_and_given_back(
        packed in proptest::collection::btree_map(
            (0usize..3, 0u64..2_000, any::<u32>()),
            -5i64..5_000,
            0..3_000,
        ),
        others in proptest::collection::vec((0usize..3, 0u64..2_000, any::<u32>()), 0..200),
    ) {
        let origins = ["gs", "ncb.fr", "ncb.fra"];
        let key = |(o, ms, n): (usize, u64, u32)| entry_key(origins[o], id_at(ms, n));
        let entries: BTreeMap<Vec<u8>, i64> =
            packed.iter().map(|(&k, &e)| (key(k), e)).collect();
        let parts = pack(&entries, 7);
        for k in entries.keys() {
            prop_assert!(parts_hold(&parts, k));
        }
        for other in others {
            let k = key(other);
            prop_assert_eq!(parts_hold(&parts, &k), entries.contains_key(&k));
        }
        let mut given_back = Vec::new();
        for (part_key, value) in &parts {
            let part = Part::decode(value).unwrap();
            prop_assert!(part.len() <= MAX_PART_IDS);
            let keys: Vec<Vec<u8>> = part.entry_keys(part_key).unwrap().collect();
            let latest = keys.iter().map(|k| entries[k]).max().unwrap();
            prop_assert_eq!(part.latest_expiry_ms(), latest);
            given_back.extend(keys);
        }
        prop_assert_eq!(given_back, entries.keys().cloned().collect::<Vec<_>>());
        // Keys are unique, so no part overwrites another.
        let mut part_keys: Vec<&Vec<u8>> = parts.iter().map(|(k, _)| k).collect();
        part_keys.sort();
        part_keys.dedup();
        prop_assert_eq!(part_keys.len(), parts.len());
    }
}
