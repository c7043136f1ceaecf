//! Custody rules: whether this node takes a message offered by a neighbour (or by a local
//! application), and what a refusal from the next hop means. Pure: time and queue depths
//! come in as arguments. Whether the message is a duplicate is the ledger's to say
//! (`ledger.rs`), in the round that would store it.

use std::collections::{BTreeMap, BTreeSet};

use bluehelm_proto::{
    Body, Destination, Envelope, NodeId, NonDeliveryReason, Precedence, RefusalReason,
};

use super::policy::{self, Party, Policy};
use super::release::{self, Directory, Withheld};
use super::routing::{Hop, RouteDecision, RoutingTable};

/// Clocks of nodes may disagree by this much: a message created further in the future is
/// refused (it would otherwise outlive its lifetime here).
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;
/// Longest lifetime a message may ask for: bounds how long queues and dedup entries hold it.
/// A mission post offline for weeks still gets its notices.
pub const MAX_LIFETIME_MS: i64 = 30 * 24 * 3600 * 1000;

/// What the receiving node knows beyond the message itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub now_ms: i64,
    /// Relay hops the message has taken before reaching this node.
    pub hops: u8,
    /// The most messages one next-hop queue may hold.
    pub queue_quota: usize,
    /// The precedence class of the stream the offer came on (none for local submissions).
    pub stream: Option<Precedence>,
    /// Who signed the message, from its certificate (this node, for a local submission).
    pub signer: Party<'a>,
    /// The node's role policy (issue 12).
    pub policy: &'a Policy,
    /// This node, as its own certificate says: release markings admit it or not.
    pub me: Party<'a>,
    /// The certified identities of the nodes it has linked with (release markings).
    pub directory: &'a Directory,
    /// Peers given up as silent (`engine::failover`): routes use their alternates.
    pub silent: &'a BTreeSet<NodeId>,
}

/// The decision on one offered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustodyDecision {
    /// Take custody: store a copy for each hop, then acknowledge (unless the ledger finds
    /// the message held already: then it is acknowledged again without being stored).
    /// `withheld`: recipients of a fan-out that its release marking keeps out.
    Accept {
        copies: BTreeMap<Hop, Vec<NodeId>>,
        withheld: Withheld,
    },
    Refuse {
        reason: RefusalReason,
        detail: String,
    },
}

/// Decides on a message whose signature and certificate are already verified.
pub fn decide(
    envelope: &Envelope,
    recipients: &[NodeId],
    ctx: Context<'_>,
    table: &RoutingTable,
    queue_depth: impl Fn(&NodeId) -> usize,
) -> CustodyDecision {
    if let Some(stream) = ctx.stream.filter(|p| *p != envelope.precedence) {
        return refuse(
            RefusalReason::WrongStream,
            format!("a {} message on the {stream} stream", envelope.precedence),
        );
    }
    if envelope.created_at_ms > ctx.now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
        return refuse(
            RefusalReason::Malformed,
            "created more than 5 minutes in the future: check the origin's clock",
        );
    }
    if envelope
        .expires_at_ms
        .saturating_sub(envelope.created_at_ms)
        > MAX_LIFETIME_MS
    {
        return refuse(RefusalReason::Malformed, "lifetime longer than 30 days");
    }
    if envelope.expires_at_ms <= ctx.now_ms {
        return refuse(
            RefusalReason::Expired,
            "message expired before it was accepted",
        );
    }
    if ctx.hops >= envelope.hop_limit {
        return refuse(
            RefusalReason::HopLimit,
            format!("hop limit {} reached", envelope.hop_limit),
        );
    }
    // Before routing: a message its signer may not send is refused with the rule it breaks,
    // wherever it is (origin, relay or destination), so that its origin learns why.
    if let Err(refusal) = policy::check(ctx.policy, ctx.signer, envelope) {
        return refuse(RefusalReason::Policy, refusal.to_string());
    }
    // Where a diffusion's group is fanned out, its addressees must be members: the origin
    // may not know the group, and an addressee no copy goes to would be lost unseen.
    if let (Body::Diffusion(diffusion), Destination::Group(group)) =
        (&envelope.body, &envelope.destination)
    {
        if recipients.is_empty() && table.groups.contains_key(group) {
            for addressee in &diffusion.addressees {
                if let Err(why) = table.check_addressee(&envelope.destination, addressee) {
                    return refuse(RefusalReason::NoRoute, why);
                }
            }
        }
    }
    let mut hops = match table.decide_avoiding(
        &envelope.destination,
        recipients,
        &envelope.origin,
        ctx.silent,
    ) {
        RouteDecision::Deliver(hops) => hops,
        RouteDecision::NoRoute(why) => return refuse(RefusalReason::NoRoute, why),
        RouteDecision::UnknownGroup(group) => {
            return refuse(RefusalReason::NoRoute, format!("unknown group {group}"))
        }
        RouteDecision::UnknownService(service) => {
            return refuse(RefusalReason::NoRoute, format!("unknown service {service}"))
        }
    };
    let withheld = match release::restrict(envelope, recipients, ctx.me, ctx.directory, &mut hops) {
        Ok(withheld) => withheld,
        Err(refusal) => return refuse(RefusalReason::Policy, refusal.to_string()),
    };
    // A diffusion addressed to a node its marking keeps out would leave that addressee
    // without the copy it was meant for, unseen: the origin hears of it instead.
    if let Body::Diffusion(diffusion) = &envelope.body {
        if let Some((addressee, _)) = withheld
            .iter()
            .find(|(node, _)| diffusion.addressees.contains(node))
        {
            let refusal = policy::PolicyRefusal {
                rule: policy::Rule::ReleaseMarking,
                detail: format!(
                    "addressee {addressee} gets no copy under the release list: address the \
                     diffusion to nodes the list admits, or widen the list"
                ),
            };
            return refuse(RefusalReason::Policy, refusal.to_string());
        }
    }
    for hop in hops.keys() {
        if let Hop::Next(next) = hop {
            if queue_depth(next) >= ctx.queue_quota {
                return refuse(
                    RefusalReason::QuotaExceeded,
                    format!("queue for {next} is full ({} messages)", ctx.queue_quota),
                );
            }
        }
    }
    CustodyDecision::Accept {
        copies: hops,
        withheld,
    }
}

fn refuse(reason: RefusalReason, detail: impl Into<String>) -> CustodyDecision {
    CustodyDecision::Refuse {
        reason,
        detail: detail.into(),
    }
}

/// What the holder of a message does when the next hop refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalAction {
    /// Keep the message queued and offer it again after a backoff.
    RetryLater,
    /// Drop the message and tell its origin why.
    GiveUp(NonDeliveryReason),
}

pub fn on_refusal(reason: RefusalReason) -> RefusalAction {
    if !reason.is_permanent() {
        return RefusalAction::RetryLater;
    }
    RefusalAction::GiveUp(match reason {
        RefusalReason::Expired => NonDeliveryReason::Expired,
        RefusalReason::HopLimit => NonDeliveryReason::HopLimit,
        RefusalReason::NoRoute => NonDeliveryReason::NoRoute,
        RefusalReason::Policy => NonDeliveryReason::Policy,
        _ => NonDeliveryReason::Refused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bluehelm_proto::{testing::sample_notice_envelope, Destination, Precedence};

    fn id(s: &str) -> NodeId {
        s.parse().unwrap()
    }

    fn table() -> RoutingTable {
        RoutingTable {
            me: Some(id("gs")),
            neighbours: [id("ncb.fr"), id("mission.unmiss")].into(),
            ..Default::default()
        }
    }

    static POLICY: std::sync::LazyLock<Policy> = std::sync::LazyLock::new(Policy::default);
    static HUB_NODE: std::sync::LazyLock<NodeId> = std::sync::LazyLock::new(|| id("gs"));
    static DIRECTORY: std::sync::LazyLock<Directory> = std::sync::LazyLock::new(Directory::default);

    fn hub() -> Party<'static> {
        Party {
            node: &HUB_NODE,
            role: bluehelm_pki::Role::Hub,
            country: None,
            mission: None,
        }
    }

    fn ctx(now_ms: i64) -> Context<'static> {
        Context {
            now_ms,
            hops: 0,
            queue_quota: 10,
            stream: None,
            signer: hub(),
            policy: &POLICY,
            me: hub(),
            directory: &DIRECTORY,
            silent: &crate::engine::routing::NONE_SILENT,
        }
    }

    fn envelope(now_ms: i64) -> Envelope {
        sample_notice_envelope(
            id("ncb.fr"),
            Destination::Node(id("mission.unmiss")),
            Precedence::Routine,
            now_ms,
            256,
        )
    }

    #[test]
    fn accepts_routable_message_for_the_next_hop() {
        let env = envelope(1_000);
        let d = decide(&env, &[], ctx(1_000), &table(), |_| 0);
        assert_eq!(
            d,
            CustodyDecision::Accept {
                copies: [(Hop::Next(id("mission.unmiss")), vec![])].into(),
                withheld: vec![],
            }
        );
    }

    #[test]
    fn expired_message_is_refused_permanently() {
        let env = envelope(1_000);
        let d = decide(&env, &[], ctx(env.expires_at_ms), &table(), |_| 0);
        assert!(matches!(
            d,
            CustodyDecision::Refuse {
                reason: RefusalReason::Expired,
                ..
            }
        ));
        assert_eq!(
            on_refusal(RefusalReason::Expired),
            RefusalAction::GiveUp(NonDeliveryReason::Expired)
        );
    }

    #[test]
    fn hop_limit_is_enforced() {
        let env = envelope(1_000);
        let c = Context {
            hops: env.hop_limit,
            ..ctx(1_000)
        };
        let d = decide(&env, &[], c, &table(), |_| 0);
        assert!(matches!(
            d,
            CustodyDecision::Refuse {
                reason: RefusalReason::HopLimit,
                ..
            }
        ));
    }

    #[test]
    fn full_queue_is_a_temporary_refusal() {
        let env = envelope(1_000);
        let d = decide(&env, &[], ctx(1_000), &table(), |_| 10);
        assert!(matches!(
            d,
            CustodyDecision::Refuse {
                reason: RefusalReason::QuotaExceeded,
                ..
            }
        ));
        assert_eq!(
            on_refusal(RefusalReason::QuotaExceeded),
            RefusalAction::RetryLater
        );
    }

    #[test]
    fn offer_on_another_class_stream_is_refused() {
        let env = envelope(1_000);
        let c = Context {
            stream: Some(Precedence::Flash),
            ..ctx(1_000)
        };
        let d = decide(&env, &[], c, &table(), |_| 0);
        assert!(matches!(
            d,
            CustodyDecision::Refuse {
                reason: RefusalReason::WrongStream,
                ..
            }
        ));
    }

    #[test]
    fn message_from_the_future_or_living_too_long_is_refused() {
        let mut env = envelope(1_000);
        let d = decide(
            &env,
            &[],
            ctx(1_000 - MAX_CLOCK_SKEW_MS - 1),
            &table(),
            |_| 0,
        );
        assert!(matches!(
            d,
            CustodyDecision::Refuse {
                reason: RefusalReason::Malformed,
                ..
            }
        ));
        env.expires_at_ms = env.created_at_ms + MAX_LIFETIME_MS + 1;
        let d = decide(&env, &[], ctx(1_000), &table(), |_| 0);
        assert!(matches!(
            d,
            CustodyDecision::Refuse {
                reason: RefusalReason::Malformed,
                ..
            }
        ));
    }

    #[test]
    fn a_diffusion_naming_a_non_member_is_refused_where_its_group_is_fanned_out() {
        let mut t = table();
        t.neighbours.insert(id("ncb.ke"));
        t.groups
            .insert("all-ncb".parse().unwrap(), vec![id("ncb.fr"), id("ncb.ke")]);
        let diffusion = |addressee: &str| {
            let mut env = bluehelm_proto::testing::sample_envelope(
                id("ncb.fr"),
                Destination::Group("all-ncb".parse().unwrap()),
                Precedence::Routine,
                1_000,
                Body::Diffusion(bluehelm_proto::testing::sample_diffusion()),
            );
            if let Body::Diffusion(d) = &mut env.body {
                d.addressees = vec![id(addressee)];
            }
            env
        };
        let d = decide(&diffusion("ncb.ke"), &[], ctx(1_000), &t, |_| 0);
        assert!(matches!(d, CustodyDecision::Accept { .. }), "{d:?}");
        let d = decide(&diffusion("mission.unmiss"), &[], ctx(1_000), &t, |_| 0);
        assert!(
            matches!(&d, CustodyDecision::Refuse { reason: RefusalReason::NoRoute, detail }
                if detail.contains("not a member of group all-ncb")),
            "{d:?}"
        );
        // Marked for FR only: an addressee the marking keeps out would get nothing, unseen.
        let known = crate::engine::release::Member {
            role: bluehelm_pki::Role::Ncb,
            country: Some("KE".into()),
            mission: None,
        };
        let mut directory = Directory::default();
        directory.learn(id("ncb.ke"), known);
        let mut marked = diffusion("ncb.ke");
        marked.release_to = Some("FR".parse().unwrap());
        let c = Context {
            directory: &directory,
            ..ctx(1_000)
        };
        let d = decide(&marked, &[], c, &t, |_| 0);
        assert!(
            matches!(&d, CustodyDecision::Refuse { reason: RefusalReason::Policy, detail }
                if detail.starts_with("release-marking: addressee ncb.ke")),
            "{d:?}"
        );
        // A copy fanned out already (recipients given) is not judged again.
        let d = decide(
            &diffusion("mission.unmiss"),
            &[id("ncb.ke")],
            ctx(1_000),
            &t,
            |_| 0,
        );
        assert!(matches!(d, CustodyDecision::Accept { .. }), "{d:?}");
    }

    #[test]
    fn unroutable_message_is_refused() {
        let mut env = envelope(1_000);
        env.destination = Destination::Node(id("ncb.zz"));
        let d = decide(&env, &[], ctx(1_000), &table(), |_| 0);
        assert!(matches!(
            d,
            CustodyDecision::Refuse {
                reason: RefusalReason::NoRoute,
                ..
            }
        ));
    }
}
