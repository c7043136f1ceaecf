//! The `[audit]` table (issue 14, item 5): the audit log is on unless turned off, signs a
//! checkpoint every `checkpoint_seconds`, and starts a new file past `rotate_mib`.

use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ConfigError};

/// Default time between signed checkpoints: what a node that rewrites its log can hide at
/// most, against one small request to gs per node and interval.
pub const DEFAULT_CHECKPOINT_SECONDS: u64 = 60;

/// Default size past which the log's file is set aside and a new one started: a hub
/// relaying 10,000 msg/s writes about 6 MB of entries a second, so about one file every
/// 45 s at full load, and files small enough to move, compress or archive one by one.
pub const DEFAULT_ROTATE_MIB: u64 = 256;
/// The largest `rotate_mib`: 1 TiB.
const MAX_ROTATE_MIB: u64 = 1 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct AuditFile {
    enabled: bool,
    checkpoint_seconds: u64,
    rotate_mib: u64,
}

impl Default for AuditFile {
    fn default() -> Self {
        Self {
            enabled: true,
            checkpoint_seconds: DEFAULT_CHECKPOINT_SECONDS,
            rotate_mib: DEFAULT_ROTATE_MIB,
        }
    }
}

/// Whether the node keeps an audit log, how often it signs a checkpoint, and the size past
/// which it starts a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditConfig {
    pub enabled: bool,
    pub checkpoint_every: Duration,
    /// 0: one file, never set aside.
    pub rotate_bytes: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            checkpoint_every: Duration::from_secs(DEFAULT_CHECKPOINT_SECONDS),
            rotate_bytes: DEFAULT_ROTATE_MIB << 20,
        }
    }
}

pub(super) fn validate(file: AuditFile) -> Result<AuditConfig, ConfigError> {
    if !(1..=86_400).contains(&file.checkpoint_seconds) {
        return Err(invalid(
            "audit.checkpoint_seconds",
            "must be between 1 and 86400 (a day)",
        ));
    }
    if file.rotate_mib > MAX_ROTATE_MIB {
        return Err(invalid(
            "audit.rotate_mib",
            "must be at most 1048576 (1 TiB), or 0 for one file never set aside",
        ));
    }
    Ok(AuditConfig {
        enabled: file.enabled,
        checkpoint_every: Duration::from_secs(file.checkpoint_seconds),
        rotate_bytes: file.rotate_mib << 20,
    })
}
