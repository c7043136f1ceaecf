//! Delivery and non-delivery reports: the signed answers a node sends to a message's origin.
//! Pure: the new message id and the time come in as arguments.

use bluehelm_proto::{
    Body, DeliveryReport, Destination, Envelope, MessageId, NodeId, NonDeliveryReason,
    NonDeliveryReport,
};

/// How long a report stays deliverable: long enough for a mission post offline for days.
pub const REPORT_LIFETIME_MS: i64 = 14 * 24 * 3600 * 1000;
/// Hop limit of reports this node originates.
pub const REPORT_HOP_LIMIT: u8 = 16;

/// Reports are never answered with reports, so that two nodes cannot bounce them forever.
pub fn is_report(envelope: &Envelope) -> bool {
    matches!(
        envelope.body,
        Body::DeliveryReport(_) | Body::NonDeliveryReport(_)
    )
}

fn report(me: &NodeId, about: &Envelope, id: MessageId, now_ms: i64, body: Body) -> Envelope {
    Envelope {
        message_id: id,
        origin: me.clone(),
        destination: Destination::Node(about.origin.clone()),
        precedence: about.precedence,
        created_at_ms: now_ms,
        expires_at_ms: now_ms + REPORT_LIFETIME_MS,
        correlation_id: Some(about.message_id),
        hop_limit: REPORT_HOP_LIMIT,
        want_delivery_report: false,
        release_to: None,
        body,
    }
}

/// The report this node owes the origin on putting `about` into its inbox, if it asked.
pub fn delivery_report(
    me: &NodeId,
    about: &Envelope,
    id: MessageId,
    now_ms: i64,
) -> Option<Envelope> {
    if !about.want_delivery_report || is_report(about) || &about.origin == me {
        return None;
    }
    let body = Body::DeliveryReport(DeliveryReport {
        delivered_to: me.clone(),
        delivered_at_ms: now_ms,
    });
    Some(report(me, about, id, now_ms, body))
}

/// The report this node owes the origin on giving up on `about`.
pub fn non_delivery_report(
    me: &NodeId,
    about: &Envelope,
    reason: NonDeliveryReason,
    detail: String,
    id: MessageId,
    now_ms: i64,
) -> Option<Envelope> {
    if is_report(about) {
        return None;
    }
    let body = Body::NonDeliveryReport(NonDeliveryReport {
        reason,
        reported_by: me.clone(),
        detail,
        original_destination: about.destination.clone(),
    });
    Some(report(me, about, id, now_ms, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bluehelm_proto::{testing::sample_notice_envelope, Precedence};

    fn id(s: &str) -> NodeId {
        s.parse().unwrap()
    }

    #[test]
    fn delivery_report_only_when_asked() {
        let mut env = sample_notice_envelope(
            id("ncb.fr"),
            Destination::Node(id("gs")),
            Precedence::Flash,
            1_000,
            128,
        );
        env.want_delivery_report = false;
        assert!(delivery_report(&id("gs"), &env, MessageId::generate(2_000), 2_000).is_none());
        env.want_delivery_report = true;
        let report = delivery_report(&id("gs"), &env, MessageId::generate(2_000), 2_000).unwrap();
        assert_eq!(report.destination, Destination::Node(id("ncb.fr")));
        assert_eq!(report.correlation_id, Some(env.message_id));
        assert_eq!(report.precedence, Precedence::Flash);
        report.validate().unwrap();
    }

    #[test]
    fn reports_are_never_reported_on() {
        let env = sample_notice_envelope(
            id("ncb.fr"),
            Destination::Node(id("gs")),
            Precedence::Routine,
            1_000,
            128,
        );
        let ndr = non_delivery_report(
            &id("gs"),
            &env,
            NonDeliveryReason::Expired,
            "expired".into(),
            MessageId::generate(2_000),
            2_000,
        )
        .unwrap();
        ndr.validate().unwrap();
        let again = non_delivery_report(
            &id("ncb.fr"),
            &ndr,
            NonDeliveryReason::Expired,
            String::new(),
            MessageId::generate(3_000),
            3_000,
        );
        assert!(again.is_none());
    }
}
