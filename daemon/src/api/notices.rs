//! `ListNotices` and `ShowNotice`: the notice register (issue 12, item 3) as the API shows
//! it, at any node. The entries are the core's mirror of the register
//! (`engine/register.rs`); what is shown about a notice is read from the publication applied.

use prost::Message;
use tonic::Status;

use super::pb;
use crate::custody::{now_ms, BureauHandle};
use crate::engine::register::{Entry, Status as NoticeStatus};

fn status(entry: &Entry, now_ms: i64) -> pb::NoticeStatus {
    match entry.status_at(now_ms) {
        NoticeStatus::Published => pb::NoticeStatus::Published,
        NoticeStatus::Updated => pb::NoticeStatus::Updated,
        NoticeStatus::Cancelled => pb::NoticeStatus::Cancelled,
        NoticeStatus::Expired => pb::NoticeStatus::Expired,
    }
}

/// The entry's summary: what `ListNotices` shows.
fn summary(entry: &Entry, now_ms: i64) -> pb::NoticeEntry {
    pb::NoticeEntry {
        notice_ref: entry.notice_ref.clone(),
        notice_type: entry.notice_type.number(),
        status: status(entry, now_ms) as i32,
        owner: entry.owner.to_string(),
        valid_until: entry.valid_until.clone(),
        message_id: entry.message_id.to_string(),
        changed_at_ms: entry.created_at_ms,
        notice: None,
        signed: None,
        release_to: entry.release_to.as_ref().map(super::convert::release_list),
    }
}

pub fn list(node: &BureauHandle) -> pb::ListNoticesResponse {
    let now = now_ms();
    pb::ListNoticesResponse {
        notices: node.notices().iter().map(|e| summary(e, now)).collect(),
    }
}

pub fn show(node: &BureauHandle, notice_ref: &str) -> Result<pb::NoticeEntry, Status> {
    let entry = node.notice(notice_ref).ok_or_else(|| {
        Status::not_found(format!(
            "no notice {notice_ref:?} in this node's register: see `bluehelm notices list`"
        ))
    })?;
    let corrupt = |e: &dyn std::fmt::Display| {
        Status::internal(format!("register entry {notice_ref} is corrupt: {e}"))
    };
    let (signed, _) = entry.publication().map_err(|e| corrupt(&e))?;
    let wire = pb::Envelope::decode(signed.envelope_bytes()).map_err(|e| corrupt(&e))?;
    let Some(pb::envelope::Body::Notice(notice)) = wire.body else {
        return Err(corrupt(&"not a notice"));
    };
    Ok(pb::NoticeEntry {
        notice: Some(notice),
        signed: Some(super::convert::signed_envelope(signed)),
        ..summary(&entry, now_ms())
    })
}
