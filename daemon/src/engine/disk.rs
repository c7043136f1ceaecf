//! Whether the disk under the store has room for more custody (issue 15, item 8). The node's
//! watcher reads the free space; this judges it, so that a node refuses new messages with
//! "retry later" before sled meets a full disk in the middle of a write (a failed write stops
//! the store until the node restarts; a refusal costs the sender one retry).

use bluehelm_proto::RefusalReason;

const MIB: u64 = 1024 * 1024;

/// Why the node takes no new custody for want of disk space, or `None` while `free_bytes`
/// (on the file system of the storage directory) is at least `reserve_bytes`.
pub fn shortage(free_bytes: u64, reserve_bytes: u64) -> Option<String> {
    (free_bytes < reserve_bytes).then(|| {
        format!(
            "the disk holding the storage directory has {} MiB free, under the reserve of {} \
             MiB (limits.min_free_disk_mib): retry later; custody resumes by itself once \
             space is freed",
            free_bytes / MIB,
            reserve_bytes.div_ceil(MIB)
        )
    })
}

/// Whether the node may take custody while the disk is as `shortage` says. A temporary
/// reason: the sender keeps the message and retries with backoff.
pub fn may_take_custody(shortage: Option<&str>) -> Result<(), (RefusalReason, String)> {
    match shortage {
        None => Ok(()),
        Some(why) => Err((RefusalReason::StorageUnavailable, why.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_only_below_the_reserve_and_a_zero_reserve_is_never_short() {
        assert_eq!(shortage(64 * MIB, 64 * MIB), None);
        assert_eq!(shortage(0, 0), None);
        let why = shortage(10 * MIB, 64 * MIB).expect("short");
        assert!(why.contains("10 MiB free"), "{why}");
        assert!(why.contains("reserve of 64 MiB"), "{why}");
        assert!(why.contains("retry later"), "{why}");
    }

    #[test]
    fn a_shortage_is_a_temporary_refusal() {
        assert!(may_take_custody(None).is_ok());
        let (reason, detail) = may_take_custody(Some("full")).expect_err("refused");
        assert_eq!(reason, RefusalReason::StorageUnavailable);
        assert!(!reason.is_permanent());
        assert_eq!(detail, "full");
    }
}
