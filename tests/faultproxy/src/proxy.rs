//! The proxy's sockets and timers. One front socket takes datagrams from the node that dials
//! (a "client"); each client gets its own upstream socket towards the target, so replies come
//! back to the right one. Each direction of each client has its own [`Link`] and a timer
//! heap of datagrams waiting to arrive.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::link::{Impairments, Link, Verdict};

/// Clients one proxy serves at most: each costs a socket and a task.
const MAX_CLIENTS: usize = 64;
/// Datagrams waiting in one direction's timer heap at most, whatever the settings (without a
/// bandwidth limit the buffer does not bound them).
const MAX_WAITING: usize = 100_000;
/// Larger than any QUIC datagram.
const MAX_DATAGRAM: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot bind the proxy's socket on loopback: {0}")]
    Bind(#[source] std::io::Error),
}

/// Counters of both directions together.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub delivered: AtomicU64,
    pub delivered_bytes: AtomicU64,
    pub lost: AtomicU64,
    pub cut: AtomicU64,
    pub buffer_full: AtomicU64,
    pub duplicated: AtomicU64,
}

impl ProxyStats {
    fn sent(&self, len: usize) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.delivered_bytes
            .fetch_add(len as u64, Ordering::Relaxed);
    }

    fn count(&self, verdict: &Verdict) {
        let counter = match verdict {
            Verdict::Deliver(copies) if copies.len() > 1 => &self.duplicated,
            Verdict::Deliver(_) => return,
            Verdict::Lost => &self.lost,
            Verdict::Cut => &self.cut,
            Verdict::BufferFull => &self.buffer_full,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    address: SocketAddr,
    settings: Arc<Mutex<Impairments>>,
    stats: Arc<ProxyStats>,
    front: JoinHandle<()>,
    clients: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port that forwards to `target` through a link with
    /// `impairments`.
    pub async fn start(target: SocketAddr, impairments: Impairments) -> Result<Self, ProxyError> {
        let front = UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(ProxyError::Bind)?;
        let address = front.local_addr().map_err(ProxyError::Bind)?;
        let settings = Arc::new(Mutex::new(impairments));
        let stats = Arc::new(ProxyStats::default());
        let clients = Arc::new(Mutex::new(Vec::new()));
        let front = tokio::spawn(
            Front {
                socket: Arc::new(front),
                target,
                settings: settings.clone(),
                stats: stats.clone(),
                tasks: clients.clone(),
            }
            .run(),
        );
        Ok(Self {
            address,
            settings,
            stats,
            front,
            clients,
        })
    }

    /// Where the dialling node should send: the proxy's front socket.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Changes the link from now on (datagrams already on their way keep their times).
    pub fn set(&self, impairments: Impairments) {
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner) = impairments;
    }

    /// Cuts all traffic both ways, or restores it.
    pub fn cut(&self, cut: bool) {
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cut = cut;
    }

    pub fn settings(&self) -> Impairments {
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn stats(&self) -> &ProxyStats {
        &self.stats
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.front.abort();
        for task in self
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

/// Datagrams waiting to arrive, the earliest first.
#[derive(Default)]
struct Waiting {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    datagrams: HashMap<u64, (Vec<u8>, SocketAddr)>,
    next: u64,
}

impl Waiting {
    fn push(&mut self, at: Instant, datagram: Vec<u8>, to: SocketAddr) -> bool {
        if self.datagrams.len() >= MAX_WAITING {
            return false;
        }
        self.next += 1;
        self.heap.push(Reverse((at, self.next)));
        self.datagrams.insert(self.next, (datagram, to));
        true
    }

    fn next_time(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// The datagrams due at `now`.
    fn due(&mut self, now: Instant) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut due = Vec::new();
        while let Some(Reverse((at, n))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if let Some(d) = self.datagrams.remove(&n) {
                due.push(d);
            }
        }
        due
    }
}

/// One direction: a link model, a timer heap and where datagrams go out.
struct Direction {
    link: Link,
    waiting: Waiting,
    rng: StdRng,
    settings: Arc<Mutex<Impairments>>,
    stats: Arc<ProxyStats>,
}

impl Direction {
    fn new(settings: Arc<Mutex<Impairments>>, stats: Arc<ProxyStats>, seed: u64) -> Self {
        Self {
            link: Link::default(),
            waiting: Waiting::default(),
            rng: StdRng::seed_from_u64(seed),
            settings,
            stats,
        }
    }

    fn take(&mut self, datagram: &[u8], to: SocketAddr) {
        let settings = self
            .settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let verdict = self
            .link
            .plan(&settings, Instant::now(), datagram.len(), &mut self.rng);
        self.stats.count(&verdict);
        if let Verdict::Deliver(times) = verdict {
            for at in times {
                if !self.waiting.push(at, datagram.to_vec(), to) {
                    self.stats.buffer_full.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    async fn send_due(&mut self, socket: &UdpSocket) {
        for (datagram, to) in self.waiting.due(Instant::now()) {
            // A datagram the kernel will not take is lost, as on a real link.
            if socket.send_to(&datagram, to).await.is_ok() {
                self.stats.sent(datagram.len());
            }
        }
    }

    async fn until_due(&self) {
        match self.waiting.next_time() {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => std::future::pending().await,
        }
    }
}

/// The front socket's task: datagrams from clients towards the target.
struct Front {
    socket: Arc<UdpSocket>,
    target: SocketAddr,
    settings: Arc<Mutex<Impairments>>,
    stats: Arc<ProxyStats>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Front {
    async fn run(self) {
        let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut up = Direction::new(self.settings.clone(), self.stats.clone(), 1);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    let Ok((len, client)) = received else { continue };
                    // Queued under the client's address; sent from its upstream socket.
                    if self.upstream(&mut upstreams, client).await {
                        up.take(&buf[..len], client);
                    }
                }
                () = up.until_due() => {
                    for (datagram, client) in up.waiting.due(Instant::now()) {
                        if let Some(upstream) = upstreams.get(&client) {
                            if upstream.send_to(&datagram, self.target).await.is_ok() {
                                self.stats.sent(datagram.len());
                            }
                        }
                    }
                }
            }
        }
    }

    /// Whether the client has an upstream socket: made, with its return task, on its first
    /// datagram.
    async fn upstream(
        &self,
        upstreams: &mut HashMap<SocketAddr, Arc<UdpSocket>>,
        client: SocketAddr,
    ) -> bool {
        if upstreams.contains_key(&client) {
            return true;
        }
        if upstreams.len() >= MAX_CLIENTS {
            tracing::warn!(%client, "fault proxy: too many clients, datagram dropped");
            return false;
        }
        let Ok(socket) = UdpSocket::bind("127.0.0.1:0").await else {
            return false;
        };
        let socket = Arc::new(socket);
        upstreams.insert(client, socket.clone());
        let down = Direction::new(
            self.settings.clone(),
            self.stats.clone(),
            2 + upstreams.len() as u64,
        );
        let task = tokio::spawn(back(socket.clone(), self.socket.clone(), client, down));
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(task);
        true
    }
}

/// One client's return direction: from the target, through the link, to the client.
async fn back(
    upstream: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    mut down: Direction,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        tokio::select! {
            received = upstream.recv_from(&mut buf) => {
                let Ok((len, _)) = received else { continue };
                down.take(&buf[..len], client);
            }
            () = down.until_due() => down.send_due(&front).await,
        }
    }
}
