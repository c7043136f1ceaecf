//! Each rule of `Envelope::validate` rejects with its own error, and `Envelope::decode`
//! applies the same rules to what a peer sends.

use bluehelm_proto::limits::{MAX_ATTACHMENTS, MAX_LIST_LEN, MAX_NAME_LEN, MAX_TEXT_LEN};
use bluehelm_proto::testing::{
    node, sample_delivery_report, sample_envelope, sample_non_delivery_report, sample_red_notice,
    sample_sltd_hit, sample_sltd_request, sample_text, service,
};
use bluehelm_proto::{
    Attachment, Body, DecodeError, Destination, Envelope, GroupName, Kind, MessageId,
    NoticeLifecycle, Precedence, ValidationError,
};

const NOW: i64 = 1_767_225_600_000;

fn envelope(destination: Destination, body: Body) -> Envelope {
    sample_envelope(node("ncb.fr"), destination, Precedence::Routine, NOW, body)
}

fn notice() -> Envelope {
    envelope(
        Destination::Node(node("gs")),
        Body::Notice(sample_red_notice()),
    )
}

/// The error from validate, which decode must report too.
fn rejected(e: &Envelope) -> ValidationError {
    let err = e.validate().unwrap_err();
    assert_eq!(
        Envelope::decode(&e.encode_to_vec()),
        Err(DecodeError::Invalid(err.clone()))
    );
    err
}

fn group() -> Destination {
    Destination::Group(GroupName::new("all-ncb").unwrap())
}

#[test]
fn negative_creation_time_is_rejected() {
    let mut e = notice();
    e.created_at_ms = -1;
    assert_eq!(
        rejected(&e),
        ValidationError::NegativeTime {
            field: "created_at_ms",
            value: -1
        }
    );
}

#[test]
fn expiry_before_creation_is_rejected() {
    let mut e = notice();
    e.expires_at_ms = NOW - 1;
    assert_eq!(
        rejected(&e),
        ValidationError::ExpiresBeforeCreated {
            created_at_ms: NOW,
            expires_at_ms: NOW - 1
        }
    );
}

#[test]
fn hop_limit_0_and_33_are_rejected_and_1_and_32_accepted() {
    let mut e = notice();
    for bad in [0, 33] {
        e.hop_limit = bad;
        assert_eq!(rejected(&e), ValidationError::HopLimit(u32::from(bad)));
    }
    for good in [1, 32] {
        e.hop_limit = good;
        e.validate().unwrap();
    }
}

#[test]
fn request_for_another_service_is_rejected() {
    let e = envelope(
        Destination::Service(service("nominal.check")),
        Body::Request(sample_sltd_request()),
    );
    assert_eq!(
        rejected(&e),
        ValidationError::ServiceMismatch {
            body: service("sltd.check"),
            destination: Destination::Service(service("nominal.check"))
        }
    );
}

#[test]
fn request_to_a_node_is_rejected() {
    let e = envelope(
        Destination::Node(node("gs")),
        Body::Request(sample_sltd_request()),
    );
    assert!(matches!(
        rejected(&e),
        ValidationError::WrongDestination {
            kind: Kind::Request,
            ..
        }
    ));
}

#[test]
fn text_to_a_service_is_rejected() {
    let e = envelope(
        Destination::Service(service("sltd.check")),
        Body::Text(sample_text()),
    );
    assert!(matches!(
        rejected(&e),
        ValidationError::WrongDestination {
            kind: Kind::Text,
            ..
        }
    ));
}

/// A body of each kind that answers another message.
fn answers() -> [Body; 3] {
    [
        Body::Response(sample_sltd_hit()),
        Body::DeliveryReport(sample_delivery_report(NOW)),
        Body::NonDeliveryReport(sample_non_delivery_report()),
    ]
}

#[test]
fn response_or_report_to_a_group_is_rejected() {
    for body in answers() {
        let kind = body.kind();
        let e = envelope(group(), body);
        assert!(
            matches!(rejected(&e), ValidationError::WrongDestination { kind: k, .. } if k == kind)
        );
    }
}

#[test]
fn responses_and_reports_need_a_correlation_id() {
    for body in answers() {
        let kind = body.kind();
        let mut e = envelope(Destination::Node(node("ncb.es")), body);
        e.correlation_id = None;
        assert_eq!(rejected(&e), ValidationError::MissingCorrelation(kind));
    }
}

#[test]
fn a_text_may_follow_up_another_message() {
    let mut e = envelope(Destination::Node(node("ncb.es")), Body::Text(sample_text()));
    e.correlation_id = Some(MessageId::generate(1));
    e.validate().unwrap();
}

#[test]
fn reports_must_not_ask_for_delivery_reports() {
    let mut e = envelope(
        Destination::Node(node("ncb.es")),
        Body::DeliveryReport(sample_delivery_report(NOW)),
    );
    e.want_delivery_report = true;
    assert_eq!(
        rejected(&e),
        ValidationError::ReportOnReport(Kind::DeliveryReport)
    );
}

#[test]
fn published_notice_needs_a_subject_but_a_cancellation_does_not() {
    let mut e = notice();
    let Body::Notice(n) = &mut e.body else {
        unreachable!()
    };
    n.subject = None;
    assert_eq!(
        rejected(&e),
        ValidationError::NoticeWithoutSubject(NoticeLifecycle::Published)
    );
    let Body::Notice(n) = &mut e.body else {
        unreachable!()
    };
    n.lifecycle = NoticeLifecycle::Cancelled;
    e.validate().unwrap();
}

fn with_notice(f: impl FnOnce(&mut bluehelm_proto::Notice)) -> Envelope {
    let mut e = notice();
    let Body::Notice(n) = &mut e.body else {
        unreachable!()
    };
    f(n);
    e
}

#[test]
fn empty_notice_ref_is_rejected() {
    let e = with_notice(|n| n.notice_ref.clear());
    assert_eq!(
        rejected(&e),
        ValidationError::Empty {
            field: "notice.notice_ref"
        }
    );
}

#[test]
fn country_codes_must_be_two_upper_case_letters() {
    for bad in ["fr", "FRA", "F", "", "F1"] {
        let e =
            with_notice(|n| n.subject.as_mut().unwrap().documents[0].issuing_country = bad.into());
        assert_eq!(
            rejected(&e),
            ValidationError::BadCountryCode {
                field: "document.issuing_country",
                value: bad.into()
            }
        );
    }
    let e = with_notice(|n| n.subject.as_mut().unwrap().nationalities.push("xx".into()));
    assert!(matches!(
        rejected(&e),
        ValidationError::BadCountryCode {
            field: "subject.nationalities",
            ..
        }
    ));
}

#[test]
fn dates_of_birth_must_be_iso_dates() {
    for bad in [
        "12/04/1980",
        "1980-13-01",
        "1980-00-10",
        "1980-01-32",
        "1980-1-1",
        "１９８０-01-01",
        // Days that do not exist (issue 12 item 5: `--birth-date 1980-02-30` was accepted).
        "1980-02-30",
        "1981-02-29",
        "1900-02-29",
        "1980-04-31",
        "0000",
        "1980-13",
        "1980-00",
        "198",
        "1980-",
        "+1980",
        "1980-02-",
    ] {
        let e = with_notice(|n| n.subject.as_mut().unwrap().date_of_birth = bad.into());
        assert!(
            matches!(
                rejected(&e),
                ValidationError::BadDate {
                    field: "subject.date_of_birth",
                    ..
                }
            ),
            "{bad}"
        );
    }
    let e = with_notice(|n| n.subject.as_mut().unwrap().date_of_birth.clear());
    e.validate().unwrap();
    // Partial dates of birth, and the leap days that exist.
    for good in [
        "1980",
        "1980-02",
        "1980-02-29",
        "1984-02-29",
        "2000-02-29",
        "1980-12-31",
    ] {
        let e = with_notice(|n| n.subject.as_mut().unwrap().date_of_birth = good.into());
        e.validate().unwrap_or_else(|err| panic!("{good}: {err}"));
    }
}

#[test]
fn a_notice_validity_end_is_a_whole_day_that_exists() {
    for bad in [
        "2026",
        "2026-03",
        "2026-02-30",
        "2026-13-01",
        "31/12/2026",
        "2026-1-1",
    ] {
        let e = with_notice(|n| n.valid_until = bad.into());
        assert!(
            matches!(
                rejected(&e),
                ValidationError::BadFullDate {
                    field: "notice.valid_until",
                    ..
                }
            ),
            "{bad}"
        );
    }
    for good in ["", "2026-12-31", "2028-02-29"] {
        let e = with_notice(|n| n.valid_until = good.into());
        e.validate().unwrap_or_else(|err| panic!("{good:?}: {err}"));
    }
}

#[test]
fn oversized_fields_are_rejected() {
    let e = with_notice(|n| n.remarks = "x".repeat(MAX_TEXT_LEN + 1));
    assert_eq!(
        rejected(&e),
        ValidationError::TooLong {
            field: "notice.remarks",
            len: MAX_TEXT_LEN + 1,
            max: MAX_TEXT_LEN
        }
    );
    let e = with_notice(|n| n.subject.as_mut().unwrap().family_name = "x".repeat(MAX_NAME_LEN + 1));
    assert!(matches!(
        rejected(&e),
        ValidationError::TooLong {
            field: "subject.family_name",
            ..
        }
    ));
}

#[test]
fn overlong_lists_are_rejected() {
    let e =
        with_notice(|n| n.subject.as_mut().unwrap().aliases = vec!["a".into(); MAX_LIST_LEN + 1]);
    assert_eq!(
        rejected(&e),
        ValidationError::TooMany {
            field: "subject.aliases",
            count: MAX_LIST_LEN + 1,
            max: MAX_LIST_LEN
        }
    );
    let mut text = sample_text();
    text.attachments = vec![text.attachments[0].clone(); MAX_ATTACHMENTS + 1];
    let e = envelope(Destination::Node(node("gs")), Body::Text(text));
    assert!(matches!(
        rejected(&e),
        ValidationError::TooMany {
            field: "text.attachments",
            ..
        }
    ));
}

#[test]
fn attachments_need_a_filename_and_media_type() {
    let mut text = sample_text();
    text.attachments.push(Attachment {
        filename: String::new(),
        media_type: "text/plain".into(),
        content: vec![],
    });
    let e = envelope(Destination::Node(node("gs")), Body::Text(text));
    assert_eq!(
        rejected(&e),
        ValidationError::Empty {
            field: "attachment.filename"
        }
    );
}

#[test]
fn request_params_need_names() {
    let mut request = sample_sltd_request();
    request.params.insert(String::new(), "x".into());
    let e = envelope(
        Destination::Service(service("sltd.check")),
        Body::Request(request),
    );
    assert_eq!(
        rejected(&e),
        ValidationError::Empty {
            field: "request.params"
        }
    );
}

#[test]
fn errors_read_as_lower_case_sentences_naming_the_field() {
    let e = with_notice(|n| n.notice_ref.clear());
    let message = DecodeError::Invalid(e.validate().unwrap_err()).to_string();
    assert_eq!(message, "invalid message: notice.notice_ref is empty");
}

/// A refusal must name the message whenever its bytes decode (protocol.md 7.2), even when
/// they break a rule: the reference is read without the other checks.
#[test]
fn the_reference_of_an_envelope_that_breaks_a_rule_is_still_read() {
    let good = notice();
    let mut zero_hops = good.clone();
    zero_hops.hop_limit = 0;
    let oversized = with_notice(|n| n.remarks = "x".repeat(MAX_TEXT_LEN + 1));
    // A field repeated later wins (protobuf), so appending field 4 sets precedence 9.
    let mut precedence_9 = good.encode_to_vec();
    precedence_9.extend([0x20, 0x09]);
    for bytes in [
        zero_hops.encode_to_vec(),
        oversized.encode_to_vec(),
        precedence_9,
    ] {
        assert!(Envelope::decode(&bytes).is_err());
        let reference = Envelope::reference_of(&bytes).unwrap();
        assert_eq!(reference.origin, node("ncb.fr"));
    }
    assert_eq!(
        Envelope::reference_of(&zero_hops.encode_to_vec()).unwrap(),
        zero_hops.message_ref()
    );
    // Bytes that are no envelope, or whose id is not 16 bytes, have no reference.
    assert!(Envelope::reference_of(&[0xff, 0xff, 0xff]).is_err());
    let mut short_id = good.encode_to_vec();
    short_id.extend([0x0a, 0x01, 0x00]);
    assert!(Envelope::reference_of(&short_id).is_err());
}
