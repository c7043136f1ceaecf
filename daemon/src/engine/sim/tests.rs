//! The custody rules end to end, across whole nodes in virtual time (see `sim.rs`).

use bluehelm_proto::Precedence;

use super::{Network, Timing};

const A_DAY: i64 = 24 * 3600 * 1000;

#[test]
fn smoke() {
    let mut net = Network::star(1, "gs", &["ncb.fr", "ncb.ke"], Timing::default());
    let fr = net.node("ncb.fr");
    for _ in 0..10 {
        net.submit(fr, "ncb.ke", Precedence::Routine, A_DAY);
    }
    net.settle(10_000);
    let ke = net.node("ncb.ke");
    assert_eq!(net.nodes[ke].keeper.inbox_log.len(), 10);
    assert_eq!(net.nodes[fr].keeper.inbox_log.len(), 10);
}
