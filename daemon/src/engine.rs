//! Pure decisions of a node: routing, custody, reports, retry timing, and the send side of a
//! link (`sender`: what to read, offer, forget and give up, per precedence). No tokio, quinn or
//! sled here; time comes in as an argument and effects go out as values, so unit tests drive
//! every rule without sockets or disks.

pub mod answers;
pub mod audit;
pub mod backoff;
pub mod custody;
pub mod disk;
pub mod dna;
pub mod failover;
pub mod ledger;
pub mod nominal;
pub mod outage;
pub mod partials;
pub mod policy;
pub mod publication;
pub mod quarantine;
pub mod records;
pub mod register;
pub mod release;
pub mod reports;
pub mod revocation;
pub mod routing;
pub mod seal;
pub mod sender;
#[cfg(test)]
mod sim;

pub use custody::{CustodyDecision, RefusalAction};
pub use routing::{Hop, RouteDecision, RoutingTable};
