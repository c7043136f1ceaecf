//! How much disk and memory a store may use: the two custody log files and sled's cache
//! (`[limits] custody_log_file_mib` and `store_cache_mib`).

use super::log::DEFAULT_FILE_BYTES;

/// sled's page cache by default. A hub draining a million queued messages reads each once, in
/// key order, so a large cache buys little there (issue 15: 1,000,000 drained at 12,995 msg/s
/// with 16 MiB and 13,423 with 64 MiB), while sled holds several times this in memory.
pub const DEFAULT_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// sled's page cache at least: below a few MiB sled evicts the pages a round is still using.
pub const MIN_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// The sizes a store opens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSizes {
    /// Each of the two custody log files (see `log.rs`).
    pub log_file_bytes: u64,
    /// sled's page cache (a target: sled may hold somewhat more).
    pub cache_bytes: u64,
}

impl Default for StoreSizes {
    fn default() -> Self {
        Self {
            log_file_bytes: DEFAULT_FILE_BYTES,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}
