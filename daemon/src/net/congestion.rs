//! The congestion controller of every link: Cubic on short paths, BBR on long-haul ones
//! (issue 15, thin links), chosen by the path's measured minimum round trip, so no operator
//! has to know which peers sit behind a satellite.
//!
//! Why both: on a GEO satellite link (600 ms round trip, 1 % random loss) Cubic reads each
//! loss as congestion and halves its window, and a 2 Mbit/s link carried 22 % of its rate
//! (`bench --scenario satellite`); BBR paces at the measured bottleneck rate, ignores random
//! loss and keeps the modem's queue short, and carried 93 %. But quinn's BBR is marked
//! experimental, and on loopback and LANs, where the relay's throughput and latency figures
//! are proven with Cubic, nothing calls for it. The choice is made on the server side too,
//! where a hub cannot know before the handshake which peer is dialling in.
//!
//! Both controllers see every event, so the one not in charge is warm when the path's
//! minimum round trip crosses the threshold (once, after the first samples: a minimum only
//! falls).

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quinn::congestion::{BbrConfig, Controller, ControllerFactory, ControllerMetrics, CubicConfig};
use quinn_proto::RttEstimator;

/// A path whose minimum round trip is at least this is long-haul: satellites (GEO about
/// 600 ms, MEO about 150 ms) and intercontinental terrestrial paths past 100 ms; a LAN or a
/// national backbone stays under it.
pub const LONG_HAUL_RTT: Duration = Duration::from_millis(100);

/// Builds a [`PathAware`] controller for each connection.
#[derive(Debug, Default)]
pub struct PathAwareConfig {
    cubic: Arc<CubicConfig>,
    bbr: Arc<BbrConfig>,
}

impl ControllerFactory for PathAwareConfig {
    fn build(self: Arc<Self>, now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        Box::new(PathAware {
            cubic: self.cubic.clone().build(now, current_mtu),
            bbr: self.bbr.clone().build(now, current_mtu),
            long_haul: false,
        })
    }
}

/// Cubic until the path proves long-haul, BBR from then on.
pub struct PathAware {
    cubic: Box<dyn Controller>,
    bbr: Box<dyn Controller>,
    long_haul: bool,
}

impl PathAware {
    fn in_charge(&self) -> &dyn Controller {
        if self.long_haul {
            self.bbr.as_ref()
        } else {
            self.cubic.as_ref()
        }
    }

    /// Whether BBR is in charge.
    pub fn is_long_haul(&self) -> bool {
        self.long_haul
    }
}

impl Controller for PathAware {
    fn on_sent(&mut self, now: Instant, bytes: u64, last_packet_number: u64) {
        self.cubic.on_sent(now, bytes, last_packet_number);
        self.bbr.on_sent(now, bytes, last_packet_number);
    }

    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &RttEstimator,
    ) {
        self.long_haul = rtt.min() >= LONG_HAUL_RTT;
        self.cubic.on_ack(now, sent, bytes, app_limited, rtt);
        self.bbr.on_ack(now, sent, bytes, app_limited, rtt);
    }

    fn on_end_acks(
        &mut self,
        now: Instant,
        in_flight: u64,
        app_limited: bool,
        largest_packet_num_acked: Option<u64>,
    ) {
        self.cubic
            .on_end_acks(now, in_flight, app_limited, largest_packet_num_acked);
        self.bbr
            .on_end_acks(now, in_flight, app_limited, largest_packet_num_acked);
    }

    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent: Instant,
        is_persistent_congestion: bool,
        lost_bytes: u64,
    ) {
        self.cubic
            .on_congestion_event(now, sent, is_persistent_congestion, lost_bytes);
        self.bbr
            .on_congestion_event(now, sent, is_persistent_congestion, lost_bytes);
    }

    fn on_mtu_update(&mut self, new_mtu: u16) {
        self.cubic.on_mtu_update(new_mtu);
        self.bbr.on_mtu_update(new_mtu);
    }

    fn window(&self) -> u64 {
        self.in_charge().window()
    }

    fn metrics(&self) -> ControllerMetrics {
        self.in_charge().metrics()
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(PathAware {
            cubic: self.cubic.clone_box(),
            bbr: self.bbr.clone_box(),
            long_haul: self.long_haul,
        })
    }

    fn initial_window(&self) -> u64 {
        self.cubic.initial_window()
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}
