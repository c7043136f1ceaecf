//! How much disk and memory a store may use: the two custody log files and sled's cache
//! (`[limits] custody_log_file_mib` and `store_cache_mib`).

use super::log::DEFAULT_FILE_BYTES;

/// sled's page cache by default. sled counts it by the size of its pages on disk, and since
/// message records went to value files (`values.rs`) its pages hold short pointers, which take
/// several times their disk size in memory: with 32 MiB a hub holding 600,000 copies for a
/// post reached 266 MiB, with 8 MiB 185 (issue 16, 2026-12-04). A hub draining a million
/// reads each once, in key order, so a large cache buys little there.
pub const DEFAULT_CACHE_BYTES: u64 = 8 * 1024 * 1024;

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
