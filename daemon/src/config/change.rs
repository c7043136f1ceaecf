//! What a reload would change (issue 15, item 3): the config in force against the one just
//! read, as a list of what to do, or the keys that need a restart. Pure: the shell
//! (`node/reload.rs`) reads the files, digests the TLS files and applies the result.

use std::collections::BTreeSet;

use bluehelm_proto::{GroupName, NodeId};

use super::NodeConfig;

/// SHA-256 of each file the node's TLS identity and trust are read from, taken by the shell
/// when it loads them: a certificate renewed in place keeps its path, so paths alone do not
/// tell that it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsDigests {
    pub certificate: [u8; 32],
    pub key: [u8; 32],
    pub ca: [u8; 32],
    pub crl: [u8; 32],
}

/// What changes when a new config is put in force. Every list is sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChange {
    /// Peers the new config lists and the old did not: dialled if they have an address.
    pub peers_added: Vec<NodeId>,
    /// Peers the old config listed and the new does not: their link closes, their dial loop
    /// stops, and what is queued for them stays in the store.
    pub peers_removed: Vec<NodeId>,
    /// Peers whose address changed: redialled at the new one.
    pub peers_readdressed: Vec<NodeId>,
    /// Groups added, removed, or whose members changed.
    pub groups: Vec<GroupName>,
    /// The other keys that changed and take effect at once, by their config names.
    pub keys: Vec<&'static str>,
    /// The certificate or key changed (path or content): new links present the new one.
    pub identity: bool,
    /// The CA or CRL changed (path or content): put in force for new links and envelopes.
    pub trust: bool,
}

impl ConfigChange {
    /// Whether the new config is the one in force.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Whether new TLS settings must be built (identity or trust changed).
    pub fn tls(&self) -> bool {
        self.identity || self.trust
    }
}

/// A reload refused because keys changed that only a restart applies: the config in force
/// stays whole (nothing of the new one is applied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} cannot change while the node runs: restart the node to apply {}; the config in force stays",
    quoted(.keys),
    if .keys.len() == 1 { "it" } else { "them" }
)]
pub struct NeedsRestart {
    /// The keys, by their config names, in the order of the file's reference.
    pub keys: Vec<&'static str>,
}

fn quoted(keys: &[&'static str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What putting `new` in force in place of `old` changes, or the keys that need a restart.
/// `old_files` and `new_files` digest the TLS files each config names.
pub fn diff(
    old: &NodeConfig,
    new: &NodeConfig,
    old_files: &TlsDigests,
    new_files: &TlsDigests,
) -> Result<ConfigChange, NeedsRestart> {
    needs_restart(old, new)?;
    let (peers_added, peers_removed, peers_readdressed) = peer_changes(old, new);
    Ok(ConfigChange {
        peers_added,
        peers_removed,
        peers_readdressed,
        groups: group_changes(old, new),
        keys: live_keys_changed(old, new),
        identity: old.tls.certificate != new.tls.certificate
            || old.tls.key != new.tls.key
            || old_files.certificate != new_files.certificate
            || old_files.key != new_files.key,
        trust: old.tls.ca != new.tls.ca
            || old.tls.crl != new.tls.crl
            || old_files.ca != new_files.ca
            || old_files.crl != new_files.crl,
    })
}

/// Refuses `new` if it changes a key only a restart applies. [`diff`] checks this too; the
/// shell asks first, so that a new `node_id` is named as such rather than as a certificate
/// for another node.
pub fn needs_restart(old: &NodeConfig, new: &NodeConfig) -> Result<(), NeedsRestart> {
    let keys = fixed_keys_changed(old, new);
    if keys.is_empty() {
        Ok(())
    } else {
        Err(NeedsRestart { keys })
    }
}

/// Keys read once at start: the sockets are bound, the store, audit log and field databases
/// open, the log set up, the reference services checked against the certificate's role.
fn fixed_keys_changed(old: &NodeConfig, new: &NodeConfig) -> Vec<&'static str> {
    let checks = [
        ("node_id", old.node_id != new.node_id),
        ("listen", old.listen != new.listen),
        ("storage", old.storage != new.storage),
        ("api_socket", old.api_socket != new.api_socket),
        (
            "terminal_listen",
            old.terminal_listen != new.terminal_listen,
        ),
        ("metrics_listen", old.metrics_listen != new.metrics_listen),
        ("log_format", old.log_format != new.log_format),
        (
            "limits.custody_log_file_mib",
            old.limits.custody_log_file_bytes != new.limits.custody_log_file_bytes,
        ),
        (
            "limits.store_cache_mib",
            old.limits.store_cache_bytes != new.limits.store_cache_bytes,
        ),
        (
            "reference_services",
            old.reference_services != new.reference_services,
        ),
        ("databases", old.databases != new.databases),
        ("audit", old.audit != new.audit),
    ];
    checks
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
}

/// Keys read at each decision, handshake or request: in force as soon as the config is.
fn live_keys_changed(old: &NodeConfig, new: &NodeConfig) -> Vec<&'static str> {
    let (a, b) = (&old.routing, &new.routing);
    let checks = [
        ("routes", a.routes != b.routes),
        (
            "default_route",
            a.default_route != b.default_route || a.default_alternates != b.default_alternates,
        ),
        ("services", a.services != b.services),
        ("policy", old.policy != new.policy),
        (
            "accept_unknown_peers",
            old.accept_unknown_peers != new.accept_unknown_peers,
        ),
        (
            "limits.max_frame_bytes",
            old.limits.max_frame_bytes != new.limits.max_frame_bytes,
        ),
        (
            "limits.queue_quota",
            old.limits.queue_quota != new.limits.queue_quota,
        ),
        (
            "limits.max_peers",
            old.limits.max_peers != new.limits.max_peers,
        ),
        (
            "limits.min_free_disk_mib",
            old.limits.min_free_disk_bytes != new.limits.min_free_disk_bytes,
        ),
        (
            "limits.failover_after_secs",
            old.limits.failover_after_secs != new.limits.failover_after_secs,
        ),
        (
            "tls.previous_encryption_keys",
            old.tls.previous_encryption_keys != new.tls.previous_encryption_keys,
        ),
        (
            "tls.encryption_key",
            old.tls.encryption_key != new.tls.encryption_key,
        ),
        ("tls.directory", old.tls.directory != new.tls.directory),
    ];
    checks
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
}

/// Added, removed and readdressed peers, each sorted.
fn peer_changes(old: &NodeConfig, new: &NodeConfig) -> (Vec<NodeId>, Vec<NodeId>, Vec<NodeId>) {
    let find = |config: &NodeConfig, node: &NodeId| {
        config
            .peers
            .iter()
            .find(|p| &p.node == node)
            .map(|p| p.address.clone())
    };
    let mut added = Vec::new();
    let mut readdressed = Vec::new();
    for peer in &new.peers {
        match find(old, &peer.node) {
            None => added.push(peer.node.clone()),
            Some(address) if address != peer.address => readdressed.push(peer.node.clone()),
            Some(_) => {}
        }
    }
    let mut removed: Vec<NodeId> = old
        .peers
        .iter()
        .filter(|p| find(new, &p.node).is_none())
        .map(|p| p.node.clone())
        .collect();
    added.sort();
    removed.sort();
    readdressed.sort();
    (added, removed, readdressed)
}

/// Groups whose member list differs (added and removed groups included).
fn group_changes(old: &NodeConfig, new: &NodeConfig) -> Vec<GroupName> {
    let (a, b) = (&old.routing.groups, &new.routing.groups);
    let names: BTreeSet<&GroupName> = a.keys().chain(b.keys()).collect();
    names
        .into_iter()
        .filter(|name| a.get(*name) != b.get(*name))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
