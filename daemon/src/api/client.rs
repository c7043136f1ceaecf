//! Connecting to a node's API: on its Unix socket (the default), or as a terminal over TCP
//! with mutual TLS (the CLI and the tests use this).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bluehelm_pki::{NodeCredentials, TrustStore};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

use super::pb::bureau_client::BureauClient;
use super::terminal::tls::{client_config, TerminalTlsError};

/// A client of the node API listening on the Unix socket `path`.
pub async fn connect(path: &Path) -> Result<BureauClient<Channel>, tonic::transport::Error> {
    let path: PathBuf = path.to_owned();
    // The URI is required by the HTTP/2 layer and ignored: the connector dials the socket.
    let channel = Endpoint::from_static("http://bluehelm.invalid")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await?;
    Ok(bureau_client(channel))
}

/// A client that decodes the largest message the node may send (an inbox message carries a
/// body of up to `MAX_ENVELOPE_LEN` twice: gRPC's default of 4 MiB is too small).
fn bureau_client(channel: Channel) -> BureauClient<Channel> {
    BureauClient::new(channel)
        .max_decoding_message_size(bluehelm_proto::limits::MAX_API_MESSAGE_LEN)
        .max_encoding_message_size(bluehelm_proto::limits::MAX_API_MESSAGE_LEN)
}

/// Why a terminal could not connect.
#[derive(Debug, thiserror::Error)]
pub enum TerminalConnectError {
    /// The terminal's certificate, key or trust files do not make a TLS configuration.
    #[error(transparent)]
    Tls(#[from] TerminalTlsError),
    /// The node could not be reached, or the TLS or HTTP/2 handshake failed.
    #[error("cannot reach the terminal listener at {address}")]
    Transport {
        address: String,
        source: tonic::transport::Error,
    },
}

/// A client of the node's terminal listener at `address` (`host:port`), as the terminal
/// that `creds` certify. The node must present the certificate of the terminal's home node
/// from the CA in `trust` (and not be revoked under its CRL, if it holds one).
///
/// With TLS 1.3 the node checks the terminal's certificate after the client considers the
/// handshake done: a refused terminal may connect and then fail on its first call.
pub async fn connect_terminal(
    address: &str,
    creds: &NodeCredentials,
    trust: &TrustStore,
) -> Result<BureauClient<Channel>, TerminalConnectError> {
    let (config, server) = client_config(creds, trust)?;
    connect_tls(address, config, server)
        .await
        .map_err(|source| TerminalConnectError::Transport {
            address: address.to_owned(),
            source,
        })
}

/// A client over TLS with any client configuration: `server` is the name the node's
/// certificate must carry. For tests that present unusual certificates (or none).
pub async fn connect_tls(
    address: &str,
    config: Arc<rustls::ClientConfig>,
    server: ServerName<'static>,
) -> Result<BureauClient<Channel>, tonic::transport::Error> {
    let address = address.to_owned();
    let connector = TlsConnector::from(config);
    // As for the socket, the URI only feeds the HTTP/2 layer: the connector dials `address`.
    let channel = Endpoint::from_static("http://bluehelm.invalid")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let (address, connector, server) = (address.clone(), connector.clone(), server.clone());
            async move {
                let tcp = tokio::net::TcpStream::connect(address).await?;
                tcp.set_nodelay(true)?;
                let tls = connector.connect(server, tcp).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await?;
    Ok(bureau_client(channel))
}
