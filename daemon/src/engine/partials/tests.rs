use std::time::{Duration, Instant};

use bluehelm_proto::{MessageId, MessageRef, NodeId, Precedence, TransferPart};

use super::*;

const CAP: usize = 4 * 1024 * 1024;

fn peer(name: &str) -> NodeId {
    name.parse().expect("a node id")
}

fn message(n: u8) -> MessageRef {
    MessageRef {
        origin: peer("ncb.fr"),
        id: MessageId::from([n; 16]),
    }
}

fn whole(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn part(n: u8, digest: u8, bytes: &[u8], range: Range<usize>) -> TransferPart {
    TransferPart {
        message: message(n),
        digest: [digest; 32],
        total_len: bytes.len() as u32,
        offset: range.start as u32,
        data: bytes[range].to_vec(),
    }
}

fn add(partials: &mut Partials, now: Instant, from: &str, p: TransferPart) -> PartOutcome {
    partials
        .add(now, &peer(from), Precedence::Routine, p, CAP)
        .expect("an acceptable part")
}

#[test]
fn parts_in_order_make_the_whole_and_free_their_room() {
    let now = Instant::now();
    let mut partials = Partials::default();
    let bytes = whole(300_000, 1);
    let ranges: Vec<_> = part_ranges(0, bytes.len()).collect();
    assert_eq!(ranges.len(), 5);
    for range in &ranges[..4] {
        assert_eq!(
            add(&mut partials, now, "gs", part(1, 9, &bytes, range.clone())),
            PartOutcome::Kept
        );
    }
    assert_eq!(partials.bytes(), bytes.len());
    assert_eq!(
        add(
            &mut partials,
            now,
            "gs",
            part(1, 9, &bytes, ranges[4].clone())
        ),
        PartOutcome::Whole(bytes)
    );
    assert_eq!((partials.bytes(), partials.copies()), (0, 0));
}

#[test]
fn what_is_held_survives_a_drop_and_the_sender_resumes_after_it() {
    let now = Instant::now();
    let mut partials = Partials::default();
    let bytes = whole(200_000, 2);
    add(&mut partials, now, "gs", part(1, 9, &bytes, 0..70_000));
    // The link dropped. The new stream's first answer says what is held.
    let held = partials.held(now, &peer("gs"), Precedence::Routine);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].held_len, 70_000);
    assert!(partials
        .held(now, &peer("gs"), Precedence::Flash)
        .is_empty());
    assert!(partials
        .held(now, &peer("ncb.ke"), Precedence::Routine)
        .is_empty());
    let start = resume_from(&held, &message(1), &[9; 32], bytes.len());
    assert_eq!(start, 70_000);
    assert_eq!(resume_from(&held, &message(1), &[8; 32], bytes.len()), 0);
    assert_eq!(resume_from(&held, &message(2), &[9; 32], bytes.len()), 0);
    let mut last = PartOutcome::Dropped;
    for range in part_ranges(start, bytes.len()) {
        last = add(&mut partials, now, "gs", part(1, 9, &bytes, range));
    }
    assert_eq!(last, PartOutcome::Whole(bytes));
}

#[test]
fn overlapping_parts_add_only_what_is_new() {
    let now = Instant::now();
    let mut partials = Partials::default();
    let bytes = whole(100_000, 3);
    add(&mut partials, now, "gs", part(1, 9, &bytes, 0..40_000));
    // Again from the start (a sender that did not hear what is held), then across the end.
    assert_eq!(
        add(&mut partials, now, "gs", part(1, 9, &bytes, 0..30_000)),
        PartOutcome::Kept
    );
    assert_eq!(
        add(&mut partials, now, "gs", part(1, 9, &bytes, 20_000..60_000)),
        PartOutcome::Kept
    );
    assert_eq!(
        partials.held(now, &peer("gs"), Precedence::Routine)[0].held_len,
        60_000
    );
    assert_eq!(
        add(
            &mut partials,
            now,
            "gs",
            part(1, 9, &bytes, 50_000..100_000)
        ),
        PartOutcome::Whole(bytes)
    );
}

#[test]
fn a_part_after_a_gap_is_dropped_and_the_last_one_says_incomplete() {
    let now = Instant::now();
    let mut partials = Partials::default();
    let bytes = whole(100_000, 4);
    // Out of order: nothing held yet, a part from the middle.
    assert_eq!(
        add(&mut partials, now, "gs", part(1, 9, &bytes, 40_000..60_000)),
        PartOutcome::Dropped
    );
    add(&mut partials, now, "gs", part(1, 9, &bytes, 0..20_000));
    assert_eq!(
        add(&mut partials, now, "gs", part(1, 9, &bytes, 30_000..60_000)),
        PartOutcome::Dropped
    );
    assert_eq!(
        add(
            &mut partials,
            now,
            "gs",
            part(1, 9, &bytes, 60_000..100_000)
        ),
        PartOutcome::Incomplete
    );
    assert_eq!((partials.bytes(), partials.copies()), (0, 0));
}

#[test]
fn another_digest_replaces_the_old_copy_and_never_mixes_with_it() {
    let now = Instant::now();
    let mut partials = Partials::default();
    let old = whole(100_000, 5);
    let new = whole(100_000, 6);
    add(&mut partials, now, "gs", part(1, 1, &old, 0..50_000));
    // The new copy's tail alone cannot complete the old copy's head.
    assert_eq!(
        add(&mut partials, now, "gs", part(1, 2, &new, 50_000..100_000)),
        PartOutcome::Incomplete
    );
    assert_eq!(partials.copies(), 0);
    add(&mut partials, now, "gs", part(1, 2, &new, 0..50_000));
    assert_eq!(
        add(&mut partials, now, "gs", part(1, 2, &new, 50_000..100_000)),
        PartOutcome::Whole(new)
    );
}

#[test]
fn the_same_message_from_two_peers_is_kept_apart() {
    let now = Instant::now();
    let mut partials = Partials::default();
    let a = whole(100_000, 7);
    let b = whole(100_000, 8);
    add(&mut partials, now, "gs", part(1, 1, &a, 0..50_000));
    add(&mut partials, now, "ncb.ke", part(1, 2, &b, 0..60_000));
    assert_eq!(
        add(&mut partials, now, "gs", part(1, 1, &a, 50_000..100_000)),
        PartOutcome::Whole(a)
    );
    assert_eq!(
        add(
            &mut partials,
            now,
            "ncb.ke",
            part(1, 2, &b, 60_000..100_000)
        ),
        PartOutcome::Whole(b)
    );
}

#[test]
fn parts_no_honest_sender_sends_are_errors() {
    let now = Instant::now();
    let mut partials = Partials::default();
    let bytes = whole(100_000, 9);
    let too_large = partials.add(
        now,
        &peer("gs"),
        Precedence::Routine,
        part(1, 1, &bytes, 0..10),
        50_000,
    );
    assert_eq!(
        too_large,
        Err(PartError::TooLarge {
            total: 100_000,
            max: 50_000
        })
    );
    add(&mut partials, now, "gs", part(1, 1, &bytes, 0..10));
    let mut other_length = part(1, 1, &bytes, 10..20);
    other_length.total_len = 90_000;
    assert!(matches!(
        partials.add(now, &peer("gs"), Precedence::Routine, other_length, CAP),
        Err(PartError::LengthChanged {
            was: 100_000,
            now: 90_000,
            ..
        })
    ));
}

#[test]
fn a_peer_is_bounded_in_bytes_and_copies_and_its_oldest_copies_go_first() {
    let start = Instant::now();
    let mut partials = Partials::new(Bounds {
        peer_bytes: 250_000,
        total_bytes: 1_000_000,
        peer_copies: 3,
        total_copies: 100,
        keep_for: KEEP_FOR,
    });
    let bytes = whole(100_000, 10);
    for n in 0..2 {
        let at = start + Duration::from_secs(u64::from(n));
        add(&mut partials, at, "gs", part(n, 1, &bytes, 0..1_000));
    }
    assert_eq!(partials.bytes(), 200_000);
    // A third copy would pass 250,000 bytes: the oldest (message 0) goes.
    add(
        &mut partials,
        start + Duration::from_secs(2),
        "gs",
        part(2, 1, &bytes, 0..1_000),
    );
    assert_eq!(partials.bytes(), 200_000);
    let held = partials.held(start, &peer("gs"), Precedence::Routine);
    let mut names: Vec<_> = held.iter().map(|h| h.message.clone()).collect();
    names.sort();
    assert_eq!(names, vec![message(1), message(2)]);
    // Another peer has room of its own.
    add(&mut partials, start, "ncb.ke", part(0, 1, &bytes, 0..1_000));
    assert_eq!(partials.copies(), 3);
    // A copy larger than a peer may hold is not kept at all.
    let huge = whole(300_000, 11);
    assert_eq!(
        add(&mut partials, start, "gs", part(5, 1, &huge, 0..1_000)),
        PartOutcome::Dropped
    );
    assert_eq!(partials.copies(), 3);

    let small = whole(1_000, 12);
    let mut counted = Partials::new(Bounds {
        peer_copies: 2,
        ..Bounds::default()
    });
    for n in 0..5 {
        add(
            &mut counted,
            start + Duration::from_secs(u64::from(n)),
            "gs",
            part(n, 1, &small, 0..10),
        );
    }
    assert_eq!(counted.copies(), 2);
}

#[test]
fn all_peers_together_are_bounded() {
    let now = Instant::now();
    let mut partials = Partials::new(Bounds {
        peer_bytes: 300_000,
        total_bytes: 350_000,
        ..Bounds::default()
    });
    let bytes = whole(100_000, 13);
    for (n, from) in ["gs", "ncb.ke", "ncb.fr", "ncb.us"].into_iter().enumerate() {
        add(
            &mut partials,
            now + Duration::from_secs(n as u64),
            from,
            part(1, 1, &bytes, 0..10),
        );
        assert!(partials.bytes() <= 350_000);
    }
    assert_eq!(partials.copies(), 3);
    assert!(
        partials
            .held(now, &peer("gs"), Precedence::Routine)
            .is_empty(),
        "the oldest went"
    );
}

#[test]
fn copies_left_for_a_day_are_dropped() {
    let start = Instant::now();
    let mut partials = Partials::default();
    let bytes = whole(100_000, 14);
    add(&mut partials, start, "gs", part(1, 1, &bytes, 0..10));
    let later = start + KEEP_FOR - Duration::from_secs(1);
    assert_eq!(
        partials.held(later, &peer("gs"), Precedence::Routine).len(),
        1
    );
    let day_after = start + KEEP_FOR + Duration::from_secs(SWEEP_EVERY.as_secs());
    assert!(partials
        .held(day_after, &peer("gs"), Precedence::Routine)
        .is_empty());
    assert_eq!(partials.bytes(), 0);
}

#[test]
fn part_ranges_cover_the_rest_exactly() {
    let ranges: Vec<_> = part_ranges(1_000, 1_000 + 2 * PART_LEN + 5).collect();
    assert_eq!(
        ranges,
        vec![
            1_000..1_000 + PART_LEN,
            1_000 + PART_LEN..1_000 + 2 * PART_LEN,
            1_000 + 2 * PART_LEN..1_000 + 2 * PART_LEN + 5
        ]
    );
    assert_eq!(part_ranges(10, 10).count(), 0);
}
