//! The Bluehelm node: configuration, the pure decision engine, the sled store, the QUIC link
//! layer, and the running node that ties them together. The `bluehelm` binary's subcommands
//! (in `src/cli`) are thin wrappers over this library.
#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod config;
pub mod custody;
pub mod engine;
pub mod human_time;
pub mod localnet;
pub mod metrics;
pub mod net;
pub mod node;
pub mod records;
pub mod services;
pub mod store;

pub use config::NodeConfig;
pub use node::Node;
