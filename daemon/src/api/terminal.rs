//! The terminal listener (issue 4): the same `bluehelm.v1.Bureau` service as the Unix socket,
//! over TCP for terminals on a mission post's LAN. Off unless the node's config sets
//! `terminal_listen`.
//!
//! Every connection is mutual TLS 1.3 ([`tls`]): the client must present a certificate of
//! role `terminal` from the network CA, not revoked under the CRL in force, whose home node
//! is this node. Anything else fails the handshake, is logged with its reason, and never
//! reaches the service. Each handshake uses the trust store and the node certificate the
//! node holds when it starts, so a new CRL (picked up by the node's CRL watcher within about
//! 2 s) and a certificate renewed by a reload apply to the next connection; a connection
//! already open re-checks its certificate while it is used and closes once it is no longer
//! accepted (`terminal/stream.rs`; docs/security.md).
//!
//! A refused client costs little: at most [`MAX_CONNECTIONS`] connections (handshaking or
//! open) at a time, each handshake bounded by [`HANDSHAKE_TIMEOUT`]; beyond that new
//! connections are closed at once.

mod stream;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub use stream::TerminalInfo;
use stream::TerminalStream;
pub use tls::TerminalTlsError;

use super::listener::ApiError;
use super::pb::bureau_server::BureauServer;
use super::service::BureauService;
use crate::custody::BureauHandle;

/// Most terminal connections at once, handshakes included. A mission post has a handful of
/// terminals; this leaves room for all of them and bounds what a flood of connections costs.
pub const MAX_CONNECTIONS: usize = 64;
/// Longest a TLS handshake may take; a client that stalls is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 pings on idle connections: a terminal that vanished (unplugged, out of Wi-Fi) is
/// noticed within interval + timeout and its slot freed.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// The bound listener and the node's TLS, ready to serve.
pub(super) struct TerminalListener {
    listener: TcpListener,
    tls: Arc<tls::ServerTls>,
    address: SocketAddr,
}

impl TerminalListener {
    /// Binds `address` and prepares TLS from the node's certificate and trust store. Done
    /// before anything else of the API starts, so a wrong address fails the start cleanly.
    pub(super) fn bind(node: &BureauHandle, address: SocketAddr) -> Result<Self, ApiError> {
        let tls = tls::ServerTls::new(node.credentials(), node.verifier().trust_store())?;
        let bind_error = |source| ApiError::TerminalBind { address, source };
        let listener = std::net::TcpListener::bind(address).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let bound = listener.local_addr().map_err(bind_error)?;
        let listener = TcpListener::from_std(listener).map_err(bind_error)?;
        Ok(Self {
            listener,
            tls: Arc::new(tls),
            address: bound,
        })
    }

    /// The address bound (useful with port 0).
    pub(super) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves `service` to terminals on the node's tasks until the node stops.
    pub(super) fn serve(self, node: &BureauHandle, tasks: &TaskTracker, service: BureauService) {
        let (accepted, incoming) = mpsc::channel(MAX_CONNECTIONS);
        tasks.spawn(accept_loop(
            node.clone(),
            tasks.clone(),
            self.listener,
            self.tls,
            accepted,
        ));
        let cancel = node.cancel().clone();
        let address = self.address;
        tasks.spawn(async move {
            let served = tonic::transport::Server::builder()
                .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
                .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
                .add_service(
                    BureauServer::new(service)
                        .max_decoding_message_size(bluehelm_proto::limits::MAX_API_MESSAGE_LEN),
                )
                .serve_with_incoming_shutdown(
                    ReceiverStream::new(incoming),
                    cancel.cancelled_owned(),
                )
                .await;
            if let Err(err) = served {
                tracing::error!(%address, error = %err, "terminal listener stopped");
            }
        });
        tracing::info!(%address, node = %node.me(),
            "terminal listener up: mutual TLS, terminal certificates for this node only");
    }
}

type Accepted = mpsc::Sender<Result<TerminalStream, std::io::Error>>;

async fn accept_loop(
    node: BureauHandle,
    tasks: TaskTracker,
    listener: TcpListener,
    tls: Arc<tls::ServerTls>,
    accepted: Accepted,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (tcp, remote) = tokio::select! {
            _ = node.cancel().cancelled() => return,
            next = listener.accept() => match next {
                Ok(next) => next,
                Err(err) => {
                    tracing::warn!(error = %err, "terminal listener: accept failed");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%remote, limit = MAX_CONNECTIONS,
                "terminal refused: too many terminal connections");
            continue;
        };
        // At the level of the refusals logged inside it, so that who was refused shows
        // even when only warnings are logged.
        let span = tracing::warn_span!("terminal", %remote);
        tasks.spawn(
            handshake(
                node.clone(),
                tls.clone(),
                tcp,
                remote,
                slot,
                accepted.clone(),
            )
            .instrument(span),
        );
    }
}

/// Whether a handshake failed on a certificate the verifier refused (and logged).
fn refused_certificate(err: &std::io::Error) -> bool {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_)))
}

/// Runs the TLS handshake (the certificate checks happen inside it) and hands the connection
/// to the server, or logs why not.
async fn handshake(
    node: BureauHandle,
    tls: Arc<tls::ServerTls>,
    tcp: TcpStream,
    remote: SocketAddr,
    slot: OwnedSemaphorePermit,
    accepted: Accepted,
) {
    let config = match tls.config(node.credentials(), node.verifier().trust_store()) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(error = %err, "terminal refused: cannot set up TLS with the certificate and trust store in force");
            return;
        }
    };
    // gRPC sends small frames both ways: do not wait to fill packets.
    let _ = tcp.set_nodelay(true);
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(config).accept(tcp));
    let stream = tokio::select! {
        _ = node.cancel().cancelled() => return,
        outcome = handshake => match outcome {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                if refused_certificate(&err) {
                    // The verifier logged why, with the certificate's details.
                    tracing::debug!(error = %err, "terminal handshake failed");
                } else {
                    tracing::warn!(error = %err, "terminal refused: TLS handshake failed");
                }
                return;
            }
            Err(_) => {
                tracing::warn!(timeout = ?HANDSHAKE_TIMEOUT, "terminal refused: TLS handshake timed out");
                return;
            }
        },
    };
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|der| der.to_vec());
    // The verifier required and checked this certificate; parsing it again cannot fail.
    let Some((leaf, identity)) = leaf.and_then(|der| {
        bluehelm_pki::parse_certificate(&der)
            .ok()
            .map(|id| (der, id))
    }) else {
        tracing::warn!("terminal refused: no certificate after the handshake");
        return;
    };
    tracing::info!(terminal = %identity.node, "terminal connected");
    let info = TerminalInfo {
        remote,
        terminal: identity.node,
    };
    let stream = TerminalStream::new(stream, info, node.clone(), leaf, slot);
    let _ = accepted.send(Ok(stream)).await;
}
