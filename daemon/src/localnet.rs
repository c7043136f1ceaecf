//! A throwaway network on loopback: a CA, certificates, a CRL and config files in one folder.
//! Used by `bluehelm demo`, `bluehelm bench` and the integration tests, so that all three run
//! the same configuration an operator would write by hand.

use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};

use bluehelm_pki::{CertificateAuthority, IssueRequest, Role};
use bluehelm_proto::NodeId;

use crate::config::{ConfigError, NodeConfig};

/// Why a local network could not be laid out.
#[derive(Debug, thiserror::Error)]
pub enum LocalNetError {
    #[error("CA")]
    Ca(#[from] bluehelm_pki::CaError),
    #[error(transparent)]
    Write(#[from] bluehelm_pki::WriteError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("generated config is invalid")]
    Config(#[from] ConfigError),
}

/// One node of a local network.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub id: NodeId,
    pub role: Role,
    pub country: Option<String>,
    pub mission: Option<String>,
    pub listen: Option<SocketAddr>,
    /// TCP address of the terminal listener (`terminal_listen`); none: no terminals.
    pub terminal_listen: Option<SocketAddr>,
    /// TCP address of `/metrics` and `/healthz` (`metrics_listen`); none: off.
    pub metrics_listen: Option<SocketAddr>,
    /// Neighbours, with the address to dial (none: they dial in).
    pub peers: Vec<(NodeId, Option<SocketAddr>)>,
    pub accept_unknown_peers: bool,
    pub default_route: Option<NodeId>,
    /// `[routes]`: a pattern (`"*"` for the default route) = next hops, a primary and its
    /// alternates in order (issue 15, item 7).
    pub routes: Vec<(String, Vec<NodeId>)>,
    pub groups: Vec<(String, Vec<NodeId>)>,
    pub services: Vec<(String, NodeId)>,
    /// Reference databases the node answers itself (`sltd`, `smv`): written under
    /// `[reference_services]`; each needs its service under `services` with this node.
    pub reference_services: Vec<String>,
    /// Field databases the node replicates from the hub (`[databases] replicate`, issue 13).
    pub replicate: Vec<String>,
    /// Extra TOML appended to the `[limits]` table.
    pub limits: Option<String>,
    /// The `[policy]` tables, as TOML (issue 12); none: the defaults.
    pub policy: Option<String>,
    /// `[limits] custody_log_file_mib`; none: the default (32 MiB files). The demo and the
    /// benchmarks keep the default; the integration tests ask for the least, so that a node
    /// start zero-fills 32 MiB of custody log instead of 64.
    pub custody_log_file_mib: Option<u64>,
    /// The `[audit]` table's keys, as TOML (issue 14); none: the defaults (on, a checkpoint
    /// a minute).
    pub audit: Option<String>,
}

impl NodeSpec {
    fn new(id: &str, role: Role) -> Self {
        Self {
            id: id.parse().expect("local network node ids are valid"),
            role,
            country: None,
            mission: None,
            listen: None,
            terminal_listen: None,
            metrics_listen: None,
            peers: Vec::new(),
            accept_unknown_peers: false,
            default_route: None,
            routes: Vec::new(),
            groups: Vec::new(),
            services: Vec::new(),
            reference_services: Vec::new(),
            replicate: Vec::new(),
            limits: None,
            policy: None,
            custody_log_file_mib: None,
            audit: None,
        }
    }

    pub fn hub(id: &str, listen: SocketAddr) -> Self {
        Self {
            listen: Some(listen),
            accept_unknown_peers: true,
            ..Self::new(id, Role::Hub)
        }
    }

    pub fn ncb(id: &str, country: &str, hub: &NodeSpec) -> Self {
        let mut spec = Self::new(id, Role::Ncb);
        spec.country = Some(country.to_owned());
        spec.listen = Some(free_loopback_addr());
        spec.peers = vec![(hub.id.clone(), hub.listen)];
        spec.default_route = Some(hub.id.clone());
        spec
    }

    pub fn mission(id: &str, code: &str, hub: &NodeSpec) -> Self {
        let mut spec = Self::new(id, Role::Mission);
        spec.mission = Some(code.to_owned());
        spec.peers = vec![(hub.id.clone(), hub.listen)];
        spec.default_route = Some(hub.id.clone());
        spec
    }
}

/// A loopback address with a port that was free a moment ago.
pub fn free_loopback_addr() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// The folder of a local network: `pki/` (CA, certificates, CRL), `<node>.toml`, `data/<node>`.
pub struct LocalNet {
    pub dir: PathBuf,
    ca: CertificateAuthority,
}

impl LocalNet {
    /// Creates the CA and an empty CRL in `dir/pki`.
    pub fn create(dir: &Path) -> Result<Self, LocalNetError> {
        let pki = dir.join("pki");
        let mut ca = CertificateAuthority::init(&pki, 30, true)?;
        let crl = ca.crl(7)?;
        std::fs::write(pki.join("crl.pem"), crl)?;
        Ok(Self {
            dir: dir.to_owned(),
            ca,
        })
    }

    pub fn ca(&mut self) -> &mut CertificateAuthority {
        &mut self.ca
    }

    pub fn pki_dir(&self) -> PathBuf {
        self.dir.join("pki")
    }

    /// Rewrites the CRL from the CA's revocation records.
    pub fn write_crl(&mut self) -> Result<(), LocalNetError> {
        let crl = self.ca.crl(7)?;
        std::fs::write(self.pki_dir().join("crl.pem"), crl)?;
        Ok(())
    }

    /// Issues the node's certificate and writes its config; returns the config's path.
    pub fn add(&mut self, spec: &NodeSpec) -> Result<PathBuf, LocalNetError> {
        let issued = self.ca.issue(&IssueRequest {
            node: spec.id.as_str().parse().expect("same syntax"),
            role: spec.role,
            country: spec.country.clone(),
            mission: spec.mission.clone(),
            home: None,
            days: 30,
        })?;
        issued.write_to(&self.pki_dir(), true)?;
        self.write_directory()?;
        let path = self.dir.join(format!("{}.toml", spec.id));
        std::fs::write(&path, config_text(spec))?;
        NodeConfig::load(&path)?;
        Ok(path)
    }

    /// Rewrites `pki/directory.pem`, the sealing directory, from the CA's register: every
    /// node added so far (issue 14, item 4).
    pub fn write_directory(&mut self) -> Result<(), LocalNetError> {
        let contents = self.ca.sealing_directory(bluehelm_pki::ca::now_unix())?;
        bluehelm_pki::ca::write_directory(&self.pki_dir().join("directory.pem"), &contents)?;
        Ok(())
    }

    /// Issues a certificate for terminal `terminal` bound to node `home` and writes
    /// `pki/<terminal>.pem` and `pki/<terminal>.key`; returns the two paths.
    pub fn add_terminal(
        &mut self,
        terminal: &NodeId,
        home: &NodeId,
    ) -> Result<(PathBuf, PathBuf), LocalNetError> {
        let issued = self.ca.issue(&IssueRequest {
            node: terminal.clone(),
            role: Role::Terminal,
            country: None,
            mission: None,
            home: Some(home.clone()),
            days: 30,
        })?;
        Ok(issued.write_to(&self.pki_dir(), true)?)
    }

    pub fn config(&self, node: &str) -> Result<NodeConfig, LocalNetError> {
        Ok(NodeConfig::load(&self.dir.join(format!("{node}.toml")))?)
    }
}

/// The TOML an operator would write for this node (paths relative to the network folder).
pub fn config_text(spec: &NodeSpec) -> String {
    let id = &spec.id;
    let mut t = String::new();
    let _ = writeln!(t, "node_id = \"{id}\"");
    if let Some(listen) = spec.listen {
        let _ = writeln!(t, "listen = \"{listen}\"");
    }
    if let Some(terminal_listen) = spec.terminal_listen {
        let _ = writeln!(t, "terminal_listen = \"{terminal_listen}\"");
    }
    if let Some(metrics_listen) = spec.metrics_listen {
        let _ = writeln!(t, "metrics_listen = \"{metrics_listen}\"");
    }
    let _ = writeln!(t, "storage = \"data/{id}\"");
    let _ = writeln!(t, "accept_unknown_peers = {}", spec.accept_unknown_peers);
    if let Some(via) = &spec.default_route {
        let _ = writeln!(t, "default_route = \"{via}\"");
    }
    let _ = writeln!(
        t,
        "\n[tls]\ncertificate = \"pki/{id}.pem\"\nkey = \"pki/{id}.key\"\nca = \"pki/ca.pem\"\ncrl = \"pki/crl.pem\"\nencryption_key = \"pki/{id}.enc.key\"\ndirectory = \"pki/directory.pem\""
    );
    for (peer, address) in &spec.peers {
        let _ = writeln!(t, "\n[[peers]]\nnode = \"{peer}\"");
        if let Some(address) = address {
            let _ = writeln!(t, "address = \"{address}\"");
        }
    }
    if !spec.routes.is_empty() {
        let _ = writeln!(t, "\n[routes]");
        for (pattern, hops) in &spec.routes {
            let list: Vec<String> = hops.iter().map(|h| format!("\"{h}\"")).collect();
            let _ = writeln!(t, "\"{pattern}\" = [{}]", list.join(", "));
        }
    }
    if !spec.groups.is_empty() {
        let _ = writeln!(t, "\n[groups]");
        for (group, members) in &spec.groups {
            let list: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
            let _ = writeln!(t, "{group} = [{}]", list.join(", "));
        }
    }
    if !spec.services.is_empty() {
        let _ = writeln!(t, "\n[services]");
        for (service, host) in &spec.services {
            let _ = writeln!(t, "\"{service}\" = \"{host}\"");
        }
    }
    if !spec.reference_services.is_empty() {
        let _ = writeln!(t, "\n[reference_services]");
        for database in &spec.reference_services {
            let _ = writeln!(t, "{database} = true");
        }
    }
    if !spec.replicate.is_empty() {
        let list: Vec<String> = spec.replicate.iter().map(|d| format!("\"{d}\"")).collect();
        let _ = writeln!(t, "\n[databases]\nreplicate = [{}]", list.join(", "));
    }
    if spec.limits.is_some() || spec.custody_log_file_mib.is_some() {
        let _ = writeln!(t, "\n[limits]");
        if let Some(mib) = spec.custody_log_file_mib {
            let _ = writeln!(t, "custody_log_file_mib = {mib}");
        }
        if let Some(limits) = &spec.limits {
            let _ = writeln!(t, "{limits}");
        }
    }
    if let Some(audit) = &spec.audit {
        let _ = writeln!(t, "\n[audit]\n{audit}");
    }
    if let Some(policy) = &spec.policy {
        let _ = writeln!(t, "\n{policy}");
    }
    t
}

/// The `[policy]` of the standard network: the defaults, and UNMISS (South Sudan) may
/// address its neighbour's bureau, ncb.ke. Every node carries it, because every node on the
/// path checks the policy (issue 12).
pub const STANDARD_POLICY: &str = "[policy.missions.UNMISS]\nmay_address = [\"ncb.ke\"]";

/// The standard local network: hub `gs`, NCBs `ncb.fr` and `ncb.ke`, mission post
/// `mission.unmiss` (which only dials out). Returns the specs in that order.
pub fn standard_specs() -> Vec<NodeSpec> {
    let mut hub = NodeSpec::hub("gs", free_loopback_addr());
    let fr = NodeSpec::ncb("ncb.fr", "FR", &hub);
    let ke = NodeSpec::ncb("ncb.ke", "KE", &hub);
    let mut mission = NodeSpec::mission("mission.unmiss", "UNMISS", &hub);
    // The post keeps copies of the travel document and vehicle databases for checks while
    // its link is down (issue 13).
    mission.replicate = vec!["sltd".into(), "smv".into()];
    hub.peers = vec![
        (fr.id.clone(), None),
        (ke.id.clone(), None),
        (mission.id.clone(), None),
    ];
    hub.groups = vec![
        ("all-ncb".into(), vec![fr.id.clone(), ke.id.clone()]),
        ("all-missions".into(), vec![mission.id.clone()]),
    ];
    hub.services = vec![("sltd.check".into(), hub.id.clone())];
    let mut specs = vec![hub, fr, ke, mission];
    for spec in &mut specs {
        spec.policy = Some(STANDARD_POLICY.to_owned());
    }
    specs
}
