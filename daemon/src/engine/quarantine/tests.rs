use bluehelm_proto::{MessageId, NodeId};

use super::*;

fn id(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn rules(node: &str, since_ms: i64) -> Rules {
    [Rule {
        node: id(node),
        since_ms,
    }]
    .into_iter()
    .collect()
}

#[test]
fn a_rule_catches_its_node_from_its_time_on() {
    let rules = rules("mission.x", 1_000);
    assert!(!rules.catches_at(&id("mission.x"), 999));
    assert!(rules.catches_at(&id("mission.x"), 1_000));
    assert!(rules.catches_at(&id("mission.x"), 5_000));
    assert!(!rules.catches_at(&id("ncb.fr"), 5_000));
}

#[test]
fn the_creation_time_is_read_from_the_message_id() {
    let rules = rules("mission.x", 1_000_000);
    let before = MessageId::generate(999_999);
    let after = MessageId::generate(1_000_000);
    assert!(!rules.catches(&id("mission.x"), &before));
    assert!(rules.catches(&id("mission.x"), &after));
}

#[test]
fn a_second_rule_only_widens() {
    let mut rules = rules("mission.x", 1_000);
    assert!(!rules.add(Rule {
        node: id("mission.x"),
        since_ms: 2_000
    }));
    assert!(rules.catches_at(&id("mission.x"), 1_500));
    assert!(rules.add(Rule {
        node: id("mission.x"),
        since_ms: 500
    }));
    assert!(rules.catches_at(&id("mission.x"), 600));
}

#[test]
fn held_for_round_trips() {
    for held in [HeldFor::Inbox, HeldFor::Hop(id("ncb.ke"))] {
        let mut bytes = Vec::new();
        held.encode(&mut bytes);
        bytes.extend_from_slice(b"rest");
        let (back, rest) = HeldFor::decode(&bytes).unwrap();
        assert_eq!(back, held);
        assert_eq!(rest, b"rest");
    }
    assert!(HeldFor::decode(b"q\x09ab").is_none());
    assert!(HeldFor::decode(b"z").is_none());
}

#[test]
fn only_a_hub_warning_is_acted_on() {
    let rule = Rule {
        node: id("mission.x"),
        since_ms: 1_234,
    };
    let body = warning_body(&rule);
    assert_eq!(warning_rule(true, &body), Ok(rule));
    assert_eq!(warning_rule(false, &body), Err(WarningError::NotHub));
    assert_eq!(
        warning_rule(true, "node mission.x\n"),
        Err(WarningError::Malformed)
    );
    assert_eq!(
        warning_rule(true, "node !!\nsince 5\n"),
        Err(WarningError::Malformed)
    );
}

#[test]
fn the_hub_warns_every_node_it_knows_by_name_but_itself_and_the_compromised_one() {
    use crate::engine::routing::{Route, RoutePattern, RoutingTable};
    let routing = RoutingTable {
        me: Some(id("gs")),
        neighbours: [id("ncb.fr"), id("mission.x"), id("relay.east")]
            .into_iter()
            .collect(),
        routes: vec![
            Route {
                pattern: RoutePattern::Exact(id("mission.behind")),
                via: id("relay.east"),
                alternates: vec![],
            },
            Route {
                pattern: RoutePattern::parse("mission.*").unwrap(),
                via: id("relay.east"),
                alternates: vec![],
            },
        ],
        groups: [
            (
                "all-ncb".parse().unwrap(),
                vec![id("ncb.fr"), id("ncb.ke"), id("gs")],
            ),
            (
                "all-missions".parse().unwrap(),
                vec![id("mission.x"), id("mission.far")],
            ),
        ]
        .into_iter()
        .collect(),
        ..RoutingTable::default()
    };
    let targets: Vec<String> = warning_targets(&routing, &id("mission.x"))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        targets,
        [
            "mission.behind",
            "mission.far",
            "ncb.fr",
            "ncb.ke",
            "relay.east"
        ]
    );
}
