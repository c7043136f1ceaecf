//! Pure decisions of a node: routing, custody, reports and retry timing. No tokio, quinn or
//! sled here; time comes in as an argument and effects go out as values, so unit tests drive
//! every rule without sockets or disks.

pub mod answers;
pub mod backoff;
pub mod custody;
pub mod ledger;
pub mod reports;
pub mod routing;

pub use custody::{CustodyDecision, RefusalAction};
pub use routing::{Hop, RouteDecision, RoutingTable};
