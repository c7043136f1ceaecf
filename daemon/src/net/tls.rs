//! TLS and QUIC transport settings of a link: mutual TLS 1.3 with certificates of the network
//! CA (checked against its CRL), ring as the only provider, no 0-RTT and no resumption (a
//! resumed session would skip the certificate check and outlive a revocation).

use std::sync::Arc;
use std::time::Duration;

use bluehelm_pki::{NodeCredentials, TrustStore};
use bluehelm_proto::NodeId;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{TransportConfig, VarInt};
use quinn_proto::HashedConnectionIdGenerator;
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

/// ALPN protocol id: names the link protocol version (docs/protocol.md).
pub const ALPN: &[u8] = b"bluehelm/8";

/// The DNS name a node's certificate carries for dialling: webpki matches only DNS and IP
/// names, so node ids live in a reserved domain that never resolves.
pub fn server_name(node: &NodeId) -> String {
    format!("{node}.bluehelm.invalid")
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("rustls refused the configuration")]
    Rustls(#[from] rustls::Error),
    #[error("cannot build the certificate verifier (is the CRL from the same CA?): {0}")]
    Verifier(String),
    #[error("QUIC cannot use this TLS configuration: {0}")]
    Quic(String),
}

/// The one crypto provider (ring), given explicitly everywhere.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The network CA as rustls' only root.
pub(crate) fn roots(trust: &TrustStore) -> Result<Arc<RootCertStore>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(trust.ca_der().to_vec()))?;
    Ok(Arc::new(roots))
}

/// The CRL in force, for rustls' verifiers.
pub(crate) fn crls(trust: &TrustStore) -> Vec<CertificateRevocationListDer<'static>> {
    trust
        .crl_der()
        .map(|der| CertificateRevocationListDer::from(der.to_vec()))
        .into_iter()
        .collect()
}

fn chain_and_key(
    creds: &NodeCredentials,
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    (creds.cert_chain().to_vec(), creds.private_key_der())
}

/// How often an idle link sends a packet. It also bounds how long a peer of a node that
/// restarted after a crash holds its dead connection: the restarted node can answer only a
/// packet the peer sends, with a stateless reset (see [`endpoint_config`]), and the links
/// should be back within a second of the restart (issue 10, defect 19). The cost is about 40
/// bytes each way per interval on an idle link.
const KEEP_ALIVE: Duration = Duration::from_millis(500);

/// Transport limits: bounded memory per link, keep-alive below the idle timeout. A peer that
/// dies without closing (kill -9, a cut satellite link) is noticed within the idle timeout.
pub fn transport(max_frame: usize) -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    // A stalled peer can pin at most this much per connection (docs/security.md).
    let stream_window = (2 * max_frame).max(2 * 1024 * 1024) as u32;
    t.stream_receive_window(VarInt::from_u32(stream_window));
    t.receive_window(VarInt::from_u32(stream_window.saturating_mul(4)));
    t.send_window(u64::from(stream_window) * 4);
    // Streams one side opens at once: four precedence streams, a sync stream per replicated
    // database (four at most), a CRL stream (issue 14) and the dialler's control stream, with
    // room for a reconnect race.
    t.max_concurrent_bidi_streams(VarInt::from_u32(12));
    t.max_concurrent_uni_streams(VarInt::from_u32(0));
    t.keep_alive_interval(Some(KEEP_ALIVE));
    // Cubic on short paths, BBR on long-haul ones (satellites): see `congestion.rs`.
    t.congestion_controller_factory(Arc::new(super::congestion::PathAwareConfig::default()));
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(Duration::from_secs(10)).expect("10 s is a valid timeout"),
    ));
    Arc::new(t)
}

/// Endpoint settings: what lets a node that restarts after a crash tell its peers at once
/// that it lost their connections, so that they close them and redial instead of waiting out
/// the idle timeout (issue 10, defect 19). Both come from secrets derived from the node's
/// private key, so they survive a restart:
/// - the stateless-reset key, which makes the reset tokens the peers hold;
/// - the key of the connection-id generator: a packet whose destination connection id the
///   generator does not recognise is dropped without a reset, so a per-process key (quinn's
///   default) makes a restarted node ignore every packet of its previous run.
pub fn endpoint_config(creds: &NodeCredentials) -> quinn::EndpointConfig {
    let reset = derived_secret(creds, b"bluehelm/v1/quic-stateless-reset\0");
    let reset_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, reset.as_ref());
    let cid_key = derived_u64(creds, b"bluehelm/v1/quic-connection-id\0");
    let mut config = quinn::EndpointConfig::new(Arc::new(reset_key));
    config.cid_generator(move || Box::new(HashedConnectionIdGenerator::from_key(cid_key)));
    config.min_reset_interval(MIN_RESET_INTERVAL);
    config
}

/// Shortest gap between two stateless resets, for all peers together (quinn's default is
/// 20 ms). A restarted hub must reset every peer's dead connection, and each peer sends one
/// packet per keep-alive interval: at 20 ms a hub could answer 50 packets a second, fewer
/// than the 2 a second of each of 26 peers, so with more peers (up to `max_peers`, 256 by
/// default: 512 packets a second) some would wait several intervals for their reset. Resets
/// are smaller than the packets that cause them and answer only packets whose connection id
/// the generator recognises, so this bounds reflected traffic; it is not what keeps it from
/// being amplified.
const MIN_RESET_INTERVAL: Duration = Duration::from_millis(1);

/// A secret derived one-way from the node's private key for one purpose: `label` separates
/// the purposes, so that one derived secret reveals neither another nor the key.
fn derived_secret(creds: &NodeCredentials, label: &[u8]) -> ring::digest::Digest {
    let key = creds.private_key_der();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(label);
    ctx.update(key.secret_der());
    ctx.finish()
}

/// The first 8 bytes of [`derived_secret`], as a number.
fn derived_u64(creds: &NodeCredentials, label: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    // A SHA-256 digest is 32 bytes: the zip takes the first 8.
    for (b, d) in bytes.iter_mut().zip(derived_secret(creds, label).as_ref()) {
        *b = *d;
    }
    u64::from_le_bytes(bytes)
}

/// The listening side: requires a client certificate from the network CA, checks the CRL.
pub fn server_config(
    creds: &NodeCredentials,
    trust: &TrustStore,
    max_frame: usize,
) -> Result<quinn::ServerConfig, TlsSetupError> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(trust)?, provider())
        .with_crls(crls(trust))
        .build()
        .map_err(|e| TlsSetupError::Verifier(e.to_string()))?;
    let (chain, key) = chain_and_key(creds);
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.max_early_data_size = 0;
    tls.send_tls13_tickets = 0;
    tls.session_storage = Arc::new(NoServerSessionStorage {});
    let quic = QuicServerConfig::try_from(tls).map_err(|e| TlsSetupError::Quic(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));
    server.transport_config(transport(max_frame));
    Ok(server)
}

/// The dialling side: the peer must present a certificate of the network CA, not revoked,
/// whose DNS name is the dialled node's (see [`server_name`]).
pub fn client_config(
    creds: &NodeCredentials,
    trust: &TrustStore,
    max_frame: usize,
) -> Result<quinn::ClientConfig, TlsSetupError> {
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(trust)?, provider())
        .with_crls(crls(trust))
        .build()
        .map_err(|e| TlsSetupError::Verifier(e.to_string()))?;
    let (chain, key) = chain_and_key(creds);
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(chain, key)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.enable_early_data = false;
    tls.resumption = Resumption::disabled();
    let quic = QuicClientConfig::try_from(tls).map_err(|e| TlsSetupError::Quic(e.to_string()))?;
    let mut client = quinn::ClientConfig::new(Arc::new(quic));
    client.transport_config(transport(max_frame));
    Ok(client)
}

/// The certificate chain a peer presented, leaf first.
pub fn peer_chain(conn: &quinn::Connection) -> Option<Vec<CertificateDer<'static>>> {
    conn.peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()
        .map(|chain| *chain)
}
