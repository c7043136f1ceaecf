//! Retry timing: exponential backoff with jitter, for redialling links and re-offering
//! messages after a temporary refusal. Pure: the jitter comes in as an argument.

use std::time::Duration;

/// Exponential backoff between `base` and `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// Delay before retry number `attempt` (0-based). `jitter` in [0, 1) spreads retries of
    /// many nodes apart: the delay is drawn from [d/2, d) where d doubles per attempt.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
        let full = self.base.saturating_mul(factor).min(self.max);
        let jitter = jitter.clamp(0.0, 1.0);
        full.mul_f64(0.5 + jitter / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_and_caps() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(10),
        };
        assert_eq!(b.delay(0, 0.0), Duration::from_millis(50));
        assert_eq!(b.delay(3, 0.0), Duration::from_millis(400));
        assert_eq!(b.delay(30, 0.0), Duration::from_secs(5));
        assert!(b.delay(30, 0.999) < Duration::from_secs(10));
        assert!(b.delay(2, 0.5) > b.delay(2, 0.0));
    }
}
