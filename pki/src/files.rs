//! Writing secrets and certificates to disk without a window where they are readable by
//! others or half-written, and refusing key files that others can read.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of private key files.
pub const KEY_FILE_MODE: u32 = 0o600;
/// Mode of certificates, CRLs and bookkeeping files.
pub const PUBLIC_FILE_MODE: u32 = 0o644;
/// Mode of the directories this crate creates to hold keys (the CA directory, `pki issue
/// --out`): only their owner may list them (issue 10, defect 2b).
pub const KEY_DIR_MODE: u32 = 0o700;

/// A file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The file exists and overwriting was not asked for.
    #[error("{} already exists: pass --force to overwrite it", .0.display())]
    Exists(PathBuf),
    /// The file system refused.
    #[error("cannot write {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A file could not be read or may not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file system refused.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A private key file is readable by its group or by everyone.
    #[error("{} is readable by other users (mode {mode:o}): run `chmod 600 {}`", path.display(), path.display())]
    KeyFileTooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Creates `dir` and any missing parents with mode [`KEY_DIR_MODE`] (less the umask). A
/// directory that exists already is left as it is: it is the operator's.
pub(crate) fn create_key_dir(dir: &Path) -> Result<(), WriteError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(KEY_DIR_MODE)
        .create(dir)
        .map_err(|source| WriteError::Io {
            path: dir.to_owned(),
            source,
        })
}

/// Fails with [`WriteError::Exists`] for the first path that exists, unless `force`.
pub(crate) fn ensure_absent(paths: &[&Path], force: bool) -> Result<(), WriteError> {
    if force {
        return Ok(());
    }
    match paths.iter().find(|p| p.exists()) {
        Some(p) => Err(WriteError::Exists(p.to_path_buf())),
        None => Ok(()),
    }
}

/// Writes `contents` to `path` with permission bits `mode`.
///
/// The data goes to a fresh temporary file created with `mode` already set (never chmod
/// afterwards) in the same directory, is synced, then moved into place: by `rename` when
/// `force`, by `link` otherwise, which fails if `path` exists; the directory is synced last,
/// so the new name survives a power cut once this returns. Readers never see a partial
/// file, and a key is never readable by others, not even for an instant.
pub(crate) fn write_file(
    path: &Path,
    contents: &[u8],
    mode: u32,
    force: bool,
) -> Result<(), WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file path",
        ))
    })?;
    let mut nonce = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
        .map_err(|_| io(std::io::Error::other("no randomness for a temporary name")))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        crate::identity::hex(&nonce)
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        if force {
            fs::rename(&tmp, path)
        } else {
            fs::hard_link(&tmp, path)
        }
    })();
    let _ = fs::remove_file(&tmp);
    let result = result.and_then(|()| fs::File::open(dir)?.sync_all());
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(WriteError::Exists(path.to_owned()))
        }
        other => other.map_err(io),
    }
}

/// Reads a file.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads a private key file, refusing one that its group or others may read.
pub(crate) fn read_key_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    let meta = fs::metadata(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ReadError::KeyFileTooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    read_file(path)
}
