use super::*;
use crate::services::answer::{MAX_CHECK_FIELDS, MAX_VALUE_LEN};
use crate::services::record::Row;
use bluehelm_proto::{ServiceName, ServiceResponse};

/// Twelve ESS loci and Amelogenin.
const PROFILE: &str = "D3S1358=15,16; vWA=17,18; D8S1179=13,14; D21S11=29,30; \
    D18S51=12,15; TH01=6,9.3; FGA=21,24; D1S1656=12,16; D2S441=10,14; D10S1248=13,15; \
    D12S391=18,20; D22S1045=15,16; AMEL=X,Y";
/// Seven of its loci: what a trace from a crime scene may give.
const SEVEN: &str = "D3S1358=15,16; vWA=17,18; D8S1179=13,14; D21S11=29,30; D18S51=12,15; \
    TH01=6,9.3; FGA=21,24";
/// Another person's profile on ten of the same loci.
const OTHER: &str = "D3S1358=11,12; vWA=11,12; D8S1179=11,12; D21S11=11,12; D18S51=11,12; \
    TH01=7,8; FGA=11,12; D1S1656=11,12; D2S441=11,12; D10S1248=11,12";

fn record(owner: &str, id: &str, profile: &str, release_to: &str) -> DnaRecord {
    let row: Row = [
        ("id", id),
        ("profile", profile),
        ("case_reference", "2026/17"),
        ("owner_bureau", owner),
        ("reported_at", "2026-03-01"),
        ("instructions", "contact the owner's DNA unit"),
        ("release_to", release_to),
    ]
    .into_iter()
    .collect();
    DnaRecord::from_row(&row).unwrap()
}

/// Checks `profile` as a mission post in South Sudan (released to UNMISS, not to FR).
fn check_at_mission(profile: &str, records: &[DnaRecord]) -> Answer {
    let node: bluehelm_proto::NodeId = "mission.unmiss".parse().unwrap();
    let requester = Party {
        node: &node,
        role: bluehelm_pki::Role::Mission,
        country: Some("SS"),
        mission: Some("UNMISS"),
    };
    let params = [(PROFILE_PARAM.to_owned(), profile.to_owned())].into();
    check(&params, records, requester)
}

fn assert_fits(answer: &Answer) {
    assert!(
        answer.fields.len() <= MAX_CHECK_FIELDS,
        "{}",
        answer.fields.len()
    );
    assert!(answer.fields.values().all(|v| v.len() <= MAX_VALUE_LEN));
    ServiceResponse {
        service: ServiceName::new("dna.check".to_owned()).unwrap(),
        status: answer.status,
        fields: answer.fields.clone(),
        detail: answer.detail.clone(),
    }
    .validate()
    .unwrap();
}

#[test]
fn the_same_profile_is_a_full_hit_with_the_owners_reference() {
    let records = [
        record("ncb.de", "DE-7", OTHER, ""),
        record("ncb.fr", "FR-DNA-1", PROFILE, ""),
    ];
    let answer = check_at_mission(PROFILE, &records);
    assert_eq!(answer.status, ResponseStatus::Hit);
    let f = &answer.fields;
    assert_eq!(f["owner_bureau"], "ncb.fr");
    assert_eq!(f["reference"], "FR-DNA-1");
    assert_eq!(f["match"], "full");
    assert_eq!(f["loci_compared"], "12");
    assert_eq!(f["loci_matched"], "12");
    assert_eq!(f["hits"], "1");
    assert_eq!(f["case_reference"], "2026/17");
    assert!(f.values().all(|v| !v.contains("D3S1358")), "{f:?}");
    assert_eq!(
        answer.detail,
        "hit: DNA profile FR-DNA-1 of ncb.fr, case 2026/17 (ncb.fr/FR-DNA-1), full match on 12 of \
         12 loci; contact the owner's DNA unit"
    );
    assert_eq!(answer.named.len(), 1);
    assert_eq!(answer.named[0].key, "ncb.fr/FR-DNA-1");
    assert_fits(&answer);
}

#[test]
fn one_mismatching_locus_is_a_hit_that_says_so() {
    let records = [record("ncb.fr", "FR-DNA-1", PROFILE, "")];
    let answer = check_at_mission(&PROFILE.replace("FGA=21,24", "FGA=21,25"), &records);
    assert_eq!(answer.status, ResponseStatus::Hit);
    assert_eq!(answer.fields["match"], "one_mismatch");
    assert_eq!(answer.fields["loci_compared"], "12");
    assert_eq!(answer.fields["loci_matched"], "11");
}

#[test]
fn a_partial_trace_is_a_partial_hit_on_the_loci_it_has() {
    let records = [record("ncb.fr", "FR-DNA-1", PROFILE, "")];
    let answer = check_at_mission(SEVEN, &records);
    assert_eq!(answer.status, ResponseStatus::Hit);
    assert_eq!(answer.fields["match"], "partial");
    assert_eq!(answer.fields["loci_compared"], "7");
    assert_eq!(answer.fields["loci_matched"], "7");
}

#[test]
fn a_no_hit_is_the_same_bare_answer_whatever_is_stored() {
    let two_mismatches = PROFILE
        .replace("FGA=21,24", "FGA=21,25")
        .replace("TH01=6,9.3", "TH01=6,9");
    // Five loci in common with FR-DNA-1, none with the rest: below any comparison.
    let few_in_common = "D3S1358=15,16; vWA=17,18; D8S1179=13,14; D21S11=29,30; FGA=21,24; \
        CSF1PO=10,11; TPOX=8,8";
    let stored = [
        record("ncb.fr", "FR-DNA-1", PROFILE, ""),
        record("ncb.de", "DE-7", OTHER, ""),
    ];
    let marked = [record("ncb.fr", "FR-DNA-5", PROFILE, "FR")];
    let no_hits = [
        check_at_mission(PROFILE, &[]),
        check_at_mission(&two_mismatches, &stored),
        check_at_mission(few_in_common, &stored),
        check_at_mission(OTHER.replace("11,12", "13,14").as_str(), &stored),
        // Not released to the mission: not there, for the mission.
        check_at_mission(PROFILE, &marked),
    ];
    for answer in &no_hits {
        assert_eq!(
            answer,
            &Answer {
                status: ResponseStatus::NoHit,
                fields: BTreeMap::new(),
                detail: "no hit".into(),
                named: Vec::new(),
            }
        );
    }
}

#[test]
fn several_hits_rank_full_then_partial_then_one_mismatch_within_the_limits() {
    let partial_store: String = SEVEN.to_owned();
    let mut records = vec![
        record(
            "ncb.it",
            "IT-1",
            &PROFILE.replace("FGA=21,24", "FGA=20,24"),
            "",
        ),
        record("ncb.de", "DE-1", &partial_store, ""),
        record("ncb.fr", "FR-1", PROFILE, ""),
    ];
    let answer = check_at_mission(PROFILE, &records);
    let f = &answer.fields;
    assert_eq!(f["hits"], "3");
    assert_eq!(
        (f["owner_bureau"].as_str(), f["match"].as_str()),
        ("ncb.fr", "full")
    );
    assert_eq!(
        (f["hit.2.owner_bureau"].as_str(), f["hit.2.match"].as_str()),
        ("ncb.de", "partial")
    );
    assert_eq!(f["hit.2.loci_compared"], "7");
    assert_eq!(
        (f["hit.3.reference"].as_str(), f["hit.3.match"].as_str()),
        ("IT-1", "one_mismatch")
    );
    assert_eq!(f["hit.3.loci_matched"], "11");
    assert!(
        answer.detail.contains(", and 2 more hit(s);"),
        "{}",
        answer.detail
    );

    for n in 0..20 {
        records.push(record("ncb.es", &format!("ES-{n:02}"), PROFILE, ""));
    }
    let answer = check_at_mission(PROFILE, &records);
    assert_eq!(answer.fields["hits"], "23");
    assert_eq!(answer.named.len(), MAX_HITS);
    // Twenty-one full matches of 12 loci: by key, ncb.es/ES-00 to ES-09 come first.
    assert_eq!(answer.fields["reference"], "ES-00");
    assert_eq!(answer.fields["hit.10.reference"], "ES-09");
    assert!(!answer.fields.contains_key("hit.11.reference"));
    assert_fits(&answer);
}

#[test]
fn a_query_that_cannot_be_compared_is_refused_with_the_reason() {
    let five = "D3S1358=15,16; vWA=17,18; D8S1179=13,14; D21S11=29,30; FGA=21,24; AMEL=X,Y";
    for (profile, want) in [
        (five, "profile: 5 STR loci, fewer than the 6 a comparison needs (Amelogenin does not count)"),
        ("", "give profile, e.g. D3S1358=15,16; vWA=17,18; FGA=21,22; ..."),
        ("D3S1358=15,16; XYZ=1,2", "profile: unknown locus \"XYZ\": use the ESS and CODIS names, e.g. D3S1358, vWA, FGA, AMEL"),
    ] {
        let answer = check_at_mission(profile, &[]);
        assert_eq!(answer.status, ResponseStatus::Error);
        assert_eq!(answer.detail, want);
    }
    let params = [("dna".to_owned(), PROFILE.to_owned())].into();
    assert_eq!(
        query(&params).unwrap_err(),
        "unknown parameter \"dna\"; dna.check reads profile"
    );
}
