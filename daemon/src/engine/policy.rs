//! Role policy: who may say what to whom (issue 12, item 1). Pure: the signer's certified
//! identity (from its certificate, never from the payload) and the node's [`Policy`] come in
//! as arguments.
//!
//! `custody::decide` calls [`check`] for every local submission and every offer from a link,
//! so a rule holds at the origin, at each relay and at the destination. A refusal names its
//! [`Rule`] (a stable kebab-case name that appears in refusals, non-delivery reports, logs and
//! docs/security.md).
//!
//! Release markings (issue 12, item 2) are checked beside it, after routing, by
//! `engine/release.rs` (rule `release-marking`).
//!
//! Answers are not restricted by role beyond "terminals sign nothing": a delivery or
//! non-delivery report and a service response are checked where they count, at the origin of
//! the message they answer (`engine/answers.rs`), against its own config.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bluehelm_pki::Role;
use bluehelm_proto::{
    Body, Destination, Envelope, NodeId, NoticeLifecycle, SealedBody, SealedKind,
};

#[cfg(test)]
mod tests;

/// The node id of the general secretariat: the hub that reviews notice requests. The same
/// constant as `custody::HUB` (every network built by `localnet` uses it).
pub const HUB: &str = "gs";

/// The certified party that signed an envelope: from its certificate, never its payload.
#[derive(Debug, Clone, Copy)]
pub struct Party<'a> {
    /// The certificate's node (verification made sure it is the envelope's origin).
    pub node: &'a NodeId,
    pub role: Role,
    /// The country, for an `ncb` certificate (a mission's host country, for a `mission` one).
    pub country: Option<&'a str>,
    /// The mission code, for a `mission` certificate.
    pub mission: Option<&'a str>,
}

impl<'a> Party<'a> {
    /// The party a certificate certifies.
    pub fn of(identity: &'a bluehelm_pki::NodeIdentity) -> Self {
        Self {
            node: &identity.node,
            role: identity.role,
            country: identity.country.as_deref(),
            mission: identity.mission.as_deref(),
        }
    }
}

/// A rule of the role policy. Its name is stable: operators and tests match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Terminal certificates act only through their home node: they never sign envelopes.
    TerminalsSignNothing,
    /// PUBLISHED notices (and UPDATED/CANCELLED publications) come from roles with
    /// `publish_notices`: by default the hub only.
    OnlyHubPublishesNotices,
    /// Notice requests come from roles with `request_notices` (by default NCBs), for the
    /// signer's own bureau only.
    NoticeRequestsFromNcbForOwnBureau,
    /// Notice requests go to the hub, which reviews them.
    NoticeRequestsGoToHub,
    /// Diffusions come from roles with `diffusions`: by default NCBs and the hub.
    DiffusionsFromNcbOrHub,
    /// Text messages go only where the signer's role's `messages_to` allows.
    MessageScope,
    /// Service requests go only where the signer's role's `service_requests_to` allows.
    ServiceRequestScope,
    /// Hit notifications come from a node that answers checks (the hub, or a replica that
    /// answered from its copy, issue 13) and go to one node (the record's owner), never to a
    /// group or a service.
    HitNotificationsToOwner,
    /// Record uploads (an owner's signed record changes, issue 13) go to the hub, which
    /// sequences them, and come from a bureau or mission node.
    RecordUploadsGoToHub,
    /// An UPDATED or CANCELLED request names a notice the hub's register holds, not
    /// cancelled (`engine/register.rs`).
    NoticeChangesNeedAKnownNotice,
    /// Only the notice's owner (its requesting bureau) asks for an update or a cancellation
    /// (`engine/register.rs`).
    NoticeChangesByOwner,
    /// A publication embeds the requesting bureau's signed request, which verifies and
    /// matches it (`engine/publication.rs`).
    PublicationCarriesItsRequest,
    /// A marked message is copied only to the nodes its release list admits, and a node
    /// outside the list refuses its copy (`engine/release.rs`).
    ReleaseMarking,
}

impl Rule {
    pub const ALL: [Rule; 13] = [
        Rule::TerminalsSignNothing,
        Rule::OnlyHubPublishesNotices,
        Rule::NoticeRequestsFromNcbForOwnBureau,
        Rule::NoticeRequestsGoToHub,
        Rule::DiffusionsFromNcbOrHub,
        Rule::MessageScope,
        Rule::ServiceRequestScope,
        Rule::HitNotificationsToOwner,
        Rule::RecordUploadsGoToHub,
        Rule::NoticeChangesNeedAKnownNotice,
        Rule::NoticeChangesByOwner,
        Rule::PublicationCarriesItsRequest,
        Rule::ReleaseMarking,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::TerminalsSignNothing => "terminals-sign-nothing",
            Rule::OnlyHubPublishesNotices => "only-hub-publishes-notices",
            Rule::NoticeRequestsFromNcbForOwnBureau => "notice-requests-from-ncb-for-own-bureau",
            Rule::NoticeRequestsGoToHub => "notice-requests-go-to-hub",
            Rule::DiffusionsFromNcbOrHub => "diffusions-from-ncb-or-hub",
            Rule::MessageScope => "message-scope",
            Rule::ServiceRequestScope => "service-request-scope",
            Rule::HitNotificationsToOwner => "hit-notifications-to-owner",
            Rule::RecordUploadsGoToHub => "record-uploads-go-to-hub",
            Rule::NoticeChangesNeedAKnownNotice => "notice-changes-need-a-known-notice",
            Rule::NoticeChangesByOwner => "notice-changes-by-owner",
            Rule::PublicationCarriesItsRequest => "publication-carries-its-request",
            Rule::ReleaseMarking => "release-marking",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The policy refused a message: the rule it breaks and one line saying why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {detail}")]
pub struct PolicyRefusal {
    pub rule: Rule,
    pub detail: String,
}

/// Where a role may address messages or service requests. Each word of the config is one flag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope {
    /// `any`: every destination.
    pub any: bool,
    /// `hub`: the hub node.
    pub hub: bool,
    /// `services`: service destinations (the node that hosts the service).
    pub services: bool,
    /// `mission-bureaus`: the bureaus the signer's mission may address
    /// (`[policy.missions.<CODE>] may_address`).
    pub mission_bureaus: bool,
}

impl Scope {
    /// The words of the config, in order.
    pub const WORDS: [&'static str; 4] = ["any", "hub", "services", "mission-bureaus"];

    pub const ANY: Scope = Scope {
        any: true,
        hub: false,
        services: false,
        mission_bureaus: false,
    };

    /// Adds one config word; false if the word is unknown (nothing added).
    #[must_use]
    pub fn add(&mut self, word: &str) -> bool {
        match word {
            "any" => self.any = true,
            "hub" => self.hub = true,
            "services" => self.services = true,
            "mission-bureaus" => self.mission_bureaus = true,
            _ => return false,
        }
        true
    }

    fn words(self) -> String {
        let on = [self.any, self.hub, self.services, self.mission_bureaus];
        let words: Vec<&str> = Self::WORDS
            .iter()
            .zip(on)
            .filter_map(|(w, on)| on.then_some(*w))
            .collect();
        if words.is_empty() {
            "nowhere".to_owned()
        } else {
            words.join(", ")
        }
    }
}

/// What one role may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolePolicy {
    pub publish_notices: bool,
    pub request_notices: bool,
    pub diffusions: bool,
    pub messages_to: Scope,
    pub service_requests_to: Scope,
}

impl RolePolicy {
    /// The hub sends anything.
    pub const HUB: RolePolicy = RolePolicy {
        publish_notices: true,
        request_notices: true,
        diffusions: true,
        messages_to: Scope::ANY,
        service_requests_to: Scope::ANY,
    };
    /// NCBs request notices for themselves, send diffusions, messages and service requests.
    pub const NCB: RolePolicy = RolePolicy {
        publish_notices: false,
        request_notices: true,
        diffusions: true,
        messages_to: Scope::ANY,
        service_requests_to: Scope::ANY,
    };
    /// Mission posts send messages and service requests to the hub, to hosted services and
    /// to the bureaus their mission may address; nothing else.
    pub const MISSION: RolePolicy = RolePolicy {
        publish_notices: false,
        request_notices: false,
        diffusions: false,
        messages_to: Scope {
            any: false,
            hub: true,
            services: true,
            mission_bureaus: true,
        },
        service_requests_to: Scope {
            any: false,
            hub: true,
            services: true,
            mission_bureaus: true,
        },
    };
}

/// A node's role policy: the `[policy]` table of its config, the defaults if absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The hub node: notice requests go there.
    pub hub_node: NodeId,
    pub hub: RolePolicy,
    pub ncb: RolePolicy,
    pub mission: RolePolicy,
    /// Per mission code: the bureaus that mission may address.
    pub missions: BTreeMap<String, BTreeSet<NodeId>>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            hub_node: HUB.parse().expect("HUB is a valid node id"),
            hub: RolePolicy::HUB,
            ncb: RolePolicy::NCB,
            mission: RolePolicy::MISSION,
            missions: BTreeMap::new(),
        }
    }
}

impl Policy {
    /// The policy of a role; `None` for terminals, which never sign envelopes.
    pub fn of(&self, role: Role) -> Option<&RolePolicy> {
        match role {
            Role::Hub => Some(&self.hub),
            Role::Ncb => Some(&self.ncb),
            Role::Mission => Some(&self.mission),
            Role::Terminal => None,
        }
    }
}

fn refuse(rule: Rule, detail: String) -> Result<(), PolicyRefusal> {
    Err(PolicyRefusal { rule, detail })
}

/// Whether `signer` may send `envelope` to its destination. Allocates only to refuse.
pub fn check(policy: &Policy, signer: Party<'_>, envelope: &Envelope) -> Result<(), PolicyRefusal> {
    let role = signer.role;
    let Some(allowed) = policy.of(role) else {
        return refuse(
            Rule::TerminalsSignNothing,
            format!(
                "{} holds a terminal certificate: terminals act through their home node",
                signer.node
            ),
        );
    };
    match &envelope.body {
        Body::Notice(notice) => {
            let publication = match notice.lifecycle {
                NoticeLifecycle::Published => true,
                NoticeLifecycle::Requested => false,
                // From a role that publishes, an update or cancellation is a publication;
                // from any other, a request to the hub.
                NoticeLifecycle::Updated | NoticeLifecycle::Cancelled => allowed.publish_notices,
            };
            if publication {
                if !allowed.publish_notices {
                    return refuse(
                        Rule::OnlyHubPublishesNotices,
                        format!("{} ({role}) may not publish notices", signer.node),
                    );
                }
                return Ok(());
            }
            if !allowed.request_notices {
                return refuse(
                    Rule::NoticeRequestsFromNcbForOwnBureau,
                    format!(
                        "{} ({role}) may not send {} notice requests",
                        signer.node, notice.lifecycle
                    ),
                );
            }
            if &notice.requesting_bureau != signer.node {
                return refuse(
                    Rule::NoticeRequestsFromNcbForOwnBureau,
                    format!(
                        "{} may request notices only for itself, not for {}",
                        signer.node, notice.requesting_bureau
                    ),
                );
            }
            if envelope.destination != Destination::Node(policy.hub_node.clone()) {
                return refuse(
                    Rule::NoticeRequestsGoToHub,
                    format!(
                        "notice requests go to {}, not to {}",
                        policy.hub_node, envelope.destination
                    ),
                );
            }
            Ok(())
        }
        // A sealed body's kind is visible (issue 14, item 4): the same rules as in clear.
        Body::Diffusion(_)
        | Body::Sealed(SealedBody {
            kind: SealedKind::Diffusion,
            ..
        }) if !allowed.diffusions => refuse(
            Rule::DiffusionsFromNcbOrHub,
            format!("{} ({role}) may not send diffusions", signer.node),
        ),
        Body::Diffusion(_)
        | Body::Sealed(SealedBody {
            kind: SealedKind::Diffusion,
            ..
        }) => Ok(()),
        Body::Text(_)
        | Body::Sealed(SealedBody {
            kind: SealedKind::Text,
            ..
        }) => scope(
            policy,
            signer,
            &envelope.destination,
            allowed.messages_to,
            Rule::MessageScope,
        ),
        Body::Request(_) => scope(
            policy,
            signer,
            &envelope.destination,
            allowed.service_requests_to,
            Rule::ServiceRequestScope,
        ),
        Body::HitNotification(_) if !matches!(envelope.destination, Destination::Node(_)) => {
            refuse(
                Rule::HitNotificationsToOwner,
                format!(
                    "a hit notification goes to the record's owner, not to {}",
                    envelope.destination
                ),
            )
        }
        Body::HitNotification(_) => Ok(()),
        Body::RecordUpload(_)
            if envelope.destination != Destination::Node(policy.hub_node.clone()) =>
        {
            refuse(
                Rule::RecordUploadsGoToHub,
                format!(
                    "record uploads go to {}, which sequences them, not to {}",
                    policy.hub_node, envelope.destination
                ),
            )
        }
        Body::RecordUpload(_) => Ok(()),
        // Answers: checked at the origin of what they answer (engine/answers.rs).
        Body::Response(_) | Body::DeliveryReport(_) | Body::NonDeliveryReport(_) => Ok(()),
    }
}

fn scope(
    policy: &Policy,
    signer: Party<'_>,
    destination: &Destination,
    scope: Scope,
    rule: Rule,
) -> Result<(), PolicyRefusal> {
    let allowed = scope.any
        || match destination {
            Destination::Node(node) => {
                (scope.hub && *node == policy.hub_node)
                    || (scope.mission_bureaus
                        && signer
                            .mission
                            .and_then(|m| policy.missions.get(m))
                            .is_some_and(|bureaus| bureaus.contains(node)))
            }
            Destination::Service(_) => scope.services,
            Destination::Group(_) => false,
        };
    if allowed {
        return Ok(());
    }
    let mission = signer.mission.map(|m| format!(" {m}")).unwrap_or_default();
    refuse(
        rule,
        format!(
            "{} ({}{mission}) may not address {destination}: allowed {}",
            signer.node,
            signer.role,
            scope.words()
        ),
    )
}
