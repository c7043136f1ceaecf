//! A fault-injecting UDP proxy for tests and benchmarks, with no root needed (issue 15): the
//! node that dials is given the proxy's address instead of its peer's, and every datagram
//! each way goes through a model of a bad link: one-way delay and jitter, random loss,
//! duplication, reordering, a bottleneck of limited bandwidth with a bounded buffer, and a
//! switch that cuts all traffic.
//!
//! The model ([`Link`]) is pure: it takes the time and a random source as arguments and says
//! when each copy of a datagram arrives, so its behaviour is unit-tested without sockets. The
//! shell ([`FaultProxy`]) owns the sockets and a timer wheel per direction.

mod link;
mod proxy;

pub use link::{Impairments, Link, Verdict};
pub use proxy::{FaultProxy, ProxyError, ProxyStats};
