//! The `[databases]` table (issue 13): which hub sequences this node's records, and which
//! field databases this node keeps a replica of. A replica syncs over its link with the hub,
//! so the hub must be one of its `[[peers]]`.
//!
//! ```toml
//! [databases]
//! hub = "gs"                    # default
//! replicate = ["sltd", "smv"]   # default: none
//! ```

use std::collections::BTreeSet;

use bluehelm_proto::{Database, NodeId};
use serde::Deserialize;

use super::{invalid, node_id, ConfigError};

/// The hub a config names when it names none.
const DEFAULT_HUB: &str = "gs";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DatabasesFile {
    hub: Option<String>,
    #[serde(default)]
    replicate: Vec<String>,
}

/// The validated `[databases]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Databases {
    /// The hub: it sequences this node's imports and serves its replicas.
    pub hub: NodeId,
    /// The databases this node replicates.
    pub replicate: BTreeSet<Database>,
}

pub(super) fn validate(
    file: DatabasesFile,
    me: &NodeId,
    neighbours: &BTreeSet<NodeId>,
) -> Result<Databases, ConfigError> {
    let hub = node_id("databases.hub", file.hub.as_deref().unwrap_or(DEFAULT_HUB))?;
    let mut replicate = BTreeSet::new();
    for name in &file.replicate {
        let database: Database = name
            .parse()
            .map_err(|e| invalid("databases.replicate", format!("{e}")))?;
        if !replicate.insert(database) {
            return Err(invalid(
                "databases.replicate",
                format!("{database} is listed twice"),
            ));
        }
    }
    if !replicate.is_empty() {
        if hub == *me {
            return Err(invalid(
                "databases.replicate",
                "the hub holds every database itself and replicates none; remove replicate",
            ));
        }
        if !neighbours.contains(&hub) {
            return Err(invalid(
                "databases.replicate",
                format!("a replica syncs over its link with the hub: add {hub} to [[peers]]"),
            ));
        }
    }
    Ok(Databases { hub, replicate })
}
