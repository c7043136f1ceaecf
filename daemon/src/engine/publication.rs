//! A notice publication carries its request (issue 12, items 3 and 5). Pure: the custody
//! shell verifies the embedded request's signature (`custody/notices.rs`) and hands the
//! decoded request here, so every node that takes a copy (the hub itself, each relay, the
//! destination) refuses a publication that does not carry the request it claims, with the
//! rule `publication-carries-its-request`, and its sender hears why.
//!
//! Review changes the lifecycle (REQUESTED becomes PUBLISHED) and the remarks, nothing the
//! bureau asked for: reference, type, requesting bureau, subject, offence, legal basis and
//! validity must be the request's.

use bluehelm_proto::{Body, Envelope, Notice, NoticeLifecycle};

use super::policy::{PolicyRefusal, Rule};

fn refuse(detail: String) -> Result<(), PolicyRefusal> {
    Err(PolicyRefusal {
        rule: Rule::PublicationCarriesItsRequest,
        detail,
    })
}

/// A bureau's notice request must not embed another request: only a publication does.
pub fn check_request(notice: &Notice) -> Result<(), PolicyRefusal> {
    if notice.request.is_some() {
        return refuse(format!(
            "a {} notice request must not embed another request",
            notice.lifecycle
        ));
    }
    Ok(())
}

/// The shell could not verify the embedded request (or there is none).
pub fn unverified(notice: &Notice, why: &str) -> PolicyRefusal {
    PolicyRefusal {
        rule: Rule::PublicationCarriesItsRequest,
        detail: format!("{} notice {}: {why}", notice.lifecycle, notice.notice_ref),
    }
}

/// Whether `notice`, the body of `publication`, matches `request`: the envelope embedded in
/// it, whose signature the shell has verified.
pub fn check(
    publication: &Envelope,
    notice: &Notice,
    request: &Envelope,
) -> Result<(), PolicyRefusal> {
    if request.origin != notice.requesting_bureau {
        return refuse(format!(
            "the embedded request is from {}, the notice names {}",
            request.origin, notice.requesting_bureau
        ));
    }
    let Body::Notice(asked) = &request.body else {
        return refuse("the embedded request is not a notice".into());
    };
    let expected = match notice.lifecycle {
        NoticeLifecycle::Published => NoticeLifecycle::Requested,
        other => other,
    };
    if asked.lifecycle != expected {
        return refuse(format!(
            "the embedded request is {}, a {} notice needs {expected}",
            asked.lifecycle, notice.lifecycle
        ));
    }
    // Review may change the lifecycle and the remarks, nothing the bureau asked for.
    let differs = [
        ("reference", asked.notice_ref != notice.notice_ref),
        ("type", asked.notice_type != notice.notice_type),
        (
            "requesting bureau",
            asked.requesting_bureau != notice.requesting_bureau,
        ),
        ("subject", asked.subject != notice.subject),
        ("offence", asked.offence_summary != notice.offence_summary),
        ("legal basis", asked.legal_basis != notice.legal_basis),
        ("validity", asked.valid_until != notice.valid_until),
        ("embedded request", asked.request.is_some()),
    ];
    if let Some((field, _)) = differs.iter().find(|(_, differs)| *differs) {
        return refuse(format!(
            "the notice's {field} is not the embedded request's"
        ));
    }
    // The owner's release marking survives publication unchanged: review can neither widen
    // nor drop who may see the notice.
    if publication.release_to != request.release_to {
        let shown = |list: &Option<bluehelm_proto::ReleaseList>| {
            list.as_ref()
                .map_or_else(|| "unmarked".to_owned(), ToString::to_string)
        };
        return refuse(format!(
            "the publication is released to {}, its request to {}",
            shown(&publication.release_to),
            shown(&request.release_to)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bluehelm_proto::testing::{sample_envelope, sample_red_notice};
    use bluehelm_proto::{BatchProof, Destination, Precedence, SignedEnvelope};

    fn request(notice: &Notice) -> Envelope {
        let mut asked = notice.clone();
        asked.lifecycle = NoticeLifecycle::Requested;
        asked.request = None;
        sample_envelope(
            notice.requesting_bureau.clone(),
            Destination::Node("gs".parse().unwrap()),
            Precedence::Routine,
            1,
            Body::Notice(asked),
        )
    }

    fn rule(result: Result<(), PolicyRefusal>) -> Rule {
        result.expect_err("refused").rule
    }

    #[test]
    fn a_publication_matching_its_request_passes_and_remarks_may_change() {
        let mut notice = sample_red_notice();
        let asked = request(&notice);
        notice.remarks = "Approved by the GS".into();
        check(&asked, &notice, &asked).unwrap();
    }

    #[test]
    fn a_publication_that_changes_what_the_bureau_asked_is_refused() {
        let notice = sample_red_notice();
        let asked = request(&notice);
        let changes: [fn(&mut Notice); 6] = [
            |n| n.notice_ref = "A-9/2026".into(),
            |n| n.notice_type = bluehelm_proto::NoticeType::Yellow,
            |n| n.offence_summary = "something else".into(),
            |n| n.legal_basis = "none".into(),
            |n| n.subject = None,
            |n| n.valid_until = "2030-01-01".into(),
        ];
        for change in changes {
            let mut changed = notice.clone();
            change(&mut changed);
            assert_eq!(
                rule(check(&asked, &changed, &asked)),
                Rule::PublicationCarriesItsRequest
            );
        }
    }

    #[test]
    fn a_publication_keeps_its_requests_release_list() {
        let notice = sample_red_notice();
        let mut asked = request(&notice);
        asked.release_to = Some("FR,KE".parse().unwrap());
        let mut published = asked.clone();
        published.origin = "gs".parse().unwrap();
        check(&published, &notice, &asked).unwrap();
        for widened in [None, Some("FR,KE,UNMISS".parse().unwrap())] {
            published.release_to = widened;
            let refusal = check(&published, &notice, &asked).unwrap_err();
            assert_eq!(refusal.rule, Rule::PublicationCarriesItsRequest);
            assert!(refusal.detail.contains("released to"), "{}", refusal.detail);
        }
    }

    #[test]
    fn a_request_from_another_bureau_or_of_another_step_is_refused() {
        let notice = sample_red_notice();
        let mut asked = request(&notice);
        asked.origin = "ncb.ke".parse().unwrap();
        assert!(check(&asked, &notice, &asked)
            .unwrap_err()
            .detail
            .contains("from ncb.ke"));
        let mut cancelled = notice.clone();
        cancelled.lifecycle = NoticeLifecycle::Cancelled;
        let asked = request(&notice);
        assert!(check(&asked, &cancelled, &asked)
            .unwrap_err()
            .detail
            .contains("needs cancelled"));
    }

    #[test]
    fn a_request_that_embeds_a_request_is_refused() {
        let notice = sample_red_notice();
        check_request(&notice).unwrap();
        let mut nested = notice.clone();
        let asked = request(&notice);
        let signed = SignedEnvelope::new(
            asked.encode_to_vec(),
            [0; 64],
            vec![1],
            BatchProof::single(),
        );
        nested.request = Some(Box::new(signed.unwrap()));
        assert_eq!(
            rule(check_request(&nested)),
            Rule::PublicationCarriesItsRequest
        );
    }
}
