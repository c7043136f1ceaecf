//! The model of one direction of a bad link. Pure: time and randomness come in as arguments.

use std::time::{Duration, Instant};

use rand::Rng;

/// What the link does to traffic. The same settings apply to each direction on its own (a
/// 300 ms delay here is 600 ms of round trip).
#[derive(Debug, Clone, PartialEq)]
pub struct Impairments {
    /// One-way delay every datagram gets.
    pub delay: Duration,
    /// Extra delay, uniform in 0..jitter. Datagrams still arrive in order unless `reorder`
    /// picks them.
    pub jitter: Duration,
    /// Probability that a datagram is lost (after it used the bottleneck's bandwidth, as on
    /// a radio link).
    pub loss: f64,
    /// Probability that a datagram arrives twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back by `reorder_delay`, so later ones overtake it.
    pub reorder: f64,
    pub reorder_delay: Duration,
    /// The bottleneck's rate in bits per second; `None`: unlimited.
    pub bandwidth_bps: Option<u64>,
    /// The bottleneck's buffer: a datagram that would wait behind more than this many bytes
    /// is dropped (tail drop, as a router does).
    pub buffer_bytes: usize,
    /// Everything is dropped while set.
    pub cut: bool,
}

impl Impairments {
    /// A perfect link: the proxy only forwards.
    pub fn none() -> Self {
        Self {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            bandwidth_bps: None,
            buffer_bytes: usize::MAX,
            cut: false,
        }
    }

    /// A GEO satellite link of a mission post (issue 15): 600 ms round trip, 1 % loss each
    /// way, 2 Mbit/s, and a buffer of about one round trip's worth of bytes at that rate
    /// (150 kB), as a satellite modem has.
    pub fn satellite() -> Self {
        Self {
            delay: Duration::from_millis(300),
            loss: 0.01,
            bandwidth_bps: Some(2_000_000),
            buffer_bytes: 150_000,
            ..Self::none()
        }
    }
}

/// What happens to one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It arrives at each of these times (twice when duplicated).
    Deliver(Vec<Instant>),
    /// The link was cut.
    Cut,
    /// Lost at random.
    Lost,
    /// The bottleneck's buffer was full.
    BufferFull,
}

/// One direction's state: when the bottleneck is next free, and the last in-order arrival.
#[derive(Debug, Default)]
pub struct Link {
    busy_until: Option<Instant>,
    last_arrival: Option<Instant>,
}

impl Link {
    /// Decides the fate of a datagram of `len` bytes sent at `now`.
    pub fn plan(
        &mut self,
        settings: &Impairments,
        now: Instant,
        len: usize,
        rng: &mut impl Rng,
    ) -> Verdict {
        if settings.cut {
            return Verdict::Cut;
        }
        let departure = match settings.bandwidth_bps {
            None => now,
            Some(bps) => {
                let start = self.busy_until.map_or(now, |busy| busy.max(now));
                let bps = u128::from(bps.max(1));
                let waiting = start.saturating_duration_since(now).as_nanos();
                let queued_bytes = waiting * bps / 8_000_000_000;
                if queued_bytes + len as u128 > settings.buffer_bytes as u128 {
                    return Verdict::BufferFull;
                }
                let nanos = len as u128 * 8_000_000_000 / bps;
                let sending = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
                let done = start + sending;
                self.busy_until = Some(done);
                done
            }
        };
        if chance(rng, settings.loss) {
            return Verdict::Lost;
        }
        let jitter = if settings.jitter.is_zero() {
            Duration::ZERO
        } else {
            settings.jitter.mul_f64(rng.gen::<f64>())
        };
        let mut arrival = departure + settings.delay + jitter;
        if chance(rng, settings.reorder) {
            arrival += settings.reorder_delay;
        } else {
            if let Some(last) = self.last_arrival {
                arrival = arrival.max(last);
            }
            self.last_arrival = Some(arrival);
        }
        let mut arrivals = vec![arrival];
        if chance(rng, settings.duplicate) {
            arrivals.push(arrival + Duration::from_micros(100));
        }
        Verdict::Deliver(arrivals)
    }
}

fn chance(rng: &mut impl Rng, probability: f64) -> bool {
    probability > 0.0 && rng.gen::<f64>() < probability
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn a_perfect_link_delivers_at_once_and_a_cut_one_never() {
        let now = Instant::now();
        let mut link = Link::default();
        let mut settings = Impairments::none();
        assert_eq!(
            link.plan(&settings, now, 1200, &mut rng()),
            Verdict::Deliver(vec![now])
        );
        settings.cut = true;
        assert_eq!(link.plan(&settings, now, 1200, &mut rng()), Verdict::Cut);
    }

    #[test]
    fn the_bottleneck_spaces_datagrams_by_their_size_and_drops_beyond_its_buffer() {
        let now = Instant::now();
        let mut link = Link::default();
        let settings = Impairments {
            bandwidth_bps: Some(1_000_000),
            buffer_bytes: 3_000,
            delay: Duration::from_millis(10),
            ..Impairments::none()
        };
        let mut r = rng();
        // 1,000 bytes at 1 Mbit/s take 8 ms each.
        let arrivals: Vec<Verdict> = (0..5)
            .map(|_| link.plan(&settings, now, 1000, &mut r))
            .collect();
        let ms = |v: &Verdict| match v {
            Verdict::Deliver(t) => Some((t[0] - now).as_millis()),
            _ => None,
        };
        assert_eq!(ms(&arrivals[0]), Some(18));
        assert_eq!(ms(&arrivals[1]), Some(26));
        assert_eq!(ms(&arrivals[2]), Some(34));
        // The fourth would wait behind 3,000 bytes with its own 1,000: over the buffer.
        assert_eq!(arrivals[3], Verdict::BufferFull);
        // Once the queue drained, it takes traffic again.
        let later = now + Duration::from_millis(24);
        assert_eq!(
            link.plan(&settings, later, 1000, &mut r),
            Verdict::Deliver(vec![now + Duration::from_millis(42)])
        );
    }

    #[test]
    fn loss_is_near_its_probability_and_in_order_delivery_survives_jitter() {
        let now = Instant::now();
        let mut link = Link::default();
        let settings = Impairments {
            loss: 0.01,
            delay: Duration::from_millis(300),
            jitter: Duration::from_millis(20),
            ..Impairments::none()
        };
        let mut r = rng();
        let mut lost = 0;
        let mut last = now;
        for i in 0..100_000u64 {
            match link.plan(&settings, now + Duration::from_micros(i * 10), 1200, &mut r) {
                Verdict::Lost => lost += 1,
                Verdict::Deliver(t) => {
                    assert!(t[0] >= last, "in order");
                    last = t[0];
                }
                other => panic!("{other:?}"),
            }
        }
        assert!((800..1200).contains(&lost), "lost {lost} of 100,000");
    }

    #[test]
    fn reordered_and_duplicated_datagrams_are_what_they_say() {
        let now = Instant::now();
        let mut link = Link::default();
        let settings = Impairments {
            reorder: 1.0,
            reorder_delay: Duration::from_millis(50),
            duplicate: 1.0,
            ..Impairments::none()
        };
        let mut r = rng();
        let Verdict::Deliver(first) = link.plan(&settings, now, 100, &mut r) else {
            panic!("delivered");
        };
        assert_eq!(first.len(), 2, "twice");
        assert_eq!(first[0], now + Duration::from_millis(50));
        let plain = Impairments::none();
        let Verdict::Deliver(second) = link.plan(&plain, now, 100, &mut r) else {
            panic!("delivered");
        };
        assert!(
            second[0] < first[0],
            "the later datagram overtakes the held one"
        );
    }
}
