//! A raw link client: speaks the link protocol frame by frame, so tests can send what a
//! well-behaved node never would (forged origins, tampered bytes, oversized frames, garbage).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bluehelm::net::frames::{read_frame, write_frames};
use bluehelm::net::tls;
use bluehelm_pki::{NodeCredentials, TrustStore};
use bluehelm_proto::framing::DEFAULT_MAX_FRAME;
use bluehelm_proto::{LinkFrame, MessageRef, NodeId, Precedence, Transfer};
use quinn::{Connection, Endpoint, RecvStream, SendStream};

/// One QUIC connection to a node, with whatever credentials the test chose.
pub struct RawLink {
    pub conn: Connection,
    _endpoint: Endpoint,
}

impl RawLink {
    /// Connects as a node with `creds`, trusting `trust` for the server's certificate.
    pub async fn connect(
        creds: &NodeCredentials,
        trust: &TrustStore,
        addr: SocketAddr,
        server: &NodeId,
    ) -> anyhow::Result<Self> {
        let config = tls::client_config(creds, trust, DEFAULT_MAX_FRAME)?;
        Self::connect_with(config, addr, server).await
    }

    /// Connects with a client that presents no certificate at all.
    pub async fn connect_anonymous(
        trust: &TrustStore,
        addr: SocketAddr,
        server: &NodeId,
    ) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(rustls_pki_types::CertificateDer::from(
            trust.ca_der().to_vec(),
        ))?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![tls::ALPN.to_vec()];
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(config)?;
        Self::connect_with(quinn::ClientConfig::new(Arc::new(quic)), addr, server).await
    }

    pub async fn connect_with(
        config: quinn::ClientConfig,
        addr: SocketAddr,
        server: &NodeId,
    ) -> anyhow::Result<Self> {
        let mut endpoint = Endpoint::client("127.0.0.1:0".parse()?)?;
        endpoint.set_default_client_config(config);
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            endpoint.connect(addr, &tls::server_name(server))?,
        )
        .await??;
        Ok(Self {
            conn,
            _endpoint: endpoint,
        })
    }

    /// A ping answered proves that the node accepted this link.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let (mut send, mut recv) = self.conn.open_bi().await?;
        write_frames(&mut send, &[LinkFrame::Ping(7)]).await?;
        match read_within(&mut recv, Duration::from_secs(5)).await? {
            Some(LinkFrame::Pong(7)) => Ok(()),
            other => anyhow::bail!("no pong: {other:?}"),
        }
    }

    /// Opens an offer stream of one precedence class.
    pub async fn offer_stream(
        &self,
        precedence: Precedence,
    ) -> anyhow::Result<(SendStream, RecvStream)> {
        let (mut send, recv) = self.conn.open_bi().await?;
        write_frames(&mut send, &[LinkFrame::Open { precedence }]).await?;
        Ok((send, recv))
    }

    /// Offers transfers and returns the node's answer frames until every offer is answered
    /// (accepted ones are listed together, refusals come one frame each).
    pub async fn offer(&self, transfers: Vec<Transfer>) -> anyhow::Result<Vec<LinkFrame>> {
        let (mut send, mut recv) = self.offer_stream(Precedence::Routine).await?;
        let want = transfers.len();
        let frames: Vec<LinkFrame> = transfers.into_iter().map(LinkFrame::Transfer).collect();
        write_frames(&mut send, &frames).await?;
        let mut answers = Vec::new();
        let mut answered = 0;
        while answered < want {
            let frame = read_within(&mut recv, Duration::from_secs(10))
                .await?
                .ok_or_else(|| anyhow::anyhow!("stream ended after {answered} answers"))?;
            answered += match &frame {
                // The node's first answer: what it holds of large copies begun earlier.
                LinkFrame::PartsHeld(_) => continue,
                LinkFrame::Accepted(refs) => refs.len(),
                LinkFrame::Refused(_) => 1,
                other => anyhow::bail!("unexpected answer {other:?}"),
            };
            answers.push(frame);
        }
        Ok(answers)
    }
}

/// One of the node's own offer streams, as the peer it offers to sees it.
pub struct NodeOffers {
    /// The class its `StreamOpen` announced.
    pub precedence: Precedence,
    /// This client's side: where the answers go.
    pub answers: SendStream,
    offers: RecvStream,
}

impl RawLink {
    /// Accepts the next offer stream the node opens towards this client; it must start with
    /// `StreamOpen`. CRL streams (the node sends its CRL first on every link) are answered
    /// as a node would, by ending this side, and passed over.
    pub async fn accept_offer_stream(&self) -> anyhow::Result<NodeOffers> {
        loop {
            let (mut answers, mut offers) =
                tokio::time::timeout(Duration::from_secs(10), self.conn.accept_bi()).await??;
            match read_within(&mut offers, Duration::from_secs(10)).await? {
                Some(LinkFrame::Open { precedence }) => {
                    // A node's first answer on an offer stream: it holds no parts.
                    write_frames(&mut answers, &[LinkFrame::PartsHeld(Vec::new())]).await?;
                    return Ok(NodeOffers {
                        precedence,
                        answers,
                        offers,
                    });
                }
                Some(LinkFrame::Crl(_)) => {
                    answers.finish()?;
                }
                other => anyhow::bail!("the node's stream did not start with open: {other:?}"),
            }
        }
    }

    /// Sends `der` as a CRL on a stream of its own, as a node does, and waits for the node to
    /// deal with it (it ends its side of the stream, with no frame).
    pub async fn send_crl(&self, der: Vec<u8>) -> anyhow::Result<()> {
        let (mut send, mut recv) = self.conn.open_bi().await?;
        write_frames(&mut send, &[LinkFrame::Crl(der)]).await?;
        send.finish()?;
        match read_within(&mut recv, Duration::from_secs(10)).await? {
            None => Ok(()),
            Some(other) => anyhow::bail!("the node answered a CRL with a frame: {other:?}"),
        }
    }
}

impl NodeOffers {
    /// The next Transfer the node offers on this stream, named by its `MessageRef`.
    pub async fn next_offer(&mut self) -> anyhow::Result<MessageRef> {
        match read_within(&mut self.offers, Duration::from_secs(10)).await? {
            Some(LinkFrame::Transfer(transfer)) => {
                Ok(transfer.envelope.decode_envelope()?.message_ref())
            }
            other => anyhow::bail!("expected a transfer: {other:?}"),
        }
    }

    /// Takes custody of `offers`, as a node would once they are durable.
    pub async fn accept(&mut self, offers: Vec<MessageRef>) -> anyhow::Result<()> {
        write_frames(&mut self.answers, &[LinkFrame::Accepted(offers)]).await?;
        Ok(())
    }
}

/// Reads one frame, waiting at most `patience`.
async fn read_within(
    recv: &mut RecvStream,
    patience: Duration,
) -> anyhow::Result<Option<LinkFrame>> {
    Ok(tokio::time::timeout(patience, read_frame(recv, DEFAULT_MAX_FRAME)).await??)
}
