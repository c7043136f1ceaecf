//! Lowering a thread's scheduling priority, for background work that must not delay the
//! threads that carry messages (Linux: nice is per thread). Best effort: a thread that cannot
//! lower its priority runs as it is.

pub(crate) fn lower_current_thread(nice: i32) {
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice) {
        tracing::debug!(error = %err, "cannot lower a background thread's priority");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}
