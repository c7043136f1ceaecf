//! Nominal and DNA checks (issue 13, items 4 and 5) over real nodes on loopback: persons and
//! profiles imported and signed at ncb.fr, sequenced by gs, replicated to mission.unmiss, and
//! checked at the post's replica and at gs.

use std::collections::BTreeMap;

use bluehelm::api::pb;
use bluehelm::Node;
use bluehelm_proto::{Body, HitNotification};
use bluehelm_tests::records::{hub_at_least, import, replica_level};
use bluehelm_tests::{api_client, eventually, id, linked, specs_with_reference_services, TestNet};

/// gs answers every check; the post keeps replicas of persons and DNA profiles.
fn net() -> TestNet {
    let mut specs = specs_with_reference_services();
    specs[0].services.push(("nominal.check".into(), id("gs")));
    specs[0].services.push(("dna.check".into(), id("gs")));
    specs[0]
        .reference_services
        .extend(["persons".into(), "dna".into()]);
    let post = specs
        .iter_mut()
        .find(|s| s.id.as_str() == "mission.unmiss")
        .expect("the post");
    post.replicate = vec!["persons".into(), "dna".into()];
    TestNet::with_specs(specs)
}

const PERSONS: &str = "id,family_name,given_names,date_of_birth,sex,nationalities,place_of_birth,owner_bureau,reported_at,instructions,release_to\n\
    P1,IVANOV,Sergei,1980-03-15,M,RU,Moscow,ncb.fr,2026-11-01,Arrest warrant 17/2026: detain,\n\
    P2,IVANOVA,Svetlana,1980-03,F,RU,,ncb.fr,2026-11-01,Witness: inform ncb.fr,\n\
    P3,PETROV,Ivan,1975,M,RU,,ncb.fr,2026-11-01,Inform ncb.fr,\n\
    P4,DUPONT,Jean-Pierre,1969-07-01,M,FR,Lyon,ncb.fr,2026-11-01,Inform ncb.fr,\n\
    P5,MARTIN,Claire,1990-01-01,F,FR,,ncb.fr,2026-11-01,France only,FR\n";

/// A full ESS profile; the stored one of D1.
const STORED: &str = "D3S1358=15,16; vWA=17,18; D8S1179=13,14; D21S11=29,30; D18S51=12,15; \
    TH01=6,9.3; FGA=21,24; D1S1656=12,16; D2S441=10,14; D10S1248=13,15; D12S391=18,20; \
    D22S1045=15,16; AMEL=X,Y";

async fn ask(
    node: &Node,
    service: &str,
    params: &[(&str, &str)],
    local: bool,
) -> pb::ServiceResponse {
    let call = pb::ServiceCall {
        service: service.into(),
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        timeout_seconds: 20,
        local_only: local,
        ..Default::default()
    };
    let answer = api_client(node)
        .await
        .request(call)
        .await
        .unwrap_or_else(|e| panic!("{service} {params:?}: {e}"))
        .into_inner();
    answer.response.expect("a response")
}

fn first(response: &pb::ServiceResponse) -> (&str, &str) {
    let get = |k: &str| response.fields.get(k).map(String::as_str).unwrap_or("");
    (get("candidate.1.key"), get("candidate.1.reasons"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nominal_checks_find_people_across_scripts_swaps_and_typos_with_their_rank() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let post = net.start("mission.unmiss").await;
    linked(&fr, "gs").await;
    linked(&post, "gs").await;
    let report = import(&fr, "persons", PERSONS.into()).await;
    assert_eq!((report.imported, report.rejected), (5, 0), "{report:?}");
    hub_at_least(&gs, "persons", 5).await;
    let level = replica_level(&post, "persons", 5).await;
    assert_eq!(
        level.records, 4,
        "the FR-only person stays out of the UNMISS replica"
    );

    let nominal = "nominal.check";
    // Cyrillic, answered by the post's replica.
    let cyrillic = ask(
        &post,
        nominal,
        &[("family_name", "Иванов"), ("given_names", "Сергей")],
        true,
    )
    .await;
    assert_eq!(first(&cyrillic).0, "ncb.fr/P1", "{cyrillic:?}");
    assert_eq!(cyrillic.fields["answered_by"], "replica");
    // Family and given names swapped.
    let swapped = ask(
        &post,
        nominal,
        &[("family_name", "Sergei"), ("given_names", "Ivanov")],
        true,
    )
    .await;
    assert_eq!(first(&swapped).0, "ncb.fr/P1", "{swapped:?}");
    assert!(first(&swapped).1.contains("swap"), "{swapped:?}");
    // A typo, and a partial date of birth.
    let typo = ask(
        &post,
        nominal,
        &[
            ("family_name", "Dupond"),
            ("given_names", "Jean-Piere"),
            ("date_of_birth", "1969"),
        ],
        true,
    )
    .await;
    assert_eq!(first(&typo).0, "ncb.fr/P4", "{typo:?}");
    // Sex filters: the woman ranks first for a woman asked about.
    let woman = ask(
        &post,
        nominal,
        &[("family_name", "Ivanova"), ("sex", "F")],
        true,
    )
    .await;
    assert_eq!(first(&woman).0, "ncb.fr/P2", "{woman:?}");
    assert_eq!(
        woman.fields["candidates"], "1",
        "the man is filtered out: {woman:?}"
    );
    // Not released to UNMISS: no trace at the post; a possible match at gs for ncb.fr.
    let hidden = ask(
        &post,
        nominal,
        &[("family_name", "Martin"), ("given_names", "Claire")],
        true,
    )
    .await;
    assert_ne!(hidden.status, pb::ResponseStatus::Hit as i32, "{hidden:?}");
    let at_gs = ask(
        &fr,
        nominal,
        &[("family_name", "Martin"), ("given_names", "Claire")],
        false,
    )
    .await;
    assert_eq!(first(&at_gs).0, "ncb.fr/P5", "{at_gs:?}");

    // The owner withdraws a person by id: the replica drops it and stops finding it.
    let withdrawal = "id,family_name,given_names,date_of_birth,sex,nationalities,place_of_birth,owner_bureau,reported_at,instructions,action\n\
                      P4,,,,,,,ncb.fr,,,withdraw\n";
    let report = import(&fr, "persons", withdrawal.into()).await;
    assert_eq!((report.imported, report.rejected), (1, 0), "{report:?}");
    let level = replica_level(&post, "persons", 6).await;
    assert_eq!(level.records, 3, "P4 is gone from the replica");
    let after = ask(
        &post,
        nominal,
        &[("family_name", "Dupont"), ("given_names", "Jean-Pierre")],
        true,
    )
    .await;
    assert_ne!(first(&after).0, "ncb.fr/P4", "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_in_cyrillic_finds_the_subject_of_a_red_notice() {
    let net = net();
    let gs = net.start("gs").await;
    let ke = net.start("ncb.ke").await;
    linked(&ke, "gs").await;
    // gs publishes ncb.fr's red notice on DUPONT Jean Marie (born 1980-04-12).
    let publication = bluehelm_tests::notices::genuine_publication(&net, "ncb.fr", "R-7/2026");
    let request = pb::SubmitRequest {
        destination: Some(pb::Destination {
            target: Some(pb::destination::Target::Group("all-ncb".into())),
        }),
        precedence: pb::Precedence::Priority as i32,
        ttl_seconds: 600,
        body: Some(pb::submit_request::Body::Notice(publication)),
        ..Default::default()
    };
    api_client(&gs)
        .await
        .submit(request)
        .await
        .expect("gs publishes");
    let answer = eventually("the notice's subject to be found", || async {
        let r = ask(
            &ke,
            "nominal.check",
            &[("family_name", "Дюпон"), ("given_names", "Жан")],
            false,
        )
        .await;
        (first(&r).0 == "ncb.fr/R-7/2026").then_some(r)
    })
    .await;
    assert!(
        answer.fields["candidate.1.instructions"].contains("red notice"),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dna_checks_hit_fully_with_one_mismatch_or_partially_and_a_no_hit_reveals_nothing() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let post = net.start("mission.unmiss").await;
    linked(&fr, "gs").await;
    linked(&post, "gs").await;
    let data = format!(
        "id,profile,case_reference,owner_bureau,reported_at,instructions\n\
         D1,\"{STORED}\",case 2026/9,ncb.fr,2026-11-01,Inform ncb.fr DNA unit\n"
    );
    let report = import(&fr, "dna", data).await;
    assert_eq!((report.imported, report.rejected), (1, 0), "{report:?}");
    replica_level(&post, "dna", 1).await;

    let post = &post;
    let dna = |p: String| async move { ask(post, "dna.check", &[("profile", &p)], true).await };
    let full = dna(STORED.into()).await;
    assert_eq!(full.status, pb::ResponseStatus::Hit as i32, "{full:?}");
    assert_eq!(
        (
            full.fields["match"].as_str(),
            full.fields["reference"].as_str(),
            full.fields["owner_bureau"].as_str()
        ),
        ("full", "D1", "ncb.fr")
    );
    assert_eq!(full.fields["loci_compared"], "12");
    let one_off = dna(STORED.replace("FGA=21,24", "FGA=21,25")).await;
    assert_eq!(
        one_off.fields.get("match").map(String::as_str),
        Some("one_mismatch"),
        "{one_off:?}"
    );
    let partial = dna(
        "D3S1358=15,16; vWA=17,18; D8S1179=13,14; D21S11=29,30; D18S51=12,15; FGA=21,24".into(),
    )
    .await;
    assert_eq!(
        partial.fields.get("match").map(String::as_str),
        Some("partial"),
        "{partial:?}"
    );
    assert_eq!(partial.fields["loci_compared"], "6");
    let unrelated = STORED
        .replace("=15,16", "=9,10")
        .replace("=17,18", "=9,11")
        .replace("=13,14", "=8,9");
    let none = dna(unrelated).await;
    assert_eq!(none.status, pb::ResponseStatus::NoHit as i32, "{none:?}");
    let revealed: BTreeMap<&str, &str> = none
        .fields
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "answered_by" | "as_of_change" | "freshness"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(
        revealed.is_empty() && none.detail.starts_with("no hit"),
        "{none:?}"
    );

    // Through gs, the owning bureau is told of the hit.
    let online = ask(post, "dna.check", &[("profile", STORED)], false).await;
    assert_eq!(online.status, pb::ResponseStatus::Hit as i32);
    let hit: HitNotification = eventually("ncb.fr to be told of the DNA hit", || async {
        let inbox = fr.bureau().inbox(None, 100).await.expect("inbox");
        inbox.iter().find_map(|m| match &m.envelope.body {
            Body::HitNotification(h) if h.service.as_str() == "dna.check" => Some(h.clone()),
            _ => None,
        })
    })
    .await;
    assert_eq!(
        (hit.record_key.as_str(), hit.requester.as_str()),
        ("dna/ncb.fr/D1", "mission.unmiss")
    );
    assert_eq!(hit.matched["match"], "full");
    drop(gs);
}
