//! The local API for bureau applications (issue 4): the gRPC service `bluehelm.v1.Bureau`
//! (`proto/proto/bluehelm/v1/api.proto`), served with tonic on the node's Unix socket.
//! Access is by file permissions (mode 0660). A node whose config sets `terminal_listen`
//! also serves it over TCP to terminals on its LAN, with mutual TLS 1.3 and certificates of
//! role `terminal` issued for this node only ([`terminal`]).
//!
//! The layer is thin over [`BureauHandle`](crate::custody::BureauHandle): `Submit` is `BureauHandle::submit`, `Ack` is `BureauHandle::ack_inbox`.
//! What it adds is one task, the [`dispatch::Dispatcher`], the only reader of the inbox that
//! acts on what arrives: it records delivery and non-delivery reports (durably, as notes in
//! the store, so `DeliveryState` answers after the report is acknowledged and after a
//! restart), hands service responses to the `Request` calls waiting for them, and drops
//! late ones. `FollowInbox` streams only what the dispatcher has looked at.

pub mod client;
mod convert;
pub use convert::release_list;
mod dispatch;
mod edge;
mod import;
mod listener;
mod notes;
mod notices;
mod quarantine;
mod queues;
mod records;
mod reload;
mod replica_check;
pub mod review;
mod seal;
mod serve;
mod service;
mod status;
pub mod terminal;

use std::time::Duration;

/// The generated gRPC types and the client and server of `bluehelm.v1.Bureau`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    tonic::include_proto!("bluehelm.v1");
}

pub use listener::{clear_stale, start, ApiError, ApiHandle};
pub use serve::sha256_hex;

/// Lifetime of a submitted message when the client gives none: a mission post may be
/// offline for days.
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long `Request` waits when the client gives no timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest timeout or lifetime a client may ask for (30 days).
pub const MAX_SECONDS: u32 = 30 * 24 * 3600;
/// Inbox messages read from the store at a time (streams, dispatcher, status).
const PAGE: usize = 256;
