use std::collections::BTreeMap;

use bluehelm_proto::testing::{node, sample_envelope, sample_red_notice, sample_text};
use bluehelm_proto::{Body, Notice, NoticeLifecycle, Precedence};

use super::*;

fn member(role: Role, country: Option<&str>, mission: Option<&str>) -> Member {
    Member {
        role,
        country: country.map(str::to_owned),
        mission: mission.map(str::to_owned),
    }
}

/// gs, two NCBs released to, one NCB and one mission post that are not.
fn directory() -> Directory {
    let mut d = Directory::default();
    d.learn(node("gs"), member(Role::Hub, None, None));
    d.learn(node("ncb.fr"), member(Role::Ncb, Some("FR"), None));
    d.learn(node("ncb.ke"), member(Role::Ncb, Some("KE"), None));
    d.learn(node("ncb.de"), member(Role::Ncb, Some("DE"), None));
    // A mission's host country (KE here, to make the point) never counts.
    d.learn(
        node("mission.unmiss"),
        member(Role::Mission, Some("KE"), Some("UNMISS")),
    );
    d
}

fn party<'a>(id: &'a NodeId, directory: &'a Directory) -> Party<'a> {
    directory.get(id).expect("in the directory").party(id)
}

fn marked(destination: Destination, list: &str) -> Envelope {
    let mut envelope = sample_envelope(
        node("gs"),
        destination,
        Precedence::Routine,
        1_000,
        Body::Notice(Notice {
            lifecycle: NoticeLifecycle::Published,
            ..sample_red_notice()
        }),
    );
    envelope.release_to = Some(list.parse().unwrap());
    envelope
}

fn group() -> Destination {
    Destination::Group("all".parse().unwrap())
}

fn fan_out(recipients: &[&str]) -> BTreeMap<Hop, Vec<NodeId>> {
    recipients
        .iter()
        .map(|r| (Hop::Next(node(r)), vec![node(r)]))
        .collect()
}

#[test]
fn the_list_admits_listed_countries_missions_roles_and_the_hub() {
    let d = directory();
    let list: ReleaseList = "FR,KE".parse().unwrap();
    let admitted = |id: &str| admits(&list, party(&node(id), &d));
    assert!(admits(&list, party(&node("gs"), &d)));
    assert!(admitted("ncb.fr") && admitted("ncb.ke"));
    assert!(!admitted("ncb.de"));
    assert!(!admitted("mission.unmiss"), "a host country is no release");
    let by_mission: ReleaseList = "UNMISS".parse().unwrap();
    assert!(admits(&by_mission, party(&node("mission.unmiss"), &d)));
    assert!(!admits(&by_mission, party(&node("ncb.fr"), &d)));
    let by_role: ReleaseList = "ncb".parse().unwrap();
    assert!(admits(&by_role, party(&node("ncb.de"), &d)));
    assert!(!admits(&by_role, party(&node("mission.unmiss"), &d)));
    let terminal = node("t1");
    let t = Party {
        node: &terminal,
        role: Role::Terminal,
        country: Some("FR"),
        mission: None,
    };
    assert!(!admits(&list, t), "terminals read through their home node");
}

#[test]
fn a_fan_out_queues_copies_only_for_admitted_recipients() {
    let d = directory();
    let gs = node("gs");
    let envelope = marked(group(), "FR,KE");
    let mut hops = fan_out(&["ncb.fr", "ncb.ke", "ncb.de", "mission.unmiss", "ncb.zz"]);
    let withheld = restrict(&envelope, &[], party(&gs, &d), &d, &mut hops).unwrap();
    assert_eq!(hops, fan_out(&["ncb.fr", "ncb.ke"]));
    assert_eq!(
        withheld,
        vec![
            (node("mission.unmiss"), WithheldBecause::OutsideList),
            (node("ncb.de"), WithheldBecause::OutsideList),
            (node("ncb.zz"), WithheldBecause::IdentityUnknown),
        ]
    );
}

#[test]
fn a_hop_carrying_several_recipients_keeps_only_the_admitted_ones() {
    let d = directory();
    let gs = node("gs");
    let envelope = marked(group(), "FR");
    let mut hops: BTreeMap<Hop, Vec<NodeId>> = [(
        Hop::Next(node("relay")),
        vec![node("ncb.fr"), node("ncb.de")],
    )]
    .into();
    restrict(&envelope, &[], party(&gs, &d), &d, &mut hops).unwrap();
    assert_eq!(hops[&Hop::Next(node("relay"))], vec![node("ncb.fr")]);
    // All withheld: the hop goes, rather than carry an empty list ("route by destination").
    let envelope = marked(group(), "UNMISS");
    let mut hops: BTreeMap<Hop, Vec<NodeId>> = [(
        Hop::Next(node("relay")),
        vec![node("ncb.fr"), node("ncb.de")],
    )]
    .into();
    restrict(&envelope, &[], party(&gs, &d), &d, &mut hops).unwrap();
    assert!(hops.is_empty());
}

#[test]
fn a_message_for_a_known_node_outside_the_list_is_refused() {
    let d = directory();
    let gs = node("gs");
    let envelope = marked(Destination::Node(node("ncb.de")), "FR,KE");
    let mut hops: BTreeMap<Hop, Vec<NodeId>> = [(Hop::Next(node("ncb.de")), vec![])].into();
    let refusal = restrict(&envelope, &[], party(&gs, &d), &d, &mut hops).unwrap_err();
    assert_eq!(refusal.rule, Rule::ReleaseMarking);
    assert!(refusal.detail.contains("ncb.de"), "{}", refusal.detail);
    // An unknown destination is left to the nodes ahead, which know it...
    let envelope = marked(Destination::Node(node("ncb.zz")), "FR,KE");
    let mut hops: BTreeMap<Hop, Vec<NodeId>> = [(Hop::Next(node("gs")), vec![])].into();
    assert!(restrict(&envelope, &[], party(&gs, &d), &d, &mut hops).is_ok());
    assert_eq!(hops.len(), 1);
    // ...unless the next hop is that node: nobody else would judge it.
    let mut hops: BTreeMap<Hop, Vec<NodeId>> = [(Hop::Next(node("ncb.zz")), vec![])].into();
    let refusal = restrict(&envelope, &[], party(&gs, &d), &d, &mut hops).unwrap_err();
    assert!(
        refusal.detail.contains("never linked with ncb.zz"),
        "{}",
        refusal.detail
    );
}

#[test]
fn a_node_outside_the_list_refuses_its_own_copy() {
    let d = directory();
    let de = node("ncb.de");
    let mut envelope = marked(Destination::Node(de.clone()), "FR");
    envelope.body = Body::Text(sample_text());
    let mut hops: BTreeMap<Hop, Vec<NodeId>> = [(Hop::Local, vec![])].into();
    let refusal = restrict(&envelope, &[], party(&de, &d), &d, &mut hops).unwrap_err();
    assert_eq!(refusal.rule, Rule::ReleaseMarking);
    // A copy fanned out before it, for it alone: refused too.
    let envelope = marked(group(), "FR");
    let mut hops: BTreeMap<Hop, Vec<NodeId>> = [(Hop::Local, vec![])].into();
    let refused = restrict(
        &envelope,
        std::slice::from_ref(&de),
        party(&de, &d),
        &d,
        &mut hops,
    );
    assert!(refused.is_err());
    // Admitted: kept.
    let fr = node("ncb.fr");
    let mut hops: BTreeMap<Hop, Vec<NodeId>> = [(Hop::Local, vec![])].into();
    restrict(
        &envelope,
        std::slice::from_ref(&fr),
        party(&fr, &d),
        &d,
        &mut hops,
    )
    .unwrap();
    assert!(hops.contains_key(&Hop::Local));
}

#[test]
fn unmarked_messages_pass_untouched() {
    let d = Directory::default();
    let gs = node("gs");
    let mut envelope = marked(group(), "FR");
    envelope.release_to = None;
    let mut hops = fan_out(&["ncb.fr", "ncb.zz"]);
    let before = hops.clone();
    let me = Party {
        node: &gs,
        role: Role::Hub,
        country: None,
        mission: None,
    };
    assert!(restrict(&envelope, &[], me, &d, &mut hops)
        .unwrap()
        .is_empty());
    assert_eq!(hops, before);
}

#[test]
fn a_member_is_stored_and_read_back_and_nothing_else_reads_as_one() {
    for m in [
        member(Role::Ncb, Some("FR"), None),
        member(Role::Mission, Some("KE"), Some("UNMISS")),
        member(Role::Mission, None, Some("UNMISS")),
        member(Role::Hub, None, None),
    ] {
        assert_eq!(Member::decode(&m.encode()), Some(m));
    }
    for bad in [
        &b""[..],
        b"ncb",
        b"ncb\n\n",
        b"king\nFR\n",
        b"ncb\nFR\n\nx",
        b"\xff",
    ] {
        assert_eq!(Member::decode(bad), None, "{bad:?}");
    }
}

#[test]
fn learning_reports_only_what_is_new() {
    let mut d = Directory::default();
    let fr = member(Role::Ncb, Some("FR"), None);
    assert!(d.learn(node("ncb.fr"), fr.clone()));
    assert!(!d.learn(node("ncb.fr"), fr));
    assert!(d.learn(node("ncb.fr"), member(Role::Ncb, Some("BE"), None)));
    assert_eq!(d.len(), 1);
}
