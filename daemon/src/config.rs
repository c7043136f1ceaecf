//! Node configuration in two layers: the TOML file as written (`FileConfig`, unknown keys
//! refused) and the validated `NodeConfig` the node runs with (ids parsed, paths resolved
//! against the config file's folder, cross-field rules checked).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bluehelm_proto::framing::{DEFAULT_MAX_FRAME, HARD_MAX_FRAME};
use bluehelm_proto::{GroupName, NodeId, ServiceName};
use serde::Deserialize;

use crate::engine::policy::Policy;
use crate::engine::routing::{Route, RoutePattern, RoutingTable};

mod audit;
pub mod change;
mod databases;
pub mod live;
mod peer_address;
mod policy;

pub use audit::AuditConfig;

pub use databases::Databases;
pub use peer_address::PeerAddress;

/// Why a config file cannot be used. Each message names the key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    node_id: String,
    /// Address to listen on; a node that only dials out (a mission post behind NAT) omits it.
    listen: Option<SocketAddr>,
    /// Folder of the node's sled store.
    storage: PathBuf,
    /// Unix socket of the local API (issue 4); default `<storage>/api.sock`.
    api_socket: Option<PathBuf>,
    /// TCP address on which the same API is offered to terminals with mutual TLS (issue 4);
    /// absent (the default): no TCP listener.
    terminal_listen: Option<SocketAddr>,
    /// TCP address of the metrics and health listener (`/metrics`, `/healthz`, issue 15);
    /// absent (the default): no listener.
    metrics_listen: Option<SocketAddr>,
    tls: TlsFile,
    #[serde(default)]
    peers: Vec<PeerFile>,
    /// Whether nodes certified by the network CA but not listed in `peers` may connect.
    #[serde(default)]
    accept_unknown_peers: bool,
    /// Where messages for nodes that no route names go: a peer, or an ordered list of a
    /// primary and its alternates (issue 15, item 7).
    default_route: Option<NextHops>,
    /// Static routes: node id or wildcard (`ncb.*`), or `"*"` for the default route = next
    /// hop, or an ordered list of a primary and its alternates (`"*" = ["gs", "gs-b"]`).
    #[serde(default)]
    routes: BTreeMap<String, NextHops>,
    /// Groups this node fans out: group name = member node ids.
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
    /// Services known to this node: service name = hosting node id.
    #[serde(default)]
    services: BTreeMap<String, String>,
    #[serde(default)]
    limits: LimitsFile,
    /// Reference databases this node answers itself (issue 4, section 4).
    #[serde(default)]
    reference_services: ReferenceServices,
    /// Who may send what (issue 12); absent: the defaults of `engine::policy`.
    #[serde(default)]
    policy: policy::PolicyFile,
    /// The field databases' hub and this node's replicas (issue 13).
    #[serde(default)]
    databases: databases::DatabasesFile,
    /// The audit log (issue 14); absent: on, a checkpoint a minute.
    #[serde(default)]
    audit: audit::AuditFile,
    /// How `bluehelm run` writes its log lines (issue 15): `"text"` (the default) or `"json"`.
    #[serde(default)]
    log_format: LogFormat,
}

/// How a node writes its log on stderr (issue 15, item 2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line per event for people; colours only when stderr is a terminal.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The built-in reference databases a node answers itself, without an application on
/// `ServeRequests`: `sltd` answers `sltd.check`, `smv` answers `smv.check`. Each one enabled
/// must also be listed under `[services]` with this node's id, so that requests reach it.
/// Both off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReferenceServices {
    /// Stolen and lost travel documents (`sltd.check`).
    pub sltd: bool,
    /// Stolen motor vehicles (`smv.check`).
    pub smv: bool,
    /// Persons and the subjects of notices (`nominal.check`, issue 13).
    pub persons: bool,
    /// DNA profiles (`dna.check`, issue 13).
    pub dna: bool,
}

/// A route's value as written: one next hop, or a primary followed by its alternates.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a peer's node id, or an ordered list of peers' node ids"
)]
enum NextHops {
    One(String),
    Ordered(Vec<String>),
}

/// The key of `[routes]` that names the default route.
const ANY_NODE: &str = "*";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    certificate: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    crl: PathBuf,
    /// The X25519 key that opens sealed messages (issue 14, item 4), written by `pki issue`
    /// as `<node>.enc.key`; absent: this node cannot read sealed messages (and says so).
    encryption_key: Option<PathBuf>,
    /// Encryption keys of this node's earlier certificates (`pki rotate`), kept to read what
    /// was sealed to them before the switch.
    #[serde(default)]
    previous_encryption_keys: Vec<PathBuf>,
    /// The sealing directory (`bluehelm pki directory`); absent: this node cannot seal.
    directory: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerFile {
    node: String,
    /// Dial this address (`ip:port` or `name:port`); without it, wait for the peer to dial
    /// in.
    address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LimitsFile {
    max_frame_bytes: usize,
    queue_quota: usize,
    max_peers: usize,
    custody_log_file_mib: u64,
    store_cache_mib: u64,
    min_free_disk_mib: u64,
    failover_after_secs: u64,
}

impl Default for LimitsFile {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            max_frame_bytes: limits.max_frame_bytes,
            queue_quota: limits.queue_quota,
            max_peers: limits.max_peers,
            custody_log_file_mib: limits.custody_log_file_bytes / MIB,
            store_cache_mib: limits.store_cache_bytes / MIB,
            min_free_disk_mib: limits.min_free_disk_bytes / MIB,
            failover_after_secs: limits.failover_after_secs,
        }
    }
}

const MIB: u64 = 1024 * 1024;

/// Paths of the node's PKI files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub crl: PathBuf,
    /// The decryption key of sealed messages; `None`: none configured.
    pub encryption_key: Option<PathBuf>,
    /// Decryption keys of earlier certificates, tried when a message was sealed to one.
    pub previous_encryption_keys: Vec<PathBuf>,
    /// The sealing directory; `None`: none configured.
    pub directory: Option<PathBuf>,
}

/// A configured neighbour.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub node: NodeId,
    pub address: Option<PeerAddress>,
}

/// Resource limits of a node.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest link frame accepted (bytes): at least 4 MiB, so that every message fits, and at
    /// most the protocol's hard cap.
    pub max_frame_bytes: usize,
    /// Most messages one next hop's queue may hold before new ones are refused (temporarily).
    pub queue_quota: usize,
    /// Most simultaneous links.
    pub max_peers: usize,
    /// Size of each of the two custody log files (bytes, whole MiB): zero-filled when the
    /// store is created, so that commits overwrite blocks the files already have; a
    /// checkpoint starts once half a file is written (see store/log.rs). At least
    /// [`crate::store::MIN_LOG_FILE_BYTES`] and twice `max_frame_bytes`, so that the round
    /// which starts a checkpoint still fits in the file.
    pub custody_log_file_bytes: u64,
    /// The store's page cache in sled (bytes, whole MiB): the largest share of a hub's
    /// memory besides its queue index. At least [`crate::store::MIN_STORE_CACHE_BYTES`].
    pub store_cache_bytes: u64,
    /// Free space the file system holding the storage directory must keep (bytes, whole
    /// MiB): below it the node takes no new custody and says "retry later", so that sled
    /// never meets a full disk in the middle of a write. Zero: no reserve.
    pub min_free_disk_bytes: u64,
    /// How long a route's primary next hop may be silent (its link down) before traffic
    /// goes to the route's alternates (issue 15, item 7); at least 1 s.
    pub failover_after_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: bluehelm_proto::framing::DEFAULT_MAX_FRAME,
            // A mission post offline for days: 1M queued notices is a few GiB at most.
            queue_quota: 1_000_000,
            max_peers: 256,
            custody_log_file_bytes: crate::store::DEFAULT_LOG_FILE_BYTES,
            store_cache_bytes: crate::store::DEFAULT_STORE_CACHE_BYTES,
            // As RabbitMQ's disk_free_limit: enough for sled's next segments and a few
            // rounds of the largest frames.
            min_free_disk_bytes: 64 * MIB,
            failover_after_secs: crate::engine::failover::DEFAULT_FAILOVER_AFTER_SECS,
        }
    }
}

impl Limits {
    /// The sizes the store opens with.
    pub fn store_sizes(&self) -> crate::store::StoreSizes {
        crate::store::StoreSizes {
            log_file_bytes: self.custody_log_file_bytes,
            cache_bytes: self.store_cache_bytes,
        }
    }
}

/// A validated node configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub node_id: NodeId,
    pub listen: Option<SocketAddr>,
    pub storage: PathBuf,
    /// Unix socket of the local API for bureau applications (mode 0660).
    pub api_socket: PathBuf,
    /// TCP address of the API for terminals (mutual TLS 1.3, certificates of role `terminal`
    /// issued for this node); `None`: terminals have no way in.
    pub terminal_listen: Option<SocketAddr>,
    /// TCP address serving Prometheus text on `/metrics` and readiness on `/healthz`
    /// (plain HTTP: bind it to loopback or a management network); `None`: off.
    pub metrics_listen: Option<SocketAddr>,
    pub tls: TlsFiles,
    pub peers: Vec<PeerConfig>,
    pub accept_unknown_peers: bool,
    pub routing: RoutingTable,
    pub limits: Limits,
    /// Reference databases answered by the node itself (see `crate::services`).
    pub reference_services: ReferenceServices,
    /// The role policy every message is checked against (`[policy]`, issue 12).
    pub policy: Policy,
    /// The field databases' hub and this node's replicas (`[databases]`, issue 13).
    pub databases: Databases,
    /// The audit log (`[audit]`, issue 14).
    pub audit: AuditConfig,
    /// The log's format (`log_format`, issue 15).
    pub log_format: LogFormat,
    /// The file this config was read from ([`NodeConfig::load`]); `None` for one parsed
    /// from text. A reload (SIGHUP, `bluehelm reload`) reads it again.
    pub source: Option<PathBuf>,
}

impl NodeConfig {
    /// Reads and validates a config file; relative paths are taken from the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = Self::parse(&text, base).map_err(|err| match err {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Parses config text; relative paths are taken from `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        file.validate(base)
    }
}

fn node_id(key: &str, text: &str) -> Result<NodeId, ConfigError> {
    text.parse()
        .map_err(|e| invalid(key, format!("{text:?} is not a node id ({e})")))
}

impl FileConfig {
    fn validate(self, base: &Path) -> Result<NodeConfig, ConfigError> {
        let me = node_id("node_id", &self.node_id)?;
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };

        let mut peers = Vec::new();
        let mut neighbours = BTreeSet::new();
        for (i, peer) in self.peers.into_iter().enumerate() {
            let node = node_id(&format!("peers[{i}].node"), &peer.node)?;
            if node == me {
                return Err(invalid(
                    format!("peers[{i}].node"),
                    "a node cannot peer with itself",
                ));
            }
            if !neighbours.insert(node.clone()) {
                return Err(invalid(
                    format!("peers[{i}].node"),
                    format!("{node} is listed twice"),
                ));
            }
            let address = peer
                .address
                .map(|a| PeerAddress::parse(&a))
                .transpose()
                .map_err(|m| invalid(format!("peers[{i}].address"), m))?;
            peers.push(PeerConfig { node, address });
        }

        let mut routes = Vec::new();
        let mut default_route = self
            .default_route
            .map(|hops| next_hops("default_route", hops, &me, &neighbours))
            .transpose()?;
        for (pattern, hops) in self.routes {
            let key = format!("routes.\"{pattern}\"");
            let (via, alternates) = next_hops(&key, hops, &me, &neighbours)?;
            if pattern == ANY_NODE {
                if default_route.is_some() {
                    return Err(invalid(
                        &key,
                        "the default route is given twice: keep either `default_route` or \
                         `\"*\"` under [routes]",
                    ));
                }
                default_route = Some((via, alternates));
                continue;
            }
            let pattern = RoutePattern::parse(&pattern).map_err(|m| invalid(&key, m))?;
            routes.push(Route {
                pattern,
                via,
                alternates,
            });
        }
        // Most specific first: exact ids, then longer wildcard prefixes.
        routes.sort_by_key(|r| match &r.pattern {
            RoutePattern::Exact(_) => 0,
            RoutePattern::Prefix(p) => usize::MAX - p.len(),
        });
        let (default_route, default_alternates) = match default_route {
            Some((via, alternates)) => (Some(via), alternates),
            None => (None, Vec::new()),
        };

        let mut groups = BTreeMap::new();
        for (name, members) in self.groups {
            let key = format!("groups.{name}");
            let group: GroupName = name
                .parse()
                .map_err(|e| invalid(&key, format!("not a group name ({e})")))?;
            let members = members
                .iter()
                .map(|m| node_id(&key, m))
                .collect::<Result<Vec<_>, _>>()?;
            groups.insert(group, members);
        }

        let mut services = BTreeMap::new();
        for (name, host) in self.services {
            let key = format!("services.\"{name}\"");
            let service: ServiceName = name
                .parse()
                .map_err(|e| invalid(&key, format!("not a service name ({e})")))?;
            services.insert(service, node_id(&key, &host)?);
        }

        let reference_services = self.reference_services;
        for (enabled, key, name) in [
            (
                reference_services.sltd,
                "reference_services.sltd",
                "sltd.check",
            ),
            (
                reference_services.smv,
                "reference_services.smv",
                "smv.check",
            ),
            (
                reference_services.persons,
                "reference_services.persons",
                "nominal.check",
            ),
            (
                reference_services.dna,
                "reference_services.dna",
                "dna.check",
            ),
        ] {
            let hosted = name
                .parse::<ServiceName>()
                .ok()
                .and_then(|s| services.get(&s).cloned());
            if enabled && hosted.as_ref() != Some(&me) {
                return Err(invalid(
                    key,
                    format!("add \"{name}\" = \"{me}\" to [services], or this node gets no requests for it"),
                ));
            }
        }

        let limits = self.limits;
        // Every node must accept the largest message any node may send (see
        // bluehelm_proto::limits::MAX_ENVELOPE_LEN), or messages would be stranded.
        if limits.max_frame_bytes < DEFAULT_MAX_FRAME || limits.max_frame_bytes > HARD_MAX_FRAME {
            return Err(invalid(
                "limits.max_frame_bytes",
                format!("must be between {DEFAULT_MAX_FRAME} and {HARD_MAX_FRAME}"),
            ));
        }
        // See `Limits::custody_log_file_bytes`: smaller files would grow under load.
        let log_file_bytes = limits.custody_log_file_mib.saturating_mul(MIB);
        let least = crate::store::MIN_LOG_FILE_BYTES.max(2 * limits.max_frame_bytes as u64);
        if log_file_bytes < least {
            return Err(invalid(
                "limits.custody_log_file_mib",
                format!(
                    "must be at least {} (twice the largest round of the store: 8 MiB of \
                     writes, or one frame of max_frame_bytes)",
                    least.div_ceil(MIB)
                ),
            ));
        }
        let store_cache_bytes = limits.store_cache_mib.saturating_mul(MIB);
        if store_cache_bytes < crate::store::MIN_STORE_CACHE_BYTES {
            return Err(invalid(
                "limits.store_cache_mib",
                format!(
                    "must be at least {}: a smaller cache evicts the pages the store is still \
                     writing",
                    crate::store::MIN_STORE_CACHE_BYTES / MIB
                ),
            ));
        }
        if limits.failover_after_secs == 0 {
            return Err(invalid(
                "limits.failover_after_secs",
                "must be at least 1: a primary given up at its first lost packet would move \
                 traffic back and forth",
            ));
        }
        if limits.queue_quota == 0 || limits.max_peers == 0 {
            return Err(invalid(
                "limits",
                "queue_quota and max_peers must be at least 1",
            ));
        }

        let policy = policy::validate(self.policy)?;
        // Signed audit checkpoints go to the hub (issue 14): no config names that service.
        if let Ok(service) = crate::engine::audit::CHECKPOINT_SERVICE.parse::<ServiceName>() {
            services
                .entry(service)
                .or_insert_with(|| policy.hub_node.clone());
        }
        let databases = databases::validate(self.databases, &me, &neighbours)?;
        let audit = audit::validate(self.audit)?;

        Ok(NodeConfig {
            policy,
            databases,
            audit,
            log_format: self.log_format,
            source: None,
            routing: RoutingTable {
                me: Some(me.clone()),
                neighbours,
                routes,
                default_route,
                default_alternates,
                groups,
                services,
            },
            node_id: me,
            listen: self.listen,
            api_socket: match self.api_socket {
                Some(path) => resolve(path),
                None => resolve(self.storage.clone()).join("api.sock"),
            },
            terminal_listen: self.terminal_listen,
            metrics_listen: self.metrics_listen,
            storage: resolve(self.storage),
            tls: TlsFiles {
                certificate: resolve(self.tls.certificate),
                key: resolve(self.tls.key),
                ca: resolve(self.tls.ca),
                crl: resolve(self.tls.crl),
                encryption_key: self.tls.encryption_key.map(resolve),
                previous_encryption_keys: self
                    .tls
                    .previous_encryption_keys
                    .into_iter()
                    .map(resolve)
                    .collect(),
                directory: self.tls.directory.map(resolve),
            },
            peers,
            accept_unknown_peers: self.accept_unknown_peers,
            limits: Limits {
                max_frame_bytes: limits.max_frame_bytes,
                queue_quota: limits.queue_quota,
                max_peers: limits.max_peers,
                custody_log_file_bytes: log_file_bytes,
                store_cache_bytes,
                min_free_disk_bytes: limits.min_free_disk_mib.saturating_mul(MIB),
                failover_after_secs: limits.failover_after_secs,
            },
            reference_services,
        })
    }
}

/// A route's next hops as written under `key`: the primary and its alternates, each a
/// configured peer, none twice.
fn next_hops(
    key: &str,
    hops: NextHops,
    me: &NodeId,
    neighbours: &BTreeSet<NodeId>,
) -> Result<(NodeId, Vec<NodeId>), ConfigError> {
    let written = match hops {
        NextHops::One(via) => vec![via],
        NextHops::Ordered(list) => list,
    };
    let mut ordered: Vec<NodeId> = Vec::with_capacity(written.len());
    for via in &written {
        let via = node_id(key, via)?;
        check_next_hop(key, &via, me, neighbours)?;
        if ordered.contains(&via) {
            return Err(invalid(key, format!("next hop {via} is listed twice")));
        }
        ordered.push(via);
    }
    if ordered.is_empty() {
        return Err(invalid(
            key,
            "an empty list: name a peer, or a primary followed by its alternates",
        ));
    }
    let primary = ordered.remove(0);
    Ok((primary, ordered))
}

fn check_next_hop(
    key: &str,
    via: &NodeId,
    me: &NodeId,
    neighbours: &BTreeSet<NodeId>,
) -> Result<(), ConfigError> {
    if via == me {
        return Err(invalid(key, "a route cannot point at this node itself"));
    }
    if !neighbours.contains(via) {
        return Err(invalid(
            key,
            format!("next hop {via} is not in [[peers]]; add it as a peer or route via a peer"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
