//! Where a message goes next. Pure: built from the validated config, no IO.

use std::collections::{BTreeMap, BTreeSet};

use bluehelm_proto::{Destination, GroupName, NodeId, ServiceName};

/// A route pattern: an exact node id, or a prefix wildcard such as `ncb.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutePattern {
    Exact(NodeId),
    /// Matches every node id that starts with the prefix (which includes its trailing '.').
    Prefix(String),
}

impl RoutePattern {
    /// Parses `ncb.fr` or `ncb.*`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(prefix) = text.strip_suffix('*') {
            if !prefix.ends_with('.') || prefix.len() < 2 {
                return Err(format!(
                    "wildcard route {text:?} must end in \".*\" after a node id prefix, e.g. \"ncb.*\""
                ));
            }
            let probe = format!("{prefix}x");
            probe
                .parse::<NodeId>()
                .map_err(|e| format!("wildcard route {text:?}: {e}"))?;
            return Ok(Self::Prefix(prefix.to_owned()));
        }
        text.parse::<NodeId>()
            .map(Self::Exact)
            .map_err(|e| format!("route {text:?}: {e}"))
    }

    fn matches(&self, node: &NodeId) -> bool {
        match self {
            Self::Exact(id) => id == node,
            Self::Prefix(prefix) => node.as_str().starts_with(prefix.as_str()),
        }
    }
}

/// One configured static route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub pattern: RoutePattern,
    /// The primary next hop.
    pub via: NodeId,
    /// Next hops to use, in order, while `via` is given up as silent (issue 15, item 7:
    /// `"*" = ["gs", "gs-b"]`); empty for a route with one next hop.
    pub alternates: Vec<NodeId>,
}

/// No peer given up: routing by the primaries alone.
pub static NONE_SILENT: BTreeSet<NodeId> = BTreeSet::new();

/// The first of `primary` and its `alternates` that is not given up as silent; the primary
/// when every one of them is (its queue keeps the copies until one is heard again).
fn pick<'a>(
    primary: &'a NodeId,
    alternates: &'a [NodeId],
    silent: &BTreeSet<NodeId>,
) -> &'a NodeId {
    std::iter::once(primary)
        .chain(alternates)
        .find(|via| !silent.contains(*via))
        .unwrap_or(primary)
}

/// The routing knowledge of one node.
#[derive(Debug, Clone, Default)]
pub struct RoutingTable {
    pub me: Option<NodeId>,
    /// Nodes this node links with directly: a message for one of them goes straight there.
    pub neighbours: BTreeSet<NodeId>,
    /// Static routes, tried in order; exact routes should come before wildcards.
    pub routes: Vec<Route>,
    pub default_route: Option<NodeId>,
    /// Alternates of `default_route`, in order, as a route's `alternates`.
    pub default_alternates: Vec<NodeId>,
    /// Groups whose members this node knows; it fans group messages out.
    pub groups: BTreeMap<GroupName, Vec<NodeId>>,
    /// Where each known service is hosted.
    pub services: BTreeMap<ServiceName, NodeId>,
}

/// Where one copy of a message goes from this node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hop {
    /// Into this node's inbox.
    Local,
    /// To the named neighbour's queue.
    Next(NodeId),
}

/// The outcome of routing one message at one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDecision {
    /// Each hop with the final recipients it carries the message for. An empty recipient
    /// list means "route by the envelope's destination".
    Deliver(BTreeMap<Hop, Vec<NodeId>>),
    NoRoute(String),
    UnknownGroup(GroupName),
    UnknownService(ServiceName),
}

impl RoutingTable {
    fn me(&self) -> Option<&NodeId> {
        self.me.as_ref()
    }

    /// The next hop towards one node, by the primaries alone.
    pub fn hop_to(&self, node: &NodeId) -> Option<Hop> {
        self.hop_avoiding(node, &NONE_SILENT)
    }

    /// The next hop towards one node while the peers in `silent` are given up: a route
    /// goes to its first alternate not in `silent` (see [`Route::alternates`]). A neighbour
    /// is always reached directly: a message for it has nowhere else to go.
    pub fn hop_avoiding(&self, node: &NodeId, silent: &BTreeSet<NodeId>) -> Option<Hop> {
        if self.me() == Some(node) {
            return Some(Hop::Local);
        }
        if self.neighbours.contains(node) {
            return Some(Hop::Next(node.clone()));
        }
        self.routes
            .iter()
            .find(|route| route.pattern.matches(node))
            .map(|route| pick(&route.via, &route.alternates, silent))
            .or_else(|| self.default_via(silent))
            .filter(|via| self.me() != Some(*via))
            .map(|via| Hop::Next(via.clone()))
    }

    /// The default route's next hop while the peers in `silent` are given up.
    fn default_via(&self, silent: &BTreeSet<NodeId>) -> Option<&NodeId> {
        self.default_route
            .as_ref()
            .map(|via| pick(via, &self.default_alternates, silent))
    }

    /// Every peer some route names as a primary that has alternates, or as an alternate:
    /// the peers whose silence changes where traffic goes (issue 15, item 7).
    pub fn failover_peers(&self) -> BTreeSet<NodeId> {
        let routes = self
            .routes
            .iter()
            .map(|r| (&r.via, r.alternates.as_slice()));
        let default = self
            .default_route
            .iter()
            .map(|via| (via, self.default_alternates.as_slice()));
        routes
            .chain(default)
            .filter(|(_, alternates)| !alternates.is_empty())
            .flat_map(|(via, alternates)| std::iter::once(via).chain(alternates))
            .cloned()
            .collect()
    }

    /// Routes a message. `recipients` are the final recipients carried with the message when
    /// an earlier node resolved its group or service (empty otherwise); `origin` never gets a
    /// copy of its own group message. Recipients are unsigned (relays set them), so they are
    /// honoured only for group and service destinations: a message signed for one node goes
    /// to that node, whatever a relay attached.
    pub fn decide(
        &self,
        destination: &Destination,
        recipients: &[NodeId],
        origin: &NodeId,
    ) -> RouteDecision {
        self.decide_avoiding(destination, recipients, origin, &NONE_SILENT)
    }

    /// [`Self::decide`] while the peers in `silent` are given up (see [`Self::hop_avoiding`]).
    pub fn decide_avoiding(
        &self,
        destination: &Destination,
        recipients: &[NodeId],
        origin: &NodeId,
        silent: &BTreeSet<NodeId>,
    ) -> RouteDecision {
        if !recipients.is_empty() && !matches!(destination, Destination::Node(_)) {
            return self.split(recipients.iter(), silent);
        }
        match destination {
            Destination::Node(node) => match self.hop_avoiding(node, silent) {
                Some(hop) => RouteDecision::Deliver(BTreeMap::from([(hop, Vec::new())])),
                None => RouteDecision::NoRoute(format!("no route to node {node}")),
            },
            Destination::Group(group) => match self.groups.get(group) {
                Some(members) => {
                    let members: Vec<&NodeId> = members.iter().filter(|m| *m != origin).collect();
                    if members.is_empty() {
                        return RouteDecision::Deliver(BTreeMap::new());
                    }
                    self.split(members.into_iter(), silent)
                }
                None => match self
                    .default_via(silent)
                    .filter(|via| self.me() != Some(*via))
                {
                    // Not ours to fan out: pass it towards a node that knows the group.
                    Some(via) => {
                        RouteDecision::Deliver(BTreeMap::from([(Hop::Next(via.clone()), vec![])]))
                    }
                    None => RouteDecision::UnknownGroup(group.clone()),
                },
            },
            Destination::Service(service) => match self.services.get(service) {
                Some(host) => match self.hop_avoiding(host, silent) {
                    Some(Hop::Local) => {
                        RouteDecision::Deliver(BTreeMap::from([(Hop::Local, Vec::new())]))
                    }
                    Some(hop) => {
                        RouteDecision::Deliver(BTreeMap::from([(hop, vec![host.clone()])]))
                    }
                    None => {
                        RouteDecision::NoRoute(format!("no route to {host}, host of {service}"))
                    }
                },
                None => match self
                    .default_via(silent)
                    .filter(|via| self.me() != Some(*via))
                {
                    Some(via) => {
                        RouteDecision::Deliver(BTreeMap::from([(Hop::Next(via.clone()), vec![])]))
                    }
                    None => RouteDecision::UnknownService(service.clone()),
                },
            },
        }
    }

    /// Whether `addressee` may be named in a diffusion sent to `destination` (issue 12 item 5:
    /// an unknown addressee is refused where it enters, not lost later). It must be a node
    /// this node can route to and, when the diffusion goes to a group whose members this
    /// node knows, one of them: a diffusion for `all-ncb` naming a mission post would never
    /// reach it.
    pub fn check_addressee(
        &self,
        destination: &Destination,
        addressee: &NodeId,
    ) -> Result<(), String> {
        if let Destination::Group(group) = destination {
            if let Some(members) = self.groups.get(group) {
                if !members.contains(addressee) {
                    return Err(format!(
                        "addressee {addressee} is not a member of group {group}: name members of the group, or send to the addressee itself"
                    ));
                }
            }
        }
        if self.hop_to(addressee).is_none() {
            return Err(format!(
                "addressee {addressee} is a node this node has no route to: check the node id, or add a route for it to the config"
            ));
        }
        Ok(())
    }

    fn split<'a>(
        &self,
        recipients: impl Iterator<Item = &'a NodeId>,
        silent: &BTreeSet<NodeId>,
    ) -> RouteDecision {
        let mut hops: BTreeMap<Hop, Vec<NodeId>> = BTreeMap::new();
        for recipient in recipients {
            match self.hop_avoiding(recipient, silent) {
                Some(hop) => hops.entry(hop).or_default().push(recipient.clone()),
                None => return RouteDecision::NoRoute(format!("no route to node {recipient}")),
            }
        }
        // Local delivery needs no recipient list.
        if let Some(local) = hops.get_mut(&Hop::Local) {
            local.clear();
        }
        RouteDecision::Deliver(hops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> NodeId {
        s.parse().unwrap()
    }

    fn hub_table() -> RoutingTable {
        RoutingTable {
            me: Some(id("gs")),
            neighbours: [id("ncb.fr"), id("ncb.ke"), id("mission.unmiss")].into(),
            routes: vec![Route {
                pattern: RoutePattern::parse("ncb.*").unwrap(),
                via: id("relay.eu"),
                alternates: vec![],
            }],
            default_route: None,
            default_alternates: vec![],
            groups: [(
                "all-ncb".parse().unwrap(),
                vec![id("ncb.fr"), id("ncb.ke"), id("ncb.de")],
            )]
            .into(),
            services: [("sltd.check".parse().unwrap(), id("gs"))].into(),
        }
    }

    fn ncb_table() -> RoutingTable {
        RoutingTable {
            me: Some(id("ncb.fr")),
            neighbours: [id("gs")].into(),
            default_route: Some(id("gs")),
            ..Default::default()
        }
    }

    #[test]
    fn diffusion_addressees_must_be_known() {
        let hub = hub_table();
        let all: Destination = Destination::Group("all-ncb".parse().unwrap());
        assert_eq!(hub.check_addressee(&all, &id("ncb.ke")), Ok(()));
        let err = hub
            .check_addressee(&all, &id("mission.unmiss"))
            .unwrap_err();
        assert!(err.contains("not a member of group all-ncb"), "{err}");
        let to_node = Destination::Node(id("ncb.fr"));
        assert_eq!(hub.check_addressee(&to_node, &id("mission.unmiss")), Ok(()));
        let err = hub.check_addressee(&to_node, &id("mission.x")).unwrap_err();
        assert!(err.contains("no route"), "{err}");
    }

    #[test]
    fn neighbour_wins_over_wildcard_route() {
        let t = hub_table();
        assert_eq!(t.hop_to(&id("ncb.fr")), Some(Hop::Next(id("ncb.fr"))));
        assert_eq!(t.hop_to(&id("ncb.de")), Some(Hop::Next(id("relay.eu"))));
        assert_eq!(t.hop_to(&id("gs")), Some(Hop::Local));
        assert_eq!(t.hop_to(&id("mission.x")), None);
    }

    #[test]
    fn default_route_carries_unknown_nodes() {
        let t = ncb_table();
        let d = t.decide(&Destination::Node(id("mission.unmiss")), &[], &id("ncb.fr"));
        assert_eq!(
            d,
            RouteDecision::Deliver([(Hop::Next(id("gs")), vec![])].into())
        );
    }

    #[test]
    fn group_fans_out_per_next_hop_without_the_origin() {
        let t = hub_table();
        let d = t.decide(
            &Destination::Group("all-ncb".parse().unwrap()),
            &[],
            &id("ncb.fr"),
        );
        let expected = [
            (Hop::Next(id("ncb.ke")), vec![id("ncb.ke")]),
            (Hop::Next(id("relay.eu")), vec![id("ncb.de")]),
        ];
        assert_eq!(d, RouteDecision::Deliver(expected.into()));
    }

    #[test]
    fn group_unknown_here_goes_to_default_route() {
        let t = ncb_table();
        let d = t.decide(
            &Destination::Group("all-ncb".parse().unwrap()),
            &[],
            &id("ncb.fr"),
        );
        assert_eq!(
            d,
            RouteDecision::Deliver([(Hop::Next(id("gs")), vec![])].into())
        );
    }

    #[test]
    fn carried_recipients_route_by_node() {
        let t = hub_table();
        let d = t.decide(
            &Destination::Group("all-ncb".parse().unwrap()),
            &[id("gs"), id("ncb.de")],
            &id("ncb.fr"),
        );
        let expected = [
            (Hop::Local, vec![]),
            (Hop::Next(id("relay.eu")), vec![id("ncb.de")]),
        ];
        assert_eq!(d, RouteDecision::Deliver(expected.into()));
    }

    #[test]
    fn recipients_cannot_redirect_a_node_message() {
        let t = hub_table();
        let d = t.decide(&Destination::Node(id("ncb.ke")), &[id("gs")], &id("ncb.fr"));
        assert_eq!(
            d,
            RouteDecision::Deliver([(Hop::Next(id("ncb.ke")), vec![])].into())
        );
    }

    #[test]
    fn service_resolves_to_host() {
        let t = hub_table();
        let s = Destination::Service("sltd.check".parse().unwrap());
        assert_eq!(
            t.decide(&s, &[], &id("mission.unmiss")),
            RouteDecision::Deliver([(Hop::Local, vec![])].into())
        );
        let unknown = Destination::Service("smv.check".parse().unwrap());
        assert!(matches!(
            t.decide(&unknown, &[], &id("ncb.fr")),
            RouteDecision::UnknownService(_)
        ));
    }

    #[test]
    fn no_route_without_default() {
        let t = hub_table();
        assert!(matches!(
            t.decide(&Destination::Node(id("mission.x")), &[], &id("ncb.fr")),
            RouteDecision::NoRoute(_)
        ));
    }

    #[test]
    fn wildcard_patterns_are_checked() {
        assert!(RoutePattern::parse("ncb*").is_err());
        assert!(RoutePattern::parse("*").is_err());
        assert!(RoutePattern::parse("NCB.FR").is_err());
        assert_eq!(
            RoutePattern::parse("ncb.*").unwrap(),
            RoutePattern::Prefix("ncb.".into())
        );
    }

    fn post_with_backup_hub() -> RoutingTable {
        RoutingTable {
            me: Some(id("mission.unmiss")),
            neighbours: [id("gs"), id("gs-b"), id("relay.eu")].into(),
            routes: vec![Route {
                pattern: RoutePattern::parse("ncb.*").unwrap(),
                via: id("relay.eu"),
                alternates: vec![id("gs"), id("gs-b")],
            }],
            default_route: Some(id("gs")),
            default_alternates: vec![id("gs-b")],
            ..Default::default()
        }
    }

    #[test]
    fn a_silent_primary_gives_way_to_the_first_alternate_heard() {
        let t = post_with_backup_hub();
        let to = |node: &str, silent: &[&str]| {
            let silent: BTreeSet<NodeId> = silent.iter().map(|s| id(s)).collect();
            t.hop_avoiding(&id(node), &silent)
        };
        assert_eq!(to("ncb.fr", &[]), Some(Hop::Next(id("relay.eu"))));
        assert_eq!(to("ncb.fr", &["relay.eu"]), Some(Hop::Next(id("gs"))));
        assert_eq!(
            to("ncb.fr", &["relay.eu", "gs"]),
            Some(Hop::Next(id("gs-b")))
        );
        // Every one silent: the primary's queue keeps it until one is heard again.
        assert_eq!(
            to("ncb.fr", &["relay.eu", "gs", "gs-b"]),
            Some(Hop::Next(id("relay.eu")))
        );
        assert_eq!(to("mission.x", &["gs"]), Some(Hop::Next(id("gs-b"))));
        // A neighbour is reached directly, silent or not.
        assert_eq!(to("gs", &["gs"]), Some(Hop::Next(id("gs"))));
    }

    #[test]
    fn groups_and_services_unknown_here_follow_the_default_alternates() {
        let t = post_with_backup_hub();
        let silent: BTreeSet<NodeId> = [id("gs")].into();
        let group = Destination::Group("all-ncb".parse().unwrap());
        assert_eq!(
            t.decide_avoiding(&group, &[], &id("mission.unmiss"), &silent),
            RouteDecision::Deliver([(Hop::Next(id("gs-b")), vec![])].into())
        );
        let service = Destination::Service("sltd.check".parse().unwrap());
        assert_eq!(
            t.decide_avoiding(&service, &[], &id("mission.unmiss"), &silent),
            RouteDecision::Deliver([(Hop::Next(id("gs-b")), vec![])].into())
        );
        assert_eq!(
            t.decide(&service, &[], &id("mission.unmiss")),
            RouteDecision::Deliver([(Hop::Next(id("gs")), vec![])].into())
        );
    }

    #[test]
    fn failover_peers_are_those_of_routes_with_alternates() {
        let t = post_with_backup_hub();
        let peers: Vec<String> = t.failover_peers().iter().map(|p| p.to_string()).collect();
        assert_eq!(peers, ["gs", "gs-b", "relay.eu"]);
        assert!(hub_table().failover_peers().is_empty());
    }
}
