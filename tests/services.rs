//! The reference databases hosted at `gs` (issue 4, section 4): `sltd.check` and `smv.check`
//! answered by the node itself from its store, loaded with `bluehelm service import`, over
//! real nodes on loopback, their real API sockets and the real binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use bluehelm::api::pb::{self, bureau_client::BureauClient};
use bluehelm::localnet::standard_specs;
use bluehelm::Node;
use bluehelm_proto::Body;
use bluehelm_tests::{api_client, bluehelm_bin, eventually, id, linked, TestNet};
use tonic::transport::Channel;
use tonic::Code;

type Client = BureauClient<Channel>;

const DATA: &str = bluehelm_tests::DATA_DIR;

/// The standard network, with `gs` answering both reference databases itself.
fn net() -> TestNet {
    let mut specs = standard_specs();
    let hub = &mut specs[0];
    assert_eq!(hub.id.as_str(), "gs");
    hub.services.push(("smv.check".into(), id("gs")));
    hub.reference_services = vec!["sltd".into(), "smv".into()];
    TestNet::with_specs(specs)
}

fn data(name: &str) -> PathBuf {
    Path::new(DATA).join(name)
}

/// `bluehelm service import DATABASE FILE --config gs.toml`, run as a real process (off
/// the test's async workers, which serve the node it talks to).
async fn import_cli(net: &TestNet, database: &str, file: &Path) -> std::process::Output {
    let mut command = Command::new(bluehelm_bin!());
    command
        .args(["service", "import", database])
        .arg(file)
        .arg("--config")
        .arg(net.config_path("gs"));
    tokio::task::spawn_blocking(move || command.output().expect("bluehelm runs"))
        .await
        .expect("import process")
}

async fn import_api(client: &mut Client, database: &str, file: &Path) -> pb::ImportReport {
    let chunk = pb::ImportChunk {
        database: database.into(),
        data: std::fs::read(file).expect("test data"),
    };
    client
        .import_records(tokio_stream::iter(vec![chunk]))
        .await
        .expect("import")
        .into_inner()
}

fn call(service: &str, params: &[(&str, &str)]) -> pb::ServiceCall {
    pb::ServiceCall {
        service: service.into(),
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        timeout_seconds: 20,
        ttl_seconds: 0,
        precedence: 0,
    }
}

async fn check(client: &mut Client, service: &str, params: &[(&str, &str)]) -> pb::ServiceResponse {
    let answer = client
        .request(call(service, params))
        .await
        .unwrap_or_else(|e| panic!("{service} {params:?}: {e}"))
        .into_inner();
    assert_eq!(answer.responder, "gs");
    answer.response.expect("a response")
}

fn is(response: &pb::ServiceResponse, status: pb::ResponseStatus) -> bool {
    response.status == status as i32
}

/// Text messages in `node`'s inbox (subject, body), once there are at least `n`.
async fn texts(node: &Node, n: usize) -> Vec<(String, String)> {
    eventually(
        &format!("{} to hold {n} text(s)", node.bureau().me()),
        || async {
            let inbox = node.bureau().inbox(None, 1000).await.expect("inbox");
            let texts: Vec<(String, String)> = inbox
                .iter()
                .filter_map(|m| match &m.envelope.body {
                    Body::Text(t) => Some((t.subject_line.clone(), t.body.clone())),
                    _ => None,
                })
                .collect();
            (texts.len() >= n).then_some(texts)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_reports_bad_rows_by_line_and_keeps_the_good_ones() {
    let net = net();
    let gs = net.start("gs").await;
    let file = data("sltd.csv");

    let out = import_cli(&net, "sltd", &file).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("imported 2 sltd record(s)"), "{stdout}");
    let shown = file.display();
    for (line, column) in [(3, "issuing_country"), (5, "status"), (6, "owner_bureau")] {
        let prefix = format!("{shown}:{line}: {column}");
        assert!(stderr.contains(&prefix), "{prefix} in:\n{stderr}");
    }
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: 3 row(s)") && last.contains("2 good row(s) were imported"),
        "{stderr}"
    );

    // The good rows are there, found whatever the spelling of the number.
    let mut api = api_client(&gs).await;
    let hit = check(
        &mut api,
        "sltd.check",
        &[("document_number", "x1234567"), ("issuing_country", "fr")],
    )
    .await;
    assert!(is(&hit, pb::ResponseStatus::Hit), "{hit:?}");
    let hit = check(
        &mut api,
        "sltd.check",
        &[("document_number", "K000-0001"), ("issuing_country", "KE")],
    )
    .await;
    assert_eq!(hit.fields["status"], "revoked");
    // A refused row was not imported.
    let miss = check(
        &mut api,
        "sltd.check",
        &[("document_number", "Y7654321"), ("issuing_country", "FR")],
    )
    .await;
    assert!(is(&miss, pb::ResponseStatus::NoHit), "{miss:?}");

    // A header that does not name the columns imports nothing, with one line and exit 1.
    let bad = net.dir().join("bad.csv");
    std::fs::write(&bad, "passport,country\nX1,FR\n").unwrap();
    let out = import_cli(&net, "smv", &bad).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unknown column \"passport\""), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    gs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mission_post_checks_a_passport_and_the_owning_bureau_learns_who_asked() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let mission = net.start("mission.unmiss").await;
    linked(&gs, "mission.unmiss").await;
    linked(&gs, "ncb.fr").await;
    let report = import_api(&mut api_client(&gs).await, "sltd", &data("sltd.csv")).await;
    assert_eq!((report.imported, report.rejected), (2, 3));

    let mut api = api_client(&mission).await;
    let hit = check(
        &mut api,
        "sltd.check",
        &[("document_number", "X1234567"), ("issuing_country", "FR")],
    )
    .await;
    assert!(is(&hit, pb::ResponseStatus::Hit), "{hit:?}");
    assert_eq!(hit.fields["owner_bureau"], "ncb.fr");
    assert_eq!(hit.fields["status"], "stolen");
    assert!(
        hit.fields["instructions"].contains("call NCB Paris"),
        "{hit:?}"
    );
    assert!(
        hit.detail.contains("ncb.fr") && hit.detail.contains("detain"),
        "{}",
        hit.detail
    );

    let miss = check(
        &mut api,
        "sltd.check",
        &[("document_number", "P9999999"), ("issuing_country", "FR")],
    )
    .await;
    assert!(is(&miss, pb::ResponseStatus::NoHit), "{miss:?}");
    assert!(hit.fields.contains_key("owner_bureau") && miss.fields.is_empty());

    let bad = check(&mut api, "sltd.check", &[("document_number", "X1")]).await;
    assert!(is(&bad, pb::ResponseStatus::Error), "{bad:?}");
    assert!(bad.detail.contains("issuing_country"), "{}", bad.detail);

    // The owning bureau is told, in a message signed by gs, who checked which record.
    let texts = texts(&fr, 1).await;
    assert_eq!(texts.len(), 1, "only the hit is reported: {texts:?}");
    let (subject, body) = &texts[0];
    assert!(
        subject.contains("mission.unmiss") && subject.contains("X1234567"),
        "{subject}"
    );
    assert!(body.contains("checked by: mission.unmiss"), "{body}");
    let inbox = fr.bureau().inbox(None, 10).await.unwrap();
    assert_eq!(inbox[0].envelope.origin, id("gs"));

    // An application cannot take over a service the node answers itself.
    let err = api_client(&gs)
        .await
        .serve_requests(tokio_stream::iter(vec![pb::ServeMessage {
            kind: Some(pb::serve_message::Kind::Serve("sltd.check".into())),
        }]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{}", err.message());

    for node in [mission, fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smv_matches_by_vin_and_by_plate() {
    let net = net();
    let gs = net.start("gs").await;
    let ke = net.start("ncb.ke").await;
    let mission = net.start("mission.unmiss").await;
    linked(&gs, "mission.unmiss").await;
    let report = import_api(&mut api_client(&gs).await, "smv", &data("smv.csv")).await;
    assert_eq!((report.imported, report.rejected), (2, 1));
    assert_eq!(report.errors[0].line, 4);
    assert!(
        report.errors[0].message.contains("plate_country"),
        "{:?}",
        report.errors
    );

    let mut api = api_client(&mission).await;
    let by_vin = check(&mut api, "smv.check", &[("vin", "wvwzzz1jzxw000001")]).await;
    assert!(is(&by_vin, pb::ResponseStatus::Hit), "{by_vin:?}");
    assert_eq!(by_vin.fields["owner_bureau"], "ncb.fr");
    assert_eq!(by_vin.fields["plate"], "AB123CD");

    let by_plate = check(
        &mut api,
        "smv.check",
        &[("plate", "kbx-123a"), ("plate_country", "ke")],
    )
    .await;
    assert!(is(&by_plate, pb::ResponseStatus::Hit), "{by_plate:?}");
    assert_eq!(by_plate.fields["owner_bureau"], "ncb.ke");
    assert_eq!(by_plate.fields["make"], "Toyota");

    // The same plate in another country is another vehicle.
    let other = check(
        &mut api,
        "smv.check",
        &[("plate", "KBX123A"), ("plate_country", "UG")],
    )
    .await;
    assert!(is(&other, pb::ResponseStatus::NoHit), "{other:?}");
    let bad = check(&mut api, "smv.check", &[("plate", "KBX123A")]).await;
    assert!(is(&bad, pb::ResponseStatus::Error), "{bad:?}");

    let texts = texts(&ke, 1).await;
    assert!(texts[0].0.contains("smv.check") && texts[0].1.contains("mission.unmiss"));

    for node in [mission, ke, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_records_survive_a_gs_restart() {
    let net = net();
    let gs = net.start("gs").await;
    let report = import_api(&mut api_client(&gs).await, "sltd", &data("sltd.csv")).await;
    assert_eq!(report.imported, 2);
    gs.shutdown().await;

    let gs = net.start("gs").await;
    let mission = net.start("mission.unmiss").await;
    linked(&mission, "gs").await;
    let mut api = api_client(&mission).await;
    let hit = check(
        &mut api,
        "sltd.check",
        &[("document_number", "X1234567"), ("issuing_country", "FR")],
    )
    .await;
    assert!(is(&hit, pb::ResponseStatus::Hit), "{hit:?}");
    assert_eq!(hit.fields["owner_bureau"], "ncb.fr");
    for node in [mission, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_is_refused_by_a_node_that_does_not_answer_the_database() {
    let net = net();
    let fr = net.start("ncb.fr").await;
    let chunk = pb::ImportChunk {
        database: "sltd".into(),
        data: b"x".to_vec(),
    };
    let err = api_client(&fr)
        .await
        .import_records(tokio_stream::iter(vec![chunk]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{}", err.message());
    assert!(
        err.message().contains("[reference_services]"),
        "{}",
        err.message()
    );
    fr.shutdown().await;
}
