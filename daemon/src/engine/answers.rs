//! Which answers to a message it sent a node believes: delivery and non-delivery reports
//! (recorded for `DeliveryState`) and service responses (which end a waiting `Request`).
//!
//! Any certified node can sign a report or a response about any message id it has learnt
//! (issue 10: `ncb.de` made `ncb.fr`'s messages read DELIVERED and FAILED). The signature
//! only proves who wrote the answer, so an answer counts only if its signer is a node that
//! can truthfully give it, as far as this node can tell from its own config:
//!
//! - a delivery report: signed by the node it names in `delivered_to`;
//! - a non-delivery report: signed by the node it names in `reported_by`, and that node is
//!   one that can hold this node's messages: this node itself (its links give up on refused
//!   copies), one of its configured peers (every message leaves through one of them), or a
//!   node whose certificate has the role `hub` (the network's relay). A relay further along
//!   with another role is not believed: its report is refused, and the message stays
//!   FORWARDED rather than risk a forged FAILED;
//! - a service response that ends a waiting `Request`: it names the requested service, and
//!   its signer is the host this node's `[services]` names for it or, if none is named, a
//!   `hub` (the hub hosts or resolves services).
//!
//! Pure: the signer's certified id and role come in as arguments.

use bluehelm_pki::Role;
use bluehelm_proto::{DeliveryReport, NodeId, NonDeliveryReport, ServiceName, ServiceResponse};

use super::routing::RoutingTable;

/// The certified signer of an answer: its envelope's origin (verification made sure it is the
/// certificate's node) and the role in its certificate (`None`: the certificate did not parse).
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    pub node: &'a NodeId,
    pub role: Option<Role>,
}

impl Signer<'_> {
    fn is_hub(&self) -> bool {
        self.role == Some(Role::Hub)
    }
}

/// Why an answer is not believed. All of these are the signer's doing: the answer is dropped
/// and counted, and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unbelieved {
    /// A delivery report about a delivery to another node than its signer.
    #[error(
        "delivery report signed by {signer} claims delivery to {named}: only {named} can report that"
    )]
    DeliveryByAnother { signer: NodeId, named: NodeId },
    /// A non-delivery report naming another node than its signer as the one that gave up.
    #[error(
        "non-delivery report signed by {signer} says {named} gave up: only {named} can report that"
    )]
    GivenUpByAnother { signer: NodeId, named: NodeId },
    /// A non-delivery report from a node that cannot hold this node's messages.
    #[error(
        "non-delivery report signed by {signer}, which is not this node, one of its peers or a hub: it never held the message"
    )]
    NotOnThePath { signer: NodeId },
    /// A response about another service than the one requested.
    #[error("response from {signer} is for service {answered}, but the request asked {asked}")]
    OtherService {
        signer: NodeId,
        answered: ServiceName,
        asked: ServiceName,
    },
    /// A response from another node than the service's configured host.
    #[error(
        "response to {service} signed by {signer}, but this node's config says {host} hosts it"
    )]
    NotTheHost {
        signer: NodeId,
        service: ServiceName,
        host: NodeId,
    },
    /// A response from a node that is not a hub, for a service whose host is not configured.
    #[error(
        "response to {service} signed by {signer}, which is not a hub: name the host of {service} under [services] to accept its answers"
    )]
    HostUnknown {
        signer: NodeId,
        service: ServiceName,
    },
}

/// Whether a delivery report counts.
pub fn delivery_report(signer: Signer<'_>, report: &DeliveryReport) -> Result<(), Unbelieved> {
    if &report.delivered_to != signer.node {
        return Err(Unbelieved::DeliveryByAnother {
            signer: signer.node.clone(),
            named: report.delivered_to.clone(),
        });
    }
    Ok(())
}

/// Whether a non-delivery report about a message this node (`table.me`) sent counts.
pub fn non_delivery_report(
    table: &RoutingTable,
    signer: Signer<'_>,
    report: &NonDeliveryReport,
) -> Result<(), Unbelieved> {
    if &report.reported_by != signer.node {
        return Err(Unbelieved::GivenUpByAnother {
            signer: signer.node.clone(),
            named: report.reported_by.clone(),
        });
    }
    let on_the_path = table.me.as_ref() == Some(signer.node)
        || table.neighbours.contains(signer.node)
        || signer.is_hub();
    if !on_the_path {
        return Err(Unbelieved::NotOnThePath {
            signer: signer.node.clone(),
        });
    }
    Ok(())
}

/// Whether a response ends the `Request` this node sent to service `asked`.
pub fn response(
    table: &RoutingTable,
    signer: Signer<'_>,
    asked: &ServiceName,
    response: &ServiceResponse,
) -> Result<(), Unbelieved> {
    if &response.service != asked {
        return Err(Unbelieved::OtherService {
            signer: signer.node.clone(),
            answered: response.service.clone(),
            asked: asked.clone(),
        });
    }
    match table.services.get(asked) {
        Some(host) if host != signer.node => Err(Unbelieved::NotTheHost {
            signer: signer.node.clone(),
            service: asked.clone(),
            host: host.clone(),
        }),
        Some(_) => Ok(()),
        None if signer.is_hub() => Ok(()),
        None => Err(Unbelieved::HostUnknown {
            signer: signer.node.clone(),
            service: asked.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bluehelm_proto::testing::{
        node, sample_delivery_report, sample_non_delivery_report, sample_sltd_hit, service,
    };

    /// `ncb.fr`'s knowledge: its one peer `gs` is its default route.
    fn fr() -> RoutingTable {
        RoutingTable {
            me: Some(node("ncb.fr")),
            neighbours: [node("gs")].into(),
            default_route: Some(node("gs")),
            ..Default::default()
        }
    }

    fn signer(id: &NodeId, role: Role) -> Signer<'_> {
        Signer {
            node: id,
            role: Some(role),
        }
    }

    fn delivered_to(to: &str) -> DeliveryReport {
        DeliveryReport {
            delivered_to: node(to),
            ..sample_delivery_report(1_000)
        }
    }

    fn given_up_by(by: &str) -> NonDeliveryReport {
        NonDeliveryReport {
            reported_by: node(by),
            ..sample_non_delivery_report()
        }
    }

    #[test]
    fn a_delivery_report_counts_only_from_the_node_it_names() {
        let mission = node("mission.unmiss");
        let de = node("ncb.de");
        let report = delivered_to("mission.unmiss");
        assert_eq!(
            delivery_report(signer(&mission, Role::Mission), &report),
            Ok(())
        );
        assert_eq!(
            delivery_report(signer(&de, Role::Ncb), &report),
            Err(Unbelieved::DeliveryByAnother {
                signer: de.clone(),
                named: mission.clone()
            })
        );
        // Not even the hub may report another node's delivery.
        let gs = node("gs");
        assert!(delivery_report(signer(&gs, Role::Hub), &report).is_err());
    }

    #[test]
    fn a_non_delivery_report_must_name_its_signer() {
        let de = node("ncb.de");
        assert_eq!(
            non_delivery_report(&fr(), signer(&de, Role::Ncb), &given_up_by("gs")),
            Err(Unbelieved::GivenUpByAnother {
                signer: de.clone(),
                named: node("gs")
            })
        );
    }

    #[test]
    fn a_non_delivery_report_counts_from_this_node_its_peers_and_hubs_only() {
        let table = fr();
        for (id, role) in [
            ("ncb.fr", Role::Ncb),
            ("gs", Role::Hub),
            ("hub.east", Role::Hub),
        ] {
            let id = node(id);
            let report = given_up_by(id.as_str());
            assert_eq!(
                non_delivery_report(&table, signer(&id, role), &report),
                Ok(()),
                "{id}"
            );
        }
        for (id, role) in [("ncb.de", Role::Ncb), ("mission.unmiss", Role::Mission)] {
            let id = node(id);
            let report = given_up_by(id.as_str());
            assert_eq!(
                non_delivery_report(&table, signer(&id, role), &report),
                Err(Unbelieved::NotOnThePath { signer: id.clone() })
            );
        }
        // A role that did not parse is no hub.
        let east = node("hub.east");
        let unknown = Signer {
            node: &east,
            role: None,
        };
        assert!(non_delivery_report(&table, unknown, &given_up_by("hub.east")).is_err());
    }

    #[test]
    fn a_response_counts_from_the_configured_host_or_else_a_hub() {
        let sltd = service("sltd.check");
        let hit = sample_sltd_hit();
        let (gs, de) = (node("gs"), node("ncb.de"));
        // No host configured here (an NCB): only a hub answers.
        assert_eq!(response(&fr(), signer(&gs, Role::Hub), &sltd, &hit), Ok(()));
        assert_eq!(
            response(&fr(), signer(&de, Role::Ncb), &sltd, &hit),
            Err(Unbelieved::HostUnknown {
                signer: de.clone(),
                service: sltd.clone()
            })
        );
        // A host configured here: only it, hub or not.
        let mut table = fr();
        table.services.insert(sltd.clone(), de.clone());
        assert_eq!(
            response(&table, signer(&de, Role::Ncb), &sltd, &hit),
            Ok(())
        );
        assert_eq!(
            response(&table, signer(&gs, Role::Hub), &sltd, &hit),
            Err(Unbelieved::NotTheHost {
                signer: gs.clone(),
                service: sltd.clone(),
                host: de.clone()
            })
        );
    }

    #[test]
    fn a_response_must_answer_the_service_asked() {
        let gs = node("gs");
        let smv = service("smv.check");
        assert_eq!(
            response(&fr(), signer(&gs, Role::Hub), &smv, &sample_sltd_hit()),
            Err(Unbelieved::OtherService {
                signer: gs.clone(),
                answered: service("sltd.check"),
                asked: smv
            })
        );
    }
}
