//! What a node writes and decides, as `custody/shell.rs` and `custody/local.rs` do it:
//! submissions, the decision on an offer (`engine::custody::decide`, with the envelope
//! decoded in place of verified), delivery reports, and the give-up of a copy with its
//! non-delivery report.

use bluehelm_proto::{
    Body, Destination, Envelope, MessageId, MessageRef, NodeId, NonDeliveryReason, Precedence,
    Refusal, RefusalReason, TextMessage,
};

use super::super::keeper::{Command, Reply};
use super::Node;
use bluehelm_pki::Role;

use crate::engine::custody::{self, Context, CustodyDecision};
use crate::engine::ledger::{Custody, Provenance, Queued, StoredMessage, Write};
use crate::engine::policy::Party;
use crate::engine::{reports, Hop};

/// No queue quota: the simulated relays never refuse for lack of room.
const QUEUE_QUOTA: usize = usize::MAX;
/// Hop limit of submissions (`custody::local::DEFAULT_HOP_LIMIT`).
const HOP_LIMIT: u8 = 16;

impl Node {
    /// A local application submits a message for `destination`; it asks for a delivery
    /// report. Returns its reference (`custody::local`, `Core::submit`).
    pub fn submit(
        &mut self,
        destination: &NodeId,
        precedence: Precedence,
        lifetime_ms: i64,
        now_ms: i64,
    ) -> MessageRef {
        let envelope = Envelope {
            message_id: self.new_id(),
            origin: self.me().clone(),
            destination: Destination::Node(destination.clone()),
            precedence,
            created_at_ms: now_ms,
            expires_at_ms: now_ms + lifetime_ms,
            correlation_id: None,
            hop_limit: HOP_LIMIT,
            want_delivery_report: true,
            release_to: None,
            body: Body::Text(TextMessage {
                subject_line: "sim".into(),
                body: String::new(),
                attachments: Vec::new(),
            }),
        };
        let message = envelope.message_ref();
        let custody = self
            .own_custody(&envelope, now_ms)
            .unwrap_or_else(|r| panic!("submission refused: {r:?}"));
        self.keeper.commands.push_back(Command::Commit(
            vec![Write::Accept(custody)],
            Reply::Submitted(message.clone()),
        ));
        message
    }

    /// Gives up on a queued copy: drops it and reports its non-delivery to its origin, in one
    /// commit (`custody::shell::give_up`).
    pub(super) fn give_up(
        &mut self,
        queued: &Queued,
        reason: NonDeliveryReason,
        detail: String,
        now: i64,
    ) {
        let mut report = None;
        if let Ok(envelope) = Envelope::decode(&queued.message.signed) {
            let id = self.new_id();
            if let Some(ndr) =
                reports::non_delivery_report(self.me(), &envelope, reason, detail, id, now)
            {
                report = self.own_custody(&ndr, now).ok().map(Box::new);
            }
        }
        let key = queued.key.clone();
        let write = Write::GiveUp {
            key: key.clone(),
            report,
        };
        self.keeper
            .commands
            .push_back(Command::Commit(vec![write], Reply::GiveUp(key)));
    }

    /// `custody::shell::custody_of`, with the envelope decoded in place of verified.
    pub(super) fn custody_of(
        &mut self,
        copy: &StoredMessage,
        stream: Option<Precedence>,
        provenance: Provenance,
        now: i64,
    ) -> Result<Custody, Refusal> {
        let envelope = Envelope::decode(&copy.signed).map_err(|e| Refusal {
            message: copy.message.clone(),
            reason: RefusalReason::Malformed,
            detail: e.to_string(),
        })?;
        let hops = if provenance == Provenance::Originated {
            0
        } else {
            copy.hops
        };
        self.decide(
            &envelope,
            copy.signed.clone(),
            hops,
            stream,
            provenance,
            now,
        )
    }

    fn decide(
        &mut self,
        envelope: &Envelope,
        signed: bytes::Bytes,
        hops: u8,
        stream: Option<Precedence>,
        provenance: Provenance,
        now: i64,
    ) -> Result<Custody, Refusal> {
        let message = envelope.message_ref();
        let ctx = Context {
            now_ms: now,
            hops,
            queue_quota: QUEUE_QUOTA,
            stream,
            // The simulated network has no certificates and tests custody, not policy: every
            // signer is treated as the hub, which the default policy lets send anything.
            signer: Party {
                node: &envelope.origin,
                role: Role::Hub,
                country: None,
                mission: None,
            },
            policy: &self.policy,
            me: Party {
                node: self.me(),
                role: Role::Hub,
                country: None,
                mission: None,
            },
            directory: &self.directory,
            silent: &crate::engine::routing::NONE_SILENT,
        };
        let ledger = &self.keeper.ledger;
        let decision = custody::decide(envelope, &[], ctx, &self.routing, |hop| ledger.depth(hop));
        let copies = match decision {
            CustodyDecision::Accept { copies, .. } => copies,
            CustodyDecision::Refuse { reason, detail } => {
                return Err(Refusal {
                    message,
                    reason,
                    detail,
                })
            }
        };
        let report = if copies.contains_key(&Hop::Local) {
            let id = self.new_id();
            reports::delivery_report(self.me(), envelope, id, now)
                .and_then(|dr| self.own_custody(&dr, now).ok())
                .map(Box::new)
        } else {
            None
        };
        Ok(Custody {
            message: StoredMessage::taken(envelope, signed, hops, now),
            copies,
            report,
            provenance,
        })
    }

    /// `custody::shell::own_custody`: an envelope this node writes.
    fn own_custody(&mut self, envelope: &Envelope, now: i64) -> Result<Custody, Refusal> {
        let signed = envelope.encode_to_vec();
        let mut custody = self.decide(
            envelope,
            signed.into(),
            0,
            None,
            Provenance::Originated,
            now,
        )?;
        custody.message.hops = 0;
        Ok(custody)
    }

    fn new_id(&mut self) -> MessageId {
        self.next_id += 1;
        let mut id = [0; 16];
        id[0] = self.index as u8;
        id[8..].copy_from_slice(&self.next_id.to_be_bytes());
        MessageId::from(id)
    }
}
