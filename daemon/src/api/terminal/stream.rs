//! An accepted terminal connection as tonic serves it: the TLS stream, who is on the other
//! end, and the connection slot it holds until it closes.
//!
//! TLS checks the certificate at the handshake only, so the stream checks it again, against
//! the node's trust store in force, at most every [`RECHECK`] while the connection is used:
//! a terminal revoked by a new CRL (or whose certificate expired) is cut off. An idle
//! connection is used at least by the HTTP/2 keep-alive ping, every 30 s.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bluehelm_pki::NodeId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;

use crate::custody::{now_ms, BureauHandle};

/// How often an active terminal connection's certificate is checked again.
const RECHECK: Duration = Duration::from_secs(1);

/// Who a terminal connection belongs to; tonic puts it in every request's extensions.
#[derive(Debug, Clone)]
pub struct TerminalInfo {
    /// The terminal's address.
    pub remote: SocketAddr,
    /// The terminal's id, from its verified certificate.
    pub terminal: NodeId,
}

/// A terminal connection whose handshake and certificate checks passed.
pub struct TerminalStream {
    tls: TlsStream<TcpStream>,
    info: TerminalInfo,
    recheck: Recheck,
    /// Frees a connection slot when the connection closes.
    _slot: OwnedSemaphorePermit,
}

impl TerminalStream {
    /// `leaf` is the certificate the terminal presented (DER).
    pub fn new(
        tls: TlsStream<TcpStream>,
        info: TerminalInfo,
        node: BureauHandle,
        leaf: Vec<u8>,
        slot: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            tls,
            info,
            recheck: Recheck {
                node,
                leaf,
                at: Instant::now(),
                refused: false,
            },
            _slot: slot,
        }
    }

    fn still_trusted(&mut self) -> io::Result<()> {
        self.recheck.check(&self.info)
    }
}

/// The certificate check repeated on an open connection.
struct Recheck {
    node: BureauHandle,
    leaf: Vec<u8>,
    at: Instant,
    refused: bool,
}

impl Recheck {
    fn check(&mut self, info: &TerminalInfo) -> io::Result<()> {
        if !self.refused && self.at.elapsed() < RECHECK {
            return Ok(());
        }
        if !self.refused {
            self.at = Instant::now();
            let trust = self.node.verifier().trust_store();
            match trust.verify_terminal(&self.leaf, now_ms() / 1000, self.node.me()) {
                Ok(_) => return Ok(()),
                Err(err) => {
                    tracing::warn!(terminal = %info.terminal, remote = %info.remote, error = %err,
                        "closing a terminal connection: its certificate is no longer accepted");
                    self.refused = true;
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "terminal certificate no longer accepted",
        ))
    }
}

impl Connected for TerminalStream {
    type ConnectInfo = TerminalInfo;

    fn connect_info(&self) -> TerminalInfo {
        self.info.clone()
    }
}

// Every field is Unpin, so the stream is too and can hand out `Pin::new(&mut self.tls)`.
impl AsyncRead for TerminalStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.still_trusted()?;
        Pin::new(&mut this.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for TerminalStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.still_trusted()?;
        Pin::new(&mut this.tls).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.still_trusted()?;
        Pin::new(&mut this.tls).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tls.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_shutdown(cx)
    }
}
