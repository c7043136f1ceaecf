//! The send side's rules, proven in virtual time (see `sim.rs`).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bluehelm_proto::{NonDeliveryReason, Precedence, RefusalReason};

use super::sim::{Delays, Sim, Source};
use super::testing::{copy_of, refs};
use super::{Action, SendError, Sender, READ_BATCH, REFUSAL_BACKOFF};

use Precedence::{Flash, Immediate, Priority, Routine};

const A_MINUTE: Duration = Duration::from_secs(60);

fn assert_clean(sim: &Sim) {
    assert!(
        sim.peer.violations.is_empty(),
        "the peer saw: {:?}",
        &sim.peer.violations[..sim.peer.violations.len().min(10)]
    );
}

#[test]
fn a_backlog_queued_while_the_link_was_down_drains_flash_first() {
    for seed in 1..=5 {
        let mut sim = Sim::new(seed);
        // Queued least urgent first: arrival order alone would send ROUTINE first.
        for class in [Routine, Priority, Immediate, Flash] {
            sim.queue_down(class, 300);
        }
        sim.run_until_idle(A_MINUTE);
        assert_clean(&sim);
        assert_eq!(sim.peer.accepted.len(), 1200);
        let ranks: Vec<u8> = sim.offers.iter().map(|o| o.class.rank()).collect();
        let first_out_of_order = ranks.windows(2).position(|w| w[0] > w[1]);
        assert_eq!(
            first_out_of_order,
            None,
            "seed {seed}: a less urgent class was offered before a more urgent one drained: {:?}",
            first_out_of_order.map(|i| &sim.offers[i..i + 2])
        );
        for class in [Flash, Immediate, Priority, Routine] {
            let seqs = sim.offered_seqs(class);
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "{class} in arrival order"
            );
        }
    }
}

#[test]
fn flash_overtakes_a_live_routine_drain() {
    for seed in 1..=5 {
        let mut sim = Sim::new(seed);
        sim.queue_down(Routine, 5000);
        sim.run_until(A_MINUTE, |s| s.offered_seqs(Routine).len() >= 1500);
        let mark = sim.offers.len();
        let flash = sim.queue(Flash, 1)[0];
        // The machine hears of it now: from here on, nothing of ROUTINE goes first.
        sim.deliver_now();
        let reads_mark = sim.reads_issued.len();
        sim.run_until(A_MINUTE, |s| {
            s.peer.accepted.contains(&flash) && !s.peer.outstanding.contains(&flash)
        });
        let answered_at = sim.elapsed();
        let next = &sim.offers[mark];
        assert_eq!(
            (next.class, next.seq),
            (Flash, flash),
            "seed {seed}: the FLASH copy is the next offer"
        );
        let routine_reads = sim.reads_issued[reads_mark..]
            .iter()
            .filter(|(at, class)| *class == Routine && *at < answered_at)
            .count();
        assert_eq!(
            routine_reads, 0,
            "seed {seed}: ROUTINE read on while the FLASH copy was unanswered"
        );
        // At most what a read already under way returned.
        let routine_meanwhile = sim.offers[mark..]
            .iter()
            .filter(|o| o.class == Routine && o.at < answered_at)
            .count();
        assert!(routine_meanwhile <= READ_BATCH, "{routine_meanwhile}");
        sim.run_until_idle(A_MINUTE);
        assert_clean(&sim);
        assert_eq!(sim.peer.accepted.len(), 5001);
    }
}

/// Paced copies and bursts, copies handed off before they are durable (cut-through), a
/// peer that refuses one copy in 31 the first time (temporarily), forgets that take up
/// to 30 ms to reach the queue while answers take 2-10 ms (and, with a busy store, longer
/// than a pause: the reads come back to a refused copy before the copies accepted after
/// it are forgotten), and reads that return copies already answered or in flight.
#[test]
fn each_copy_is_offered_once_while_answers_race_the_forgets() {
    let slow_store = Delays {
        read: (1, 20),
        answer: (2, 10),
        forget: (100, 400),
    };
    for (seed, delays) in (1..=10)
        .map(|s| (s, Delays::default()))
        .chain((11..=20).map(|s| (s, slow_store)))
    {
        let mut sim = Sim::new(seed).with_verdict(Box::new(|copy, times| {
            (matches!(copy.seq % 31, 0) && times == 1).then_some(RefusalReason::QuotaExceeded)
        }));
        sim.delays = delays;
        sim.queue_down(Priority, 200);
        let mut total = 200;
        for round in 0..400u64 {
            match round % 40 {
                0 => total += sim.queue(Routine, 150).len(),
                13 => {
                    let staged = sim.stage(Priority);
                    sim.step();
                    sim.step();
                    sim.commit_staged(Priority, staged);
                    total += 1;
                }
                _ => total += sim.queue(Routine, (round % 3) as usize).len(),
            }
            sim.step();
            sim.step();
        }
        sim.run_until_idle(A_MINUTE);
        assert_clean(&sim);
        assert_eq!(sim.peer.accepted.len(), total, "seed {seed}");

        let refused: HashSet<u64> = sim.pauses.iter().map(|p| p.1).collect();
        assert!(!refused.is_empty());
        for (refused_at, seq, pause) in &sim.pauses {
            let again = sim
                .offers
                .iter()
                .find(|o| o.seq == *seq && o.at >= *refused_at)
                .unwrap_or_else(|| panic!("seed {seed}: {seq} was never offered again"));
            // At least the shortest pause: an acceptance resets the backoff, and a later
            // refusal may end the class's pause sooner than this one's.
            assert!(
                again.at >= *refused_at + REFUSAL_BACKOFF.delay(0, 0.0),
                "seed {seed}: {seq} offered again after {:?}, before its pause of {pause:?} ended",
                again.at - *refused_at
            );
            // In its turn: the reads came back to it, and its offer is in arrival order.
            assert_eq!(again.source, Source::Read, "seed {seed}: {seq}");
            assert!(again.batch.windows(2).all(|w| w[0] < w[1]));
        }
    }
}

#[test]
fn a_copy_taken_back_from_the_hand_off_is_never_offered() {
    let mut sim = Sim::new(7);
    sim.run_until_idle(A_MINUTE);
    // A FLASH copy the peer is slow to answer holds ROUTINE back.
    sim.delays.answer = (50, 50);
    let flash = sim.queue(Flash, 1)[0];
    sim.step();
    assert!(sim.sender.busy(Flash));
    // A relayed ROUTINE copy is handed off before its round is durable, and the round fails.
    let lost = sim.stage(Routine);
    for _ in 0..10 {
        sim.step();
    }
    sim.take_back(lost);
    // And one taken back before the class even looked.
    let lost_too = sim.stage(Routine);
    sim.take_back(lost_too);
    let kept = sim.queue(Routine, 1)[0];
    sim.run_until_idle(A_MINUTE);
    assert_clean(&sim);
    let offered: Vec<u64> = sim.offers.iter().map(|o| o.seq).collect();
    assert_eq!(offered, vec![flash, kept]);
}

#[test]
fn a_permanent_refusal_gives_up_once_and_the_copy_is_never_offered_again() {
    // One copy in 50 of a backlog, and one in four of the copies queued once caught up.
    let refused = |seq: u64| matches!(seq % 50, 0) || (seq > 300 && matches!(seq % 4, 0));
    for seed in 1..=5 {
        // A busy store: refusals often come before the read that was sent before them,
        // and give-ups reach the queue slowly, so reads keep returning the copy meanwhile.
        let mut sim = Sim::new(seed).with_verdict(Box::new(move |copy, _| {
            refused(copy.seq).then_some(RefusalReason::NoRoute)
        }));
        sim.delays.read = (1, 20);
        sim.delays.forget = (40, 60);
        sim.queue_down(Routine, 300);
        sim.run_until_idle(A_MINUTE);
        // Caught up: new copies are handed off, ahead of the reads.
        let mut total = 300;
        for _ in 0..40 {
            total += sim.queue(Routine, 1).len();
            for _ in 0..30 {
                sim.step();
            }
        }
        sim.run_until_idle(A_MINUTE);
        assert_clean(&sim);
        let mut given_up: Vec<u64> = sim.give_ups.iter().map(|g| g.0).collect();
        given_up.sort_unstable();
        let expected: Vec<u64> = (1..=total as u64).filter(|&s| refused(s)).collect();
        assert_eq!(
            given_up, expected,
            "seed {seed}: one give-up per refused copy"
        );
        assert!(sim
            .give_ups
            .iter()
            .all(|g| g.1 == NonDeliveryReason::NoRoute));
        assert!(
            sim.offers
                .iter()
                .any(|o| refused(o.seq) && o.source == Source::HandOff),
            "seed {seed}: a handed-off copy was given up too"
        );
        for seq in &given_up {
            assert_eq!(sim.peer.times_offered[seq], 1, "seed {seed}: {seq}");
        }
        assert_eq!(sim.peer.accepted.len(), total - given_up.len());
    }
}

#[test]
fn temporary_refusals_back_off_exponentially_and_an_acceptance_resets_the_backoff() {
    // Copy 1 is refused four times, then accepted; copy 2 is refused once.
    let mut sim = Sim::new(3).with_verdict(Box::new(|copy, times| {
        let refusals = if copy.seq == 1 { 4 } else { 1 };
        (times <= refusals).then_some(RefusalReason::QuotaExceeded)
    }));
    sim.queue_down(Routine, 1);
    sim.run_until_idle(A_MINUTE);
    sim.queue(Routine, 1);
    sim.run_until_idle(A_MINUTE);
    assert_clean(&sim);
    let pauses: Vec<(u64, u128)> = sim
        .pauses
        .iter()
        .map(|(_, seq, pause)| (*seq, pause.as_millis()))
        .collect();
    // Without jitter the delay is half of 200 ms doubled per refusal (engine/backoff.rs).
    assert_eq!(
        pauses,
        vec![(1, 100), (1, 200), (1, 400), (1, 800), (2, 100)]
    );
    assert_eq!(sim.peer.times_offered[&1], 5);
    assert_eq!(sim.peer.accepted.len(), 2);
}

#[test]
fn a_round_of_refused_offers_is_one_backoff_step_not_one_per_copy() {
    // Twenty copies offered together are each refused once (the peer's queue is full),
    // then accepted.
    let mut sim = Sim::new(5).with_verdict(Box::new(|_, times| {
        (times <= 1).then_some(RefusalReason::QuotaExceeded)
    }));
    sim.queue(Routine, 20);
    sim.run_until_idle(A_MINUTE);
    assert_clean(&sim);
    assert_eq!(sim.peer.accepted.len(), 20);
    let longest = sim.pauses.iter().map(|(_, _, pause)| *pause).max();
    println!("pauses: {:?}", sim.pauses);
    // One step per copy would have paused 100 ms * 2^19, capped at a minute.
    assert!(
        longest.is_some_and(|p| p <= Duration::from_millis(200)),
        "{:?}",
        sim.pauses
    );
}

#[test]
fn an_answer_stream_ended_idle_is_closed_and_one_with_offers_unanswered_is_an_error() {
    let mut sim = Sim::new(11);
    sim.run_until_idle(A_MINUTE);
    assert_eq!(sim.end_answer_stream(Routine), Ok(()));
    assert_eq!(sim.closed_streams, vec![Routine]);
    sim.delays.answer = (50, 50);
    sim.queue(Routine, 2);
    sim.step();
    assert_eq!(
        sim.end_answer_stream(Routine),
        Err(SendError::AnswerStreamEnded {
            class: Routine,
            unanswered: 2
        })
    );
}

/// The machine alone, step by step: a class takes, then reads; handed-off copies wait for
/// the first read; a class with a full window does not read.
#[test]
fn a_class_takes_then_reads_and_a_full_window_stops_the_reads() {
    let mut sender = Sender::new();
    let now = Instant::now();
    assert_eq!(sender.poll_action(), Some(Action::Take { class: Flash }));
    // Before its first read a class may have a backlog: the hand-off waits for the reads.
    sender.handle_handed_off(Flash, vec![copy_of(Flash, 9)]);
    assert_eq!(
        sender.poll_action(),
        Some(Action::Read {
            class: Flash,
            after: None,
            limit: READ_BATCH
        })
    );
    assert_eq!(
        sender.poll_action(),
        None,
        "one read at a time; IMMEDIATE waits"
    );
    let window: Vec<_> = (1..=super::SEND_WINDOW as u64)
        .map(|s| copy_of(Flash, s))
        .collect();
    sender.handle_read(Flash, window.clone(), true);
    assert!(
        matches!(sender.poll_action(), Some(Action::Offer { copies, .. }) if copies.len() == window.len())
    );
    assert_eq!(sender.poll_action(), None, "the window is full");
    sender.handle_accepted(Flash, &refs(&window[..1]));
    assert_eq!(
        sender.poll_action(),
        Some(Action::Forget {
            class: Flash,
            seqs: vec![1]
        })
    );
    assert_eq!(sender.poll_action(), Some(Action::Take { class: Flash }));
    sender.handle_handed_off(Flash, vec![]);
    assert_eq!(
        sender.poll_action(),
        Some(Action::Read {
            class: Flash,
            after: Some(super::SEND_WINDOW as u64),
            limit: 1
        })
    );
    assert_eq!(sender.poll_timeout(), None);
    sender.handle_timeout(now);
}

/// Plays the store for `sender` until it has nothing to do: ROUTINE's queue is endless, the
/// other classes' are empty. Returns how many ROUTINE copies it offered.
fn fill_routine_window(sender: &mut Sender<super::testing::TestCopy>, next_seq: &mut u64) -> usize {
    let mut offered = 0;
    while let Some(action) = sender.poll_action() {
        match action {
            Action::Take { class } => sender.handle_handed_off(class, Vec::new()),
            Action::Read {
                class: Routine,
                limit,
                ..
            } => {
                let batch = (0..limit as u64)
                    .map(|i| copy_of(Routine, *next_seq + i))
                    .collect();
                *next_seq += limit as u64;
                sender.handle_read(Routine, batch, true);
            }
            Action::Read { class, .. } => sender.handle_read(class, Vec::new(), false),
            Action::Offer {
                class: Routine,
                copies,
            } => offered += copies.len(),
            other => panic!("unexpected {other:?}"),
        }
    }
    offered
}

#[test]
fn bulk_classes_keep_a_small_window_while_urgent_traffic_flows_and_a_full_one_after() {
    use super::{BULK_WINDOW_NEAR_URGENT, SEND_WINDOW, URGENT_QUIET};
    let t0 = Instant::now();
    let mut sender = Sender::new();
    let mut next_seq = 1;
    // A ROUTINE offer is no urgent traffic.
    sender.handle_offered(Routine, t0);
    assert_eq!(sender.poll_timeout(), None);

    sender.handle_offered(Flash, t0);
    assert_eq!(sender.poll_timeout(), Some(t0 + URGENT_QUIET));
    assert_eq!(
        fill_routine_window(&mut sender, &mut next_seq),
        BULK_WINDOW_NEAR_URGENT
    );
    assert_eq!(sender.in_flight(Routine), BULK_WINDOW_NEAR_URGENT);

    // An IMMEDIATE offer later extends the urgent time; before it ends nothing changes.
    sender.handle_offered(Immediate, t0 + URGENT_QUIET / 2);
    sender.handle_timeout(t0 + URGENT_QUIET);
    assert_eq!(fill_routine_window(&mut sender, &mut next_seq), 0);
    assert_eq!(sender.poll_timeout(), Some(t0 + URGENT_QUIET * 3 / 2));

    // Quiet for URGENT_QUIET: ROUTINE fills its whole window.
    sender.handle_timeout(t0 + URGENT_QUIET * 3 / 2);
    assert_eq!(sender.poll_timeout(), None);
    assert_eq!(
        fill_routine_window(&mut sender, &mut next_seq),
        SEND_WINDOW - BULK_WINDOW_NEAR_URGENT
    );
    assert_eq!(sender.in_flight(Routine), SEND_WINDOW);

    // Urgent traffic again with a full window in flight: no offer until answers bring the
    // bulk class below the small window (nothing underflows on the way).
    sender.handle_offered(Flash, t0 + URGENT_QUIET * 2);
    assert_eq!(fill_routine_window(&mut sender, &mut next_seq), 0);
    assert_eq!(sender.in_flight(Routine), SEND_WINDOW);
}
