//! Telling that another process has the storage directory open (issue 10, defect 12a).
//! sled takes an exclusive `flock` on its data file and, when that fails, reports an opaque
//! error (`Os { code: 11, kind: WouldBlock }`). The store takes the same lock first, for a
//! moment, to name the problem and, on Linux, the process that holds it (from /proc/locks).

use std::fs::File;
use std::path::Path;

use super::StoreError;

/// Fails with [`StoreError::InUse`] if another open of `data_file` holds its lock. The lock is
/// released again before returning: sled takes its own.
pub fn check(dir: &Path, data_file: &Path) -> Result<(), StoreError> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(super::private::FILE_MODE)
            .open(data_file)
            .map_err(|e| StoreError::io(format!("cannot open {}", data_file.display()), e))?;
        match wait_until_free(&file, LOCK_PATIENCE) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let holder = file.metadata().ok().and_then(|meta| {
                    let locks = std::fs::read_to_string("/proc/locks").ok()?;
                    let dev = meta.dev();
                    lock_holder(
                        &locks,
                        (rustix::fs::major(dev), rustix::fs::minor(dev)),
                        meta.ino(),
                    )
                });
                return Err(StoreError::InUse {
                    dir: dir.to_owned(),
                    holder,
                });
            }
            Err(e) => {
                return Err(StoreError::io(
                    format!("cannot lock {}", data_file.display()),
                    e.into(),
                ))
            }
        }
        drop::<File>(file);
    }
    Ok(())
}

/// How long a held lock is tried again before the directory is called in use. sled's
/// background threads can keep the data file open for a moment after a store in this process
/// closed (a node restarted in-process, a store reopened in a test); another node holds it
/// for as long as it runs.
#[cfg(target_os = "linux")]
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Takes `file`'s exclusive lock, trying again every 20 ms for up to `patience` while it is
/// held elsewhere, and releases it again.
///
/// Released explicitly, not by closing: a process that this one forks in the meantime (a test
/// or a hook spawning a command) shares the open file until it execs, and a lock left on it
/// would make sled's own non-blocking attempt fail.
#[cfg(target_os = "linux")]
fn wait_until_free(file: &File, patience: std::time::Duration) -> Result<(), rustix::io::Errno> {
    use rustix::fs::{flock, FlockOperation};
    let deadline = std::time::Instant::now() + patience;
    loop {
        match flock(file, FlockOperation::NonBlockingLockExclusive) {
            Err(rustix::io::Errno::WOULDBLOCK) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Ok(()) => return flock(file, FlockOperation::Unlock),
            Err(e) => return Err(e),
        }
    }
}

/// The process holding an exclusive lock on the file `(major, minor)`/`ino`, as listed in
/// /proc/locks (`1: FLOCK  ADVISORY  WRITE 4242 fe:00:5869386 0 EOF`; device numbers in hex,
/// the inode in decimal; waiting requests are marked `->` and skipped).
pub fn lock_holder(locks: &str, (major, minor): (u32, u32), ino: u64) -> Option<u32> {
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&"->") || fields.get(3) != Some(&"WRITE") {
            return None;
        }
        let pid: u32 = fields.get(4)?.parse().ok()?;
        let mut file = fields.get(5)?.split(':');
        let maj = u32::from_str_radix(file.next()?, 16).ok()?;
        let min = u32::from_str_radix(file.next()?, 16).ok()?;
        let inode: u64 = file.next()?.parse().ok()?;
        (maj == major && min == minor && inode == ino).then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCKS: &str = "\
1: POSIX  ADVISORY  WRITE 99 fe:00:77 0 EOF
2: FLOCK  ADVISORY  WRITE 4242 fe:01:77 0 EOF
2: -> FLOCK  ADVISORY  WRITE 5151 fe:01:77 0 EOF
3: FLOCK  ADVISORY  READ 6161 fe:01:88 0 EOF
";

    #[test]
    fn the_holder_of_a_files_lock_is_read_from_proc_locks() {
        assert_eq!(lock_holder(LOCKS, (0xfe, 1), 77), Some(4242));
        assert_eq!(lock_holder(LOCKS, (0xfe, 0), 77), Some(99));
        assert_eq!(lock_holder(LOCKS, (0xfe, 1), 88), None, "a shared lock");
        assert_eq!(lock_holder(LOCKS, (0xfe, 1), 78), None);
        assert_eq!(lock_holder("garbage\n\n1: FLOCK", (0, 0), 0), None);
    }

    /// A forked child keeps a copy of the probe's open file until it execs; the probe must
    /// not leave its lock on that copy (the CI failure of 2026-12-03: a node's records store
    /// would not open while a concurrent test spawned a command).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_probe_leaves_no_lock_behind_on_a_shared_copy_of_the_file() {
        use rustix::fs::{flock, FlockOperation};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let probe = File::create(&path).unwrap();
        let forked_copy = probe.try_clone().unwrap();
        wait_until_free(&probe, std::time::Duration::ZERO).unwrap();
        drop(probe);
        let sled_like = File::open(&path).unwrap();
        assert_eq!(
            flock(&sled_like, FlockOperation::NonBlockingLockExclusive),
            Ok(()),
            "the lock stayed with the copy"
        );
        drop(forked_copy);
    }
}
