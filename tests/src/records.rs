//! Helpers for the field-database tests (issue 13): importing records at their owner's node,
//! reading a node's database status, checking from a replica.

use bluehelm::api::pb;
use bluehelm::Node;

use crate::{api_client, eventually};

/// The SLTD CSV header.
pub const SLTD_HEADER: &str =
    "document_number,issuing_country,document_type,status,owner_bureau,reported_at,instructions,release_to,action";

/// One SLTD row owned by `owner`: a stolen passport numbered `number`, released to `release`
/// (empty: everyone).
pub fn sltd_row(number: &str, owner: &str, release: &str) -> String {
    format!("{number},FR,passport,stolen,{owner},2026-11-02,Seize and call {owner},{release},")
}

/// A withdrawal row for passport `number` of `owner`.
pub fn sltd_withdrawal(number: &str, owner: &str) -> String {
    format!("{number},FR,,,{owner},,,,withdraw")
}

/// Imports `rows` (with [`SLTD_HEADER`]) into `sltd` through `node`'s API.
pub async fn import_sltd(node: &Node, rows: &[String]) -> pb::ImportReport {
    let mut data = String::from(SLTD_HEADER);
    for row in rows {
        data.push('\n');
        data.push_str(row);
    }
    data.push('\n');
    import(node, "sltd", data).await
}

/// Imports a file's contents into `database` through `node`'s API.
pub async fn import(node: &Node, database: &str, data: String) -> pb::ImportReport {
    let chunk = pb::ImportChunk {
        database: database.into(),
        data: data.into_bytes(),
    };
    api_client(node)
        .await
        .import_records(tokio_stream::iter(vec![chunk]))
        .await
        .expect("import")
        .into_inner()
}

/// The node's state of `database`.
pub async fn db_state(node: &Node, database: &str) -> pb::DatabaseState {
    let status = api_client(node)
        .await
        .database_status(pb::DatabaseStatusRequest {})
        .await
        .expect("database status")
        .into_inner();
    status
        .databases
        .into_iter()
        .find(|d| d.database == database)
        .expect("every database is listed")
}

/// Waits until the hub's `database` has reached change `seq`; returns its state.
pub async fn hub_at_least(hub: &Node, database: &str, seq: u64) -> pb::DatabaseState {
    eventually(
        &format!("the hub's {database} to reach change {seq}"),
        || async {
            let state = db_state(hub, database).await;
            (state.seq >= seq).then_some(state)
        },
    )
    .await
}

/// Waits until `replica`'s `database` is level with the hub at `seq` and its digest was
/// checked at `seq`; returns its state.
pub async fn replica_level(replica: &Node, database: &str, seq: u64) -> pb::DatabaseState {
    eventually(
        &format!("the replica's {database} to be level at change {seq} with a digest check"),
        || async {
            let state = db_state(replica, database).await;
            let checked = state.digest.as_ref().is_some_and(|d| d.seq == seq);
            (state.seq == seq && state.hub_seq == seq && checked).then_some(state)
        },
    )
    .await
}

/// An `sltd.check` for French passport `number`, from `node`; `local_only` asks its replica.
pub async fn check_sltd(node: &Node, number: &str, local_only: bool) -> pb::ServiceAnswer {
    let call = pb::ServiceCall {
        service: "sltd.check".into(),
        params: [
            ("document_number".to_owned(), number.to_owned()),
            ("issuing_country".to_owned(), "FR".to_owned()),
        ]
        .into(),
        timeout_seconds: 20,
        ttl_seconds: 0,
        precedence: 0,
        purpose: "border check, case 2026/114".into(),
        local_only,
        attachment: None,
    };
    api_client(node)
        .await
        .request(call)
        .await
        .expect("sltd.check")
        .into_inner()
}

/// Whether an answer is a hit.
pub fn is_hit(answer: &pb::ServiceAnswer) -> bool {
    answer.response.as_ref().map(|r| r.status) == Some(pb::ResponseStatus::Hit as i32)
}

/// The JSON lines `node` exports of `database`.
pub async fn export(node: &Node, database: &str) -> Vec<serde_json::Value> {
    let mut stream = api_client(node)
        .await
        .export_records(pb::ExportRequest {
            database: database.into(),
        })
        .await
        .expect("export")
        .into_inner();
    let mut data = Vec::new();
    while let Some(chunk) = stream.message().await.expect("export chunk") {
        data.extend_from_slice(&chunk.data);
    }
    String::from_utf8(data)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}
