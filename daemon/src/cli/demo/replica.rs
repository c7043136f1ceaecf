//! Steps 7, 9 and 10 of the demo (issue 13): ncb.fr's stolen passport record, imported and
//! signed at its own node and sequenced by gs, checked at the mission post online (gs
//! answers) and offline (the post's replica answers, and the owner hears of the hit when the
//! link returns), then withdrawn until it hits nowhere.

use std::time::Duration;

use anyhow::{bail, Context};
use bluehelm::api::client::connect;
use bluehelm::api::pb::{self, bureau_client::BureauClient};
use bluehelm::custody::now_ms;
use bluehelm::engine::records::freshness::span;
use bluehelm::localnet::LocalNet;
use bluehelm::Node;
use bluehelm_proto::{Body, HitNotification};
use tonic::transport::Channel;

use super::{check, describe, drain, id, wait_linked, STEP_TIMEOUT};
use crate::cli::out::outln;

type Api = BureauClient<Channel>;

/// The SLTD columns the demo imports, withdrawals (`action`) included.
const SLTD_HEADER: &str = "document_number,issuing_country,document_type,status,owner_bureau,reported_at,instructions,release_to,action";
const PASSPORT_ROW: &str = "X1234567,FR,passport,stolen,ncb.fr,2026-03-01,\"Seize the document, detain the holder, call NCB Paris\",,";
const WITHDRAWAL_ROW: &str = "X1234567,FR,,,ncb.fr,,,,withdraw";
const PURPOSE: &str = "demo: border check";

async fn api(net: &LocalNet, node: &str) -> anyhow::Result<Api> {
    let socket = net.config(node)?.api_socket;
    connect(&socket)
        .await
        .with_context(|| format!("cannot reach the local API of {node}"))
}

/// Imports `row` into sltd at `api`'s node; returns the report.
async fn import(api: &mut Api, row: &str) -> anyhow::Result<pb::ImportReport> {
    let chunk = pb::ImportChunk {
        database: "sltd".into(),
        data: format!("{SLTD_HEADER}\n{row}\n").into_bytes(),
    };
    Ok(api
        .import_records(tokio_stream::iter(vec![chunk]))
        .await?
        .into_inner())
}

/// Waits until the node's sltd state passes `ready`; returns it.
async fn sltd_when(
    api: &mut Api,
    what: &str,
    ready: impl Fn(&pb::DatabaseState) -> bool,
) -> anyhow::Result<pb::DatabaseState> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let status = api
            .database_status(pb::DatabaseStatusRequest {})
            .await?
            .into_inner();
        let state = status
            .databases
            .into_iter()
            .find(|d| d.database == "sltd")
            .context("the node lists no sltd database")?;
        if ready(&state) {
            return Ok(state);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("waited {STEP_TIMEOUT:?} for {what}; sltd is {state:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the replica at `api` has applied change `seq` and compared digests there.
async fn replica_level(api: &mut Api, seq: u64) -> anyhow::Result<pb::DatabaseState> {
    sltd_when(api, "the replica to be level with gs", |s| {
        s.seq == seq && s.hub_seq == seq && s.digest.as_ref().is_some_and(|d| d.seq == seq)
    })
    .await
}

/// `sltd.check` for French passport X1234567, written as an officer types it.
async fn check_passport(api: &mut Api, local_only: bool) -> anyhow::Result<pb::ServiceAnswer> {
    let call = pb::ServiceCall {
        service: "sltd.check".into(),
        params: [("document_number", "X 1234567"), ("issuing_country", "FR")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        timeout_seconds: 20,
        ttl_seconds: 0,
        precedence: pb::Precedence::Immediate as i32,
        purpose: PURPOSE.into(),
        local_only,
        attachment: None,
    };
    Ok(api.request(call).await?.into_inner())
}

fn is_hit(response: Option<&pb::ServiceResponse>) -> bool {
    response.is_some_and(|r| r.status == pb::ResponseStatus::Hit as i32)
}

fn verdict(response: Option<&pb::ServiceResponse>) -> &'static str {
    if is_hit(response) {
        "HIT"
    } else {
        "no hit"
    }
}

fn field<'a>(answer: &'a pb::ServiceAnswer, name: &str) -> &'a str {
    answer
        .response
        .as_ref()
        .and_then(|r| r.fields.get(name))
        .map_or("", String::as_str)
}

/// A digest for people: its first 16 hex digits.
fn short(hex: &str) -> &str {
    hex.get(..16).unwrap_or(hex)
}

/// Step 7: ncb.fr imports and signs its record, gs sequences it, the post's replica follows
/// and proves it matches; a check at the post with the link up is answered by gs, and gs
/// tells the owner.
pub(super) async fn import_and_check_online(net: &LocalNet, fr: &Node) -> anyhow::Result<()> {
    outln!("\n7. ncb.fr imports its stolen passport record at its own node; gs sequences it and\n   mission.unmiss's replica follows; the post checks the passport with its link up:")?;
    let (mut fr_api, mut gs_api, mut post_api) = (
        api(net, "ncb.fr").await?,
        api(net, "gs").await?,
        api(net, "mission.unmiss").await?,
    );
    let report = import(&mut fr_api, PASSPORT_ROW).await?;
    outln!(
        "   ncb.fr imported {} record, signed it and sent it to {} in {} upload(s) (bluehelm db import sltd FILE)",
        report.imported,
        report.hub,
        report.uploads
    )?;
    check(
        report.imported == 1 && report.hub == "gs" && report.uploads >= 1,
        "ncb.fr signed its own record and sent it to gs",
    )?;
    let hub = sltd_when(&mut gs_api, "gs to sequence the record", |s| {
        s.seq >= 1 && s.records >= 1
    })
    .await?;
    outln!(
        "   gs sequenced it: sltd at change {}, {} record(s)",
        hub.seq,
        hub.records
    )?;
    let replica = replica_level(&mut post_api, hub.seq).await?;
    let digest = replica.digest.clone().unwrap_or_default();
    outln!(
        "   mission.unmiss replica: {} record(s), {}; digest at change {}: {} (gs signed {})",
        replica.records,
        replica.freshness,
        digest.seq,
        short(&digest.root),
        short(&digest.hub_root)
    )?;
    check(
        digest.matches && replica.freshness.contains("level with gs"),
        "the post's replica is level with gs and its digest matches the one gs signed",
    )?;

    let answer = check_passport(&mut post_api, false).await?;
    outln!(
        "   mission.unmiss checks X 1234567: answered by {} ({}): {} owner={} instructions={:?}; its replica said {}",
        answer.answered_by,
        answer.responder,
        verdict(answer.response.as_ref()),
        field(&answer, "owner_bureau"),
        field(&answer, "instructions"),
        verdict(answer.replica_response.as_ref()),
    )?;
    check(
        answer.answered_by == "hub"
            && answer.responder == "gs"
            && is_hit(answer.response.as_ref())
            && field(&answer, "owner_bureau") == "ncb.fr"
            && !answer.differs,
        "gs answered with a hit on the record of ncb.fr, and the replica agreed",
    )?;
    let told = wait_hit_notification(fr, "gs").await?;
    outln!("   ncb.fr inbox: {}", describe(&told.0))?;
    check(
        told.1.requester == id("mission.unmiss") && told.1.purpose == PURPOSE,
        "ncb.fr learned that mission.unmiss checked its record",
    )?;
    drain(fr).await
}

/// Waits for a hit notification from `origin` in `node`'s inbox.
async fn wait_hit_notification(
    node: &Node,
    origin: &str,
) -> anyhow::Result<(bluehelm::custody::Delivered, HitNotification)> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let inbox = node.bureau().inbox(None, 10_000).await?;
        let found = inbox.into_iter().find_map(|m| match &m.envelope.body {
            Body::HitNotification(h) if m.envelope.origin == id(origin) => {
                let h = h.clone();
                Some((m, h))
            }
            _ => None,
        });
        if let Some(found) = found {
            return Ok(found);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "{} got no hit notification from {origin} within {STEP_TIMEOUT:?}",
                node.bureau().me()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Step 9: the post loses its link (gs stops); the same check is answered by the replica at
/// once, with its age, and it is a hit; gs starts again from the same config, and ncb.fr
/// learns of the offline hit from mission.unmiss with the time of the check. Returns the
/// restarted gs.
pub(super) async fn offline_check(
    net: &LocalNet,
    gs: Node,
    fr: &Node,
    mission: &Node,
) -> anyhow::Result<Node> {
    outln!("\n9. mission.unmiss loses its link to gs (gs stops) and checks the same passport:")?;
    gs.shutdown().await;
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    while mission.is_linked(&id("gs")) {
        if tokio::time::Instant::now() > deadline {
            bail!("mission.unmiss still sees its link to gs after gs stopped");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    outln!("   gs is down; mission.unmiss has no link")?;
    let mut post_api = api(net, "mission.unmiss").await?;
    let checked_at = now_ms();
    let answer = check_passport(&mut post_api, false).await?;
    let took = now_ms() - checked_at;
    let state = sltd_when(&mut post_api, "the replica's status", |_| true).await?;
    outln!(
        "   answered by the {} in {took} ms: {} owner={} ({}; last known level {} ago)",
        answer.answered_by,
        verdict(answer.response.as_ref()),
        field(&answer, "owner_bureau"),
        answer.freshness,
        span(state.behind_ms)
    )?;
    check(
        answer.answered_by == "replica"
            && field(&answer, "answered_by") == "replica"
            && answer.freshness.starts_with("as of change")
            && is_hit(answer.response.as_ref()),
        "the replica answered offline, said how old it is, and it is a hit",
    )?;

    let gs = Node::start(net.config("gs")?).await?;
    wait_linked(&gs, "mission.unmiss").await?;
    wait_linked(&gs, "ncb.fr").await?;
    outln!("   gs is back (same config and store); the post's link returns")?;
    let (message, hit) = wait_hit_notification(fr, "mission.unmiss").await?;
    outln!("   ncb.fr inbox: {}", describe(&message))?;
    outln!(
        "   the check was made at {} (mission.unmiss's time, local zone)",
        bluehelm::human_time::local_from_ms(hit.requested_at_ms)
    )?;
    check(
        hit.requester == id("mission.unmiss")
            && hit.record_key == "sltd/FR/X1234567"
            && (hit.requested_at_ms - checked_at).abs() < 5_000,
        "ncb.fr learned of the offline hit when the link returned, with the time of the check",
    )?;
    drain(fr).await?;
    // ncb.ke too is back before the story goes on.
    wait_linked(&gs, "ncb.ke").await?;
    Ok(gs)
}

/// Step 10: ncb.fr withdraws the record; once the post's replica has the withdrawal, the
/// check gives no hit there, nor at gs.
pub(super) async fn withdrawal(net: &LocalNet) -> anyhow::Result<()> {
    outln!("\n10. ncb.fr withdraws the record (the passport was recovered):")?;
    let (mut fr_api, mut gs_api, mut post_api) = (
        api(net, "ncb.fr").await?,
        api(net, "gs").await?,
        api(net, "mission.unmiss").await?,
    );
    let before = sltd_when(&mut gs_api, "gs's sltd", |_| true).await?;
    let report = import(&mut fr_api, WITHDRAWAL_ROW).await?;
    check(
        report.imported == 1,
        "ncb.fr signed the withdrawal and sent it to gs",
    )?;
    let hub = sltd_when(&mut gs_api, "gs to sequence the withdrawal", |s| {
        s.seq > before.seq
    })
    .await?;
    let replica = replica_level(&mut post_api, hub.seq).await?;
    outln!(
        "   gs at change {} with {} record(s); mission.unmiss replica {}, {} record(s), digest matches: {}",
        hub.seq,
        hub.records,
        replica.freshness,
        replica.records,
        replica.digest.as_ref().is_some_and(|d| d.matches)
    )?;
    let local = check_passport(&mut post_api, true).await?;
    let online = check_passport(&mut post_api, false).await?;
    outln!(
        "   mission.unmiss checks X 1234567: its replica says {}; gs says {}",
        verdict(local.response.as_ref()),
        verdict(online.response.as_ref())
    )?;
    check(
        local.answered_by == "replica"
            && !is_hit(local.response.as_ref())
            && online.answered_by == "hub"
            && online.responder == "gs"
            && !is_hit(online.response.as_ref()),
        "the withdrawn record hits nowhere: not at the post's replica, not at gs",
    )
}
