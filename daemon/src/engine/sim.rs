//! Whole nodes in virtual time: several nodes' custody ledgers (over stores in memory) and
//! their links' senders, joined by a simulated wire, stepped together one virtual
//! millisecond at a time with no sockets, no disk and no clock (quinn-proto's `Pair::step`
//! is the model, issue 11 item 5). Each node's shell here does what the real shells do, in
//! their order: the store thread (`store/keeper.rs`) in `keeper.rs`, the receiving side of a
//! link (`net/link.rs`, `custody/shell.rs`) in `node.rs`, and the send task
//! (`net/link/send.rs`) in `pump.rs`; the rules are all the engine's. A crash loses what a
//! node did not fsync, its links and everything in flight; it restarts from its store.
//!
//! Left out, because no rule depends on them: signatures (the wire carries the envelope's
//! encoding, decoded where the real node verifies), byte bounds of reads and rounds (copies
//! are small), queue quotas, and the purge of old dedup entries.

mod keeper;
mod network;
mod node;
mod pump;
#[cfg(test)]
mod tests;
mod wire;

pub use network::{Network, Timing};
