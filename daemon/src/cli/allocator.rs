//! The allocator's settings for a node process. The binary allocates with mimalloc
//! (`main.rs`); glibc's allocator, with one arena so that a hub holding a million copies
//! stayed near its heap, spent a quarter of the relay's CPU (docs/performance.md, "mimalloc
//! instead of glibc's allocator").
//!
//! Two settings, read by mimalloc from the environment when the process starts:
//! - `MIMALLOC_ALLOW_THP=0`, for every node: no transparent huge pages. A huge page's fault
//!   may wait for the kernel to compact memory; with them, `bench --scenario latency` had a
//!   p99 of 31-118 ms against 6-13 ms without. The build's `no_thp` feature already stops
//!   mimalloc asking for them; this also keeps them off where the system gives them to every
//!   process.
//! - `MIMALLOC_PURGE_DELAY=100`, for the hub only: memory it frees goes back to the system
//!   after 100 ms instead of mimalloc's default 1 s. The hub is the node that holds the
//!   backlog of every post that is offline. Before the dedup table was packed into parts, a
//!   hub holding 1,000,000 copies peaked at 270-285 MiB resident with the default, above the
//!   256 MiB of issue 15, and purged at once (0) for 238-245 MiB, at about 5 us of CPU per
//!   message. Since the parts: 243-246 MiB with the default, 209-222 with 100 ms, 185-235 at
//!   once; 100 ms costs the hub no more CPU than the default (0.86x of purging at once in
//!   both; docs/performance.md, "Dedup entries packed into parts"). The other nodes keep the
//!   default.
//!
//! The workspace forbids the unsafe calls that would set these from inside, so a node
//! process that finds one unset replaces itself (same pid, same arguments) with one that
//! has it. An operator's own setting is kept, unless it is empty: mimalloc reads an empty
//! value as 1 (huge pages on, a purge delay of 1 ms).

use std::ffi::OsString;
use std::path::Path;

use bluehelm_pki::Role;

/// Every node's settings: the variable mimalloc reads, and its value when the operator set none.
const EVERY_NODE: [(&str, &str); 1] = [("MIMALLOC_ALLOW_THP", "0")];
/// The hub's, besides.
const HUB: [(&str, &str); 1] = [("MIMALLOC_PURGE_DELAY", "100")];

/// The settings to start again with: those the environment does not have.
fn wanted(
    role: Option<Role>,
    current: impl Fn(&str) -> Option<OsString>,
) -> Vec<(&'static str, &'static str)> {
    let hub = if role == Some(Role::Hub) {
        &HUB[..]
    } else {
        &[]
    };
    EVERY_NODE
        .iter()
        .chain(hub)
        .copied()
        .filter(|(variable, _)| current(variable).is_none_or(|value| value.is_empty()))
        .collect()
}

/// The role in the node's certificate, if its config and certificate can be read. If not,
/// the node reports it itself when it loads them.
fn role_of(config: &Path) -> Option<Role> {
    let config = bluehelm::NodeConfig::load(config).ok()?;
    let pem = std::fs::read(&config.tls.certificate).ok()?;
    let der = bluehelm_pki::pem_or_der(&pem, "CERTIFICATE").ok()?;
    Some(bluehelm_pki::parse_certificate(der.first()?).ok()?.role)
}

/// Starts the node process of `config` again with the allocator's settings, if any is unset.
/// Returns only if all are set already or the new start failed (then the node runs with
/// mimalloc's defaults, and says so on stderr: logging is not set up yet).
pub fn configure(config: &Path) {
    let missing = wanted(role_of(config), |variable| std::env::var_os(variable));
    if missing.is_empty() {
        return;
    }
    // /proc/self/exe is Linux's.
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // /proc/self/exe still names this binary if its file was replaced by an upgrade.
        let err = std::process::Command::new("/proc/self/exe")
            .arg0(std::env::args_os().next().unwrap_or_default())
            .args(std::env::args_os().skip(1))
            .envs(missing.iter().copied())
            .exec();
        eprintln!(
            "warning: could not start again with {missing:?} ({err}); \
             the node may hold more memory than its heap"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_purges_sooner_and_an_operators_setting_is_kept_unless_empty() {
        assert_eq!(
            wanted(Some(Role::Hub), |_| None),
            [("MIMALLOC_ALLOW_THP", "0"), ("MIMALLOC_PURGE_DELAY", "100")]
        );
        for role in [Some(Role::Ncb), Some(Role::Mission), None] {
            assert_eq!(
                wanted(role, |_| None),
                [("MIMALLOC_ALLOW_THP", "0")],
                "{role:?}"
            );
        }
        let operator = |variable: &str| (variable == "MIMALLOC_PURGE_DELAY").then(|| "10".into());
        assert_eq!(
            wanted(Some(Role::Hub), operator),
            [("MIMALLOC_ALLOW_THP", "0")]
        );
        let empty = |_: &str| Some(OsString::new());
        assert_eq!(
            wanted(Some(Role::Ncb), empty),
            [("MIMALLOC_ALLOW_THP", "0")]
        );
    }
}
