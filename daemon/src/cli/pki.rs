//! `bluehelm pki …`: the operator's front end to `bluehelm_pki`. Every failure becomes one
//! error line (printed by `main`) and a non-zero exit.

mod list;
mod revoke;
mod rotate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::out::outln;
use anyhow::{anyhow, bail, Context};
use bluehelm::human_time::{local_from_secs, utc_from_secs};
use bluehelm_pki::{
    ca::{self, CertificateAuthority},
    parse_ca_certificate, parse_certificate, parse_crl, pem_kind, pem_or_der, reason_name, CaInfo,
    CertError, CrlInfo, IssueRequest, IssuedNode, NodeId, NodeIdentity, PemKind, Role,
    DEFAULT_CA_VALIDITY_DAYS, DEFAULT_CRL_VALIDITY_DAYS, DEFAULT_NODE_VALIDITY_DAYS,
};
use clap::{Args, Subcommand};
use serde_json::json;

/// PKI operations. They run on the CA operator's machine; nodes never hold the CA key.
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create the network root CA: DIR/ca.pem and DIR/ca.key (mode 0600).
    #[command(after_help = "Example:\n  bluehelm pki init-ca --out ca/")]
    InitCa {
        /// Directory for the CA files (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Replace an existing CA (and forget its revocations).
        #[arg(long)]
        force: bool,
        /// Validity in days.
        #[arg(long, default_value_t = DEFAULT_CA_VALIDITY_DAYS)]
        days: u32,
    },
    /// Issue a node or terminal certificate: writes DIR2/ID.pem (certificate, then CA) and
    /// DIR2/ID.key.
    #[command(
        after_help = "Examples:\n  bluehelm pki issue --ca ca/ --node ncb.fr --role ncb --country FR --out certs/\n  bluehelm pki issue --ca ca/ --node term1.unmiss --role terminal --for-node mission.unmiss --out certs/"
    )]
    Issue {
        /// The CA directory.
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
        /// Node id, e.g. gs, ncb.fr, mission.unmiss; for a terminal its own id, e.g.
        /// term1.unmiss.
        #[arg(long, value_name = "ID")]
        node: String,
        /// hub, ncb, mission or terminal.
        #[arg(long)]
        role: String,
        /// Terminal only (required): the node whose terminal listener it may use.
        #[arg(long, value_name = "NODE")]
        for_node: Option<String>,
        /// ISO 3166 alpha-2 country (required for ncb).
        #[arg(long, value_name = "CC")]
        country: Option<String>,
        /// Mission code (required for mission).
        #[arg(long, value_name = "CODE")]
        mission: Option<String>,
        /// Directory for the node's files.
        #[arg(long, value_name = "DIR2")]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = DEFAULT_NODE_VALIDITY_DAYS)]
        days: u32,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Record the revocation of certificates; they appear in the next CRL.
    #[command(
        after_help = "Examples:\n  bluehelm pki revoke --ca ca/ --node ncb.fr --reason key-compromise --compromised-at 2026-11-28T14:00:00Z\n  bluehelm pki revoke --ca ca/ --serial 3b9e1f0c5a7d42e8b1c6f0a9d2e47c15 --reason superseded\n  bluehelm pki revoke --ca ca/ --cert certs/ncb.fr.pem"
    )]
    Revoke {
        /// The CA directory.
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
        // Which certificates: exactly one of --cert, --node, --serial.
        #[command(flatten)]
        target: RevokeTarget,
        /// RFC 5280 reason, e.g. key-compromise, superseded, cessation-of-operation.
        #[arg(long)]
        reason: Option<String>,
        /// With key-compromise or ca-compromise: when the key may first have been copied
        /// (RFC 3339 with an offset, e.g. 2026-11-28T14:00:00Z). Messages it signed before
        /// then stay acceptable, later ones are refused. Default: now.
        #[arg(long, value_name = "T")]
        compromised_at: Option<String>,
    },
    /// Give a node a new key and certificate like its current one (same role, country,
    /// mission): writes DIR2/ID.pem and DIR2/ID.key. The old certificate stays revocable.
    #[command(
        after_help = "Examples:\n  bluehelm pki rotate --ca ca/ --node ncb.fr --out certs/new/\n  bluehelm pki rotate --ca ca/ --node ncb.fr --out certs/new/ --revoke-old"
    )]
    Rotate {
        /// The CA directory.
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
        /// The node, as in the register (`bluehelm pki list`).
        #[arg(long, value_name = "ID")]
        node: String,
        /// Directory for the node's new files.
        #[arg(long, value_name = "DIR2")]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = DEFAULT_NODE_VALIDITY_DAYS)]
        days: u32,
        /// Also revoke the node's earlier certificates, reason superseded: messages they
        /// signed before now stay deliverable. Publish the next CRL only once the node runs
        /// with its new files.
        #[arg(long)]
        revoke_old: bool,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// List the certificates this CA issued (its register) and their status.
    #[command(
        after_help = "Examples:\n  bluehelm pki list --ca ca/\n  bluehelm pki list --ca ca/ --json"
    )]
    List {
        /// The CA directory.
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the sealing directory (issue 14, item 4): the valid certificates with an
    /// encryption key, from the register, as one PEM file to distribute like ca.pem. Nodes
    /// name it with `directory` under [tls] and check every entry against the CA and the CRL
    /// before sealing to it.
    #[command(after_help = "Example:\n  bluehelm pki directory --ca ca/ --out directory.pem")]
    Directory {
        /// The CA directory.
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
        /// Where to write the directory (replaced if it exists).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Write a signed CRL listing every revocation (PEM).
    #[command(after_help = "Example:\n  bluehelm pki crl --ca ca/ --out crl.pem")]
    Crl {
        /// The CA directory.
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
        /// Where to write the CRL (replaced if it exists).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Days until the next update is due.
        #[arg(long, default_value_t = DEFAULT_CRL_VALIDITY_DAYS)]
        days: u32,
    },
    /// Print what a certificate or CRL says.
    #[command(
        after_help = "Examples:\n  bluehelm pki show certs/ncb.fr.pem\n  bluehelm pki show crl.pem --json"
    )]
    Show {
        /// A certificate or CRL (PEM or DER).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// What `pki revoke` revokes: exactly one of the three.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RevokeTarget {
    /// The certificate to revoke (PEM or DER).
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Every certificate of this node in the register that is not revoked or expired (also
    /// those an earlier `pki issue --force` replaced).
    #[arg(long, value_name = "ID")]
    node: Option<String>,
    /// The certificate with this serial (hex, as `bluehelm pki list` shows it).
    #[arg(long, value_name = "N")]
    serial: Option<String>,
}

/// Runs one `bluehelm pki` subcommand.
pub fn run(cmd: PkiCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PkiCommand::InitCa { out, force, days } => {
            let ca = CertificateAuthority::init(&out, days, force)?;
            let info = parse_ca_certificate(ca.cert_der())?;
            outln!(
                "wrote {} and {} (CA fingerprint sha256:{}, valid until {})",
                out.join(ca::CA_CERT_FILE).display(),
                out.join(ca::CA_KEY_FILE).display(),
                info.fingerprint_hex(),
                local_from_secs(info.not_after)
            )?;
        }
        PkiCommand::Issue {
            ca,
            node,
            role,
            for_node,
            country,
            mission,
            out,
            days,
            force,
        } => {
            let node: NodeId = node.parse().map_err(|e| anyhow!("invalid --node: {e}"))?;
            let role: Role = role.parse()?;
            let home = for_node
                .map(|h| h.parse::<NodeId>())
                .transpose()
                .map_err(|e| anyhow!("invalid --for-node: {e}"))?;
            let request = IssueRequest {
                node,
                role,
                country: country.map(|c| c.to_ascii_uppercase()),
                mission,
                home,
                days,
            };
            // Check the request before touching the CA so that input mistakes come first.
            bluehelm_pki::check_role_rules(
                request.role,
                request.country.as_deref(),
                request.mission.as_deref(),
            )?;
            bluehelm_pki::check_home_rule(request.role, &request.node, request.home.as_ref())?;
            // Refuse before issuing: a certificate issued is in the register for good.
            IssuedNode::check_target(&out, &request.node, force)?;
            let mut authority = CertificateAuthority::load(&ca)?;
            let issued = authority.issue(&request)?;
            let (cert_path, key_path) = issued.write_to(&out, force)?;
            let bound = issued
                .identity
                .home
                .as_ref()
                .map(|home| format!(" for node {home}"))
                .unwrap_or_default();
            outln!(
                "wrote {} and {} ({} {}{bound}, serial {}, valid until {})",
                cert_path.display(),
                key_path.display(),
                issued.identity.role,
                issued.identity.node,
                issued.identity.serial_hex(),
                local_from_secs(issued.identity.not_after)
            )?;
            if issued.encryption_key_pem.is_some() {
                let path = IssuedNode::encryption_key_path(&out, &issued.identity.node);
                outln!(
                    "wrote {} (its key for sealed messages: set `encryption_key` under [tls])",
                    path.display()
                )?;
            }
        }
        PkiCommand::Revoke {
            ca,
            target,
            reason,
            compromised_at,
        } => revoke::run(&ca, target, reason.as_deref(), compromised_at.as_deref())?,
        PkiCommand::Rotate {
            ca,
            node,
            out,
            days,
            revoke_old,
            force,
        } => rotate::run(&ca, &node, &out, days, revoke_old, force)?,
        PkiCommand::List { ca, json } => list::run(&ca, json)?,
        PkiCommand::Directory { ca, out } => {
            let authority = CertificateAuthority::load(&ca)?;
            let contents = authority.sealing_directory(ca::now_unix())?;
            ca::write_directory(&out, &contents)?;
            outln!(
                "wrote {} ({} certificates with an encryption key)",
                out.display(),
                contents.listed.len()
            )?;
            for (node, serial, why) in &contents.skipped {
                outln!("left out {node} (serial {serial}): {why}; reissue it to let it receive sealed messages")?;
            }
        }
        PkiCommand::Crl { ca, out, days } => {
            let mut authority = CertificateAuthority::load(&ca)?;
            let pem = authority.crl(days)?;
            write_public(&out, pem.as_bytes())?;
            let der = pem_or_der(pem.as_bytes(), "X509 CRL")?.remove(0);
            let info = parse_crl(&der)?;
            outln!(
                "wrote {} (CRL number {}, {} revoked, next update {})",
                out.display(),
                crl_number(&info),
                info.entries.len(),
                info.next_update.map(local_from_secs).unwrap_or_default()
            )?;
        }
        PkiCommand::Show { file, json } => show(&file, json)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes a public file (a CRL) through a temporary file and a rename, so that a node
/// reading it never sees half a CRL.
fn write_public(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()))
}

enum Shown {
    Node(NodeIdentity),
    Ca(CaInfo),
    Crl(CrlInfo),
}

fn show(path: &Path, json: bool) -> anyhow::Result<()> {
    let bytes = read(path)?;
    let shown = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        match pem_kind(&bytes)? {
            PemKind::Certificate => certificate(&pem_or_der(&bytes, "CERTIFICATE")?[0])?,
            PemKind::Crl => Shown::Crl(parse_crl(&pem_or_der(&bytes, "X509 CRL")?[0])?),
            PemKind::PrivateKey => bail!(
                "{} is a private key: show takes a certificate or CRL",
                path.display()
            ),
        }
    } else {
        certificate(&bytes)
            .or_else(|_| parse_crl(&bytes).map(Shown::Crl))
            .map_err(|_| {
                anyhow!(
                    "{} is neither a certificate nor a CRL (PEM or DER)",
                    path.display()
                )
            })?
    };
    let text = match (shown, json) {
        (Shown::Node(id), false) => node_text(&id),
        (Shown::Node(id), true) => node_json(&id),
        (Shown::Ca(ca), false) => ca_text(&ca),
        (Shown::Ca(ca), true) => ca_json(&ca),
        (Shown::Crl(crl), false) => crl_text(&crl),
        (Shown::Crl(crl), true) => crl_json(&crl),
    };
    outln!("{text}")?;
    Ok(())
}

fn certificate(der: &[u8]) -> anyhow::Result<Shown> {
    match parse_certificate(der) {
        Ok(id) => Ok(Shown::Node(id)),
        Err(CertError::IsCa) => Ok(Shown::Ca(parse_ca_certificate(der)?)),
        Err(e) => Err(e.into()),
    }
}

fn node_text(id: &NodeIdentity) -> String {
    let kind = match id.role {
        Role::Terminal => "terminal",
        _ => "node",
    };
    let mut s = format!(
        "{kind} certificate\n  node:        {}\n  role:        {}\n",
        id.node, id.role
    );
    if let Some(c) = &id.country {
        s += &format!("  country:     {c}\n");
    }
    if let Some(m) = &id.mission {
        s += &format!("  mission:     {m}\n");
    }
    if let Some(h) = &id.home {
        s += &format!("  for node:    {h}\n");
    }
    s += &format!(
        "  valid from:  {}\n  valid until: {}\n  serial:      {}\n  fingerprint: sha256:{}",
        local_from_secs(id.not_before),
        local_from_secs(id.not_after),
        id.serial_hex(),
        id.fingerprint_hex()
    );
    s
}

fn node_json(id: &NodeIdentity) -> String {
    json!({
        "kind": match id.role {
            Role::Terminal => "terminal-certificate",
            _ => "node-certificate",
        },
        "node": id.node.to_string(),
        "role": id.role.as_str(),
        "country": id.country,
        "mission": id.mission,
        "for_node": id.home.as_ref().map(ToString::to_string),
        "not_before": utc_from_secs(id.not_before),
        "not_after": utc_from_secs(id.not_after),
        "serial": id.serial_hex(),
        "fingerprint_sha256": id.fingerprint_hex(),
    })
    .to_string()
}

fn ca_text(ca: &CaInfo) -> String {
    format!(
        "CA certificate\n  subject:     {}\n  valid from:  {}\n  valid until: {}\n  serial:      {}\n  fingerprint: sha256:{}",
        ca.subject,
        local_from_secs(ca.not_before),
        local_from_secs(ca.not_after),
        ca::to_hex(&ca.serial),
        ca.fingerprint_hex()
    )
}

fn ca_json(ca: &CaInfo) -> String {
    json!({
        "kind": "ca-certificate",
        "subject": ca.subject,
        "not_before": utc_from_secs(ca.not_before),
        "not_after": utc_from_secs(ca.not_after),
        "serial": ca::to_hex(&ca.serial),
        "fingerprint_sha256": ca.fingerprint_hex(),
    })
    .to_string()
}

fn crl_text(crl: &CrlInfo) -> String {
    let mut s = format!(
        "CRL\n  issuer:      {}\n  number:      {}\n  this update: {}\n  next update: {}\n  revoked:     {}",
        crl.issuer,
        crl_number(crl),
        local_from_secs(crl.this_update),
        crl.next_update.map(local_from_secs).unwrap_or_else(|| "-".into()),
        crl.entries.len()
    );
    for e in &crl.entries {
        s += &format!(
            "\n    serial {}  revoked {}{}{}",
            ca::to_hex(&e.serial),
            local_from_secs(e.revoked_at),
            e.reason
                .map(|r| format!("  ({})", reason_name(r)))
                .unwrap_or_default(),
            e.invalidity_date
                .map(|t| format!("  invalid since {}", local_from_secs(t)))
                .unwrap_or_default()
        );
    }
    s
}

fn crl_json(crl: &CrlInfo) -> String {
    let entries: Vec<_> = crl
        .entries
        .iter()
        .map(|e| {
            json!({
                "serial": ca::to_hex(&e.serial),
                "revoked_at": utc_from_secs(e.revoked_at),
                "reason": e.reason.map(reason_name),
                "invalidity_date": e.invalidity_date.map(utc_from_secs),
            })
        })
        .collect();
    json!({
        "kind": "crl",
        "issuer": crl.issuer,
        "number": crl_number(crl),
        "this_update": utc_from_secs(crl.this_update),
        "next_update": crl.next_update.map(utc_from_secs),
        "entries": entries,
    })
    .to_string()
}

/// The CRL number in decimal (hex if it does not fit in 128 bits), or `-`.
fn crl_number(crl: &CrlInfo) -> String {
    crl.crl_number()
        .map_or_else(|| "-".into(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{PkiCommand, RevokeTarget};
    use crate::cli::{Cli, Command};

    fn revoke_target(args: &[&str]) -> Result<RevokeTarget, clap::Error> {
        let cli = Cli::try_parse_from(
            ["bluehelm", "pki", "revoke", "--ca", "ca/"]
                .iter()
                .chain(args)
                .copied(),
        )?;
        match cli.command {
            Command::Pki(PkiCommand::Revoke { target, .. }) => Ok(target),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn revoke_takes_exactly_one_of_cert_node_and_serial() {
        let t = revoke_target(&["--cert", "certs/ncb.fr.pem", "--reason", "superseded"]).unwrap();
        assert!(t.cert.is_some() && t.node.is_none() && t.serial.is_none());
        let t = revoke_target(&["--node", "ncb.fr"]).unwrap();
        assert_eq!(t.node.as_deref(), Some("ncb.fr"));
        let t = revoke_target(&["--serial", "0x4F1C"]).unwrap();
        assert_eq!(t.serial.as_deref(), Some("0x4F1C"));

        let none = revoke_target(&[]).unwrap_err();
        assert_eq!(none.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        for two in [
            &["--node", "ncb.fr", "--serial", "4f1c"][..],
            &["--cert", "x.pem", "--node", "ncb.fr"][..],
            &["--cert", "x.pem", "--serial", "4f1c"][..],
        ] {
            let err = revoke_target(two).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{two:?}"
            );
        }
    }

    #[test]
    fn list_takes_the_ca_and_json() {
        let cli =
            Cli::try_parse_from(["bluehelm", "pki", "list", "--ca", "ca/", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Pki(PkiCommand::List { json: true, .. })
        ));
        assert!(Cli::try_parse_from(["bluehelm", "pki", "list"]).is_err());
    }
}
