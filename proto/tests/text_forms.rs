//! Display and FromStr of the enums and destinations that people and config files name.

use bluehelm_proto::testing::{node, service};
use bluehelm_proto::{
    Destination, GroupName, Kind, NonDeliveryReason, NoticeType, ParseError, Precedence,
    RefusalReason, ResponseStatus,
};

#[test]
fn precedence_sorts_flash_first_and_ranks_match_serving_order() {
    let mut all = vec![
        Precedence::Routine,
        Precedence::Flash,
        Precedence::Priority,
        Precedence::Immediate,
    ];
    all.sort();
    assert_eq!(all, Precedence::ALL);
    for (rank, p) in Precedence::ALL.iter().enumerate() {
        assert_eq!(usize::from(p.rank()), rank);
        assert_eq!(Precedence::from_rank(p.rank()), Some(*p));
    }
    assert_eq!(Precedence::from_rank(4), None);
}

#[test]
fn precedence_parses_case_insensitively() {
    assert_eq!("FLASH".parse::<Precedence>().unwrap(), Precedence::Flash);
    assert_eq!(
        "Routine".parse::<Precedence>().unwrap(),
        Precedence::Routine
    );
    assert_eq!(Precedence::Immediate.to_string(), "immediate");
    assert_eq!(
        "urgent".parse::<Precedence>(),
        Err(ParseError::Unknown {
            what: "precedence",
            value: "urgent".into()
        })
    );
}

#[test]
fn destinations_print_and_parse_with_their_kind() {
    let cases = [
        (Destination::Node(node("ncb.fr")), "node:ncb.fr"),
        (
            Destination::Service(service("sltd.check")),
            "service:sltd.check",
        ),
        (
            Destination::Group(GroupName::new("all-ncb").unwrap()),
            "group:all-ncb",
        ),
    ];
    for (d, text) in cases {
        assert_eq!(d.to_string(), text);
        assert_eq!(text.parse::<Destination>().unwrap(), d);
    }
    assert_eq!(
        "ncb.fr".parse::<Destination>().unwrap(),
        Destination::Node(node("ncb.fr"))
    );
    assert!(matches!(
        "queue:x".parse::<Destination>(),
        Err(ParseError::Unknown {
            what: "destination kind",
            ..
        })
    ));
    assert!(matches!(
        "node:NCB".parse::<Destination>(),
        Err(ParseError::Id(_))
    ));
}

#[test]
fn enum_names_round_trip_through_text() {
    for k in Kind::ALL {
        assert_eq!(k.to_string().parse::<Kind>().unwrap(), *k);
    }
    assert_eq!(Kind::NonDeliveryReport.to_string(), "non-delivery-report");
    for t in NoticeType::ALL {
        assert_eq!(t.to_string().parse::<NoticeType>().unwrap(), *t);
    }
    assert_eq!(NoticeType::UnSpecial.to_string(), "un-special");
    assert_eq!("RED".parse::<NoticeType>().unwrap(), NoticeType::Red);
    for r in RefusalReason::ALL {
        assert_eq!(r.to_string().parse::<RefusalReason>().unwrap(), *r);
    }
    for r in NonDeliveryReason::ALL {
        assert_eq!(r.to_string().parse::<NonDeliveryReason>().unwrap(), *r);
    }
    assert_eq!(ResponseStatus::NoHit.to_string(), "no-hit");
}
