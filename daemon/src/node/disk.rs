//! The disk watcher (issue 15, item 8): reads the free space of the storage directory's file
//! system every second and tells the core, which refuses new custody below the reserve
//! (`engine::disk`). Polling keeps statvfs off the path of every message.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::custody::{Core, Disk};
use crate::engine::disk::shortage;

/// How often the free space is read: a few hundred MiB of reserve outlasts a second of
/// custody at any rate this node reaches.
const EVERY: Duration = Duration::from_secs(1);

/// Reads the free space until the node stops. Logs when custody stops for want of space and
/// when it resumes.
pub async fn watch(core: Arc<Core>) {
    let storage = core.config().storage.clone();
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_short = false;
    loop {
        tokio::select! {
            _ = core.cancel().cancelled() => return,
            _ = ticks.tick() => {}
        }
        // Read at each tick: a reload may change the reserve.
        let reserve = core.config().limits.min_free_disk_bytes;
        let disk = read(storage.clone(), reserve).await;
        match (&disk.shortage, was_short) {
            (Some(why), false) => tracing::warn!(reason = %why, "taking no new custody"),
            (None, true) => tracing::info!(
                free_mib = disk.free_bytes.unwrap_or(0) / (1024 * 1024),
                "disk space is back: taking custody again"
            ),
            _ => {}
        }
        was_short = disk.shortage.is_some();
        core.set_disk(disk);
    }
}

async fn read(storage: PathBuf, reserve: u64) -> Disk {
    let free = tokio::task::spawn_blocking(move || free_bytes(&storage))
        .await
        .ok()
        .flatten();
    Disk {
        free_bytes: free,
        // Unreadable free space stops nothing: sled's own errors still do.
        shortage: free.and_then(|free| shortage(free, reserve)),
    }
}

/// Bytes an unprivileged process may still write on the file system holding `dir`.
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    match rustix::fs::statvfs(dir) {
        Ok(stat) => Some(stat.f_bavail.saturating_mul(stat.f_frsize)),
        Err(err) => {
            tracing::debug!(error = %err, dir = %dir.display(), "cannot read free disk space");
            None
        }
    }
}
