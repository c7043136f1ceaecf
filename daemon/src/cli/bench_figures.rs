//! Figures of the scale scenarios (`drain`, `fanout`, `links`, issue 15 item 10) that need no
//! IO: percentiles, rates, and what /proc says about a process, parsed from its text.

use std::collections::BTreeMap;

/// Linux reports CPU time in /proc/<pid>/stat in clock ticks of `USER_HZ`, which is 100 on
/// every architecture Linux runs on (it is part of the user-space ABI, whatever the kernel's
/// own HZ), so no `sysconf` call is needed.
const TICKS_PER_SECOND: f64 = 100.0;

/// The value at share `p` (0 to 1) of `sorted` (ascending): the smallest value that at least
/// that share of values do not exceed. NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (sorted.len() as f64 * p.clamp(0.0, 1.0)).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `count` per second over `seconds` (0 when no time passed).
pub fn rate(count: usize, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// Memory of a process, from /proc/<pid>/status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Most resident so far (`VmHWM`, the high-water mark), KiB.
    pub peak_kib: u64,
}

impl Memory {
    /// Parses the text of /proc/<pid>/status; `None` when a field is missing.
    pub fn parse(status: &str) -> Option<Self> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        };
        Some(Self {
            rss_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
        })
    }

    /// Of a running process: zeros when /proc cannot be read (the process ended).
    pub fn of(pid: u32) -> Self {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| Self::parse(&s))
            .unwrap_or_default()
    }
}

/// KiB as MiB, rounded to one decimal.
pub fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

/// CPU seconds (user and system together) a process has used, from the text of
/// /proc/<pid>/stat.
pub fn cpu_seconds(stat: &str) -> Option<f64> {
    cpu_split(stat).map(|(user, system)| user + system)
}

/// User and system CPU seconds a process has used, from the text of /proc/<pid>/stat. The
/// command name (field 2) is in parentheses and may hold spaces and parentheses itself, so
/// fields are counted from after its last `)`: utime and stime are fields 14 and 15. A
/// process's own line counts its ended threads too.
pub fn cpu_split(stat: &str) -> Option<(f64, f64)> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((
        utime as f64 / TICKS_PER_SECOND,
        stime as f64 / TICKS_PER_SECOND,
    ))
}

/// The command name of a /proc stat line (a thread's name, for a task's stat).
pub fn stat_name(stat: &str) -> Option<&str> {
    stat.get(stat.find('(')? + 1..stat.rfind(')')?)
}

/// CPU seconds by thread name of a running process so far, from /proc/<pid>/task: what
/// each kind of thread (store, bulk, async workers) used. Threads that have ended (a
/// checkpoint's) are not listed; their time is in [`cpu_seconds_of`] only.
pub fn cpu_by_thread(pid: u32) -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if let (Some(name), Some(cpu)) = (stat_name(&stat), cpu_seconds(&stat)) {
            *by_name.entry(name.to_owned()).or_insert(0.0) += cpu;
        }
    }
    by_name
}

/// What each name used between two [`cpu_by_thread`] readings, with the time of threads
/// that ended in between (`total` is the process's own delta) as `"ended threads"`, in
/// seconds rounded to 0.01; names that used nothing are left out.
pub fn cpu_delta(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    total: f64,
) -> BTreeMap<String, f64> {
    let round = |s: f64| (s * 100.0).round() / 100.0;
    let mut delta: BTreeMap<String, f64> = after
        .iter()
        .map(|(name, cpu)| (name.clone(), cpu - before.get(name).copied().unwrap_or(0.0)))
        .filter(|(_, cpu)| *cpu > 0.0)
        .collect();
    let listed: f64 = delta.values().sum();
    if total - listed > 0.0 {
        delta.insert("ended threads".into(), total - listed);
    }
    delta.into_iter().map(|(k, v)| (k, round(v))).collect()
}

/// CPU seconds of a running process so far; 0 when /proc cannot be read.
pub fn cpu_seconds_of(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| cpu_seconds(&s))
        .unwrap_or(0.0)
}

/// Memory each of `links` links added, KiB: the growth from `before_kib` to `after_kib`
/// (none if memory shrank) shared out.
pub fn per_link_kib(before_kib: u64, after_kib: u64, links: usize) -> f64 {
    if links == 0 {
        return 0.0;
    }
    after_kib.saturating_sub(before_kib) as f64 / links as f64
}

/// The `i`-th two-letter code, `AA`, `AB`, ... `ZZ` (676 of them): the countries of the
/// fanout scenario's NCBs. A certificate's country must be two upper-case letters; these
/// are not all real ISO 3166 codes, which the CA does not check.
pub fn two_letters(i: usize) -> Option<String> {
    (i < 26 * 26).then(|| {
        let letter = |n: usize| char::from(b'A' + (n % 26) as u8);
        [letter(i / 26), letter(i)].iter().collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_values_of_the_sample() {
        let sorted: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 0.5), 100.0);
        assert_eq!(percentile(&sorted, 0.99), 198.0);
        assert_eq!(percentile(&sorted, 1.0), 200.0);
        assert_eq!(percentile(&sorted, 0.0), 1.0);
        assert_eq!(percentile(&[7.0], 0.5), 7.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn a_rate_over_no_time_is_zero_not_infinite() {
        assert_eq!(rate(1000, 0.0), 0.0);
        assert_eq!(rate(50_000, 2.0), 25_000.0);
    }

    #[test]
    fn memory_is_read_from_proc_status_text() {
        let status =
            "Name:\tbluehelm\nVmPeak:\t 900000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n";
        let memory = Memory::parse(status).expect("both fields");
        assert_eq!(memory.rss_kib, 102_400);
        assert_eq!(memory.peak_kib, 204_800);
        assert_eq!(mib(memory.peak_kib), 200.0);
        assert_eq!(Memory::parse("Name:\tx\nVmRSS:\t 1 kB\n"), None);
    }

    #[test]
    fn the_memory_of_this_process_is_readable() {
        let me = Memory::of(std::process::id());
        assert!(me.rss_kib > 0 && me.peak_kib >= me.rss_kib, "{me:?}");
    }

    #[test]
    fn cpu_time_is_counted_after_the_command_name() {
        // A command name with a space and a parenthesis must not shift the fields.
        let stat = "4242 (blue helm) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 70 0 0 20 0 9 0";
        assert_eq!(cpu_seconds(stat), Some(3.2));
        assert_eq!(cpu_split(stat), Some((2.5, 0.7)));
        assert_eq!(cpu_seconds("4242 (short) S 1"), None);
        assert!(cpu_seconds_of(std::process::id()) >= 0.0);
    }

    #[test]
    fn threads_are_named_from_their_stat_line() {
        let stat = "4243 (bluehelm-store) S 1 4242 4242 0 -1 4194560 500 0 0 0 120 30 0";
        assert_eq!(stat_name(stat), Some("bluehelm-store"));
        assert_eq!(stat_name("4243 no name"), None);
        let mine = cpu_by_thread(std::process::id());
        assert!(!mine.is_empty(), "this process has threads");
    }

    #[test]
    fn cpu_deltas_count_ended_threads_apart() {
        let before = BTreeMap::from([("store".to_owned(), 1.0), ("bulk".to_owned(), 2.0)]);
        let after = BTreeMap::from([("store".to_owned(), 1.5), ("bulk".to_owned(), 2.0)]);
        let delta = cpu_delta(&before, &after, 0.75);
        assert_eq!(delta.get("store"), Some(&0.5));
        assert_eq!(delta.get("bulk"), None, "used nothing");
        assert_eq!(delta.get("ended threads"), Some(&0.25));
    }

    #[test]
    fn growth_is_shared_out_per_link() {
        assert_eq!(per_link_kib(100_000, 150_000, 500), 100.0);
        assert_eq!(per_link_kib(150_000, 100_000, 500), 0.0);
        assert_eq!(per_link_kib(1, 2, 0), 0.0);
    }

    #[test]
    fn two_letter_codes_are_distinct_and_upper_case() {
        assert_eq!(two_letters(0).as_deref(), Some("AA"));
        assert_eq!(two_letters(27).as_deref(), Some("BB"));
        assert_eq!(two_letters(675).as_deref(), Some("ZZ"));
        assert_eq!(two_letters(676), None);
        let all: std::collections::HashSet<String> = (0..676).filter_map(two_letters).collect();
        assert_eq!(all.len(), 676);
    }
}
