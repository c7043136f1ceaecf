//! Release markings (issue 12, item 2): which copies of a marked message this node may make.
//! Pure: the node's own identity and the [`Directory`] of certified identities come in as
//! arguments.
//!
//! A [`ReleaseList`] admits the hub always, an NCB whose country is listed, a mission post
//! whose mission is listed, and any node whose role is listed. A mission post's host
//! country does not count: a mission is released to by its code. `custody::decide` calls
//! [`restrict`] after routing, so the rule holds wherever copies are made:
//! - a fan-out keeps a copy only for recipients the list admits, and withholds a copy from a
//!   recipient whose identity this node has not learned (it cannot tell, so it does not
//!   release);
//! - a message for one node outside the list is refused where that node's identity is known
//!   (at the origin if it knows it, at the hub which knows every linked node), and refused
//!   by a node about to hand it to that node itself without knowing who it is;
//! - a node outside the list refuses its own copy, so the origin hears why.

use std::collections::BTreeMap;

use bluehelm_pki::{NodeIdentity, Role};
use bluehelm_proto::{Destination, Envelope, NodeId, ReleaseList, ReleaseRole};

use super::policy::{Party, PolicyRefusal, Rule, HUB};
use super::routing::Hop;

#[cfg(test)]
mod tests;

/// What a node's certificate certifies about it, as the directory keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub role: Role,
    pub country: Option<String>,
    pub mission: Option<String>,
}

impl Member {
    pub fn of(identity: &NodeIdentity) -> Self {
        Self {
            role: identity.role,
            country: identity.country.clone(),
            mission: identity.mission.clone(),
        }
    }

    /// How the store keeps it: `role`, `country`, `mission`, separated by newlines (an
    /// absent one empty). Only checked certificates' attributes are ever encoded.
    pub fn encode(&self) -> Vec<u8> {
        let country = self.country.as_deref().unwrap_or("");
        let mission = self.mission.as_deref().unwrap_or("");
        format!("{}\n{country}\n{mission}", self.role).into_bytes()
    }

    /// Reads [`Member::encode`]'s form back; `None` if it is not that form.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.split('\n');
        let role = parts.next()?.parse().ok()?;
        let optional = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let country = optional(parts.next()?);
        let mission = optional(parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        bluehelm_pki::check_role_rules(role, country.as_deref(), mission.as_deref()).ok()?;
        Some(Self {
            role,
            country,
            mission,
        })
    }

    fn party<'a>(&'a self, node: &'a NodeId) -> Party<'a> {
        Party {
            node,
            role: self.role,
            country: self.country.as_deref(),
            mission: self.mission.as_deref(),
        }
    }
}

/// The certified identities of the nodes this node has linked with: the only way it knows
/// who a node id beyond its own is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    members: BTreeMap<NodeId, Member>,
}

impl Directory {
    /// The directory the store kept (see `Write::Identity`).
    pub fn from_entries(entries: impl IntoIterator<Item = (NodeId, Member)>) -> Self {
        Self {
            members: entries.into_iter().collect(),
        }
    }

    pub fn get(&self, node: &NodeId) -> Option<&Member> {
        self.members.get(node)
    }

    /// Records what a verified certificate says about `node`; true if that changed what the
    /// directory knew (a new node, or a reissued certificate with other attributes).
    pub fn learn(&mut self, node: NodeId, member: Member) -> bool {
        if self.members.get(&node) == Some(&member) {
            return false;
        }
        self.members.insert(node, member);
        true
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, &Member)> {
        self.members.iter()
    }
}

/// Whether `list` releases to the certified party.
pub fn admits(list: &ReleaseList, party: Party<'_>) -> bool {
    let listed_role = match party.role {
        Role::Hub => return true,
        Role::Ncb => ReleaseRole::Ncb,
        Role::Mission => ReleaseRole::Mission,
        // A terminal reads through its home node, which the list must admit itself.
        Role::Terminal => return false,
    };
    list.roles.contains(&listed_role)
        || match party.role {
            Role::Ncb => party.country.is_some_and(|c| list.names_country(c)),
            Role::Mission => party.mission.is_some_and(|m| list.names_mission(m)),
            Role::Hub | Role::Terminal => false,
        }
}

/// Why a copy was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithheldBecause {
    /// The recipient's certificate puts it outside the list.
    OutsideList,
    /// This node has never linked with the recipient, so it does not know who it is.
    IdentityUnknown,
}

/// Recipients a fan-out made no copy for.
pub type Withheld = Vec<(NodeId, WithheldBecause)>;

/// Removes the copies of a marked message that its release list does not allow, or refuses
/// it (rule `release-marking`) when what is left would be a copy for a node outside the
/// list. `hops` is the routing decision; `incoming` the recipients a fan-out before this
/// node resolved (empty otherwise). Unmarked messages pass untouched.
pub fn restrict(
    envelope: &Envelope,
    incoming: &[NodeId],
    me: Party<'_>,
    directory: &Directory,
    hops: &mut BTreeMap<Hop, Vec<NodeId>>,
) -> Result<Withheld, PolicyRefusal> {
    let Some(list) = &envelope.release_to else {
        return Ok(Withheld::new());
    };
    let mut withheld = Withheld::new();
    // Fanned out here, from a group this node knows: withholding is the point. Anything
    // else was meant for specific nodes, so a copy withheld from one is a refusal.
    let fanned_out_here =
        incoming.is_empty() && matches!(envelope.destination, Destination::Group(_));
    if hops.contains_key(&Hop::Local) && !admits(list, me) {
        if !fanned_out_here {
            return Err(outside(me.node, list, "this node"));
        }
        hops.remove(&Hop::Local);
        withheld.push((me.node.clone(), WithheldBecause::OutsideList));
    }
    let mut emptied = Vec::new();
    for (hop, recipients) in hops.iter_mut() {
        let Hop::Next(next) = hop else { continue };
        if recipients.is_empty() {
            // Routed by the envelope's destination: judged here when it names a node whose
            // identity is known. An unknown destination is left to the nodes ahead, unless
            // the next hop is the destination itself: then nobody else could judge it.
            if let Destination::Node(node) = &envelope.destination {
                match directory.get(node) {
                    Some(member) if !admits(list, member.party(node)) => {
                        return Err(outside(node, list, "the destination"));
                    }
                    None if next == node && node.as_str() != HUB => {
                        return Err(unknown(node, list));
                    }
                    _ => {}
                }
            }
            continue;
        }
        recipients.retain(|recipient| {
            let because = match directory.get(recipient) {
                Some(member) if admits(list, member.party(recipient)) => return true,
                Some(_) => WithheldBecause::OutsideList,
                None => WithheldBecause::IdentityUnknown,
            };
            withheld.push((recipient.clone(), because));
            false
        });
        if recipients.is_empty() {
            // An empty list would mean "route by the destination": the hop goes instead.
            emptied.push(next.clone());
        }
    }
    for next in emptied {
        hops.remove(&Hop::Next(next));
    }
    if let Some((first, because)) = withheld.first() {
        if hops.is_empty() && !fanned_out_here {
            return Err(match because {
                WithheldBecause::OutsideList => outside(first, list, "the recipient"),
                WithheldBecause::IdentityUnknown => unknown(first, list),
            });
        }
    }
    Ok(withheld)
}

fn unknown(node: &NodeId, list: &ReleaseList) -> PolicyRefusal {
    PolicyRefusal {
        rule: Rule::ReleaseMarking,
        detail: format!(
            "this node has never linked with {node}, so it cannot tell whether the release list {list} admits it"
        ),
    }
}

fn outside(node: &NodeId, list: &ReleaseList, what: &str) -> PolicyRefusal {
    PolicyRefusal {
        rule: Rule::ReleaseMarking,
        detail: format!(
            "{what} {node} is outside the release list {list}: the data owner did not release it there"
        ),
    }
}
