//! The node's core, below `net` and `api` (issue 11, item 4): the state its tasks share
//! ([`Core`], private fields), the custody shell around `engine` (verify, ask the engine,
//! commit; give up), the local application calls (submit, inbox, ack), the bulk threads and
//! the counters. It imports neither `net`, `api` nor `node`: they import it.
//!
//! `net` reaches it through a [`LinkHandle`] (what a link needs: decide offers, give up,
//! take hand-offs, read and forget its peer's queue, counters, frame limit, cancellation);
//! `api`, `services` and the CLI through a [`BureauHandle`] (submit, inbox, [`Record`]s,
//! queue depths, counters) and [`LinkedPeers`] (the links that are up, which `net` owns).
//! Only `node`, the assembly, holds the [`Core`] itself.

mod audited;
mod bulk;
mod bureau;
mod decision_log;
mod failover;
mod handles;
mod in_flight;
mod local;
mod notices;
mod quarantine;
mod queues;
mod shell;
mod state;
mod sweep;
mod traffic;

pub use self::bulk::{threads_for, Bulk};
pub use self::bureau::{BureauHandle, Record};
pub use self::failover::run as failover;
pub use self::handles::{LinkHandle, LinkedPeers};
pub use self::local::{Delivered, Glanced, Outgoing, SubmitError, DEFAULT_HOP_LIMIT};
pub use self::quarantine::{is_warning, Added, QuarantineError};
pub use self::queues::Purged;
pub use self::shell::{Answer, Decided, Offer};
pub use self::state::{hub, now_ms, ConfigGuard, Core, CoreParts, Disk, Stats, HUB};
pub use self::sweep::run as sweep;
pub use self::traffic::{HandshakeFailure, Traffic};
