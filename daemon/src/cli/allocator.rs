//! How many heaps (arenas) glibc's allocator may keep. Left alone it makes up to 8 per core,
//! and the store's threads allocate sled's nodes in theirs while other threads free them: a
//! hub holding a million copies for an offline post was at 980 MiB resident for a heap of
//! about 250 MB; with one arena, 226 MiB (issue 15, the drain's target of 256 MiB;
//! docs/performance.md, "The hub's memory with a million queued, again").
//!
//! glibc reads the limit from the environment when the process starts, and the workspace
//! forbids the unsafe `mallopt`: so a node process that finds `MALLOC_ARENA_MAX` unset
//! replaces itself (same pid, same arguments) with one that has it. An operator's own
//! setting is kept.

use std::ffi::OsString;

/// The variable glibc reads.
const VARIABLE: &str = "MALLOC_ARENA_MAX";
/// Arenas when the operator set none.
const ARENAS: &str = "1";

/// The value to start again with, if any: only when the operator set none.
fn wanted(current: Option<OsString>) -> Option<&'static str> {
    current.is_none().then_some(ARENAS)
}

/// Starts this process again with the arena limit set, if it is not. Returns only if it is
/// set already or the new start failed (then the node runs with glibc's default, and says
/// so on stderr: logging is not set up yet).
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if let Some(arenas) = wanted(std::env::var_os(VARIABLE)) {
        use std::os::unix::process::CommandExt;
        // /proc/self/exe still names this binary if its file was replaced by an upgrade.
        let err = std::process::Command::new("/proc/self/exe")
            .arg0(std::env::args_os().next().unwrap_or_default())
            .args(std::env::args_os().skip(1))
            .env(VARIABLE, arenas)
            .exec();
        eprintln!(
            "warning: could not start again with {VARIABLE}={arenas} ({err}); \
             the node may hold much more memory than its heap"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operators_setting_is_kept_and_none_gets_one_arena() {
        assert_eq!(wanted(None), Some("1"));
        assert_eq!(wanted(Some("4".into())), None);
        assert_eq!(wanted(Some("".into())), None);
    }
}
