//! The reference databases hosted at `gs` (issue 4, section 4): `sltd.check` and `smv.check`
//! answered by the node itself from its store, over real nodes on loopback, their real API
//! sockets and the real binary. Since issue 13 each bureau imports its own records at its own
//! node (`bluehelm db import`), which signs them and sends them to gs to be sequenced.

use std::path::{Path, PathBuf};
use std::process::Command;

use bluehelm::api::pb::{self, bureau_client::BureauClient};
use bluehelm::Node;
use bluehelm_proto::{Body, HitNotification};
use bluehelm_tests::records::{db_state, hub_at_least};
use bluehelm_tests::{
    api_client, bluehelm_bin, eventually, id, linked, net_with_terminal,
    specs_with_reference_services, TestNet,
};
use tonic::transport::Channel;
use tonic::Code;

type Client = BureauClient<Channel>;

const DATA: &str = bluehelm_tests::DATA_DIR;

/// The standard network, with `gs` answering both reference databases itself.
fn net() -> TestNet {
    TestNet::with_specs(specs_with_reference_services())
}

fn data(name: &str) -> PathBuf {
    Path::new(DATA).join(name)
}

/// `bluehelm SUBCOMMAND import DATABASE FILE --config NODE.toml`, run as a real process (off
/// the test's async workers, which serve the node it talks to). `subcommand` is `db`, or
/// `service` (its older name).
async fn import_cli(
    net: &TestNet,
    subcommand: &str,
    node: &str,
    database: &str,
    file: &Path,
) -> std::process::Output {
    let mut command = Command::new(bluehelm_bin!());
    command
        .args([subcommand, "import", database])
        .arg(file)
        .arg("--config")
        .arg(net.config_path(node));
    tokio::task::spawn_blocking(move || command.output().expect("bluehelm runs"))
        .await
        .expect("import process")
}

/// Imports `file` into `database` through `owner`'s API: the owner signs its rows and
/// uploads them to gs.
async fn import_api(owner: &Node, database: &str, file: &Path) -> pb::ImportReport {
    let chunk = pb::ImportChunk {
        database: database.into(),
        data: std::fs::read(file).expect("test data"),
    };
    let report = api_client(owner)
        .await
        .import_records(tokio_stream::iter(vec![chunk]))
        .await
        .expect("import")
        .into_inner();
    if report.imported > 0 {
        assert!(report.uploads > 0 && report.hub == "gs", "{report:?}");
    }
    report
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
        purpose: String::new(),
        local_only: false,
        attachment: None,
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

/// Hit notifications in `node`'s inbox, once there are at least `n`; and the number of
/// other messages there (the free-text notice of old must not come back). gs's delivery
/// reports for the record uploads the owner sent it (issue 13) are expected and not counted.
async fn hits(node: &Node, n: usize) -> (Vec<HitNotification>, usize) {
    eventually(
        &format!("{} to hold {n} hit notification(s)", node.bureau().me()),
        || async {
            let inbox = node.bureau().inbox(None, 1000).await.expect("inbox");
            let hits: Vec<HitNotification> = inbox
                .iter()
                .filter_map(|m| match &m.envelope.body {
                    Body::HitNotification(h) if m.envelope.origin == id("gs") => Some(h.clone()),
                    _ => None,
                })
                .collect();
            let upload_receipts = inbox
                .iter()
                .filter(|m| {
                    matches!(&m.envelope.body,
                        Body::DeliveryReport(r) if m.envelope.origin == id("gs") && r.delivered_to == id("gs"))
                })
                .count();
            let others = inbox.len() - hits.len() - upload_receipts;
            (hits.len() >= n).then_some((hits, others))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_reports_bad_rows_by_line_and_keeps_the_good_ones() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&fr, "gs").await;
    let file = data("sltd.fr.csv");

    let out = import_cli(&net, "db", "ncb.fr", "sltd", &file).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("imported 2 sltd record(s)") && stdout.contains("sent to gs"),
        "{stdout}"
    );
    let shown = file.display();
    for (line, column) in [(3, "issuing_country"), (5, "status"), (6, "owner_bureau")] {
        let prefix = format!("{shown}:{line}: {column}");
        assert!(stderr.contains(&prefix), "{prefix} in:\n{stderr}");
    }
    assert!(
        stderr.contains("a node imports only its own records"),
        "Kenya's row in France's file: {stderr}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: 3 row(s)") && last.contains("2 good row(s) were imported"),
        "{stderr}"
    );

    // The good rows reach gs, found whatever the spelling of the number.
    assert_eq!(hub_at_least(&gs, "sltd", 2).await.records, 2);
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
        &[("document_number", "f000-0001"), ("issuing_country", "fr")],
    )
    .await;
    assert_eq!(hit.fields["status"], "revoked");
    // Refused rows were not imported.
    for (number, country) in [("Y7654321", "FR"), ("Q2222222", "KE")] {
        let miss = check(
            &mut api,
            "sltd.check",
            &[("document_number", number), ("issuing_country", country)],
        )
        .await;
        assert!(is(&miss, pb::ResponseStatus::NoHit), "{miss:?}");
    }

    // A header that does not name the columns imports nothing, with one line and exit 1.
    let bad = net.dir().join("bad.csv");
    std::fs::write(&bad, "passport,country\nX1,FR\n").unwrap();
    let out = import_cli(&net, "db", "ncb.fr", "smv", &bad).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unknown column \"passport\""), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    fr.shutdown().await;
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
    let report = import_api(&fr, "sltd", &data("sltd.fr.csv")).await;
    assert_eq!((report.imported, report.rejected), (2, 3));
    hub_at_least(&gs, "sltd", 2).await;

    let mut api = api_client(&mission).await;
    let mut asked = call(
        "sltd.check",
        &[("document_number", "x12-345 67"), ("issuing_country", "fr")],
    );
    asked.purpose = "border check at Goma, case 2026/114".into();
    let answer = api.request(asked).await.expect("the check").into_inner();
    // The post keeps a replica, but with the link up gs answers.
    assert_eq!(
        (answer.answered_by.as_str(), answer.responder.as_str()),
        ("hub", "gs")
    );
    let hit = answer.response.expect("a response");
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

    // The owning bureau gets one hit notification, signed by gs, as fields: who asked,
    // when, which record, what matched and why. The no-hit and the malformed check send
    // nothing to any owner.
    let (hits, others) = hits(&fr, 1).await;
    assert_eq!(
        (hits.len(), others),
        (1, 0),
        "only the hit is reported: {hits:?}"
    );
    let h = &hits[0];
    assert_eq!(h.requester, id("mission.unmiss"));
    assert_eq!(h.terminal, None, "asked on the node's own socket");
    assert_eq!(h.request_id.to_string(), answer.request_id);
    assert_eq!(h.service.as_str(), "sltd.check");
    assert_eq!(
        (h.database.as_str(), h.record_key.as_str()),
        ("sltd", "sltd/FR/X1234567")
    );
    assert!(h.record.contains("X1234567"), "{}", h.record);
    assert_eq!(h.query["document_number"], "x12-345 67", "as asked");
    assert_eq!(h.matched["document_number"], "X1234567", "as recorded");
    assert_eq!(h.matched["issuing_country"], "FR");
    assert_eq!(h.purpose, "border check at Goma, case 2026/114");
    assert!(h.requested_at_ms > 0);
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
    let fr = net.start("ncb.fr").await;
    let ke = net.start("ncb.ke").await;
    let mission = net.start("mission.unmiss").await;
    for node in ["mission.unmiss", "ncb.fr", "ncb.ke"] {
        linked(&gs, node).await;
    }
    // Each bureau imports its own vehicles.
    let report = import_api(&fr, "smv", &data("smv.fr.csv")).await;
    assert_eq!((report.imported, report.rejected), (1, 1));
    assert_eq!(report.errors[0].line, 3);
    assert!(
        report.errors[0].message.contains("plate_country"),
        "{:?}",
        report.errors
    );
    let report = import_api(&ke, "smv", &data("smv.ke.csv")).await;
    assert_eq!((report.imported, report.rejected), (1, 0), "{report:?}");
    assert_eq!(hub_at_least(&gs, "smv", 2).await.records, 2);

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

    let (hits, _) = hits(&ke, 1).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].service.as_str(), "smv.check");
    assert_eq!(hits[0].requester, id("mission.unmiss"));
    assert_eq!(hits[0].record_key, "smv/plate/KE/KBX123A");
    assert_eq!(hits[0].matched["plate"], "KBX123A");
    assert_eq!(hits[0].matched["plate_country"], "KE");
    assert_eq!(hits[0].query["plate"], "kbx-123a");
    assert_eq!(hits[0].purpose, "");

    for node in [mission, ke, fr, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_records_survive_a_gs_restart() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&fr, "gs").await;
    let report = import_api(&fr, "sltd", &data("sltd.fr.csv")).await;
    assert_eq!(report.imported, 2);
    hub_at_least(&gs, "sltd", 2).await;
    // Only gs's store holds the records from here on.
    fr.shutdown().await;
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

/// A node signs only its own records (issue 13): gs refuses France's rows, line by line and
/// imports nothing, under the older command name too; France imports them at its own node and
/// gs then holds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gs_refuses_another_bureaus_rows_and_the_owner_imports_them_itself() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    linked(&fr, "gs").await;
    let file = data("sltd.fr.csv");

    let out = import_cli(&net, "service", "gs", "sltd", &file).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("imported 0 sltd record(s)"), "{stdout}");
    let shown = file.display();
    for (line, owner) in [(2, "ncb.fr"), (3, "ncb.fr"), (6, "ncb.ke")] {
        let expected = format!(
            "{shown}:{line}: owner_bureau \"{owner}\": a node imports only its own records, which it signs; import this row at {owner}'s node (this node is gs)"
        );
        assert!(
            stderr.lines().any(|l| l == expected),
            "{expected} in:\n{stderr}"
        );
    }
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: 5 row(s)") && last.contains("0 good row(s) were imported"),
        "{stderr}"
    );
    assert_eq!(db_state(&gs, "sltd").await.records, 0);

    let report = import_api(&fr, "sltd", &file).await;
    assert_eq!((report.imported, report.rejected), (2, 3), "{report:?}");
    assert_eq!(hub_at_least(&gs, "sltd", 2).await.records, 2);
    for node in [fr, gs] {
        node.shutdown().await;
    }
}

async fn terminal_client(net: &TestNet, address: std::net::SocketAddr) -> Client {
    let pki = net.net.pki_dir();
    let trust =
        bluehelm_pki::TrustStore::load(&pki.join("ca.pem"), Some(&pki.join("crl.pem"))).unwrap();
    let creds = bluehelm_pki::NodeCredentials::load(
        &pki.join("term1.unmiss.pem"),
        &pki.join("term1.unmiss.key"),
    )
    .unwrap();
    bluehelm::api::client::connect_terminal(&address.to_string(), &creds, &trust)
        .await
        .expect("the terminal connects")
}

/// Issue 12, item 4: the owner reads a hit as fields (API and `inbox --json`), the terminal
/// comes from its certificate and never from a client's payload, and `--purpose` is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hit_notification_names_the_terminal_and_purpose_as_fields_for_scripts() {
    let (net, address) = net_with_terminal(specs_with_reference_services());
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let mission = net.start("mission.unmiss").await;
    linked(&gs, "mission.unmiss").await;
    linked(&gs, "ncb.fr").await;
    import_api(&fr, "sltd", &data("sltd.fr.csv")).await;
    hub_at_least(&gs, "sltd", 2).await;
    let passport = [("document_number", "X1234567"), ("issuing_country", "FR")];

    // 1. From a terminal, with a purpose.
    let mut asked = call("sltd.check", &passport);
    asked.purpose = "patrol stop, case 7".into();
    let mut terminal = terminal_client(&net, address).await;
    let from_terminal = terminal.request(asked).await.expect("check").into_inner();
    assert!(is(
        from_terminal.response.as_ref().unwrap(),
        pb::ResponseStatus::Hit
    ));

    // 2. On the node's socket, a client that names a terminal itself: the node signs the
    //    request without it.
    let forged = pb::SubmitRequest {
        destination: Some(pb::Destination {
            target: Some(pb::destination::Target::Service("sltd.check".into())),
        }),
        precedence: pb::Precedence::Immediate as i32,
        ttl_seconds: 60,
        body: Some(pb::submit_request::Body::Request(pb::ServiceRequest {
            service: "sltd.check".into(),
            params: call("sltd.check", &passport).params,
            purpose: String::new(),
            terminal: "term9.forged".into(),
            attachment: None,
        })),
        ..Default::default()
    };
    bluehelm_tests::api_submit(&mut api_client(&mission).await, forged).await;

    // 3. The real CLI: a purpose that is not one line is refused with one line and exit 1;
    //    a good one travels.
    let config = net.config_path("mission.unmiss");
    let config = config.to_str().unwrap();
    let base = [
        "request",
        "sltd.check",
        "--config",
        config,
        "--param",
        "document_number=X1234567",
        "--param",
        "issuing_country=FR",
        "--timeout",
        "20",
    ];
    let (code, _, stderr) = bluehelm_tests::run_cli(
        bluehelm_bin!(),
        base.iter().copied().chain(["--purpose", "two\nlines"]),
    )
    .await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("request.purpose") && stderr.lines().count() == 1,
        "{stderr}"
    );
    let (code, stdout, stderr) = bluehelm_tests::run_cli(
        bluehelm_bin!(),
        base.iter().copied().chain(["--purpose", "cli check"]),
    )
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");

    // Through the API: typed fields, one notification per hit.
    let (hits, others) = hits(&fr, 3).await;
    assert_eq!((hits.len(), others), (3, 0), "{hits:?}");
    let mut api = api_client(&fr).await;
    let inbox = bluehelm_tests::api_inbox_now(&mut api).await;
    let typed: Vec<pb::HitNotification> = inbox
        .into_iter()
        .filter_map(|m| match m.body {
            Some(pb::inbox_message::Body::HitNotification(h)) => Some(h),
            _ => None,
        })
        .collect();
    let of = |purpose: &str| {
        typed
            .iter()
            .find(|h| h.purpose == purpose)
            .unwrap_or_else(|| panic!("a hit with purpose {purpose:?} in {typed:?}"))
    };
    assert_eq!(of("patrol stop, case 7").terminal, "term1.unmiss");
    assert_eq!(of("patrol stop, case 7").requester, "mission.unmiss");
    assert_eq!(
        of("").terminal,
        "",
        "the client's own terminal claim was dropped"
    );
    assert_eq!(of("cli check").terminal, "");

    // `bluehelm inbox --json` as a real process: the documented keys.
    let fr_config = net.config_path("ncb.fr");
    let (code, stdout, stderr) = bluehelm_tests::run_cli(
        bluehelm_bin!(),
        ["inbox", "--json", "--config", fr_config.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let json = lines
        .iter()
        .map(|l| &l["body"]["hit_notification"])
        .find(|h| h["purpose"] == "patrol stop, case 7")
        .unwrap_or_else(|| panic!("the terminal's hit in {stdout}"));
    assert_eq!(json["requester"], "mission.unmiss");
    assert_eq!(json["terminal"], "term1.unmiss");
    assert_eq!(json["request_id"], from_terminal.request_id.as_str());
    assert_eq!(json["service"], "sltd.check");
    assert_eq!(json["database"], "sltd");
    assert_eq!(json["record_key"], "sltd/FR/X1234567");
    assert_eq!(json["matched"]["document_number"], "X1234567");
    assert_eq!(json["query"]["issuing_country"], "FR");
    assert!(json["requested_at_ms"].as_i64().unwrap() > 0, "{json}");
    assert!(
        json["record"].as_str().unwrap().contains("passport"),
        "{json}"
    );

    // The text form, for people.
    let (code, stdout, _) = bluehelm_tests::run_cli(
        bluehelm_bin!(),
        ["inbox", "--config", fr_config.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 0);
    assert!(stdout.contains("hit-notification from gs"), "{stdout}");
    assert!(
        stdout.contains("asked by: mission.unmiss (terminal term1.unmiss)"),
        "{stdout}"
    );
    assert!(stdout.contains("purpose: patrol stop, case 7"), "{stdout}");

    for node in [mission, fr, gs] {
        node.shutdown().await;
    }
}

/// Issue 12 item 2: a record its owner released to `FR` only answers a hit to ncb.fr and a
/// no-hit, indistinguishable from a genuine one, to mission.unmiss; the mission's check
/// tells the owner nothing either (no record was shown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_released_to_fr_answers_no_hit_to_the_mission_and_a_hit_to_ncb_fr() {
    let net = net();
    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    let mission = net.start("mission.unmiss").await;
    linked(&gs, "mission.unmiss").await;
    linked(&gs, "ncb.fr").await;
    let file = net.dir().join("marked.csv");
    std::fs::write(
        &file,
        "document_number,issuing_country,document_type,status,owner_bureau,reported_at,instructions,release_to\n\
         M1000001,FR,passport,stolen,ncb.fr,2026-03-01,Seize,FR\n\
         M1000002,FR,passport,stolen,ncb.fr,2026-03-01,Seize,\n\
         M1000003,FR,passport,stolen,ncb.fr,2026-03-01,Seize,\"FR,,KE\"\n",
    )
    .unwrap();
    let report = import_api(&fr, "sltd", &file).await;
    assert_eq!((report.imported, report.rejected), (2, 1), "{report:?}");
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.line == 4 && e.message.contains("release_to")),
        "{:?}",
        report.errors
    );
    hub_at_least(&gs, "sltd", 2).await;

    let marked = [("document_number", "M1000001"), ("issuing_country", "FR")];
    let unmarked = [("document_number", "M1000002"), ("issuing_country", "FR")];
    let absent = [("document_number", "M1999999"), ("issuing_country", "FR")];
    let mut at_mission = api_client(&mission).await;
    let hidden = check(&mut at_mission, "sltd.check", &marked).await;
    assert!(is(&hidden, pb::ResponseStatus::NoHit), "{hidden:?}");
    assert!(hidden.fields.is_empty());
    let genuine = check(&mut at_mission, "sltd.check", &absent).await;
    assert_eq!(
        hidden.detail.replace("M1000001", "M1999999"),
        genuine.detail,
        "a withheld record answers exactly as an absent one"
    );
    let open = check(&mut at_mission, "sltd.check", &unmarked).await;
    assert!(is(&open, pb::ResponseStatus::Hit), "unmarked: {open:?}");
    assert!(!open.fields.contains_key("release_to"));

    let shown = check(&mut api_client(&fr).await, "sltd.check", &marked).await;
    assert!(is(&shown, pb::ResponseStatus::Hit), "{shown:?}");
    assert_eq!(shown.fields["release_to"], "FR");

    // Two hits (the mission's unmarked one, ncb.fr's own), none for the withheld record.
    let (hits, _) = hits(&fr, 2).await;
    let keys: Vec<&str> = hits.iter().map(|h| h.record_key.as_str()).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        !hits
            .iter()
            .any(|h| h.requester == id("mission.unmiss") && h.record_key.contains("M1000001")),
        "{keys:?}"
    );
    for node in [mission, fr, gs] {
        node.shutdown().await;
    }
}

/// Only the hub sends hit notifications, so only the hub may answer reference checks: a
/// bureau configured to answer them refuses to start, saying why, instead of losing every
/// owner's notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_other_than_the_hub_refuses_to_answer_reference_checks() {
    let mut specs = specs_with_reference_services();
    let fr = specs
        .iter_mut()
        .find(|s| s.id.as_str() == "ncb.fr")
        .expect("ncb.fr");
    fr.reference_services = vec!["sltd".into()];
    fr.services = vec![("sltd.check".into(), id("ncb.fr"))];
    let net = TestNet::with_specs(specs);
    let config = net.net.config("ncb.fr").expect("a valid config");
    let err = match Node::start(config).await {
        Ok(_) => panic!("ncb.fr started answering reference checks"),
        Err(err) => err.to_string(),
    };
    assert!(
        err.contains("only the hub answers reference checks") && err.contains("role ncb"),
        "{err}"
    );
}
