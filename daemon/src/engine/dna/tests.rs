use super::*;

/// A full ESS profile.
const STORED: &str = "D3S1358=15,16; vWA=17,18; D8S1179=13,14; D21S11=29,30; \
    D18S51=12,15; TH01=6,9.3; FGA=21,24; D1S1656=12,16; D2S441=10,14; D10S1248=13,15; \
    D12S391=18,20; D22S1045=15,16; AMEL=X,Y";

fn profile(text: &str) -> Profile {
    Profile::parse(text).unwrap()
}

#[test]
fn the_same_profile_is_a_full_match_whatever_the_order_and_case() {
    let stored = profile(STORED);
    assert_eq!(stored.str_loci(), 12);
    let reordered = STORED
        .replace("15,16; vWA", "16,15; VWA")
        .replace("TH01=6,9.3", "th01=9.3,6");
    assert_eq!(
        compare(&profile(&reordered), &stored),
        Outcome::Full { compared: 12 }
    );
}

#[test]
fn one_mismatching_locus_is_reported_as_such_and_two_are_no_hit() {
    let stored = profile(STORED);
    let one = STORED.replace("FGA=21,24", "FGA=21,25");
    assert_eq!(
        compare(&profile(&one), &stored),
        Outcome::OneMismatch { compared: 12 }
    );
    let two = one.replace("TH01=6,9.3", "TH01=6,9");
    assert_eq!(compare(&profile(&two), &stored), Outcome::NoHit);
}

#[test]
fn a_partial_profile_matches_from_six_loci_and_not_below() {
    let stored = profile(STORED);
    let six = "D3S1358=15,16; vWA=17,18; D8S1179=13,14; D21S11=29,30; D18S51=12,15; FGA=21,24";
    assert_eq!(
        compare(&profile(six), &stored),
        Outcome::Partial { compared: 6 }
    );
    let five = "D3S1358=15,16; vWA=17,18; D8S1179=13,14; D21S11=29,30; FGA=21,24; AMEL=X,Y";
    assert_eq!(
        compare(&profile(five), &stored),
        Outcome::NoHit,
        "Amelogenin is not counted"
    );
}

#[test]
fn a_no_hit_carries_nothing_about_the_stored_profile() {
    let stored = profile(STORED);
    let unrelated = "D3S1358=11,12; vWA=11,12; D8S1179=11,12; D21S11=11,12; D18S51=11,12; \
        TH01=7,8; FGA=11,12; D1S1656=11,12; D2S441=11,12; D10S1248=11,12";
    // Ten loci shared, none alike: `NoHit` has no fields, so no count leaves with it.
    assert_eq!(compare(&profile(unrelated), &stored), Outcome::NoHit);
    // Two loci shared: the same bare no-hit, indistinguishable from the one above.
    let few = "D3S1358=11,12; vWA=11,12";
    assert_eq!(compare(&profile(few), &stored), Outcome::NoHit);
}

#[test]
fn malformed_profiles_are_refused_with_what_is_wrong() {
    for (text, expected) in [
        ("", ProfileError::Empty),
        ("D99S1=1,2", ProfileError::UnknownLocus("D99S1".into())),
        ("FGA=21,24; fga=21,24", ProfileError::Repeated("FGA")),
        (
            "FGA=21",
            ProfileError::BadAlleles {
                locus: "FGA",
                value: "21".into(),
            },
        ),
        (
            "FGA=21,x",
            ProfileError::BadAlleles {
                locus: "FGA",
                value: "21,x".into(),
            },
        ),
        (
            "AMEL=X,Z",
            ProfileError::BadAlleles {
                locus: "AMEL",
                value: "X,Z".into(),
            },
        ),
        ("FGA 21,24", ProfileError::BadEntry("FGA 21,24".into())),
        (
            "FGA=100,2",
            ProfileError::BadAlleles {
                locus: "FGA",
                value: "100,2".into(),
            },
        ),
    ] {
        assert_eq!(Profile::parse(text), Err(expected), "{text:?}");
    }
}
