//! `bluehelm pki revoke`: by certificate, node or serial, with an RFC 5280 reason and, for a
//! compromised key, since when (issue 14, item 2).

use std::path::Path;

use anyhow::{anyhow, bail};
use bluehelm::human_time::local_from_secs;
use bluehelm_pki::ca::{self, CertificateAuthority, Revocation, Revokee};
use bluehelm_pki::{NodeId, RevocationRecord};

use super::{read, RevokeTarget};
use crate::cli::out::outln;

/// Revokes what `target` names and prints one line per certificate revoked.
pub fn run(
    ca_dir: &Path,
    target: RevokeTarget,
    reason: Option<&str>,
    compromised_at: Option<&str>,
) -> anyhow::Result<()> {
    let reason = reason
        .map(|r| {
            ca::parse_reason(r).ok_or_else(|| {
                anyhow!("unknown revocation reason `{r}`: use e.g. key-compromise, superseded or cessation-of-operation")
            })
        })
        .transpose()?;
    let compromised_at = compromised_at.map(parse_time).transpose()?;
    let how = Revocation {
        reason,
        compromised_at,
    };
    let records = revoke(ca_dir, target, &how)?;
    // One line per certificate; the last keeps the hint (and a single revocation the line
    // it always printed).
    for (i, record) in records.iter().enumerate() {
        let hint = if i + 1 == records.len() {
            "; run `bluehelm pki crl` and distribute the new CRL"
        } else {
            ""
        };
        let since = record
            .invalidity_date
            .map(|t| {
                format!(
                    ": compromised since {}, messages it signed before then stay acceptable",
                    local_from_secs(t)
                )
            })
            .unwrap_or_default();
        outln!(
            "revoked {} (serial {}){since}{hint}",
            record.node,
            record.serial
        )?;
    }
    Ok(())
}

/// An RFC 3339 time with an offset (`2026-11-28T14:00:00Z`, `2026-11-28T15:00:00+01:00`), as
/// unix seconds. A time without an offset is refused: the operator's zone is a guess.
fn parse_time(text: &str) -> anyhow::Result<i64> {
    let t: jiff::Timestamp = text.trim().parse().map_err(|e| {
        anyhow!("invalid --compromised-at `{text}` ({e}): give an RFC 3339 time with an offset, e.g. 2026-11-28T14:00:00Z")
    })?;
    Ok(t.as_second())
}

/// Revokes what `target` names: the three ways end in the library's one revocation path.
fn revoke(
    ca_dir: &Path,
    target: RevokeTarget,
    how: &Revocation,
) -> anyhow::Result<Vec<RevocationRecord>> {
    let authority = || CertificateAuthority::load(ca_dir);
    match target {
        RevokeTarget {
            cert: Some(cert), ..
        } => {
            let bytes = read(&cert)?;
            Ok(authority()?.revoke_with(Revokee::Cert(&bytes), how)?)
        }
        RevokeTarget {
            node: Some(node), ..
        } => {
            let node: NodeId = node.parse().map_err(|e| anyhow!("invalid --node: {e}"))?;
            Ok(authority()?.revoke_with(Revokee::Node(&node), how)?)
        }
        RevokeTarget {
            serial: Some(serial),
            ..
        } => Ok(authority()?.revoke_with(Revokee::Serial(&serial), how)?),
        // The clap group requires one of the three.
        RevokeTarget { .. } => bail!("give one of --cert, --node or --serial"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn compromise_times_need_an_offset() {
        assert_eq!(parse_time("2026-11-28T14:00:00Z").unwrap(), 1_795_874_400);
        assert_eq!(
            parse_time("2026-11-28T15:00:00+01:00").unwrap(),
            1_795_874_400
        );
        for bad in ["2026-11-28T14:00:00", "yesterday", "", "1795874400"] {
            let err = parse_time(bad).unwrap_err().to_string();
            assert!(err.contains("RFC 3339"), "{bad}: {err}");
        }
    }
}
