//! A running node: the assembly only. It starts the store, the core (`crate::custody`), the
//! QUIC endpoint, the link tasks, the API and the expiry sweeper, wires the handles between
//! them, and stops them in order. Nothing imports `node` but `lib.rs` and the CLI.

mod crl;
mod dialers;
mod disk;
mod preflight;
mod reload;
mod trust;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bluehelm_pki::{EnvelopeVerifier, NodeCredentials, Signer, TrustStore};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::audit::AuditLog;
use crate::config::live::{ReloadError, ReloadHandle, Reloaded};
use crate::config::NodeConfig;
use crate::custody::{now_ms, Bulk, BureauHandle, Core, CoreParts, LinkHandle};
use crate::engine::audit::SignedCheckpoint;
use crate::engine::register::Register;
use crate::engine::release::Directory;
use crate::net::crl::CrlExchange;
use crate::net::links::Links;
use crate::net::{endpoint, tls};
use crate::records::store::RecordStore;
use crate::store::Store;

pub use self::trust::APPLIED_CRL_FILE;

/// Checks a node's config as `Node::start` does before it opens its store or binds a
/// socket (`bluehelm config check`): the certificate, key, CA and CRL files, and the CRL
/// against the newest one this node put in force. Opens nothing and writes nothing.
pub fn check_config(config: &NodeConfig) -> Result<(), StartError> {
    preflight::preflight(config, now_ms() / 1000).map(drop)
}

/// Why a node could not start. Each says which file or setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("node credentials")]
    Credentials(#[from] bluehelm_pki::CredentialsError),
    #[error("trust store (CA or CRL file)")]
    Trust(#[from] bluehelm_pki::TrustStoreError),
    #[error("certificate is for {certified}, but the config says node_id = {configured}")]
    WrongIdentity {
        certified: String,
        configured: String,
    },
    #[error(
        "certificate of {0} is a terminal certificate: a node needs one issued with --role hub, ncb or mission"
    )]
    TerminalCertificate(String),
    /// Only the hub answers the network's checks: it holds every record, and requests are
    /// routed to it. A replica answers its own users from its copy (`[databases]`).
    #[error(
        "[reference_services] is enabled, but {0}'s certificate has the role {1}: only the hub answers reference checks (its owners' hit notifications come from the hub); remove [reference_services] or run them at the hub"
    )]
    ReferenceServicesNeedHub(String, bluehelm_pki::Role),
    #[error("own certificate refused")]
    OwnCertificate(#[source] trust::OwnCertificateError),
    #[error("CRL refused")]
    Crl(#[source] trust::CrlGuardError),
    #[error("record of the newest CRL in force")]
    AppliedCrl(#[source] bluehelm_pki::AppliedCrlError),
    #[error("storage")]
    Store(#[from] crate::store::StoreError),
    #[error("audit log")]
    Audit(#[from] crate::audit::AuditError),
    #[error("field databases")]
    Records(#[from] crate::records::store::RecordStoreError),
    #[error("TLS")]
    Tls(#[from] tls::TlsSetupError),
    #[error("local API")]
    Api(#[from] crate::api::ApiError),
    #[error("cannot start the bulk worker thread (check the process's thread limit)")]
    Thread(#[source] std::io::Error),
    #[error("metrics")]
    Metrics(#[from] crate::metrics::MetricsBindError),
    #[error("cannot bind {address}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// Signed audit checkpoints waiting to be sent to gs; past this, one is skipped (the next
/// covers its entries).
const CHECKPOINTS_WAITING: usize = 16;

/// Writes the audit log's last entries and its last checkpoint (a blocking join).
async fn close_audit(core: &Arc<Core>) {
    let audit = core.audit().clone();
    let _ = tokio::task::spawn_blocking(move || audit.close()).await;
}

/// A running node.
pub struct Node {
    core: Arc<Core>,
    bureau: BureauHandle,
    links: Arc<Links>,
    endpoint: quinn::Endpoint,
    tasks: TaskTracker,
    api: crate::api::ApiHandle,
    reloads: ReloadHandle,
}

impl Node {
    /// Starts a node; it listens, dials its peers and serves until [`Node::shutdown`].
    pub async fn start(config: NodeConfig) -> Result<Self, StartError> {
        let preflight::Preflight {
            creds,
            trust,
            mut crl_guard,
            admitted,
        } = preflight::preflight(&config, now_ms() / 1000)?;
        let creds = Arc::new(creds);
        // One signer in force for the node and its audit writer: a reload swaps it for both.
        let signer = Arc::new(ArcSwap::from_pointee(creds.signer()));
        // The store first: a second node on the same storage directory is told that the
        // directory is in use, and by which process, rather than that the API socket is.
        let storage = config.storage.clone();
        let sizes = config.limits.store_sizes();
        let store = tokio::task::spawn_blocking(move || Store::open_sized(&storage, sizes))
            .await
            .map_err(|_| crate::store::StoreError::Closed)??;
        // From here on a failed start closes the store before it returns, so that the storage
        // directory is free again at once (a caller may retry in the same process).
        let prepared = async {
            // The storage directory exists now; the CRL's number is on disk before it is used.
            crl_guard.record(admitted).await.map_err(StartError::Crl)?;
            crate::api::clear_stale(&config.api_socket)?;
            let register = Register::from_entries(store.notices().await?);
            let directory = Directory::from_entries(store.identities().await?);
            let quarantine = store.rules().await?;
            let storage = config.storage.clone();
            let records = tokio::task::spawn_blocking(move || RecordStore::open(&storage))
                .await
                .map_err(|_| crate::store::StoreError::Closed)??;
            let opened = Self::open_endpoint(&config, &creds, &trust)?;
            let metrics = config
                .metrics_listen
                .map(crate::metrics::bind)
                .transpose()?;
            let audit = Self::open_audit(&config, signer.clone())?;
            Ok((
                (opened, metrics),
                (register, directory, Arc::new(records), quarantine),
                audit,
            ))
        }
        .await;
        let (
            ((client, endpoint, bulk), metrics),
            (register, directory, records, quarantine),
            (audit, checkpoints),
        ) = match prepared {
            Ok(prepared) => prepared,
            Err(err) => {
                if let Err(close) = store.shutdown().await {
                    tracing::error!(error = %close, "the store did not close cleanly");
                }
                return Err(err);
            }
        };
        let crl_number = trust::crl_number_in_force(&trust);

        let core = Arc::new(Core::new(CoreParts {
            identity: creds.identity().clone(),
            credentials: creds.clone(),
            signer,
            verifier: EnvelopeVerifier::new(trust),
            bulk,
            store,
            config,
            register,
            directory,
            records,
            audit,
            quarantine,
        }));
        let (crl_exchange, crl_received) =
            CrlExchange::new(core.verifier().trust_store().crl_der());
        let links = Arc::new(Links::new(client, crl_exchange));
        let link_handle = LinkHandle::new(core.clone());
        let tasks = TaskTracker::new();
        if core.config().listen.is_some() {
            tasks.spawn(endpoint::accept_loop(
                link_handle.clone(),
                links.clone(),
                endpoint.clone(),
            ));
        }
        let mut dialers = dialers::Dialers::new(
            link_handle.clone(),
            links.clone(),
            endpoint.clone(),
            tasks.clone(),
        );
        for peer in &core.config().peers {
            dialers.start(peer);
        }
        tasks.spawn(crate::custody::sweep(core.clone()));
        tasks.spawn(disk::watch(core.clone()));
        tasks.spawn(crate::custody::failover(core.clone()));
        let crl_task = crl::CrlTask {
            core: core.clone(),
            links: links.clone(),
            endpoint: endpoint.clone(),
            creds,
            guard: crl_guard,
        };
        let (tls_reloads, tls_reloaded) = mpsc::channel(1);
        tasks.spawn(crl::watch_crl(crl_task, crl_received, tls_reloaded));
        // Unreadable now (moved since the checks read them): then the first reload finds
        // them changed and puts them in force again, which is harmless.
        let digests = reload::digest_files(&core.config().tls).unwrap_or_default();
        let (reloads, reload_requests) = ReloadHandle::channel();
        let reloader = reload::Reloader {
            core: core.clone(),
            links: links.clone(),
            dialers,
            digests,
            tls: tls_reloads,
        };
        tasks.spawn(reload::serve_reloads(reloader, reload_requests));
        let bureau = BureauHandle::new(core.clone());
        tasks.spawn(crate::audit::send_to_hub(bureau.clone(), checkpoints));
        if let Some(listener) = metrics {
            tracing::info!(address = ?listener.local_addr().ok(), "serving /metrics and /healthz");
            tasks.spawn(crate::metrics::serve(
                listener,
                bureau.clone(),
                links.clone(),
                core.cancel().clone(),
            ));
        }
        let api = match crate::api::start(&bureau, links.clone(), &tasks, reloads.clone()) {
            Ok(api) => api,
            Err(err) => {
                core.cancel().cancel();
                endpoint.close(crate::net::link::CLOSE_NORMAL, b"node failed to start");
                tasks.close();
                tasks.wait().await;
                close_audit(&core).await;
                let _ = core.store().shutdown().await; // the API's error is the one to report
                return Err(err.into());
            }
        };
        tracing::info!(node = %core.me(), bound = ?endpoint.local_addr().ok(), %crl_number,
            "node started");
        Ok(Self {
            core,
            bureau,
            links,
            endpoint,
            tasks,
            api,
            reloads,
        })
    }

    /// The fallible set-up that needs no store: TLS client config, the QUIC endpoint (bound,
    /// listening if configured) and the bulk threads.
    fn open_endpoint(
        config: &NodeConfig,
        creds: &NodeCredentials,
        trust: &TrustStore,
    ) -> Result<(quinn::ClientConfig, quinn::Endpoint, Bulk), StartError> {
        let max_frame = config.limits.max_frame_bytes;
        let client = tls::client_config(creds, trust, max_frame)?;
        let bind = config
            .listen
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let server = match config.listen {
            Some(_) => Some(tls::server_config(creds, trust, max_frame)?),
            None => None,
        };
        let socket = std::net::UdpSocket::bind(bind).map_err(|source| StartError::Bind {
            address: bind,
            source,
        })?;
        let endpoint = quinn::Endpoint::new(
            tls::endpoint_config(creds),
            server,
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(|source| StartError::Bind {
            address: bind,
            source,
        })?;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let bulk =
            Bulk::start(crate::custody::threads_for(cores), cores).map_err(StartError::Thread)?;
        Ok((client, endpoint, bulk))
    }

    /// Opens the audit log (unless `[audit] enabled = false`); its signed checkpoints come
    /// out of the receiver, for gs.
    fn open_audit(
        config: &NodeConfig,
        signer: Arc<ArcSwap<Signer>>,
    ) -> Result<(AuditLog, mpsc::Receiver<SignedCheckpoint>), StartError> {
        let (sender, receiver) = mpsc::channel(CHECKPOINTS_WAITING);
        if !config.audit.enabled {
            return Ok((AuditLog::disabled(), receiver));
        }
        let log = AuditLog::open(&config.storage, signer, config.audit, sender)?;
        Ok((log, receiver))
    }

    /// What the node's local applications may do: submit, read the inbox, look at queues
    /// and counters (`custody::BureauHandle`).
    pub fn bureau(&self) -> &BureauHandle {
        &self.bureau
    }

    /// Reads the config file the node started with again and puts what changed in force
    /// (SIGHUP; `bluehelm reload` asks the same over the API). See `node/reload.rs`.
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        self.reloads.reload().await
    }

    /// The node's live links (net's link table).
    pub fn links(&self) -> &Links {
        &self.links
    }

    /// Whether `peer` has a live link now.
    pub fn is_linked(&self, peer: &bluehelm_proto::NodeId) -> bool {
        self.links.is_linked(peer)
    }

    /// The address the node listens on (useful with port 0); `None` for a dial-only node,
    /// whose socket is bound to an ephemeral port only to dial from.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.core.config().listen?;
        self.endpoint.local_addr().ok()
    }

    /// Stops accepting and dialling, closes links, waits for tasks, and closes the store.
    /// A store that does not close cleanly is logged; [`Node::stop`] returns it.
    pub async fn shutdown(self) {
        if let Err(err) = self.stop().await {
            tracing::error!(error = %err, "the node's store did not close cleanly");
        }
    }

    /// [`Node::shutdown`], in bounded time ([`Store::CLOSE_TIMEOUT`] for the store), with the
    /// store's failure as the result: a node whose store failed must not exit as if all were
    /// well (issue 10, defect 18).
    pub async fn stop(self) -> Result<(), crate::store::StoreError> {
        self.core.cancel().cancel();
        self.endpoint
            .close(crate::net::link::CLOSE_NORMAL, b"node shutting down");
        self.tasks.close();
        if tokio::time::timeout(Duration::from_secs(5), self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some link tasks did not stop within 5 s");
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        self.api.remove_socket();
        close_audit(&self.core).await;
        let closed = self.core.store().shutdown().await;
        tracing::info!(node = %self.core.me(), "node stopped");
        closed
    }
}
