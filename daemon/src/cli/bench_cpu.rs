//! CPU per message of each process of a three-process scenario (issue 16, item 3): origin,
//! hub and destination read alone, so that each hop's cost shows whatever the machine's core
//! count. Read from /proc when each process is ready (its node started: custody log files
//! written, sled open, links up or being made) and again once the destination has every
//! message: the difference, per message delivered. A start's cost is not a message's: the
//! custody log files alone are 64 MiB written per node, some 5 % of a 50,000-message run.

use serde::{Deserialize, Serialize};

use super::bench_figures::cpu_split;

/// User and system CPU seconds of one process, from /proc/<pid>/stat; zeros when /proc
/// cannot be read (not Linux, or the process ended).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuReading {
    user_s: f64,
    system_s: f64,
}

impl CpuReading {
    pub fn of(pid: u32) -> Self {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| cpu_split(&stat))
            .map(|(user_s, system_s)| Self { user_s, system_s })
            .unwrap_or_default()
    }

    /// What was used between `earlier` and this reading.
    fn since(self, earlier: Self) -> Self {
        Self {
            user_s: (self.user_s - earlier.user_s).max(0.0),
            system_s: (self.system_s - earlier.system_s).max(0.0),
        }
    }
}

/// One process's CPU per message, microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProcessCpu {
    pub user: f64,
    pub system: f64,
}

impl ProcessCpu {
    /// What the process has used, per message of `messages`.
    pub fn per_message(used: CpuReading, messages: usize) -> Self {
        let per = |s: f64| round(s * 1e6 / messages.max(1) as f64);
        Self {
            user: per(used.user_s),
            system: per(used.system_s),
        }
    }

    fn total(&self) -> f64 {
        self.user + self.system
    }
}

/// Each process's CPU per message delivered, and their sum (`bench --json` key
/// `cpu_us_per_msg`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuPerMessage {
    pub origin: ProcessCpu,
    pub hub: ProcessCpu,
    pub destination: ProcessCpu,
    /// The three processes' user and system time together.
    pub total: f64,
}

impl CpuPerMessage {
    pub fn new(origin: ProcessCpu, hub: ProcessCpu, destination: ProcessCpu) -> Self {
        Self {
            origin,
            hub,
            destination,
            total: round(origin.total() + hub.total() + destination.total()),
        }
    }

    /// One line for people: each process's user+system, and the sum.
    pub fn human(&self) -> String {
        format!(
            "CPU per message: origin {:.1} + hub {:.1} + destination {:.1} = {:.1} us (user+system)",
            self.origin.total(),
            self.hub.total(),
            self.destination.total(),
            self.total
        )
    }
}

/// To a tenth of a microsecond: finer than the tick of /proc's figures allows anyway.
fn round(us: f64) -> f64 {
    (us * 10.0).round() / 10.0
}

/// The readings of the three processes, taken together.
#[derive(Debug, Clone, Copy)]
pub struct Readings {
    pub origin: CpuReading,
    pub hub: CpuReading,
    pub destination: CpuReading,
}

impl Readings {
    pub fn of(origin: u32, hub: u32, destination: u32) -> Self {
        Self {
            origin: CpuReading::of(origin),
            hub: CpuReading::of(hub),
            destination: CpuReading::of(destination),
        }
    }

    /// What each process used between `earlier` and these readings.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            origin: self.origin.since(earlier.origin),
            hub: self.hub.since(earlier.hub),
            destination: self.destination.since(earlier.destination),
        }
    }

    /// Per message of `messages`.
    pub fn per_message(&self, messages: usize) -> CpuPerMessage {
        CpuPerMessage::new(
            ProcessCpu::per_message(self.origin, messages),
            ProcessCpu::per_message(self.hub, messages),
            ProcessCpu::per_message(self.destination, messages),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(user_s: f64, system_s: f64) -> CpuReading {
        CpuReading { user_s, system_s }
    }

    #[test]
    fn cpu_is_shared_out_per_message_in_microseconds() {
        let used = Readings {
            origin: reading(2.0, 0.5),
            hub: reading(4.0, 1.0),
            destination: reading(2.5, 0.5),
        };
        let cpu = used.per_message(100_000);
        assert_eq!((cpu.origin.user, cpu.origin.system), (20.0, 5.0));
        assert_eq!((cpu.hub.user, cpu.hub.system), (40.0, 10.0));
        assert_eq!((cpu.destination.user, cpu.destination.system), (25.0, 5.0));
        assert_eq!(cpu.total, 105.0);
        assert!(cpu.human().contains("= 105.0 us"), "{}", cpu.human());
    }

    #[test]
    fn what_a_process_used_before_it_was_ready_is_not_counted() {
        let ready = Readings {
            origin: reading(1.0, 0.5),
            hub: reading(0.5, 0.25),
            destination: reading(1.0, 1.0),
        };
        let done = Readings {
            origin: reading(3.0, 1.0),
            hub: reading(4.5, 1.25),
            destination: reading(3.5, 1.5),
        };
        let cpu = done.since(ready).per_message(100_000);
        assert_eq!((cpu.origin.user, cpu.origin.system), (20.0, 5.0));
        assert_eq!((cpu.hub.user, cpu.hub.system), (40.0, 10.0));
        assert_eq!((cpu.destination.user, cpu.destination.system), (25.0, 5.0));
        // A process that ended between the readings reads zeros: no negative time.
        let ended = Readings {
            origin: CpuReading::default(),
            ..done
        };
        assert_eq!(ended.since(ready).per_message(1).origin.user, 0.0);
    }

    #[test]
    fn no_message_divides_by_one_not_zero() {
        let cpu = ProcessCpu::per_message(reading(1.0, 0.0), 0);
        assert_eq!((cpu.user, cpu.system), (1e6, 0.0));
    }

    #[test]
    fn this_process_is_readable_and_its_time_goes_on() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let first = CpuReading::of(std::process::id());
        // /proc counts in ticks of 10 ms: work until the reading moves (or 10 s pass).
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut later = first;
        let mut spin = 0u64;
        while later.user_s + later.system_s <= first.user_s + first.system_s
            && std::time::Instant::now() < until
        {
            for i in 0..100_000u64 {
                spin = std::hint::black_box(spin.wrapping_add(i * i));
            }
            later = CpuReading::of(std::process::id());
        }
        assert!(
            later.user_s + later.system_s > first.user_s + first.system_s,
            "{first:?} {later:?}"
        );
        assert!(later.user_s >= first.user_s && later.system_s >= first.system_s);
    }
}
