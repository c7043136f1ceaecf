//! The link table: which peers have a live link, by which QUIC connection, and the TLS
//! settings for dialling. net's own state (issue 11, item 4); the node's CRL watcher and
//! the API's status reach it through [`Links`]'s methods and [`LinkedPeers`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bluehelm_proto::NodeId;
use quinn::{ClientConfig, Connection};

use super::crl::CrlExchange;
use crate::custody::LinkedPeers;
use crate::engine::outage::{Outage, Outages};

/// A live link: its connection, so that a newer one can replace it.
struct LinkSlot {
    connection: Connection,
    generation: u64,
}

/// The live links of a node and its dialling settings. Locked once per link up, link down
/// or dial, never per message.
pub struct Links {
    table: Mutex<HashMap<NodeId, LinkSlot>>,
    /// Peers whose link is down, since when (issue 15): kept here, not in a dial loop, so
    /// that a link the peer dials back in also reports how long it was down.
    outages: Mutex<Outages>,
    /// TLS settings for dialling; replaced when a new CRL comes into force.
    client_config: Mutex<ClientConfig>,
    /// The CRL in force, sent first on every link, and the way to the node's CRL task.
    crl: Arc<CrlExchange>,
}

impl Links {
    /// No links yet; dials use `client_config` until [`Links::set_client_config`].
    pub fn new(client_config: ClientConfig, crl: CrlExchange) -> Self {
        Self {
            table: Mutex::default(),
            outages: Mutex::default(),
            client_config: Mutex::new(client_config),
            crl: Arc::new(crl),
        }
    }

    /// The CRL in force, as links send it, and the way CRLs from peers go to the node.
    pub fn crl(&self) -> &Arc<CrlExchange> {
        &self.crl
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, LinkSlot>> {
        // A panic while the lock was held left the map whole (every update is one call).
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `peer` has a live link now.
    pub fn is_linked(&self, peer: &NodeId) -> bool {
        self.table().contains_key(peer)
    }

    /// How many peers have a live link now.
    pub fn count(&self) -> usize {
        self.table().len()
    }

    /// The connection of `peer`'s live link.
    pub fn connection(&self, peer: &NodeId) -> Option<Connection> {
        self.table().get(peer).map(|slot| slot.connection.clone())
    }

    /// Every live link's peer and connection (for the CRL watcher's check).
    pub fn connections(&self) -> Vec<(NodeId, Connection)> {
        self.table()
            .iter()
            .map(|(peer, slot)| (peer.clone(), slot.connection.clone()))
            .collect()
    }

    /// Registers `connection` as `peer`'s link; returns the link it replaces.
    pub(super) fn insert(&self, peer: NodeId, connection: Connection) -> Option<Connection> {
        let generation = connection.stable_id() as u64;
        let slot = LinkSlot {
            connection,
            generation,
        };
        self.table().insert(peer, slot).map(|old| old.connection)
    }

    /// Removes `peer`'s link if it is still `connection` (not a newer one); whether it was
    /// (a link replaced by a newer one is not a loss).
    pub(super) fn remove(&self, peer: &NodeId, connection: &Connection) -> bool {
        let generation = connection.stable_id() as u64;
        let mut table = self.table();
        let current = table.get(peer).is_some_and(|s| s.generation == generation);
        if current {
            table.remove(peer);
        }
        current
    }

    fn outages(&self) -> std::sync::MutexGuard<'_, Outages> {
        // As `table`: every update is one call.
        self.outages.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `peer`'s link went down (or a first dial failed) at `now_ms`; an outage already
    /// under way keeps its start.
    pub(super) fn lost(&self, peer: &NodeId, now_ms: i64) -> Outage {
        self.outages().lost(peer, now_ms)
    }

    /// A dial of `peer` failed at `now_ms`: the outage, and whether to warn about it now
    /// (the first failure of a link never made, then [`Outage::redial_failed`]'s rhythm).
    pub(super) fn redial_failed(&self, peer: &NodeId, now_ms: i64) -> (Outage, bool) {
        self.outages().redial_failed(peer, now_ms)
    }

    /// `peer`'s link is up again: the outage it ends, if there was one.
    pub(super) fn recovered(&self, peer: &NodeId) -> Option<Outage> {
        self.outages().recovered(peer)
    }

    /// The TLS settings to dial with now.
    pub fn client_config(&self) -> ClientConfig {
        self.client_config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Dials from now on use `config` (a new CRL came into force).
    pub fn set_client_config(&self, config: ClientConfig) {
        *self.client_config.lock().unwrap_or_else(|p| p.into_inner()) = config;
    }
}

impl LinkedPeers for Links {
    fn linked_peers(&self) -> Vec<NodeId> {
        let mut peers: Vec<NodeId> = self.table().keys().cloned().collect();
        peers.sort();
        peers
    }
}
