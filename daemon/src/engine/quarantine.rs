//! Quarantine for an overrun post (issue 14, item 3): which messages a rule "node X is
//! compromised since T" catches, where a held copy was going, and the hub's signed warning
//! that carries a rule to the other nodes. Pure: the custody shell asks [`Rules::catches`]
//! about each arrival, the store asks it about what it holds, and the ledger moves caught
//! copies into a keyspace of their own (`Write::Quarantine`, `Write::Hold`).
//!
//! A message's creation time is the first 48 bits of its id (Unix ms): the origin wrote it,
//! so an overrun post can lie about it, but only backwards, and a rule's `since` is chosen
//! by the operator with that in mind (the time the post was lost, or earlier).

use std::collections::{BTreeMap, BTreeSet};

use bluehelm_proto::{MessageId, NodeId};

use crate::engine::routing::{RoutePattern, RoutingTable};

#[cfg(test)]
mod tests;

/// One rule: messages from `node` created at or after `since_ms` (Unix ms) are held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub node: NodeId,
    pub since_ms: i64,
}

/// The rules in force at a node: per node, the earliest time given (a second rule for the
/// same node can only widen what is held, never release anything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules(BTreeMap<NodeId, i64>);

impl Rules {
    /// Adds `rule`; whether it changed what is caught (a later `since` for a node already
    /// ruled changes nothing).
    pub fn add(&mut self, rule: Rule) -> bool {
        match self.0.get(&rule.node) {
            Some(since) if *since <= rule.since_ms => false,
            _ => {
                self.0.insert(rule.node, rule.since_ms);
                true
            }
        }
    }

    /// Whether a message from `origin` created at `created_ms` is held.
    pub fn catches_at(&self, origin: &NodeId, created_ms: i64) -> bool {
        self.0.get(origin).is_some_and(|since| created_ms >= *since)
    }

    /// Whether the message `id` from `origin` is held (its creation time is in its id).
    pub fn catches(&self, origin: &NodeId, id: &MessageId) -> bool {
        let created = i64::try_from(id.timestamp_ms()).unwrap_or(i64::MAX);
        self.catches_at(origin, created)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Rule> + '_ {
        self.0.iter().map(|(node, since)| Rule {
            node: node.clone(),
            since_ms: *since,
        })
    }
}

impl FromIterator<Rule> for Rules {
    fn from_iter<I: IntoIterator<Item = Rule>>(iter: I) -> Self {
        let mut rules = Rules::default();
        for rule in iter {
            rules.add(rule);
        }
        rules
    }
}

/// Where a held copy was going, and goes back to on release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldFor {
    /// The queue of this next hop.
    Hop(NodeId),
    /// This node's inbox.
    Inbox,
}

impl HeldFor {
    /// `i`, or `q` + the hop's id: the prefix of a held copy's stored value.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            HeldFor::Inbox => out.push(b'i'),
            HeldFor::Hop(hop) => {
                let id = hop.as_str().as_bytes();
                out.push(b'q');
                // Node ids are at most 63 bytes (bluehelm_proto::NodeId).
                out.push(id.len() as u8);
                out.extend_from_slice(id);
            }
        }
    }

    /// Reads one back: it and the bytes after it.
    pub fn decode(bytes: &[u8]) -> Option<(Self, &[u8])> {
        match bytes.split_first()? {
            (b'i', rest) => Some((HeldFor::Inbox, rest)),
            (b'q', rest) => {
                let (len, rest) = rest.split_first()?;
                let len = usize::from(*len);
                if rest.len() < len {
                    return None;
                }
                let hop = std::str::from_utf8(&rest[..len]).ok()?.parse().ok()?;
                Some((HeldFor::Hop(hop), &rest[len..]))
            }
            _ => None,
        }
    }

    /// In words, for the operator.
    pub fn describe(&self) -> String {
        match self {
            HeldFor::Inbox => "the inbox".to_owned(),
            HeldFor::Hop(hop) => format!("the queue for {hop}"),
        }
    }
}

/// The subject line of the hub's warning. The warning is a text message from the hub to each
/// neighbour, at FLASH: it travels, is signed and is stored like any message (a post offline
/// when it is sent gets it when its link returns), and needs no new message kind on the wire.
pub const WARNING_SUBJECT: &str = "bluehelm quarantine warning";

/// The body of a warning for `rule`: two lines, `node X` and `since T` (Unix ms).
pub fn warning_body(rule: &Rule) -> String {
    format!("node {}\nsince {}\n", rule.node, rule.since_ms)
}

/// The nodes the hub warns of `compromised`: every node its routing knows by name (its
/// neighbours, the members of its groups and the nodes with a route of their own), so that a
/// post behind a relay is warned through it; never itself or the compromised node.
pub fn warning_targets(routing: &RoutingTable, compromised: &NodeId) -> BTreeSet<NodeId> {
    let named_routes = routing.routes.iter().filter_map(|r| match &r.pattern {
        RoutePattern::Exact(node) => Some(node),
        RoutePattern::Prefix(_) => None,
    });
    routing
        .neighbours
        .iter()
        .chain(routing.groups.values().flatten())
        .chain(named_routes)
        .filter(|node| *node != compromised && Some(*node) != routing.me.as_ref())
        .cloned()
        .collect()
}

/// Why a warning is not acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarningError {
    #[error("not signed by the hub role")]
    NotHub,
    #[error("its body is not `node X` and `since T`")]
    Malformed,
}

/// The rule a warning carries, if it may be acted on: only one signed by a certificate of
/// the hub role (the shell passes what the verified signer's certificate says).
pub fn warning_rule(signer_is_hub: bool, body: &str) -> Result<Rule, WarningError> {
    if !signer_is_hub {
        return Err(WarningError::NotHub);
    }
    let mut node = None;
    let mut since = None;
    for line in body.lines() {
        match line.split_once(' ') {
            Some(("node", v)) => node = v.trim().parse::<NodeId>().ok(),
            Some(("since", v)) => since = v.trim().parse::<i64>().ok(),
            _ => {}
        }
    }
    match (node, since) {
        (Some(node), Some(since_ms)) => Ok(Rule { node, since_ms }),
        _ => Err(WarningError::Malformed),
    }
}
