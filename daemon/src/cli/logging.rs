//! Where log lines go and how they look (issue 15, item 2): stderr, text or JSON, colours only
//! when stderr is a terminal (a log file must not fill with escape codes), and `-v`/`-vv`
//! that make bluehelm itself talkative without turning on the debug output of quinn, rustls,
//! sled, h2 or tonic. `RUST_LOG`, when set, overrides all of it.

use std::io::IsTerminal;

use bluehelm::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// The filter for a verbosity (`-v` count). `quiet` commands (those that tell their story on
/// stdout) keep everyone at warn unless asked; a node logs at info. Dependencies never go
/// below their quiet level: their debug output drowns a node's own lines.
pub fn directives(verbose: u8, quiet: bool) -> String {
    let everyone = if quiet { "warn" } else { "info" };
    let ours = match verbose {
        0 => return everyone.to_owned(),
        1 => "debug",
        _ => "trace",
    };
    // A target directive matches by prefix: `bluehelm` covers the binary, the library and
    // `bluehelm_pki` / `bluehelm_proto`.
    format!("{everyone},bluehelm={ours}")
}

/// Installs the subscriber on stderr. `RUST_LOG` wins over `verbose` when it parses.
pub fn init(format: LogFormat, verbose: u8, quiet: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(directives(verbose, quiet)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        // One object per line with the event's fields at the top level, so that a collector
        // can index `peer`, `reason` or `id` without parsing a message.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_flags_raise_bluehelm_only() {
        assert_eq!(directives(0, false), "info");
        assert_eq!(directives(0, true), "warn");
        assert_eq!(directives(1, false), "info,bluehelm=debug");
        assert_eq!(directives(2, false), "info,bluehelm=trace");
        assert_eq!(directives(5, true), "warn,bluehelm=trace");
    }

    /// What a subscriber with these directives writes for a debug event of bluehelm and
    /// one of quinn.
    fn written(directives: &str) -> String {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::try_new(directives).unwrap())
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "bluehelm::custody::shell", "ours at debug");
            tracing::trace!(target: "bluehelm_pki::trust", "ours at trace");
            tracing::debug!(target: "quinn::connection", "quinn at debug");
            tracing::debug!(target: "rustls::client", "rustls at debug");
            tracing::info!(target: "sled::pagecache", "sled at info");
        });
        let bytes = sink.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn dash_v_is_debug_for_bluehelm_and_not_for_dependencies() {
        let text = written(&directives(1, false));
        assert!(text.contains("ours at debug"), "{text}");
        assert!(!text.contains("ours at trace"), "{text}");
        assert!(
            !text.contains("quinn at debug") && !text.contains("rustls"),
            "{text}"
        );
        assert!(text.contains("sled at info"), "{text}");
        let text = written(&directives(2, true));
        assert!(text.contains("ours at trace"), "{text}");
        assert!(!text.contains("quinn") && !text.contains("sled"), "{text}");
        let text = written(&directives(0, false));
        assert!(!text.contains("ours at"), "{text}");
    }
}
