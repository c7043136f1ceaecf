//! Who a sealed message is sealed to (issue 14, item 4), decided before any key is looked
//! up: pure, from the message's kind and destination and this node's groups.
//!
//! The recipients are the nodes that will take the message into their inbox: the destination
//! node, or every member of the destination group as this node knows it. A group this node
//! does not know cannot be sealed to (its members are known where it is fanned out, and a
//! body sealed to the wrong list would arrive unreadable). Notices stay readable by the hub,
//! which reviews them; service requests are refused rather than sealed to the service's
//! host, because the hosted services (and their hit notifications) read the request.

use std::collections::{BTreeMap, BTreeSet};

use bluehelm_proto::{Destination, GroupName, Kind, NodeId};

/// Why a message cannot be sealed. Each says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealRefusal {
    /// Notices are reviewed by the hub, which must read them.
    #[error("a notice cannot be sealed: notices stay readable by gs, which reviews them; send it without --seal")]
    Notice,
    /// Service requests are read by the service that answers them.
    #[error("a service request cannot be sealed: the service that answers it reads it; send it without --seal")]
    Request,
    /// Only diffusions and text messages are sealed.
    #[error("a {0} cannot be sealed: only diffusions and text messages can")]
    Kind(Kind),
    /// The group's members are not known here.
    #[error("cannot seal to group {0}: this node does not know its members (add it under [groups] in the node config, or address the members)")]
    UnknownGroup(GroupName),
    /// The group has no members to seal to.
    #[error("cannot seal to group {0}: it has no members")]
    EmptyGroup(GroupName),
}

/// The nodes a message of `kind` to `destination` is sealed to, each once, in order.
pub fn recipients(
    kind: Kind,
    destination: &Destination,
    groups: &BTreeMap<GroupName, Vec<NodeId>>,
) -> Result<Vec<NodeId>, SealRefusal> {
    match kind {
        Kind::Diffusion | Kind::Text => {}
        Kind::Notice => return Err(SealRefusal::Notice),
        Kind::Request => return Err(SealRefusal::Request),
        other => return Err(SealRefusal::Kind(other)),
    }
    match destination {
        Destination::Node(node) => Ok(vec![node.clone()]),
        // A request is the only kind addressed to a service; refused above.
        Destination::Service(_) => Err(SealRefusal::Request),
        Destination::Group(group) => {
            let members = groups
                .get(group)
                .ok_or_else(|| SealRefusal::UnknownGroup(group.clone()))?;
            let mut seen = BTreeSet::new();
            let list: Vec<NodeId> = members
                .iter()
                .filter(|m| seen.insert(*m))
                .cloned()
                .collect();
            if list.is_empty() {
                return Err(SealRefusal::EmptyGroup(group.clone()));
            }
            Ok(list)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(s: &str) -> NodeId {
        s.parse().unwrap()
    }

    fn groups() -> BTreeMap<GroupName, Vec<NodeId>> {
        BTreeMap::from([(
            "all-ncb".parse().unwrap(),
            vec![node("ncb.fr"), node("ncb.ke"), node("ncb.fr")],
        )])
    }

    #[test]
    fn a_node_destination_is_its_one_recipient() {
        let to = Destination::Node(node("ncb.ke"));
        assert_eq!(
            recipients(Kind::Diffusion, &to, &groups()),
            Ok(vec![node("ncb.ke")])
        );
    }

    #[test]
    fn a_known_group_is_sealed_to_each_member_once() {
        let to = Destination::Group("all-ncb".parse().unwrap());
        assert_eq!(
            recipients(Kind::Text, &to, &groups()),
            Ok(vec![node("ncb.fr"), node("ncb.ke")])
        );
        let unknown = Destination::Group("all-missions".parse().unwrap());
        assert!(matches!(
            recipients(Kind::Text, &unknown, &groups()),
            Err(SealRefusal::UnknownGroup(_))
        ));
    }

    #[test]
    fn notices_and_requests_are_refused_with_the_reason() {
        let to = Destination::Node(node("gs"));
        let err = recipients(Kind::Notice, &to, &groups()).unwrap_err();
        assert!(err.to_string().contains("gs, which reviews them"), "{err}");
        let service = Destination::Service("sltd.check".parse().unwrap());
        assert_eq!(
            recipients(Kind::Request, &service, &groups()),
            Err(SealRefusal::Request)
        );
    }
}
