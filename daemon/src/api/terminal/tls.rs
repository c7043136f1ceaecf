//! TLS of the terminal listener, both sides: the node requires a terminal certificate bound
//! to itself; a terminal requires its home node's certificate. TLS 1.3 only, ring as the only
//! provider, no session tickets, no resumption and no 0-RTT (a resumed session would skip the
//! certificate check and outlive a revocation; see docs/security.md).

use std::sync::{Arc, Mutex};

use bluehelm_pki::{NodeCredentials, NodeId, Role, TrustStore};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName};

use crate::net::tls::{crls, provider, roots, server_name};

/// gRPC runs over HTTP/2.
const ALPN_H2: &[u8] = b"h2";

/// Why the terminal TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TerminalTlsError {
    /// rustls refused the certificate, the key or a setting.
    #[error("rustls refused the configuration")]
    Rustls(#[from] rustls::Error),
    /// The CA or CRL is unusable for rustls.
    #[error("cannot build the certificate verifier (is the CRL from the same CA?): {0}")]
    Verifier(String),
    /// The terminal side was given a certificate that is not a terminal's.
    #[error("the certificate of {node} has role {role}: connect with a terminal certificate (`bluehelm pki issue --role terminal --for-node NODE`)")]
    NotATerminal {
        /// What the certificate names.
        node: NodeId,
        /// Its role.
        role: Role,
    },
}

/// The node's side, rebuilt when the node's trust store changes (a new CRL, picked up by the
/// node's CRL watcher) or its certificate and key do (a reload): each handshake uses the
/// trust store and certificate in force when it starts. Connections already open keep the
/// configuration they were made with.
pub struct ServerTls {
    current: Mutex<InForce>,
}

/// A configuration and what it was built from (compared by pointer: the node replaces each
/// whole, never in place).
struct InForce {
    creds: Arc<NodeCredentials>,
    trust: Arc<TrustStore>,
    config: Arc<rustls::ServerConfig>,
}

impl ServerTls {
    /// TLS for the terminal listener of the node `creds` certify.
    pub fn new(
        creds: Arc<NodeCredentials>,
        trust: Arc<TrustStore>,
    ) -> Result<Self, TerminalTlsError> {
        let config = server_config(&creds, trust.clone())?;
        Ok(Self {
            current: Mutex::new(InForce {
                creds,
                trust,
                config,
            }),
        })
    }

    /// The configuration for `creds` and `trust`, the node's certificate and trust store
    /// now.
    pub fn config(
        &self,
        creds: Arc<NodeCredentials>,
        trust: Arc<TrustStore>,
    ) -> Result<Arc<rustls::ServerConfig>, TerminalTlsError> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if !Arc::ptr_eq(&current.creds, &creds) || !Arc::ptr_eq(&current.trust, &trust) {
            let config = server_config(&creds, trust.clone())?;
            *current = InForce {
                creds,
                trust,
                config,
            };
        }
        Ok(current.config.clone())
    }
}

fn server_config(
    creds: &NodeCredentials,
    trust: Arc<TrustStore>,
) -> Result<Arc<rustls::ServerConfig>, TerminalTlsError> {
    let webpki = WebPkiClientVerifier::builder_with_provider(roots(&trust)?, provider())
        .with_crls(crls(&trust))
        .build()
        .map_err(|e| TerminalTlsError::Verifier(e.to_string()))?;
    let verifier = TerminalVerifier {
        webpki,
        trust,
        home: creds.identity().node.clone(),
    };
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(creds.cert_chain().to_vec(), creds.private_key_der())?;
    tls.alpn_protocols = vec![ALPN_H2.to_vec()];
    tls.max_early_data_size = 0;
    tls.send_tls13_tickets = 0;
    tls.session_storage = Arc::new(NoServerSessionStorage {});
    Ok(Arc::new(tls))
}

/// webpki first (chain to the network CA, CRL, clientAuth usage), then the Bluehelm rules
/// from the certificate alone: role `terminal` and home node == this node. A refusal is
/// logged here, with its reason, inside the connection's span (which names the remote).
#[derive(Debug)]
struct TerminalVerifier {
    webpki: Arc<dyn ClientCertVerifier>,
    trust: Arc<TrustStore>,
    home: NodeId,
}

impl ClientCertVerifier for TerminalVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Err(err) = self
            .webpki
            .verify_client_cert(end_entity, intermediates, now)
        {
            tracing::warn!(error = %err, "terminal refused: its certificate does not verify");
            return Err(err);
        }
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        match self.trust.verify_terminal(end_entity, now, &self.home) {
            Ok(identity) => {
                tracing::debug!(terminal = %identity.node, "terminal certificate accepted");
                Ok(ClientCertVerified::assertion())
            }
            Err(err) => {
                tracing::warn!(error = %err, "terminal refused");
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The terminal's side: presents `creds` (a terminal certificate) and accepts only the
/// certificate of the node it is bound to, from the network CA, not revoked under the CRL
/// in `trust` if it holds one. Returns the configuration and the server name to dial.
pub fn client_config(
    creds: &NodeCredentials,
    trust: &TrustStore,
) -> Result<(Arc<rustls::ClientConfig>, ServerName<'static>), TerminalTlsError> {
    let identity = creds.identity();
    let home = match (&identity.role, &identity.home) {
        (Role::Terminal, Some(home)) => home,
        _ => {
            return Err(TerminalTlsError::NotATerminal {
                node: identity.node.clone(),
                role: identity.role,
            })
        }
    };
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(trust)?, provider())
        .with_crls(crls(trust))
        .build()
        .map_err(|e| TerminalTlsError::Verifier(e.to_string()))?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(creds.cert_chain().to_vec(), creds.private_key_der())?;
    tls.alpn_protocols = vec![ALPN_H2.to_vec()];
    tls.enable_early_data = false;
    tls.resumption = Resumption::disabled();
    let name = ServerName::try_from(server_name(home))
        .map_err(|e| TerminalTlsError::Verifier(format!("home node name: {e}")))?;
    Ok((Arc::new(tls), name))
}
