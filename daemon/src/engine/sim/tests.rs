//! The custody rules end to end, across whole nodes in virtual time (see `sim.rs`). Each
//! test names the rule it proves; each runs in milliseconds.

use std::collections::{HashMap, HashSet};

use bluehelm_proto::{Body, MessageId, MessageRef, NodeId, NonDeliveryReason, Precedence};

mod crash;

use super::{Network, Timing};
use crate::engine::ledger::WriteOutcome;
use crate::engine::sender::{READ_BATCH, SEND_WINDOW};

use Precedence::{Flash, Immediate, Priority, Routine};

const A_DAY: i64 = 24 * 3600 * 1000;
/// Virtual time any run may take to settle.
const A_MINUTE: u64 = 60_000;

fn id(s: &str) -> NodeId {
    s.parse().unwrap()
}

/// Per message an inbox's reports are about (their correlation id), and how many.
fn reports(net: &Network, node: usize, delivery: bool) -> HashMap<MessageId, usize> {
    let mut about = HashMap::new();
    for envelope in net.nodes[node].inbox() {
        let counts = match (&envelope.body, delivery) {
            (Body::DeliveryReport(_), true) => true,
            (Body::NonDeliveryReport(r), false) => {
                assert_eq!(r.reason, NonDeliveryReason::Expired);
                true
            }
            _ => false,
        };
        if counts {
            *about.entry(envelope.correlation_id.unwrap()).or_default() += 1;
        }
    }
    about
}

/// How many times each message reached the inbox of `node`.
fn delivered(net: &Network, node: usize) -> HashMap<MessageRef, usize> {
    let mut counts = HashMap::new();
    for envelope in net.nodes[node].inbox() {
        if envelope.body.kind().is_report() {
            continue;
        }
        *counts.entry(envelope.message_ref()).or_default() += 1;
    }
    counts
}

/// When `from` first offered `message`.
fn first_offer_at(net: &Network, from: usize, message: &MessageRef) -> u64 {
    let offer = net
        .wire
        .offers
        .iter()
        .find(|o| o.from == from && o.message == *message);
    offer.expect("offered").at
}

#[test]
fn a_backlog_drains_in_precedence_order_and_flash_overtakes_the_live_routine_drain() {
    for seed in 1..=3 {
        let mut net = Network::star(seed, "gs", &["ncb.fr", "ncb.ke"], Timing::default());
        let (gs, fr, ke) = (net.node("gs"), net.node("ncb.fr"), net.node("ncb.ke"));
        net.down(gs, ke);
        // Submitted least urgent first, so that arrival order alone would send ROUTINE first.
        let mut backlog = HashMap::new();
        // More than a read's worth per class: reads alone would not keep the order.
        for (class, n) in [
            (Routine, 3000),
            (Priority, 300),
            (Immediate, 300),
            (Flash, 300),
        ] {
            for _ in 0..n {
                backlog.insert(net.submit(fr, "ncb.ke", class, A_DAY), class);
            }
        }
        net.run_until(A_MINUTE, |net| {
            net.idle() && net.nodes[gs].keeper.ledger.depth(&id("ncb.ke")) == 3900
        });

        net.up(gs, ke);
        let routine_at_ke = |net: &Network| {
            net.nodes[ke]
                .keeper
                .inbox_log
                .iter()
                .filter(|(_, m)| backlog.get(m) == Some(&Routine))
                .count()
        };
        net.run_until(A_MINUTE, |net| routine_at_ke(net) > 0);
        let flash = net.submit(fr, "ncb.ke", Flash, A_DAY);
        let before = routine_at_ke(&net);
        // gs takes the FLASH copy and offers it: from then on its ROUTINE class reads nothing
        // (the gate), so ncb.ke gets at most the ROUTINE copies gs had offered unanswered
        // (at most SEND_WINDOW) plus one read under way (at most READ_BATCH) before it.
        let gs_offered = |net: &Network| {
            net.wire
                .offers
                .iter()
                .any(|o| o.from == gs && o.message == flash)
        };
        net.run_until(A_MINUTE, gs_offered);
        let at_offer = routine_at_ke(&net);
        let unanswered = net.nodes[gs].links[&ke].sender.in_flight(Routine);
        assert!(unanswered <= SEND_WINDOW);
        net.run_until(A_MINUTE, |net| {
            net.nodes[ke]
                .keeper
                .inbox_log
                .iter()
                .any(|(_, m)| *m == flash)
        });
        let after = routine_at_ke(&net);
        // The gate: while the FLASH copy is unanswered, gs reads no ROUTINE, so it offers at
        // most what one read under way returned.
        let offered_at = first_offer_at(&net, gs, &flash);
        let routine_meanwhile = net
            .wire
            .offers
            .iter()
            .filter(|o| o.from == gs && o.to == ke && o.class == Routine && o.at > offered_at)
            .count();
        assert!(
            routine_meanwhile <= READ_BATCH,
            "seed {seed}: gs offered {routine_meanwhile} ROUTINE copies while the FLASH one was on its way"
        );
        assert!(
            after - at_offer <= unanswered + READ_BATCH,
            "seed {seed}: {} ROUTINE reached ncb.ke after gs offered the FLASH copy, with {unanswered} unanswered",
            after - at_offer
        );
        assert!(
            after * 2 < 3000,
            "seed {seed}: the FLASH copy arrived after {after} of 3,000 ROUTINE copies \
             ({before} when it was submitted)"
        );

        net.settle(A_MINUTE);
        // The backlog as gs first offered it to ncb.ke: FLASH, then IMMEDIATE, PRIORITY and
        // ROUTINE, each in arrival order.
        let mut seen = HashSet::new();
        let first_offers: Vec<(Precedence, u64)> = net
            .wire
            .offers
            .iter()
            .filter(|o| o.from == gs && o.to == ke && backlog.contains_key(&o.message))
            .filter(|o| seen.insert(o.message.clone()))
            .map(|o| (o.class, o.seq))
            .collect();
        assert_eq!(first_offers.len(), 3900);
        let out_of_order = first_offers.windows(2).position(|w| w[0] > w[1]);
        assert_eq!(
            out_of_order,
            None,
            "seed {seed}: offered out of order: {:?}",
            out_of_order.map(|i| &first_offers[i..i + 2])
        );
        let delivered = delivered(&net, ke);
        assert_eq!(delivered.len(), 3901);
        assert!(delivered.values().all(|&n| n == 1));
        assert_eq!(reports(&net, fr, true).len(), 3901);
    }
}

/// Steps during which [`traffic`] submits.
const TRAFFIC_STEPS: u64 = 20;

/// Two origins, two destinations, all classes, paced submissions: ten a step.
fn traffic(net: &mut Network, step: u64) {
    if step >= TRAFFIC_STEPS {
        return;
    }
    let (fr, de) = (net.node("ncb.fr"), net.node("ncb.de"));
    for n in 0..5 {
        let class = Precedence::ALL[((step + n) % 4) as usize];
        let to = if n % 2 == 0 { "ncb.ke" } else { "ncb.ug" };
        net.submit(fr, to, class, A_DAY);
        let to = if n % 2 == 0 { "ncb.ug" } else { "ncb.ke" };
        net.submit(
            de,
            to,
            Precedence::ALL[(3 - (step + n) % 4) as usize],
            A_DAY,
        );
    }
}

fn five_nodes(seed: u64) -> Network {
    Network::star(
        seed,
        "gs",
        &["ncb.fr", "ncb.de", "ncb.ke", "ncb.ug"],
        Timing::default(),
    )
}

#[test]
fn no_copy_is_offered_twice_on_a_link_and_taken_back_copies_are_never_offered() {
    const RESTART: u64 = 45;
    let mut taken_back_total = 0;
    for seed in 1..=20 {
        let mut net = five_nodes(seed);
        let (gs, ke) = (net.node("gs"), net.node("ncb.ke"));
        for step in 0..200 {
            traffic(&mut net, step);
            match step {
                25 => net.down(gs, ke),
                _ if step == 20 + seed => {
                    net.nodes[gs].keeper.fail_next_early_round =
                        Some(Precedence::ALL[seed as usize % 3 + 1])
                }
                // The failed store takes no more custody until gs restarts.
                RESTART => net.crash(gs),
                60 => net.up(gs, ke),
                _ => {}
            }
            net.step();
        }
        net.settle(A_MINUTE);
        let mut times: HashMap<(usize, usize, u64, &MessageRef), u32> = HashMap::new();
        for o in &net.wire.offers {
            let n = times
                .entry((o.from, o.to, o.epoch, &o.message))
                .or_default();
            *n += 1;
            assert_eq!(
                *n,
                1,
                "seed {seed}: {} offered {} twice to {} on one connection",
                net.nodes[o.from].me(),
                o.message,
                net.nodes[o.to].me()
            );
        }
        let taken_back = &net.nodes[gs].keeper.taken_back;
        taken_back_total += taken_back.len();
        for copy in taken_back {
            assert!(
                // After its restart gs numbers copies again from what its store holds.
                !net.wire.offers.iter().any(|o| o.from == gs
                    && o.at <= RESTART
                    && o.seq == copy.key.seq()
                    && o.message == copy.message.message),
                "seed {seed}: copy {} of {} was taken back and offered",
                copy.key.seq(),
                copy.message.message
            );
        }
        // Everything submitted was delivered once all the same.
        for dest in ["ncb.ke", "ncb.ug"] {
            let counts = delivered(&net, net.node(dest));
            assert!(counts.values().all(|&n| n == 1), "seed {seed}");
        }
    }
    assert!(taken_back_total > 0, "no round failed with copies held");
}

#[test]
fn a_copy_that_expires_at_a_relay_is_given_up_once_with_one_report_to_its_origin() {
    // The copy expires at 5.5 s; the sweep runs every second. The link to ncb.ke never
    // comes back, or comes back after the copy expired: then ncb.ke refuses it as expired
    // and gs's link gives it up too, racing the sweep (just before 6 s, both find it queued).
    let ups = (5_985..=6_000).chain([5_500, 5_501, 6_500]).map(Some);
    for up_at in [None].into_iter().chain(ups) {
        let mut net = Network::star(3, "gs", &["ncb.fr", "ncb.ke"], Timing::default());
        let (gs, fr, ke) = (net.node("gs"), net.node("ncb.fr"), net.node("ncb.ke"));
        net.down(gs, ke);
        let message = net.submit(fr, "ncb.ke", Routine, 5_500);
        let kept = net.submit(fr, "ncb.ke", Routine, A_DAY);
        for step in 1..10_000 {
            if Some(step) == up_at {
                net.up(gs, ke);
            }
            net.step();
        }
        let context = format!("link up at {up_at:?}");
        let removed = |net: &Network| {
            net.nodes[gs]
                .give_ups
                .iter()
                .filter(|(_, outcome)| *outcome == WriteOutcome::Removed)
                .count()
        };
        assert_eq!(removed(&net), 1, "gs gave the copy up once: {context}");
        let ndrs = reports(&net, fr, false);
        assert_eq!(ndrs.len(), 1, "{context}");
        assert_eq!(ndrs.get(&message.id), Some(&1), "{context}");
        assert!(!delivered(&net, ke).contains_key(&message), "{context}");
        if up_at.is_some() {
            assert_eq!(delivered(&net, ke).get(&kept), Some(&1), "{context}");
        }
        for node in [fr, gs] {
            let left = net.nodes[node].keeper.store.all_queued();
            assert!(left.iter().all(|q| q.message.message == kept), "{context}");
        }
    }
}

/// A copy that expires while it is offered and unanswered: the next hop may take it (it had
/// not expired when it arrived) while the sweep here gives it up, and the origin gets both a
/// delivery report and a non-delivery report. `Ledger::sweep` does not know which copies are
/// in flight. Found by this harness; left as it is (issue 11 changes no behaviour).
#[test]
#[ignore = "known race: the expiry sweep gives up a copy that is offered and in flight"]
fn a_copy_expiring_while_offered_is_never_both_delivered_and_reported_undelivered() {
    for up_at in 5_985..=6_000 {
        let mut net = Network::star(3, "gs", &["ncb.fr", "ncb.ke"], Timing::default());
        let (gs, fr, ke) = (net.node("gs"), net.node("ncb.fr"), net.node("ncb.ke"));
        net.down(gs, ke);
        // It expires at 6 s, when the sweep runs.
        let message = net.submit(fr, "ncb.ke", Routine, 6_000);
        for step in 1..10_000 {
            if step == up_at {
                net.up(gs, ke);
            }
            net.step();
        }
        let delivered = delivered(&net, ke).contains_key(&message);
        let reported = reports(&net, fr, false).contains_key(&message.id);
        assert!(
            delivered != reported,
            "link up at {up_at}: delivered {delivered}, non-delivery reported {reported}"
        );
    }
}
