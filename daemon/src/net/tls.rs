//! TLS and QUIC transport settings of a link: mutual TLS 1.3 with certificates of the network
//! CA (checked against its CRL), ring as the only provider, no 0-RTT and no resumption (a
//! resumed session would skip the certificate check and outlive a revocation).

use std::sync::Arc;
use std::time::Duration;

use bluehelm_pki::{NodeCredentials, TrustStore};
use bluehelm_proto::NodeId;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{TransportConfig, VarInt};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

/// ALPN protocol id: names the link protocol version (docs/protocol.md).
pub const ALPN: &[u8] = b"bluehelm/1";

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

/// Transport limits: bounded memory per link, keep-alive below the idle timeout. A peer that
/// dies without closing (kill -9, a cut satellite link) is noticed within the idle timeout.
pub fn transport(max_frame: usize) -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    // A stalled peer can pin at most this much per connection (docs/security.md).
    let stream_window = (2 * max_frame).max(2 * 1024 * 1024) as u32;
    t.stream_receive_window(VarInt::from_u32(stream_window));
    t.receive_window(VarInt::from_u32(stream_window.saturating_mul(4)));
    t.send_window(u64::from(stream_window) * 4);
    // Four precedence streams each way plus a control stream, with room for a reconnect race.
    t.max_concurrent_bidi_streams(VarInt::from_u32(8));
    t.max_concurrent_uni_streams(VarInt::from_u32(0));
    t.keep_alive_interval(Some(Duration::from_secs(2)));
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(Duration::from_secs(10)).expect("10 s is a valid timeout"),
    ));
    Arc::new(t)
}

/// Endpoint settings. The stateless-reset key is derived from the node's private key, so a
/// node that restarts after a crash can tell its peers' still-open connections that it lost
/// them: they close at once and redial, instead of waiting out the idle timeout.
pub fn endpoint_config(creds: &NodeCredentials) -> quinn::EndpointConfig {
    let key = creds.private_key_der();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"bluehelm/v1/quic-stateless-reset\0");
    ctx.update(key.secret_der());
    let reset_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, ctx.finish().as_ref());
    quinn::EndpointConfig::new(Arc::new(reset_key))
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
