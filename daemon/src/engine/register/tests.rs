//! The register's merge in every order, and expiry at read time.

use super::*;
use bluehelm_proto::testing::sample_red_notice;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// 2026-03-01T00:00:00Z.
const MARCH_1_2026_MS: i64 = 1_772_323_200_000;

fn publication(lifecycle: NoticeLifecycle, created_at_ms: i64) -> Entry {
    Entry {
        notice_ref: "A-1234/5-2026".into(),
        owner: "ncb.fr".parse().unwrap(),
        notice_type: NoticeType::Red,
        lifecycle,
        valid_until: String::new(),
        message_id: MessageId::generate(created_at_ms as u64),
        created_at_ms,
        release_to: None,
        signed: vec![lifecycle as u8],
    }
}

/// Applies `copies` in order to an empty register entry, as a receiving node does.
fn receive(copies: &[&Entry]) -> Option<Entry> {
    let mut entry: Option<Entry> = None;
    for copy in copies {
        if let Merge::Apply(next) = apply(entry.as_ref(), (*copy).clone()) {
            entry = Some(*next);
        }
    }
    entry
}

fn permutations<T: Copy>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            out.push(tail);
        }
    }
    out
}

#[test]
fn publish_update_cancel_in_every_order_ends_cancelled_with_the_cancellation() {
    let published = publication(NoticeLifecycle::Published, 1_000);
    let updated = publication(NoticeLifecycle::Updated, 2_000);
    let cancelled = publication(NoticeLifecycle::Cancelled, 3_000);
    let orders = permutations(&[&published, &updated, &cancelled]);
    assert_eq!(orders.len(), 6);
    for order in orders {
        let entry = receive(&order).unwrap();
        assert_eq!(
            entry,
            cancelled,
            "order {:?}",
            order.iter().map(|e| e.lifecycle).collect::<Vec<_>>()
        );
        assert_eq!(entry.status_at(0), Status::Cancelled);
    }
}

#[test]
fn publish_and_update_in_either_order_end_updated() {
    let published = publication(NoticeLifecycle::Published, 1_000);
    let updated = publication(NoticeLifecycle::Updated, 2_000);
    for order in permutations(&[&published, &updated]) {
        assert_eq!(receive(&order).unwrap(), updated);
    }
    // A PUBLISHED copy arriving after the UPDATED does not roll it back.
    assert_eq!(
        apply(Some(&updated), published.clone()),
        Merge::Keep(Kept::Older)
    );
}

#[test]
fn a_cancellation_is_final_whatever_comes_after_it() {
    let cancelled = publication(NoticeLifecycle::Cancelled, 1_000);
    for later in [
        publication(NoticeLifecycle::Published, 5_000),
        publication(NoticeLifecycle::Updated, 6_000),
    ] {
        assert_eq!(apply(Some(&cancelled), later), Merge::Keep(Kept::Cancelled));
    }
}

#[test]
fn the_newer_of_two_updates_wins_in_either_order_and_a_duplicate_is_a_no_op() {
    let first = publication(NoticeLifecycle::Updated, 2_000);
    let second = publication(NoticeLifecycle::Updated, 3_000);
    for order in permutations(&[&first, &second]) {
        assert_eq!(receive(&order).unwrap(), second);
    }
    assert_eq!(
        apply(Some(&second), second.clone()),
        Merge::Keep(Kept::Duplicate)
    );
    // Same creation time: the message id breaks the tie, the same way everywhere.
    let mut tie = first.clone();
    tie.message_id = MessageId::generate(2_000);
    let winner = if tie.message_id > first.message_id {
        &tie
    } else {
        &first
    };
    for order in permutations(&[&first, &tie]) {
        assert_eq!(&receive(&order).unwrap(), winner);
    }
}

#[test]
fn expiry_is_computed_when_read() {
    let mut entry = publication(NoticeLifecycle::Published, 1_000);
    entry.valid_until = "2026-02-28".into();
    // Valid through the whole last day (UTC), expired from the next midnight.
    assert_eq!(entry.status_at(MARCH_1_2026_MS - 1), Status::Published);
    assert_eq!(entry.status_at(MARCH_1_2026_MS), Status::Expired);
    entry.lifecycle = NoticeLifecycle::Updated;
    assert_eq!(entry.status_at(MARCH_1_2026_MS - DAY_MS), Status::Updated);
    assert_eq!(entry.status_at(MARCH_1_2026_MS + DAY_MS), Status::Expired);
    // A cancelled notice stays cancelled, and "until cancelled" never expires.
    entry.lifecycle = NoticeLifecycle::Cancelled;
    assert_eq!(entry.status_at(MARCH_1_2026_MS), Status::Cancelled);
    entry.lifecycle = NoticeLifecycle::Published;
    entry.valid_until.clear();
    assert_eq!(entry.status_at(i64::MAX), Status::Published);
}

#[test]
fn changes_need_a_known_live_notice_of_the_requester() {
    let mut change = sample_red_notice();
    change.lifecycle = NoticeLifecycle::Cancelled;
    let rule = |r: Result<(), PolicyRefusal>| r.unwrap_err().rule;
    // Unknown: the hub refuses, the requester's node lets it go to the hub.
    assert_eq!(
        rule(check_change(&change, None, Checkpoint::Hub)),
        Rule::NoticeChangesNeedAKnownNotice
    );
    check_change(&change, None, Checkpoint::Origin).unwrap();
    let mut known = publication(NoticeLifecycle::Published, 1_000);
    for at in [Checkpoint::Hub, Checkpoint::Origin] {
        check_change(&change, Some(&known), at).unwrap();
    }
    // Another bureau's notice.
    let mut theirs = change.clone();
    theirs.requesting_bureau = "ncb.ke".parse().unwrap();
    for at in [Checkpoint::Hub, Checkpoint::Origin] {
        assert_eq!(
            rule(check_change(&theirs, Some(&known), at)),
            Rule::NoticeChangesByOwner
        );
    }
    // A cancelled one.
    known.lifecycle = NoticeLifecycle::Cancelled;
    for at in [Checkpoint::Hub, Checkpoint::Origin] {
        assert_eq!(
            rule(check_change(&change, Some(&known), at)),
            Rule::NoticeChangesNeedAKnownNotice
        );
    }
}

#[test]
fn the_register_merges_what_it_is_given() {
    let published = publication(NoticeLifecycle::Published, 1_000);
    let cancelled = publication(NoticeLifecycle::Cancelled, 3_000);
    let register = Register::from_entries([cancelled.clone(), published]);
    assert_eq!(register.len(), 1);
    assert_eq!(register.get("A-1234/5-2026"), Some(&cancelled));
}
