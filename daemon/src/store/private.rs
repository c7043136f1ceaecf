//! The storage directory holds message bodies (the custody log, sled): only the node's user
//! may read it (issue 10, defect 2). It is created 0700, the store's own files 0600, and at
//! every start anything looser under it is tightened and logged, so that a directory made by
//! an older version or by hand is fixed rather than refused: the operator learns of it from
//! the log, and the node stays up.

use std::fs::Permissions;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::StoreError;

/// Mode of the storage directory and of every folder in it.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file the store writes.
pub const FILE_MODE: u32 = 0o600;

/// A path whose permissions start-up tightened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tightened {
    pub path: PathBuf,
    pub was: u32,
    pub now: u32,
}

/// Makes every file this process creates from now on private to its user, whatever the umask
/// it was started with: sled creates files of its own (snapshots, blobs) with the default
/// mode, and the node's process must not leave those readable by others between two starts.
/// Process-wide, so called by the `bluehelm run` process, not by the library.
pub fn make_new_files_private() {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::Mode;
        let old = rustix::process::umask(Mode::from_raw_mode(0o077));
        rustix::process::umask(old | Mode::from_raw_mode(0o077));
    }
}

/// Creates `dir` (0700) if it is missing, then tightens it and everything under it.
pub fn prepare(dir: &Path) -> Result<Vec<Tightened>, StoreError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| {
            StoreError::io(
                format!("cannot create the storage directory {}", dir.display()),
                e,
            )
        })?;
    // The directory itself, not a link to it: the walk below does not follow links.
    let real = std::fs::canonicalize(dir).map_err(|e| {
        StoreError::io(
            format!("cannot resolve the storage directory {}", dir.display()),
            e,
        )
    })?;
    let mut tightened = Vec::new();
    tighten(&real, &mut tightened)?;
    for t in &tightened {
        tracing::warn!(
            path = %t.path.display(),
            was = format_args!("{:o}", t.was),
            now = format_args!("{:o}", t.now),
            "storage was readable by other users: permissions tightened"
        );
    }
    Ok(tightened)
}

/// The mode a storage path must have instead of `mode`, if `mode` is too open. Folders
/// (`is_dir`) lose every group and other bit, files too and their execute bits. Only
/// folders and regular files are looked at: the API socket, if kept here, has its own mode
/// (see `api/listener.rs`), and a symbolic link's mode means nothing.
pub fn tighter(mode: u32, is_dir: bool) -> Option<u32> {
    let mode = mode & 0o7777;
    let allowed = if is_dir { DIR_MODE } else { FILE_MODE };
    (mode & !allowed != 0).then_some(mode & allowed)
}

fn tighten(path: &Path, out: &mut Vec<Tightened>) -> Result<(), StoreError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| {
        StoreError::io(
            format!("cannot read the permissions of {}", path.display()),
            e,
        )
    })?;
    let kind = meta.file_type();
    if !(kind.is_dir() || kind.is_file()) {
        return Ok(());
    }
    let was = meta.permissions().mode() & 0o7777;
    if let Some(now) = tighter(was, kind.is_dir()) {
        std::fs::set_permissions(path, Permissions::from_mode(now)).map_err(|e| {
            StoreError::io(
                format!(
                    "{} is readable by other users ({was:o}) and its mode cannot be changed: \
                     run the node as the directory's owner or chmod it to {now:o}",
                    path.display()
                ),
                e,
            )
        })?;
        out.push(Tightened {
            path: path.to_owned(),
            was,
            now,
        });
    }
    if kind.is_dir() {
        let entries = std::fs::read_dir(path)
            .map_err(|e| StoreError::io(format!("cannot list {}", path.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| StoreError::io(format!("cannot list {}", path.display()), e))?;
            match tighten(&entry.path(), out) {
                // sled removes its blob and snapshot files on its own.
                Err(StoreError::Io { error, .. })
                    if error.kind() == std::io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn only_modes_open_to_others_are_tightened() {
        assert_eq!(tighter(0o700, true), None);
        assert_eq!(tighter(0o600, false), None);
        assert_eq!(tighter(0o400, false), None);
        assert_eq!(tighter(0o755, true), Some(0o700));
        assert_eq!(tighter(0o644, false), Some(0o600));
        assert_eq!(tighter(0o755, false), Some(0o600));
        assert_eq!(tighter(0o2770, true), Some(0o700));
    }

    #[test]
    fn a_new_storage_directory_is_private_and_an_open_one_is_tightened() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data/ncb.ke");
        assert!(prepare(&dir).unwrap().is_empty());
        assert_eq!(mode(&dir), DIR_MODE);

        let sub = dir.join("blobs");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, Permissions::from_mode(0o755)).unwrap();
        std::fs::write(sub.join("17"), b"body").unwrap();
        std::fs::set_permissions(sub.join("17"), Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        let fixed = prepare(&dir).unwrap();
        let paths: Vec<_> = fixed.iter().map(|t| t.path.clone()).collect();
        assert_eq!(paths, [dir.clone(), sub.clone(), sub.join("17")]);
        assert_eq!(fixed[2].was, 0o644);
        assert_eq!(
            (mode(&dir), mode(&sub), mode(&sub.join("17"))),
            (0o700, 0o700, 0o600)
        );
    }
}
