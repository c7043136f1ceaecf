//! Metrics and health (issue 15, item 1): with `metrics_listen` set, the node serves
//! Prometheus text on `/metrics` and its readiness on `/healthz`. Values are gathered when a
//! scrape asks (`snapshot`), from what the node keeps already: atomic counters, the store's
//! queue depths, the CRL in force. Nothing here takes a lock custody waits on.

pub mod health;
pub mod histogram;
mod serve;
pub mod snapshot;
mod text;

pub use serve::{bind, serve, MetricsBindError};
