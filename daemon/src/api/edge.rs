//! Checks on a client's submission that need this node's clock or config, so the wire
//! rules (`bluehelm_proto`, clockless and config-free) cannot make them: a date of birth in
//! the future, and diffusion addressees this node cannot place (issue 12 item 5). Run at the
//! origin, before the node signs or stores anything, so a refusal costs nothing.

use bluehelm_proto::{calendar_date, Body, Subject};
use tonic::Status;

use crate::custody::Outgoing;
use crate::engine::RoutingTable;

/// Refuses what the wire rules let through but this node knows to be wrong. `now_ms` is
/// Unix milliseconds (UTC).
pub fn check(table: &RoutingTable, now_ms: i64, outgoing: &Outgoing) -> Result<(), Status> {
    let subject = match &outgoing.body {
        Body::Notice(n) => n.subject.as_ref(),
        Body::Diffusion(d) => d.subject.as_ref(),
        _ => None,
    };
    if let Some(subject) = subject {
        birth_not_in_future(now_ms, subject)?;
    }
    if let Body::Diffusion(d) = &outgoing.body {
        for addressee in &d.addressees {
            table
                .check_addressee(&outgoing.destination, addressee)
                .map_err(|detail| {
                    Status::failed_precondition(format!("refused: unknown addressee: {detail}"))
                })?;
        }
    }
    Ok(())
}

/// A partial date is compared by its first day: `2026` is not in the future during 2026.
fn birth_not_in_future(now_ms: i64, subject: &Subject) -> Result<(), Status> {
    let Some(born) = calendar_date(&subject.date_of_birth) else {
        // Empty (unknown); a malformed date was refused by the wire rules already.
        return Ok(());
    };
    let today = jiff::Timestamp::from_millisecond(now_ms)
        .map(|t| t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date())
        .map_err(|e| Status::internal(format!("this node's clock is out of range: {e}")))?;
    if born > today {
        return Err(Status::invalid_argument(format!(
            "subject.date_of_birth {} is in the future (today is {today} UTC)",
            subject.date_of_birth
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn born(date: &str) -> Subject {
        Subject {
            date_of_birth: date.into(),
            ..Subject::default()
        }
    }

    #[test]
    fn a_birth_date_in_the_future_is_refused() {
        // 2026-12-02T00:00:00Z
        let now = 1_796_169_600_000;
        assert!(birth_not_in_future(now, &born("2026-12-02")).is_ok());
        assert!(birth_not_in_future(now, &born("2026")).is_ok());
        assert!(birth_not_in_future(now, &born("")).is_ok());
        let err = birth_not_in_future(now, &born("2026-12-03")).unwrap_err();
        assert!(err.message().contains("in the future"), "{err}");
        assert!(birth_not_in_future(now, &born("2027")).is_err());
    }
}
