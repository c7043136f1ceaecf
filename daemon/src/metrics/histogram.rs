//! A latency histogram that the hot path fills with three relaxed atomic adds and no lock
//! (the relay takes ~10k messages a second; a scrape must never hold custody up). Buckets
//! are fixed: a scrape reads them as they are, and a reading taken while an observation is
//! half recorded is off by that one observation at most.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds: from 100 us (a batch on a fast disk) to 10 s (a
/// disk that stalls), about three to a decade; above the last, `+Inf`.
pub const BOUNDS_SECONDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];

/// Observations per bucket (not cumulative), their sum and their count.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// One more than the bounds: the last counts what is above every bound.
    buckets: [AtomicU64; BOUNDS_SECONDS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

/// A histogram as read at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramReading {
    /// `(upper bound in seconds, observations in this bucket)`, the last bound `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    pub count: u64,
}

impl LatencyHistogram {
    /// Records one observation of `elapsed`.
    pub fn observe(&self, elapsed: Duration) {
        self.observe_many(elapsed, 1);
    }

    /// Records `n` observations of `elapsed` each (a batch whose messages all waited as
    /// long), still with three atomic adds.
    pub fn observe_many(&self, elapsed: Duration, n: u64) {
        if n == 0 {
            return;
        }
        let seconds = elapsed.as_secs_f64();
        let bucket = BOUNDS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BOUNDS_SECONDS.len());
        self.buckets[bucket].fetch_add(n, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos
            .fetch_add(nanos.saturating_mul(n), Ordering::Relaxed);
        self.count.fetch_add(n, Ordering::Relaxed);
    }

    /// The histogram now.
    pub fn read(&self) -> HistogramReading {
        let bounds = BOUNDS_SECONDS.iter().copied().chain([f64::INFINITY]);
        HistogramReading {
            buckets: bounds
                .zip(&self.buckets)
                .map(|(bound, n)| (bound, n.load(Ordering::Relaxed)))
                .collect(),
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_in_the_first_bucket_that_holds_them() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_micros(100));
        h.observe_many(Duration::from_millis(3), 2);
        h.observe(Duration::from_secs(60));
        let r = h.read();
        assert_eq!(r.count, 5);
        assert_eq!(r.buckets.len(), BOUNDS_SECONDS.len() + 1);
        assert_eq!(r.buckets[0], (0.0001, 2));
        assert_eq!(r.buckets[5], (0.005, 2));
        assert_eq!(r.buckets.last(), Some(&(f64::INFINITY, 1)));
        assert!((r.sum_seconds - 60.00615).abs() < 1e-9);
    }
}
