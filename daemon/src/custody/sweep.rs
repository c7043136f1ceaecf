//! The expiry sweeper: the shell that runs the ledger's sweep (`Ledger::sweep`, through the
//! store) every second and gives up what it finds, and forgets old dedup entries.

use std::sync::Arc;
use std::time::Duration;

use super::shell;
use super::state::{now_ms, Core, Stats};
use crate::store::StoreError;

/// How often queues are swept for expired messages.
const EXPIRY_SWEEP: Duration = Duration::from_secs(1);
/// How often dedup entries of expired messages are dropped.
const SEEN_PURGE: Duration = Duration::from_secs(300);

/// Turns expired queued messages into non-delivery reports, and forgets old dedup entries,
/// until the node stops.
pub async fn run(core: Arc<Core>) {
    let mut expiry = tokio::time::interval(EXPIRY_SWEEP);
    let mut purge = tokio::time::interval(SEEN_PURGE);
    loop {
        tokio::select! {
            _ = core.cancel().cancelled() => return,
            _ = expiry.tick() => {
                if let Err(err) = give_up_expired(&core).await {
                    tracing::error!(error = %err, "expiry sweep failed");
                }
            }
            _ = purge.tick() => {
                match core.store().purge_seen(now_ms(), 100_000).await {
                    Ok(n) if n > 0 => tracing::debug!(purged = n, "dropped old dedup entries"),
                    Ok(_) => {}
                    Err(err) => tracing::error!(error = %err, "dedup purge failed"),
                }
            }
        }
    }
}

/// Gives up on the queued copies the ledger's sweep finds expired.
async fn give_up_expired(core: &Core) -> Result<(), StoreError> {
    let due = core.store().give_ups_due(now_ms(), 1000).await?;
    for (queued, reason) in due {
        tracing::info!(message = %queued.message.message.id, origin = %queued.message.message.origin,
            "message expired in the queue");
        Stats::add(&core.stats().expired, 1);
        let detail = format!("expired while queued at {}", core.me());
        shell::give_up(core, &queued, reason, detail).await?;
    }
    Ok(())
}
