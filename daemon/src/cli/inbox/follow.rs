//! Reading the inbox stream, and `inbox --follow` across its node's restarts (issue 15,
//! item 5): when the stream ends or fails because the node went away, reconnect with
//! backoff and resume after the last message printed, so that none is missed or printed
//! twice. With `--ack` a message is acknowledged only once printed; an acknowledgement the
//! node did not confirm is sent again first thing after reconnecting, before anything new
//! is read (the node's `Ack` is idempotent, so an acknowledgement that did land before the
//! node died costs nothing).

use std::time::{Duration, Instant};

use bluehelm::api::pb;
use bluehelm::api::pb::bureau_client::BureauClient;
use bluehelm::engine::backoff::Backoff;
use tonic::transport::Channel;

use super::super::bureau::{self, fail, Exit, Failure};
use super::super::out::outln;
use super::{render, InboxArgs};

/// Reconnect timing: a restarting node is back within seconds, and a follower should see
/// its messages soon after; ten seconds apart at most keeps a node that is down for hours
/// from being hammered.
const RECONNECT: Backoff = Backoff {
    base: Duration::from_millis(200),
    max: Duration::from_secs(10),
};

/// Where the command is in the inbox: the last message printed, and those printed but not
/// yet acknowledged.
pub struct Cursor {
    after: u64,
    unacked: Vec<u64>,
}

/// Why a read of the inbox stream stopped without an error.
pub enum Ended {
    /// The node ended the stream: the end of the inbox without --follow; with it, the node
    /// is stopping.
    Stream,
    /// Ctrl-C.
    Interrupted,
}

impl Cursor {
    /// Starts after inbox number `after` (0: from the oldest message).
    pub fn after(after: u64) -> Self {
        Self {
            after,
            unacked: Vec::new(),
        }
    }

    /// Prints (and with `--ack` acknowledges) the messages after the cursor until the
    /// stream ends, fails, or Ctrl-C.
    pub async fn read(
        &mut self,
        client: &mut BureauClient<Channel>,
        args: &InboxArgs,
        follow: bool,
    ) -> Result<Ended, Failure> {
        self.acknowledge(client).await?;
        let mut stream = client
            .follow_inbox(pb::FollowInboxRequest {
                after_seq: self.after,
                follow,
            })
            .await
            .map_err(bureau::from_status)?
            .into_inner();
        loop {
            let message = tokio::select! {
                m = stream.message() => m.map_err(bureau::from_status)?,
                _ = tokio::signal::ctrl_c() => return Ok(Ended::Interrupted),
            };
            let Some(message) = message else {
                return Ok(Ended::Stream);
            };
            // The node streams after `after_seq` only; this guards the promise of "never
            // twice" against a node that would not.
            if message.seq <= self.after {
                continue;
            }
            // A reader that went away (`| head`) stops the command before the message is
            // acknowledged: it stays in the inbox.
            outln!("{}", render(&message, args.json))?;
            self.after = message.seq;
            if args.ack {
                self.unacked.push(message.seq);
                self.acknowledge(client).await?;
            }
        }
    }

    /// Acknowledges what was printed and not yet acknowledged; kept for the next try if the
    /// node does not answer.
    async fn acknowledge(&mut self, client: &mut BureauClient<Channel>) -> Result<(), Failure> {
        if self.unacked.is_empty() {
            return Ok(());
        }
        client
            .ack(pb::AckRequest {
                seqs: self.unacked.clone(),
            })
            .await
            .map_err(bureau::from_status)?;
        self.unacked.clear();
        Ok(())
    }
}

/// Failures that a node restart causes, and that a follower waits out. Bad input, a refusal
/// (a terminal whose certificate the node refuses) or a closed output end the command.
fn waited_out(exit: Exit) -> bool {
    matches!(exit, Exit::Unreachable | Exit::NodeFailure | Exit::Timeout)
}

/// `inbox --follow`: until Ctrl-C, a closed output, a failure that is not the node's
/// absence, or `--give-up-after` seconds without the node.
pub async fn run(args: &InboxArgs) -> Result<(), Failure> {
    let give_up_after = args.give_up_after.map(Duration::from_secs);
    let mut cursor = Cursor::after(args.after);
    let mut attempt = 0u32;
    // Since when the node has been out of reach (None: it is not).
    let mut lost_at: Option<Instant> = None;
    loop {
        let began = Instant::now();
        let printed = cursor.after;
        let failure = match session(args, &mut cursor, &mut lost_at).await {
            Ok(Ended::Interrupted) => return Ok(()),
            Ok(Ended::Stream) => fail(
                Exit::Unreachable,
                "lost the node: it ended the inbox stream (stopping)",
            ),
            Err(failure) if waited_out(failure.exit) => match failure.message {
                m if m.starts_with("lost the node") => fail(failure.exit, m),
                m => fail(failure.exit, format!("lost the node: {m}")),
            },
            Err(failure) => return Err(failure),
        };
        // A session that did something was a recovery: the next loss starts from fast
        // retries again. One that fails at once keeps backing off.
        if cursor.after > printed || began.elapsed() >= RECONNECT.max {
            attempt = 0;
        }
        let lost = *lost_at.get_or_insert_with(Instant::now);
        if let Some(limit) = give_up_after {
            if lost.elapsed() >= limit {
                return Err(fail(
                    Exit::Unreachable,
                    format!(
                        "{}; gave up after {} s without the node (--give-up-after)",
                        failure.message,
                        limit.as_secs()
                    ),
                ));
            }
        }
        if attempt == 0 {
            tracing::warn!(
                after_seq = cursor.after,
                "{}; reconnecting",
                failure.message
            );
        } else {
            tracing::debug!(attempt, "{}; still reconnecting", failure.message);
        }
        let delay = RECONNECT.delay(attempt, rand::random());
        attempt = attempt.saturating_add(1).min(16);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// One connection to the node: connect, then read until the stream ends or fails.
async fn session(
    args: &InboxArgs,
    cursor: &mut Cursor,
    lost_at: &mut Option<Instant>,
) -> Result<Ended, Failure> {
    let mut client = tokio::select! {
        client = args.node.connect() => client?,
        _ = tokio::signal::ctrl_c() => return Ok(Ended::Interrupted),
    };
    if let Some(lost) = lost_at.take() {
        tracing::warn!(
            after_seq = cursor.after,
            "reconnected to the node after {:.1} s",
            lost.elapsed().as_secs_f64()
        );
    }
    cursor.read(&mut client, args, true).await
}
