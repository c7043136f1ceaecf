//! The one task that acts on what enters the inbox, in order:
//!
//! - a delivery or non-delivery report is recorded in the note of the message it reports on
//!   (so `DeliveryState` can answer after the report is acknowledged), and left in the inbox;
//! - a service response (or a non-delivery report) for a `Request` call that is waiting is
//!   handed to it and removed from the inbox, in the same commit that closes the request;
//! - a report, or a response to a waiting `Request`, whose signer cannot give it
//!   (`engine::answers`, issue 10) is removed with a warning naming the signer and counted
//!   (`reports_refused`, `responses_refused`): it changes no note and ends no call;
//! - a service response for a request that is closed (timed out, given up, or answered
//!   already) is late: it is removed with a log line, and nobody mistakes it for an answer;
//! - a notice request from a bureau, at the hub, moves to the review queue, in this page's
//!   commit (see `review.rs`);
//! - a notice publication (checked when the node took custody of it) updates the notice
//!   register (`engine/register.rs`) in this page's commit, and stays for the applications.
//!   A publication redelivered after a crash merges as a duplicate: nothing changes;
//! - everything else is left for `FollowInbox`, which streams only messages the dispatcher
//!   has looked at (see [`Dispatcher::subscribe`]), so no follower sees a response before
//!   the dispatcher had the chance to claim it.
//!
//! A response may in principle come back before the `Request` call that sent the request
//! has learnt its id from `BureauHandle::submit`. Message ids start with their creation time, so
//! while a `Request` submission started at time T is under way, a response to an unknown
//! request created at T or later is held back (the dispatcher stops before it) until the
//! submission has registered its id.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use bluehelm_proto::{Body, Glance, Kind, MessageId, NonDeliveryReport, ServiceName};
use tokio::sync::{oneshot, watch, Notify};

use super::notes::{self, Failure, SentNote};
use super::review::{self, NoticeCheck};
use super::PAGE;
use crate::custody::{now_ms, BureauHandle, Record, Stats};
use crate::custody::{Delivered, Glanced};
use crate::engine::answers::{self, Unbelieved};
use crate::engine::quarantine::WARNING_SUBJECT;
use crate::engine::register::{self, Entry, Merge};
use crate::services;
use crate::store::StoreError;

/// How a `Request` call ends, as seen by the dispatcher.
#[derive(Debug)]
pub enum Outcome {
    /// The service's response arrived (already removed from the inbox).
    Answered(Box<Delivered>),
    /// A non-delivery report arrived for the request (removed from the inbox too).
    Failed(NonDeliveryReport),
}

/// A `Request` call waiting for its answer.
struct Waiter {
    /// The service it asked: only its host may answer.
    service: ServiceName,
    answer: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct State {
    /// `Request` calls waiting for their answer.
    waiting: HashMap<MessageId, Waiter>,
    /// Start times (Unix ms) of `Request` submissions that have no id yet, with counts.
    submitting: BTreeMap<i64, usize>,
    /// Requests given up whose note is not yet durable.
    closing: HashSet<MessageId>,
}

pub struct Dispatcher {
    node: BureauHandle,
    state: Mutex<State>,
    /// The inbox position looked at so far; also serializes every note read-modify-write.
    cursor: tokio::sync::Mutex<Option<u64>>,
    dispatched: watch::Sender<u64>,
    wake: Notify,
}

/// What to do with one inbox message.
enum Verdict {
    Keep,
    Remove,
    /// Stop here and look again once the submissions under way have registered.
    Wait,
}

/// The writes and hand-overs of one page, applied together.
#[derive(Default)]
struct Step {
    /// Notes read this page: as read, and as changed.
    notes: HashMap<MessageId, (SentNote, SentNote)>,
    removed: Vec<u64>,
    outcomes: Vec<(oneshot::Sender<Outcome>, Outcome)>,
    /// Notice requests moved to the review queue (committed with their removal).
    reviews: Vec<Record>,
    /// The notice register's entries this page changes, by reference (merged in page
    /// order, so two copies of one notice in a page merge with each other too).
    notices: BTreeMap<String, Entry>,
}

impl Dispatcher {
    pub fn new(node: BureauHandle) -> Arc<Self> {
        Arc::new(Self {
            node,
            state: Mutex::default(),
            cursor: tokio::sync::Mutex::new(None),
            dispatched: watch::channel(0).0,
            wake: Notify::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The highest inbox sequence number looked at (0: none yet); followers stream up to it.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.dispatched.subscribe()
    }

    /// Runs until the node stops.
    pub async fn run(self: Arc<Self>) {
        let mut changes = self.node.inbox_changes();
        loop {
            changes.borrow_and_update();
            if let Err(err) = self.catch_up().await {
                tracing::error!(error = %err, "api dispatcher cannot read the inbox");
                tokio::select! {
                    _ = self.node.cancel().cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                }
            }
            tokio::select! {
                _ = self.node.cancel().cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
                _ = self.wake.notified() => {}
            }
        }
    }

    /// A `Request` call is about to submit; call [`Ticket::register`] with the id.
    pub fn begin_request(self: &Arc<Self>) -> Ticket {
        let started = now_ms();
        *self.state().submitting.entry(started).or_default() += 1;
        Ticket {
            dispatcher: self.clone(),
            started,
            done: false,
        }
    }

    /// The `Request` call that sent `id` stops waiting: a response from now on is late.
    /// Durable (a note) before it returns, so a late response is recognised after a restart.
    pub async fn close_request(&self, id: MessageId) -> Result<(), StoreError> {
        {
            let mut state = self.state();
            state.waiting.remove(&id);
            state.closing.insert(id);
        }
        let result = async {
            let _cursor = self.cursor.lock().await;
            let mut note = notes::load(&self.node, id).await?;
            if !note.request_closed {
                note.request_closed = true;
                self.node.keep(vec![note.record(id)]).await?;
            }
            Ok(())
        }
        .await;
        self.state().closing.remove(&id);
        result
    }

    /// Looks at everything in the inbox now (the run loop does this on every change; a
    /// stream that must not miss what is there already calls it first).
    pub async fn catch_up(&self) -> Result<(), StoreError> {
        let mut cursor = self.cursor.lock().await;
        loop {
            let page = self
                .node
                .inbox_glanced(*cursor, PAGE, nothing_to_judge)
                .await?;
            let full = page.len() == PAGE;
            let mut step = Step::default();
            let mut last = *cursor;
            let mut waiting = false;
            for message in &page {
                let message = match message {
                    Glanced::Plain { seq } => {
                        last = Some(*seq);
                        continue;
                    }
                    Glanced::Decoded(message) => message,
                };
                match self.judge(message, &mut step).await? {
                    Verdict::Wait => {
                        waiting = true;
                        break;
                    }
                    Verdict::Remove => step.removed.push(message.seq),
                    Verdict::Keep => {}
                }
                last = Some(message.seq);
            }
            let mut records: Vec<Record> = step
                .notes
                .iter()
                .filter(|(_, (read, now))| read != now)
                .map(|(id, (_, now))| now.record(*id))
                .collect();
            records.append(&mut step.reviews);
            records.extend(
                std::mem::take(&mut step.notices)
                    .into_values()
                    .map(|entry| Record::Notice(Box::new(entry))),
            );
            records.extend(step.removed.iter().map(|seq| Record::InboxRead(*seq)));
            if !records.is_empty() {
                self.node.keep(records).await?;
            }
            for (waiter, outcome) in step.outcomes {
                // The caller may have gone; the answer is consumed all the same.
                let _ = waiter.send(outcome);
            }
            *cursor = last;
            if let Some(seq) = last {
                self.dispatched.send_if_modified(|v| {
                    let moved = *v != seq;
                    *v = seq;
                    moved
                });
            }
            if waiting || !full {
                return Ok(());
            }
        }
    }

    async fn note<'a>(
        &self,
        step: &'a mut Step,
        id: MessageId,
    ) -> Result<&'a mut SentNote, StoreError> {
        if let std::collections::hash_map::Entry::Vacant(entry) = step.notes.entry(id) {
            let note = notes::load(&self.node, id).await?;
            entry.insert((note.clone(), note));
        }
        Ok(&mut step.notes.get_mut(&id).expect("inserted above").1)
    }

    /// A publication into the register, merged with what it holds and this page's entries.
    fn register(&self, message: &Delivered, step: &mut Step) {
        let envelope = &message.envelope;
        let entry = match Entry::of(envelope, message.signed.encode_to_vec()) {
            Ok(entry) => entry,
            // `check_notice` said it is a publication: not reached.
            Err(err) => {
                tracing::error!(message = %envelope.message_id, error = %err,
                    "a publication does not make a register entry");
                return;
            }
        };
        let known = self.node.notice(&entry.notice_ref);
        let current = step.notices.get(&entry.notice_ref).or(known.as_ref());
        match register::apply(current, entry) {
            Merge::Apply(entry) => {
                tracing::info!(notice = %entry.notice_ref, lifecycle = %entry.lifecycle,
                    message = %envelope.message_id, "notice register updated");
                step.notices.insert(entry.notice_ref.clone(), *entry);
            }
            Merge::Keep(kept) => {
                tracing::info!(message = %envelope.message_id, ?kept,
                    "notice register unchanged by a publication");
            }
        }
    }

    /// What a page's message is to the dispatcher; [`nothing_to_judge`] keeps up with it.
    async fn judge(&self, message: &Delivered, step: &mut Step) -> Result<Verdict, StoreError> {
        let envelope = &message.envelope;
        // A check against a reference database this node answers itself (issue 4, section
        // 4): answered here, then removed with this page's commit. If the node stops in
        // between, it is answered again and the requester drops the second answer as late.
        if let Body::Request(request) = &envelope.body {
            // A node's signed audit checkpoint (issue 14, item 5): gs keeps it.
            if request.service.as_str() == crate::audit::CHECKPOINT_SERVICE
                && *self.node.me() == crate::custody::hub()
            {
                crate::audit::keep_received(&self.node, message).await?;
                return Ok(Verdict::Remove);
            }
            if let Some(database) = services::serves(&self.node.config(), &request.service) {
                services::answer(&self.node, database, message).await?;
                return Ok(Verdict::Remove);
            }
        }
        // The hub's quarantine warning (issue 14, item 3): acted on if the hub role signed
        // it, and never shown to the applications.
        if crate::custody::is_warning(envelope) {
            self.node.take_warning(message).await?;
            return Ok(Verdict::Remove);
        }
        // An owner's record changes (issue 13): sequenced here, durably, then removed.
        if let Body::RecordUpload(upload) = &envelope.body {
            crate::records::upload::accept(&self.node, message, upload).await?;
            return Ok(Verdict::Remove);
        }
        if let Body::Notice(notice) = &envelope.body {
            match review::check_notice(&self.node, notice) {
                NoticeCheck::Accept => {}
                NoticeCheck::Publication => self.register(message, step),
                NoticeCheck::Review => {
                    tracing::info!(
                        request = %envelope.message_id,
                        bureau = %envelope.origin,
                        notice = %notice.notice_ref,
                        lifecycle = %notice.lifecycle,
                        "notice request queued for review"
                    );
                    step.reviews.push(Record::Review {
                        id: envelope.message_id,
                        value: message.signed.encode_to_vec(),
                    });
                    return Ok(Verdict::Remove);
                }
            }
        }
        let Some(about) = envelope.correlation_id else {
            return Ok(Verdict::Keep);
        };
        let signer = &envelope.origin;
        match &envelope.body {
            Body::DeliveryReport(dr) => {
                let role = signer_role(message);
                if let Err(why) =
                    answers::delivery_report(answers::Signer { node: signer, role }, dr)
                {
                    return Ok(refuse(
                        &self.node.stats().reports_refused,
                        message,
                        about,
                        why,
                    ));
                }
                self.note(step, about)
                    .await?
                    .delivered(&dr.delivered_to, signer);
                Ok(Verdict::Keep)
            }
            Body::NonDeliveryReport(ndr) => {
                let role = signer_role(message);
                let judged = answers::non_delivery_report(
                    &self.node.config().routing,
                    answers::Signer { node: signer, role },
                    ndr,
                );
                if let Err(why) = judged {
                    return Ok(refuse(
                        &self.node.stats().reports_refused,
                        message,
                        about,
                        why,
                    ));
                }
                let waiter = self.state().waiting.remove(&about);
                let note = self.note(step, about).await?;
                note.failure = Some(Failure::reported(ndr, signer));
                match waiter {
                    Some(waiter) => {
                        note.request_closed = true;
                        step.outcomes
                            .push((waiter.answer, Outcome::Failed(ndr.clone())));
                        Ok(Verdict::Remove)
                    }
                    None => Ok(Verdict::Keep),
                }
            }
            Body::Response(response) => {
                let role = signer_role(message);
                let claim = {
                    let mut state = self.state();
                    let judged = state.waiting.get(&about).map(|waiter| {
                        answers::response(
                            &self.node.config().routing,
                            answers::Signer { node: signer, role },
                            &waiter.service,
                            response,
                        )
                    });
                    if let Some(Err(why)) = judged {
                        // The call keeps waiting for its host's answer.
                        Claim::Refused(why)
                    } else if let Some(waiter) = state.waiting.remove(&about) {
                        Claim::Waiter(waiter.answer)
                    } else if state.closing.contains(&about) {
                        Claim::Late
                    } else if state
                        .submitting
                        .keys()
                        .next()
                        .is_some_and(|start| about.timestamp_ms() >= *start as u64)
                    {
                        Claim::Undecided
                    } else {
                        Claim::Nobody
                    }
                };
                match claim {
                    Claim::Waiter(waiter) => {
                        self.note(step, about).await?.request_closed = true;
                        step.outcomes
                            .push((waiter, Outcome::Answered(Box::new(message.clone()))));
                        Ok(Verdict::Remove)
                    }
                    Claim::Refused(why) => Ok(refuse(
                        &self.node.stats().responses_refused,
                        message,
                        about,
                        why,
                    )),
                    Claim::Undecided => Ok(Verdict::Wait),
                    Claim::Late => Ok(late(message, about)),
                    Claim::Nobody if self.note(step, about).await?.request_closed => {
                        Ok(late(message, about))
                    }
                    // A response to a request submitted with `Submit`: the application's.
                    Claim::Nobody => Ok(Verdict::Keep),
                }
            }
            _ => Ok(Verdict::Keep),
        }
    }
}

enum Claim {
    Waiter(oneshot::Sender<Outcome>),
    /// A waiting call's response whose signer cannot give it.
    Refused(Unbelieved),
    Late,
    Undecided,
    Nobody,
}

/// Whether [`Dispatcher::judge`] would keep a message without a look at more than its
/// glance: a text (not the hub's quarantine warning) or a diffusion that answers nothing.
/// Everything judge acts on (requests, warnings, record uploads, notices, answers) is
/// decoded; so is anything a glance is not sure of.
fn nothing_to_judge(glance: &Glance<'_>) -> bool {
    let plain_kind = match glance.kind {
        Kind::Text => glance.subject_line != Some(WARNING_SUBJECT),
        Kind::Diffusion => true,
        _ => false,
    };
    plain_kind && !glance.correlated
}

/// The role in the certificate that signed `message` (verified when it was received).
fn signer_role(message: &Delivered) -> Option<bluehelm_pki::Role> {
    bluehelm_pki::parse_certificate(message.signed.signer_certificate())
        .map(|identity| identity.role)
        .ok()
}

/// Drops an answer its signer cannot give: counted, logged once (it leaves the inbox with
/// this page's commit, so it is not judged again), and no note or call changes.
fn refuse(counter: &AtomicU64, message: &Delivered, about: MessageId, why: Unbelieved) -> Verdict {
    Stats::add(counter, 1);
    tracing::warn!(
        answer = %message.envelope.message_id,
        about = %about,
        signer = %message.envelope.origin,
        reason = %why,
        "dropped a report or response its signer cannot give"
    );
    Verdict::Remove
}

fn late(message: &Delivered, request: MessageId) -> Verdict {
    tracing::info!(
        request = %request,
        response = %message.envelope.message_id,
        from = %message.envelope.origin,
        "dropped a late service response: its request timed out or was answered already"
    );
    Verdict::Remove
}

/// A `Request` submission under way. Dropped without [`Ticket::register`] (the submission
/// failed), it just stops holding responses back.
pub struct Ticket {
    dispatcher: Arc<Dispatcher>,
    started: i64,
    done: bool,
}

impl Ticket {
    /// The request to `service` is submitted as `id`: its answer will be sent on the
    /// returned channel.
    pub fn register(mut self, id: MessageId, service: ServiceName) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.dispatcher.state();
            state.waiting.insert(
                id,
                Waiter {
                    service,
                    answer: tx,
                },
            );
            finish(&mut state, self.started);
        }
        self.done = true;
        self.dispatcher.wake.notify_one();
        rx
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.done {
            finish(&mut self.dispatcher.state(), self.started);
            self.dispatcher.wake.notify_one();
        }
    }
}

fn finish(state: &mut State, started: i64) {
    if let Some(count) = state.submitting.get_mut(&started) {
        *count -= 1;
        if *count == 0 {
            state.submitting.remove(&started);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glance(kind: Kind, correlated: bool, subject_line: Option<&str>) -> Glance<'_> {
        Glance {
            kind,
            correlated,
            subject_line,
        }
    }

    #[test]
    fn only_plain_texts_and_diffusions_that_answer_nothing_go_unjudged() {
        assert!(nothing_to_judge(&glance(Kind::Text, false, Some("hello"))));
        assert!(nothing_to_judge(&glance(Kind::Diffusion, false, None)));
        // The hub's quarantine warning is a text the dispatcher acts on.
        assert!(!nothing_to_judge(&glance(
            Kind::Text,
            false,
            Some(WARNING_SUBJECT)
        )));
        // A follow-up may be a response to a waiting request.
        assert!(!nothing_to_judge(&glance(Kind::Text, true, Some("re"))));
        assert!(!nothing_to_judge(&glance(Kind::Diffusion, true, None)));
        // Every other kind, a kind added later included.
        for &kind in Kind::ALL {
            if !matches!(kind, Kind::Text | Kind::Diffusion) {
                assert!(!nothing_to_judge(&glance(kind, false, None)), "{kind:?}");
            }
        }
    }
}
