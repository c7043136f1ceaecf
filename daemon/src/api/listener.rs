//! The API's Unix socket: checked, bound with mode 0660, served until the node stops, and
//! removed when it has stopped. The optional terminal listener ([`super::terminal`]) is
//! bound first and started alongside.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_stream::wrappers::UnixListenerStream;
use tokio_util::task::TaskTracker;

use super::dispatch::Dispatcher;
use super::pb::bureau_server::BureauServer;
use super::service::BureauService;
use super::terminal::{TerminalListener, TerminalTlsError};
use crate::config::live::ReloadHandle;
use crate::custody::{BureauHandle, LinkedPeers};

/// Socket permissions: owner and group (the bureau's applications) may connect.
const SOCKET_MODE: u32 = 0o660;

/// Why the API could not start. Each names the setting (`api_socket`, `terminal_listen`) to fix.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Something that is not a socket is in the way; it is not removed.
    #[error(
        "api_socket {0}: the path exists and is not a socket; remove it or set another api_socket"
    )]
    NotASocket(PathBuf),
    /// A running process answers on the socket (another node with the same config?).
    #[error("api_socket {0}: another process is serving on it")]
    InUse(PathBuf),
    #[error("api_socket {path}")]
    Io { path: PathBuf, source: io::Error },
    /// The terminal listener's address cannot be bound.
    #[error(
        "terminal_listen {address} (choose a free address on this host or remove terminal_listen)"
    )]
    TerminalBind {
        address: SocketAddr,
        source: io::Error,
    },
    /// TLS for the terminal listener cannot be set up from the node's certificate and trust
    /// store.
    #[error("terminal_listen")]
    TerminalTls(#[from] TerminalTlsError),
}

/// The running API; [`ApiHandle::remove_socket`] once the node's tasks have stopped.
#[derive(Debug)]
pub struct ApiHandle {
    path: PathBuf,
    terminal: Option<SocketAddr>,
}

impl ApiHandle {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The address the terminal listener is bound to, if the config enables it.
    pub fn terminal_addr(&self) -> Option<SocketAddr> {
        self.terminal
    }

    /// Removes the socket file (the server has stopped).
    pub fn remove_socket(&self) {
        if let Err(err) = std::fs::remove_file(&self.path) {
            if err.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %err, "cannot remove the api socket");
            }
        }
    }
}

/// Binds the socket (and the terminal listener if `terminal_listen` is set) and starts
/// serving the API and its dispatcher on the node's tasks. Must run inside the node's tokio
/// runtime.
/// `links` tells the `Status` call which peers are linked (net owns the link table).
pub fn start(
    node: &BureauHandle,
    links: Arc<dyn LinkedPeers>,
    tasks: &TaskTracker,
    reloads: ReloadHandle,
) -> Result<ApiHandle, ApiError> {
    let path = node.config().api_socket.clone();
    let io_error = |source| ApiError::Io {
        path: path.clone(),
        source,
    };
    // First, so that a taken port fails the start before the socket exists.
    let terminal = match node.config().terminal_listen {
        Some(address) => Some(TerminalListener::bind(node, address)?),
        None => None,
    };
    clear_stale(&path)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_error)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(&path).map_err(io_error)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(io_error)?;
    listener.set_nonblocking(true).map_err(io_error)?;
    let listener = tokio::net::UnixListener::from_std(listener).map_err(io_error)?;

    let dispatcher = Dispatcher::new(node.clone());
    tasks.spawn(dispatcher.clone().run());
    let service = BureauService {
        node: node.clone(),
        links,
        dispatcher,
        serving: Default::default(),
        tasks: tasks.clone(),
        reloads,
    };
    let terminal_addr = terminal.as_ref().map(TerminalListener::address);
    if let Some(terminal) = terminal {
        terminal.serve(node, tasks, service.clone());
    }
    let cancel = node.cancel().clone();
    let shown = path.display().to_string();
    tasks.spawn(async move {
        let served = tonic::transport::Server::builder()
            .add_service(
                BureauServer::new(service)
                    .max_decoding_message_size(bluehelm_proto::limits::MAX_API_MESSAGE_LEN),
            )
            .serve_with_incoming_shutdown(
                UnixListenerStream::new(listener),
                cancel.cancelled_owned(),
            )
            .await;
        if let Err(err) = served {
            tracing::error!(path = %shown, error = %err, "api server stopped");
        }
    });
    tracing::info!(path = %path.display(), "api listening");
    Ok(ApiHandle {
        path,
        terminal: terminal_addr,
    })
}

/// A socket left by a node that did not stop cleanly is removed; a live one or anything
/// else is left alone (and refused). The node calls this before it opens its store or binds
/// its port, so a wrong `api_socket` fails the start without side effects.
pub fn clear_stale(path: &Path) -> Result<(), ApiError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ApiError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    if !meta.file_type().is_socket() {
        return Err(ApiError::NotASocket(path.to_owned()));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(ApiError::InUse(path.to_owned()));
    }
    tracing::info!(path = %path.display(), "removing a stale api socket");
    std::fs::remove_file(path).map_err(|source| ApiError::Io {
        path: path.to_owned(),
        source,
    })
}
