//! Lowering a thread's scheduling priority, for background work that must not delay the
//! threads that carry messages (Linux: nice is per thread). Best effort: a thread that cannot
//! lower its priority runs as it is.

/// Makes the calling thread `by` nice levels nicer than it is (at most 19): relative, so that a
/// node started with a nice value keeps its background work below its other threads.
pub(crate) fn lower_current_thread_by(by: i32) {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let me = Some(rustix::thread::gettid());
        let lowered = getpriority_process(me)
            .and_then(|now| setpriority_process(me, now.saturating_add(by).min(19)));
        if let Err(err) = lowered {
            tracing::debug!(error = %err, "cannot lower a background thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = by;
}
