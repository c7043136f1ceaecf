//! `bluehelm pki rotate`: a node's new key and certificate, like its current one (issue 14,
//! item 6). The node keeps its queue across the change: see docs/operations.md.

use std::path::Path;

use anyhow::anyhow;
use bluehelm::human_time::local_from_secs;
use bluehelm_pki::{CertificateAuthority, IssuedNode, NodeId};

use crate::cli::out::outln;

/// Issues and writes the new files, and says what became of the old certificates.
pub fn run(
    ca_dir: &Path,
    node: &str,
    out: &Path,
    days: u32,
    revoke_old: bool,
    force: bool,
) -> anyhow::Result<()> {
    let node: NodeId = node.parse().map_err(|e| anyhow!("invalid --node: {e}"))?;
    // Refuse before issuing: a certificate issued is in the register for good.
    IssuedNode::check_target(out, &node, force)?;
    let mut authority = CertificateAuthority::load(ca_dir)?;
    let rotated = authority.rotate(&node, days, revoke_old)?;
    let (cert_path, key_path) = rotated.issued.write_to(out, force)?;
    let identity = &rotated.issued.identity;
    outln!(
        "wrote {} and {} ({} {}, serial {}, valid until {})",
        cert_path.display(),
        key_path.display(),
        identity.role,
        identity.node,
        identity.serial_hex(),
        local_from_secs(identity.not_after)
    )?;
    let files = if rotated.issued.encryption_key_pem.is_some() {
        let path = IssuedNode::encryption_key_path(out, &identity.node);
        outln!(
            "wrote {} (its new key for sealed messages: list the old one under [tls] \
             previous_encryption_keys, so that what was sealed to it stays readable)",
            path.display()
        )?;
        "the three files"
    } else {
        "both files"
    };
    for old in &rotated.previous {
        if rotated.revoked.iter().any(|r| r.serial == old.serial) {
            outln!(
                "revoked the previous certificate (serial {}) as superseded: messages it signed before now stay deliverable",
                old.serial
            )?;
        } else {
            outln!(
                "the previous certificate (serial {}) stays valid until {} unless revoked (`bluehelm pki revoke --serial {}`)",
                old.serial,
                local_from_secs(old.not_after),
                old.serial
            )?;
        }
    }
    let next = if rotated.revoked.is_empty() {
        format!("install {files} on the node and restart it")
    } else {
        format!("install {files} on the node and restart it, then run `bluehelm pki crl` and distribute the new CRL")
    };
    outln!("next: {next}")?;
    Ok(())
}
