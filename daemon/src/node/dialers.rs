//! The node's dial loops, one per configured peer with an address, each with its own stop:
//! started at start, and started, stopped or restarted by a reload (issue 15, item 3)
//! without touching the others.

use std::collections::HashMap;
use std::sync::Arc;

use bluehelm_proto::NodeId;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::PeerConfig;
use crate::custody::LinkHandle;
use crate::net::endpoint;
use crate::net::links::Links;

/// The dial loops running, by peer.
pub(super) struct Dialers {
    core: LinkHandle,
    links: Arc<Links>,
    endpoint: quinn::Endpoint,
    tasks: TaskTracker,
    running: HashMap<NodeId, CancellationToken>,
}

impl Dialers {
    /// No dial loop yet; those started run on `tasks` and stop with the node.
    pub fn new(
        core: LinkHandle,
        links: Arc<Links>,
        endpoint: quinn::Endpoint,
        tasks: TaskTracker,
    ) -> Self {
        Self {
            core,
            links,
            endpoint,
            tasks,
            running: HashMap::new(),
        }
    }

    /// Starts dialling `peer` if it has an address (a peer without one dials in).
    pub fn start(&mut self, peer: &PeerConfig) {
        let Some(address) = peer.address.clone() else {
            return;
        };
        let stop = self.core.cancel().child_token();
        if let Some(previous) = self.running.insert(peer.node.clone(), stop.clone()) {
            previous.cancel();
        }
        self.tasks.spawn(endpoint::dial_loop(
            self.core.clone(),
            self.links.clone(),
            self.endpoint.clone(),
            peer.node.clone(),
            address,
            stop,
        ));
    }

    /// Stops dialling `peer`; whether a dial loop was running. A link it serves stays up
    /// until its connection is closed.
    pub fn stop(&mut self, peer: &NodeId) -> bool {
        match self.running.remove(peer) {
            Some(stop) => {
                stop.cancel();
                true
            }
            None => false,
        }
    }
}
