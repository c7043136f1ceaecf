//! Quarantine's custody shell (issue 14, item 3): keeping a rule, moving the copies it
//! catches out of the queues and the inbox, releasing or dropping a held copy, and the hub's
//! warning to every node it knows. What a rule catches is `engine::quarantine`'s to say; what a
//! move does to custody is the ledger's (`Write::QuarantineRule`, `Quarantine`, `Release`,
//! `DropHeld`). Every copy held, released or dropped gets its audit entry here.

use std::time::Duration;

use bluehelm_proto::{
    Body, Destination, Envelope, NodeId, Precedence, SignedEnvelope, TextMessage,
};

use super::local::Outgoing;
use super::state::{hub, now_ms, Core};
use crate::engine::audit::{Entry, Event};
use crate::engine::quarantine::{
    warning_body, warning_rule, warning_targets, Rule, WarningError, WARNING_SUBJECT,
};
use crate::store::{HeldEntry, Place, StoreError, StoredMessage, Write, WriteOutcome};

/// How long the hub's warning may wait for a link to a node: as long as a post may be
/// cut off (a post offline when the rule is made must still learn it).
const WARNING_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Copies moved into quarantine per commit: a post's backlog may be large, and one commit
/// holds its copies in memory twice (the writes and the round's record).
const MOVE_BATCH: usize = 512;

/// Why an operator's quarantine call failed.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no copy {0} is held in quarantine")]
    NotHeld(u64),
}

/// What adding a rule did.
#[derive(Debug, Clone, Default)]
pub struct Added {
    /// Copies moved into quarantine now.
    pub held: usize,
    /// The nodes warned (at the hub only).
    pub warned: Vec<NodeId>,
}

impl Core {
    /// Keeps `rule` durably, puts it in force, and moves every copy it catches into
    /// quarantine. The rule is in force before the store is searched, so that a message
    /// arriving meanwhile is held on arrival, and one already held is found by the search.
    pub(super) async fn quarantine(&self, rule: Rule) -> Result<usize, StoreError> {
        self.store()
            .commit(vec![Write::QuarantineRule(rule.clone())])
            .await?;
        self.enforce(rule.clone());
        tracing::warn!(node = %rule.node, since_ms = rule.since_ms,
            "quarantine: messages from this node since this time are held");
        // Twice: an offer decided just before the rule was in force may be committed after
        // the first search (its batch was on its way to the store); by the second it is in.
        let held = self.hold_caught().await?;
        Ok(held + self.hold_caught().await?)
    }

    /// Moves what the rules in force catch into quarantine; how many copies moved.
    async fn hold_caught(&self) -> Result<usize, StoreError> {
        let caught = self.store().caught(self.quarantine_rules()).await?;
        if caught.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let mut held = 0;
        let mut caught = caught.into_iter().peekable();
        while caught.peek().is_some() {
            let mut entries = Vec::with_capacity(MOVE_BATCH);
            let mut writes = Vec::with_capacity(MOVE_BATCH);
            for (from, message) in caught.by_ref().take(MOVE_BATCH) {
                let was_for = match &from {
                    Place::Queued(key) => format!("the queue for {}", key.next_hop()),
                    Place::Inbox(_) => "the inbox".to_owned(),
                };
                entries.push(
                    about_copy(Event::Quarantined, &message, now)
                        .decided(format!("held; was for {was_for}"))
                        .by_rule("quarantine: origin compromised"),
                );
                writes.push(Write::Quarantine { from, message });
            }
            let outcomes = self.store().commit(writes).await?;
            for (outcome, entry) in outcomes.into_iter().zip(entries) {
                // `Missing`: the next hop took it, or the application acknowledged it,
                // meanwhile.
                if outcome == WriteOutcome::Stored {
                    held += 1;
                    self.audit().record(entry);
                }
            }
        }
        Ok(held)
    }

    /// Puts held copy `id` back where it was going.
    pub(super) async fn release_held(&self, id: u64) -> Result<HeldEntry, QuarantineError> {
        let held = self
            .unhold(id, |held| Write::Release {
                id,
                to: held.to.clone(),
                message: held.message.clone(),
            })
            .await?;
        self.audit().record(
            about_copy(Event::Released, &held.message, now_ms())
                .decided(format!("released to {}", held.to.describe())),
        );
        Ok(held)
    }

    /// Deletes held copy `id`.
    pub(super) async fn drop_held(&self, id: u64) -> Result<HeldEntry, QuarantineError> {
        let held = self.unhold(id, |_| Write::DropHeld(id)).await?;
        self.audit().record(
            about_copy(Event::Dropped, &held.message, now_ms())
                .decided(format!("dropped; was for {}", held.to.describe())),
        );
        Ok(held)
    }

    /// Takes held copy `id` out of quarantine with the write `how` makes of it.
    async fn unhold(
        &self,
        id: u64,
        how: impl FnOnce(&HeldEntry) -> Write,
    ) -> Result<HeldEntry, QuarantineError> {
        let held = self
            .store()
            .held_one(id)
            .await?
            .ok_or(QuarantineError::NotHeld(id))?;
        let outcomes = self.store().commit(vec![how(&held)]).await?;
        // Another operator call took it first: the ledger says `Missing`.
        if outcomes.first() != Some(&WriteOutcome::Removed) {
            return Err(QuarantineError::NotHeld(id));
        }
        Ok(held)
    }

    /// At the hub: a signed warning carrying `rule` to every node it knows by name but the
    /// node itself (`warning_targets`), at FLASH, through custody (a node offline now gets it
    /// when its link returns; one behind a relay through the relay).
    pub(super) async fn warn_nodes(&self, rule: &Rule) -> Vec<NodeId> {
        if *self.me() != hub() {
            return Vec::new();
        }
        let mut warned = Vec::new();
        // One submission each: a node that cannot be warned (its route or the role policy
        // refuses) must not keep the others from it.
        for node in warning_targets(&self.config().routing, &rule.node) {
            let warning = Outgoing {
                destination: Destination::Node(node.clone()),
                precedence: Precedence::Flash,
                body: Body::Text(TextMessage {
                    subject_line: WARNING_SUBJECT.to_owned(),
                    body: warning_body(rule),
                    attachments: Vec::new(),
                }),
                ttl: WARNING_TTL,
                want_delivery_report: false,
                correlation_id: None,
                release_to: None,
            };
            match self.submit_with(vec![warning], Vec::new()).await {
                Ok(_) => warned.push(node),
                Err(err) => tracing::error!(node = %node, error = %err,
                    "cannot send the quarantine warning"),
            }
        }
        warned
    }

    /// A warning delivered here: acted on only if its signer's certificate is of the hub
    /// role. Whether or not, it leaves the inbox (the caller removes it).
    pub(super) async fn take_warning(
        &self,
        envelope: &Envelope,
        signed: &SignedEnvelope,
    ) -> Result<(), StoreError> {
        let Body::Text(text) = &envelope.body else {
            return Ok(());
        };
        let signer_is_hub = bluehelm_pki::parse_certificate(signed.signer_certificate())
            .is_ok_and(|identity| identity.role == bluehelm_pki::Role::Hub);
        match warning_rule(signer_is_hub, &text.body) {
            Ok(rule) => {
                let held = self.quarantine(rule.clone()).await?;
                tracing::warn!(node = %rule.node, since_ms = rule.since_ms, held,
                    from = %envelope.origin, "quarantine warning acted on");
            }
            Err(err @ (WarningError::NotHub | WarningError::Malformed)) => {
                tracing::warn!(from = %envelope.origin, message = %envelope.message_id,
                    error = %err, "quarantine warning not acted on");
            }
        }
        Ok(())
    }
}

/// Whether a delivered message is a quarantine warning (to be taken, not shown).
pub fn is_warning(envelope: &Envelope) -> bool {
    matches!(&envelope.body, Body::Text(t) if t.subject_line == WARNING_SUBJECT)
}

/// An audit entry about a stored copy: from its envelope, or its reference alone if the
/// bytes no longer decode.
fn about_copy(event: Event, message: &StoredMessage, now: i64) -> Entry {
    let envelope = SignedEnvelope::decode(&message.signed)
        .ok()
        .and_then(|s| s.decode_envelope().ok());
    match envelope {
        Some(envelope) => Entry::about(event, &envelope, now),
        None => Entry::about_ref(event, &message.message, now),
    }
}
