//! Accepting and dialling links. Identity always comes from the peer's certificate: the
//! listener admits configured peers (or any certified node when the config allows it), the
//! dialler insists that the peer is the node it dialled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bluehelm_pki::NodeIdentity;
use bluehelm_proto::{LinkFrame, NodeId};
use quinn::{Connection, Endpoint, Incoming};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::frames::{read_frame, write_frames, IdentityError, LinkError, Violation};
use super::link::{run_link, CLOSE_REFUSED};
use super::links::Links;
use super::tls;
use crate::config::PeerAddress;
use crate::custody::{now_ms, HandshakeFailure, LinkHandle};
use crate::engine::backoff::Backoff;
use crate::human_time::local_from_ms;

/// Redial timing: fast first retries, then at most a minute apart (a satellite link may be
/// down for days; a minute is a fair price for noticing it is back).
const REDIAL: Backoff = Backoff {
    base: Duration::from_millis(250),
    max: Duration::from_secs(60),
};
/// Longest a handshake plus the first ping may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most incoming handshakes in progress at once (issue 11). Each holds a QUIC connection's
/// state and a certificate check for up to [`HANDSHAKE_TIMEOUT`]; a flood of connection
/// attempts must not hold more. A hub's peers all redialling after its restart fit a few
/// times over, and one refused here retries with backoff (docs/protocol.md 7.3). The
/// terminal listener bounds its handshakes the same way (`api/terminal.rs`).
pub const MAX_HANDSHAKES: usize = 32;

/// What the certificate a connected peer presented certifies (TLS has already verified the
/// chain and the CRL; this reads it).
fn peer_identity(core: &LinkHandle, conn: &Connection) -> Result<NodeIdentity, LinkError> {
    let chain = tls::peer_chain(conn).ok_or(IdentityError::NoCertificate)?;
    let leaf = chain.first().ok_or(IdentityError::EmptyChain)?;
    let identity = core
        .verifier()
        .trust_store()
        .verify_node(leaf, now_ms() / 1000)
        .map_err(IdentityError::Untrusted)?;
    Ok(identity)
}

/// Accepts links until the node stops, then waits for the links it accepted to end (they
/// end on the node's cancellation too).
pub async fn accept_loop(core: LinkHandle, links: Arc<Links>, endpoint: Endpoint) {
    let tasks = TaskTracker::new();
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let incoming = tokio::select! {
            _ = core.cancel().cancelled() => break,
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
        };
        if links.count() >= core.config().limits.max_peers {
            tracing::warn!(remote = %incoming.remote_address(), "refusing a link: peer limit reached");
            incoming.refuse();
            continue;
        }
        let Ok(handshake) = handshakes.clone().try_acquire_owned() else {
            tracing::warn!(remote = %incoming.remote_address(), limit = MAX_HANDSHAKES,
                "refusing a link: too many handshakes in progress");
            incoming.refuse();
            continue;
        };
        tasks.spawn(handle_incoming(
            core.clone(),
            links.clone(),
            incoming,
            handshake,
        ));
    }
    tasks.close();
    tasks.wait().await;
}

/// Runs an incoming link's handshake and checks (holding `handshake`, a slot of
/// [`MAX_HANDSHAKES`]), then the link.
async fn handle_incoming(
    core: LinkHandle,
    links: Arc<Links>,
    incoming: Incoming,
    handshake: OwnedSemaphorePermit,
) {
    let remote = incoming.remote_address();
    let conn = match tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(err)) => {
            tracing::info!(%remote, error = %err, "handshake refused");
            core.stats().traffic.handshake_failed(HandshakeFailure::Tls);
            return;
        }
        Err(_) => {
            tracing::info!(%remote, "handshake timed out");
            core.stats()
                .traffic
                .handshake_failed(HandshakeFailure::Timeout);
            return;
        }
    };
    let identity = match peer_identity(&core, &conn) {
        Ok(identity) => identity,
        Err(err) => {
            tracing::warn!(%remote, error = %err, "refusing a link");
            core.stats()
                .traffic
                .handshake_failed(HandshakeFailure::Identity);
            conn.close(CLOSE_REFUSED, b"certificate not acceptable");
            return;
        }
    };
    let peer = identity.node.clone();
    let configured = core.config().peers.iter().any(|p| p.node == peer);
    if peer == *core.me() || !(configured || core.config().accept_unknown_peers) {
        tracing::warn!(%remote, %peer, "refusing a link from a node that is not a configured peer");
        core.stats()
            .traffic
            .handshake_failed(HandshakeFailure::NotConfigured);
        conn.close(CLOSE_REFUSED, b"not a configured peer");
        return;
    }
    drop(handshake);
    serve(core, &links, conn, &identity, "accepted").await;
}

/// Registers the link (replacing an older one with the same peer), runs it, and reports
/// it going down: at WARN with the reason, unless the node is stopping or a newer link
/// replaced it.
async fn serve(
    core: LinkHandle,
    links: &Links,
    conn: Connection,
    identity: &NodeIdentity,
    how: &'static str,
) {
    let peer = identity.node.clone();
    let remote = conn.remote_address();
    // Before any message moves, so that marked messages decided from now on are judged on
    // who this peer is (copies already queued were judged when they were taken).
    core.learn(identity).await;
    if let Some(old) = links.insert(peer.clone(), conn.clone()) {
        old.close(super::link::CLOSE_NORMAL, b"replaced by a newer link");
    }
    core.link_up(&peer);
    match links.recovered(&peer) {
        Some(outage) => {
            let now = now_ms();
            tracing::info!(%peer, %remote, down_for_secs = outage.down_for_secs(now),
                since = %local_from_ms(outage.since_ms()),
                failed_redials = outage.failed_redials(), "link up ({how}) after an outage");
        }
        None => tracing::info!(%peer, %remote, "link up ({how})"),
    }
    let stopping = core.cancel().clone();
    let reason = run_link(
        core.clone(),
        conn.clone(),
        peer.clone(),
        links.crl().clone(),
    )
    .await;
    if links.remove(&peer, &conn) {
        core.link_down(&peer);
        // A node that is stopping closes its own links: no outage to report.
        if let Some(reason) = reason.filter(|_| !stopping.is_cancelled()) {
            let outage = links.lost(&peer, now_ms());
            tracing::warn!(%peer, %remote, %reason, since = %local_from_ms(outage.since_ms()),
                "link down");
        }
    }
}

/// Keeps a link to `peer` at `address` up: dials, and redials with backoff and jitter. A
/// DNS name is resolved again before each dial (issue 15, item 3), so a peer that moved, or
/// whose name did not resolve at first, is found on a later redial. Ends when `stop` is
/// cancelled (the node stops, or a reload removed or readdressed the peer); a link it is
/// serving then ends when its connection is closed.
pub async fn dial_loop(
    core: LinkHandle,
    links: Arc<Links>,
    endpoint: Endpoint,
    peer: NodeId,
    configured: PeerAddress,
    stop: CancellationToken,
) {
    let mut attempt = 0;
    loop {
        if stop.is_cancelled() {
            return;
        }
        if !links.is_linked(&peer) {
            match resolve(&endpoint, &configured).await {
                Err(err) => {
                    tracing::info!(%peer, address = %configured, error = %err,
                        "dial failed: the name does not resolve");
                }
                Ok(address) => match dial(&core, &links, &endpoint, &peer, address).await {
                    // A reload removed or moved the peer while this dial was under way.
                    Ok((conn, _)) if stop.is_cancelled() => {
                        conn.close(super::link::CLOSE_NORMAL, b"no longer dialled here");
                        return;
                    }
                    Ok((conn, identity)) => {
                        attempt = 0;
                        serve(core.clone(), &links, conn, &identity, "dialled").await;
                    }
                    Err(err) => {
                        core.stats().traffic.handshake_failed(dial_failure(&err));
                        dial_failed(&links, &peer, address, &err);
                    }
                },
            }
        }
        let delay = REDIAL.delay(attempt, rand::random());
        attempt = attempt.saturating_add(1).min(16);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// The counter a failed dial goes to.
fn dial_failure(err: &LinkError) -> HandshakeFailure {
    match err {
        LinkError::Timeout(_) => HandshakeFailure::Timeout,
        LinkError::Identity(_) => HandshakeFailure::Identity,
        LinkError::Connection(_) => HandshakeFailure::Tls,
        _ => HandshakeFailure::Protocol,
    }
}

/// Reports a failed dial: at WARN for the first failure and then at growing intervals
/// (`engine::outage`), at DEBUG in between, so that a peer down for days does not flood
/// the log.
fn dial_failed(links: &Links, peer: &NodeId, address: SocketAddr, err: &LinkError) {
    let now = now_ms();
    let (outage, warn) = links.redial_failed(peer, now);
    let (down_for_secs, failed_redials) = (outage.down_for_secs(now), outage.failed_redials());
    if warn {
        tracing::warn!(%peer, %address, reason = %err, down_for_secs,
            since = %local_from_ms(outage.since_ms()), failed_redials, "link down: dial failed");
    } else {
        tracing::debug!(%peer, %address, reason = %err, down_for_secs, failed_redials,
            "dial failed");
    }
}

/// The socket address to dial for `address`: itself, or the first address its name
/// resolves to now in the endpoint's address family (an IPv4 socket cannot reach `::1`,
/// which `localhost` often resolves to first).
async fn resolve(endpoint: &Endpoint, address: &PeerAddress) -> std::io::Result<SocketAddr> {
    let (host, port) = match address {
        PeerAddress::Socket(socket) => return Ok(*socket),
        PeerAddress::Name { host, port } => (host.as_str(), *port),
    };
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    let ipv6 = endpoint.local_addr().map(|a| a.is_ipv6()).unwrap_or(false);
    resolved
        .iter()
        .find(|a| a.is_ipv6() == ipv6)
        .or_else(|| resolved.first())
        .copied()
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{host} resolves to no address"),
            )
        })
}

/// Dials and proves the link: the handshake alone does not tell the dialler that the
/// listener accepted its certificate, the first ping answered does.
async fn dial(
    core: &LinkHandle,
    links: &Links,
    endpoint: &Endpoint,
    peer: &NodeId,
    address: SocketAddr,
) -> Result<(Connection, NodeIdentity), LinkError> {
    let config = links.client_config();
    let connecting = endpoint.connect_with(config, address, &tls::server_name(peer))?;
    let conn = tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting)
        .await
        .map_err(|_| LinkError::Timeout("handshake"))??;
    let identity = peer_identity(core, &conn)?;
    let certified = identity.node.clone();
    if &certified != peer {
        conn.close(CLOSE_REFUSED, b"unexpected certificate");
        return Err(IdentityError::NotDialled {
            dialled: peer.clone(),
            named: certified,
        }
        .into());
    }
    tokio::time::timeout(HANDSHAKE_TIMEOUT, ping(&conn, core.max_frame()))
        .await
        .map_err(|_| LinkError::Timeout("first ping"))??;
    Ok((conn, identity))
}

async fn ping(conn: &Connection, max_frame: usize) -> Result<(), LinkError> {
    let (mut send, mut recv) = conn.open_bi().await?;
    let nonce: u64 = rand::random();
    write_frames(&mut send, &[LinkFrame::Ping(nonce)]).await?;
    match read_frame(&mut recv, max_frame).await? {
        Some(LinkFrame::Pong(n)) if n == nonce => Ok(()),
        _ => Err(Violation::PingNotAnswered.into()),
    }
}
