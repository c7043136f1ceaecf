//! The `[audit]` table (issue 14, item 5): the audit log is on unless turned off, and
//! signs a checkpoint every `checkpoint_seconds`.

use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ConfigError};

/// Default time between signed checkpoints: what a node that rewrites its log can hide at
/// most, against one small request to gs per node and interval.
pub const DEFAULT_CHECKPOINT_SECONDS: u64 = 60;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct AuditFile {
    enabled: bool,
    checkpoint_seconds: u64,
}

impl Default for AuditFile {
    fn default() -> Self {
        Self {
            enabled: true,
            checkpoint_seconds: DEFAULT_CHECKPOINT_SECONDS,
        }
    }
}

/// Whether the node keeps an audit log, and how often it signs a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditConfig {
    pub enabled: bool,
    pub checkpoint_every: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            checkpoint_every: Duration::from_secs(DEFAULT_CHECKPOINT_SECONDS),
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
    Ok(AuditConfig {
        enabled: file.enabled,
        checkpoint_every: Duration::from_secs(file.checkpoint_seconds),
    })
}
