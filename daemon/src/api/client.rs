//! Connecting to a node's API socket (the CLI and the tests use this).

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use super::pb::bureau_client::BureauClient;

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
    Ok(BureauClient::new(channel))
}
