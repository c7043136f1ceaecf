//! The AFIS relay (issue 13, item 6): a mission post sends an ANSI/NIST-ITL file with an
//! `afis.check` request; gs relays it to the bureau whose AFIS hosts the service (here
//! `ncb.fr`, served by the test AFIS of `bluehelm_tests::afis`, a client of its node's API);
//! the answer, hit with the AFIS's reference or no-hit, comes back. Real nodes on loopback,
//! their real API sockets and the real binary.

use std::collections::BTreeMap;
use std::time::Duration;

use bluehelm::api::pb;
use bluehelm::api::sha256_hex;
use bluehelm::localnet::{standard_specs, NodeSpec};
use bluehelm::Node;
use bluehelm_proto::limits::MAX_REQUEST_ATTACHMENT_LEN;
use bluehelm_tests::afis::{ansi_nist_file, Seen, TestAfis, ANSI_NIST, SERVICE};
use bluehelm_tests::{api_client, api_queue_depth, bluehelm_bin, id, linked, run_cli, TestNet};
use tonic::Code;

/// The file of the "Must show": 2 MB, twice the frame cap nodes had before.
const TWO_MB: usize = 2 * 1024 * 1024;

/// The AFIS's reference for the known file's person.
const REFERENCE: &str = "FR-AFIS-2026-000417";

/// The standard network, with `afis.check` hosted at `ncb.fr`, in every node's `[services]`:
/// gs routes by it, ncb.fr serves by it, and the mission post believes an answer signed by
/// ncb.fr only because it names ncb.fr as the host (a bureau is not the hub).
fn specs() -> Vec<NodeSpec> {
    let mut specs = standard_specs();
    for spec in &mut specs {
        spec.services.push((SERVICE.into(), id("ncb.fr")));
    }
    specs
}

fn call(file: Option<pb::Attachment>) -> pb::ServiceCall {
    pb::ServiceCall {
        service: SERVICE.into(),
        params: BTreeMap::from([("finger_set".to_owned(), "ten-print".to_owned())]),
        timeout_seconds: 30,
        ttl_seconds: 0,
        precedence: 0,
        purpose: "identity check at Juba checkpoint, case 2026/77".into(),
        attachment: file,
        local_only: false,
    }
}

fn ansi_nist(name: &str, content: Vec<u8>) -> pb::Attachment {
    pb::Attachment {
        filename: name.into(),
        media_type: ANSI_NIST.into(),
        content,
    }
}

/// The network of [`specs`] with gs, ncb.fr and the mission post running and linked.
async fn started() -> (TestNet, [Node; 3]) {
    let net = TestNet::with_specs(specs());
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let mission = net.start("mission.unmiss").await;
    linked(&gs, "mission.unmiss").await;
    linked(&gs, "ncb.fr").await;
    (net, [gs, fr, mission])
}

/// `bluehelm request afis.check --attach FILE --config mission.unmiss.toml`, the officer's
/// command as a real process, with `content` written to a file named `name`; returns (exit
/// code, stdout, stderr).
async fn request_cli(net: &TestNet, name: &str, content: &[u8]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, content).unwrap();
    let mission_config = net.config_path("mission.unmiss");
    run_cli(
        bluehelm_bin!(),
        [
            "request".as_ref(),
            SERVICE.as_ref(),
            "--config".as_ref(),
            mission_config.as_os_str(),
            "--attach".as_ref(),
            file.as_os_str(),
            "--param".as_ref(),
            "finger_set=ten-print".as_ref(),
        ],
    )
    .await
}

async fn next_seen(afis: &mut TestAfis) -> Seen {
    tokio::time::timeout(bluehelm_tests::PATIENCE, afis.seen.recv())
        .await
        .expect("the AFIS gets the request in time")
        .expect("the AFIS runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mission_post_sends_a_2_mb_fingerprint_file_through_gs_and_gets_the_afis_hit_with_its_reference(
) {
    let (net, [gs, fr, mission]) = started().await;
    let known = ansi_nist_file(TWO_MB, 1);
    let table = BTreeMap::from([(sha256_hex(&known), REFERENCE.to_owned())]);
    let mut afis = TestAfis::serve(api_client(&fr).await, table).await;

    // The officer's command: the file goes mission -> gs -> ncb.fr.
    let (code, stdout, stderr) = request_cli(&net, "subject.an2", &known).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("hit from ncb.fr"), "{stdout}");
    assert!(
        stdout.contains(&format!("reference: {REFERENCE}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "file sent: subject.an2, {TWO_MB} bytes, sha256 {}",
            sha256_hex(&known)
        )),
        "{stdout}"
    );
    let seen = next_seen(&mut afis).await;
    assert_eq!(seen.origin, "mission.unmiss");
    assert_eq!(seen.len, TWO_MB, "the whole file reached the AFIS");
    assert_eq!(seen.sha256, sha256_hex(&known));
    assert!(
        seen.digest_matches,
        "the node's digest is that of the bytes"
    );

    // Through the API: the same file hits again, another file of the same size does not.
    let mut api = api_client(&mission).await;
    let answer = api
        .request(call(Some(ansi_nist("subject.an2", known.clone()))))
        .await
        .expect("the check")
        .into_inner();
    assert_eq!(answer.responder, "ncb.fr");
    let hit = answer.response.expect("a response");
    assert_eq!(hit.status, pb::ResponseStatus::Hit as i32, "{hit:?}");
    assert_eq!(hit.fields["reference"], REFERENCE);
    assert_eq!(next_seen(&mut afis).await.request_id, answer.request_id);

    let unknown = ansi_nist_file(TWO_MB, 2);
    let answer = api
        .request(call(Some(ansi_nist("other.an2", unknown.clone()))))
        .await
        .expect("the check")
        .into_inner();
    let miss = answer.response.expect("a response");
    assert_eq!(miss.status, pb::ResponseStatus::NoHit as i32, "{miss:?}");
    assert!(!miss.fields.contains_key("reference"), "{miss:?}");
    assert_eq!(miss.fields["sha256"], sha256_hex(&unknown));
    let seen = next_seen(&mut afis).await;
    assert_eq!((seen.len, seen.digest_matches), (TWO_MB, true));

    for node in [mission, fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_the_limit_is_refused_at_the_origin_and_nothing_is_sent() {
    let (net, [gs, fr, mission]) = started().await;
    let mut afis = TestAfis::serve(api_client(&fr).await, BTreeMap::new()).await;

    let too_big = ansi_nist_file(MAX_REQUEST_ATTACHMENT_LEN + 1, 3);
    let (code, stdout, stderr) = request_cli(&net, "palms.an2", &too_big).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} bytes, more than the limit of {MAX_REQUEST_ATTACHMENT_LEN} bytes",
            MAX_REQUEST_ATTACHMENT_LEN + 1
        )),
        "{stderr}"
    );

    // An application that skips the CLI's check is refused by the node, naming the field.
    let mut api = api_client(&mission).await;
    let err = api
        .request(call(Some(ansi_nist("palms.an2", too_big))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert!(
        err.message().contains("request.attachment.content"),
        "{}",
        err.message()
    );

    // Neither refusal cost anything: nothing queued, and the next request the AFIS sees is
    // the one sent after them.
    assert_eq!(api_queue_depth(&mut api, "gs").await, 0);
    let answer = api
        .request(call(Some(ansi_nist("small.an2", ansi_nist_file(1000, 4)))))
        .await
        .expect("the check")
        .into_inner();
    let miss = answer.response.expect("a response");
    assert_eq!(miss.status, pb::ResponseStatus::NoHit as i32, "{miss:?}");
    assert_eq!(next_seen(&mut afis).await.request_id, answer.request_id);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        afis.seen.try_recv().is_err(),
        "the AFIS saw only one request"
    );

    for node in [mission, fr, gs] {
        node.shutdown().await;
    }
}
