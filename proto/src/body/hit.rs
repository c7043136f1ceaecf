//! Hit notifications (issue 12, item 4): the host of a reference service tells the bureau
//! that owns a record that the record was queried and matched, who asked, and why.

use std::collections::BTreeMap;

use crate::check;
use crate::error::ValidationError;
use crate::ids::{MessageId, NodeId, ServiceName};
use crate::limits::{MAX_DETAIL_LEN, MAX_MAP_ENTRIES, MAX_NAME_LEN, MAX_PURPOSE_LEN};
use crate::pb;

/// A record owned by the destination was queried and matched. Sent by the service host on
/// a hit only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HitNotification {
    /// The service that answered, e.g. `sltd.check`.
    pub service: ServiceName,
    /// The database, e.g. `sltd`.
    pub database: String,
    /// The record's key in the database, e.g. `sltd/FR/X1234567`.
    pub record_key: String,
    /// The record in one line, for people.
    pub record: String,
    /// The node that asked (the request's signed origin).
    pub requester: NodeId,
    /// The terminal that asked through the requester, if the request came from one.
    pub terminal: Option<NodeId>,
    /// The request's id.
    pub request_id: MessageId,
    /// When the requester created the request, Unix milliseconds.
    pub requested_at_ms: i64,
    /// The request's parameters the service read, as asked.
    pub query: BTreeMap<String, String>,
    /// The record's fields that matched the query.
    pub matched: BTreeMap<String, String>,
    /// The requester's stated purpose, or empty.
    pub purpose: String,
}

/// Both maps hold short name-value pairs (document numbers, countries, plates): a query
/// value longer than a name is cut by the sender, so a peer's map stays small.
fn pairs(field: &'static str, map: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    check::max_count(field, map.len(), MAX_MAP_ENTRIES)?;
    for (key, value) in map {
        check::required(field, key, MAX_NAME_LEN)?;
        check::one_line(field, value, MAX_NAME_LEN)?;
    }
    Ok(())
}

impl HitNotification {
    /// Checks sizes, the request time, and that the texts shown to people are one line.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::required("hit_notification.database", &self.database, MAX_NAME_LEN)?;
        check::one_line("hit_notification.database", &self.database, MAX_NAME_LEN)?;
        check::required(
            "hit_notification.record_key",
            &self.record_key,
            MAX_DETAIL_LEN,
        )?;
        check::one_line(
            "hit_notification.record_key",
            &self.record_key,
            MAX_DETAIL_LEN,
        )?;
        check::one_line("hit_notification.record", &self.record, MAX_DETAIL_LEN)?;
        check::time("hit_notification.requested_at_ms", self.requested_at_ms)?;
        pairs("hit_notification.query", &self.query)?;
        if self.matched.is_empty() {
            return Err(ValidationError::NoEntries {
                field: "hit_notification.matched",
            });
        }
        pairs("hit_notification.matched", &self.matched)?;
        check::one_line("hit_notification.purpose", &self.purpose, MAX_PURPOSE_LEN)
    }

    pub(crate) fn to_pb(&self) -> pb::HitNotification {
        pb::HitNotification {
            service: self.service.as_str().to_owned(),
            database: self.database.clone(),
            record_key: self.record_key.clone(),
            record: self.record.clone(),
            requester: self.requester.as_str().to_owned(),
            terminal: self
                .terminal
                .as_ref()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            request_id: self.request_id.as_bytes().to_vec(),
            requested_at_ms: self.requested_at_ms,
            query: self.query.clone(),
            matched: self.matched.clone(),
            purpose: self.purpose.clone(),
        }
    }

    pub(crate) fn from_pb(h: pb::HitNotification) -> Result<Self, ValidationError> {
        Ok(HitNotification {
            service: ServiceName::new(h.service)
                .map_err(check::bad_id("hit_notification.service"))?,
            database: h.database,
            record_key: h.record_key,
            record: h.record,
            requester: check::node_id("hit_notification.requester", h.requester)?,
            terminal: match h.terminal.is_empty() {
                true => None,
                false => Some(check::node_id("hit_notification.terminal", h.terminal)?),
            },
            request_id: check::message_id("hit_notification.request_id", &h.request_id)?,
            requested_at_ms: h.requested_at_ms,
            query: h.query,
            matched: h.matched,
            purpose: h.purpose,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_hit_notification;

    fn refused(change: impl FnOnce(&mut HitNotification)) -> ValidationError {
        let mut hit = sample_hit_notification();
        change(&mut hit);
        hit.validate().expect_err("the change must be refused")
    }

    #[test]
    fn the_sample_is_valid_and_survives_the_wire() {
        let hit = sample_hit_notification();
        hit.validate().unwrap();
        assert_eq!(HitNotification::from_pb(hit.to_pb()).unwrap(), hit);
        let mut no_terminal = hit;
        no_terminal.terminal = None;
        assert_eq!(
            HitNotification::from_pb(no_terminal.to_pb()).unwrap(),
            no_terminal
        );
    }

    #[test]
    fn sizes_are_bounded() {
        let long = "x".repeat(MAX_NAME_LEN + 1);
        let err = refused(|h| {
            h.query.insert("document_number".into(), long.clone());
        });
        assert!(
            matches!(
                err,
                ValidationError::TooLong {
                    field: "hit_notification.query",
                    ..
                }
            ),
            "{err}"
        );
        let err = refused(|h| h.purpose = "p".repeat(MAX_PURPOSE_LEN + 1));
        assert!(
            matches!(
                err,
                ValidationError::TooLong {
                    field: "hit_notification.purpose",
                    ..
                }
            ),
            "{err}"
        );
        let err = refused(|h| h.record = "r".repeat(MAX_DETAIL_LEN + 1));
        assert!(
            matches!(
                err,
                ValidationError::TooLong {
                    field: "hit_notification.record",
                    ..
                }
            ),
            "{err}"
        );
        let err = refused(|h| {
            h.matched = (0..=MAX_MAP_ENTRIES)
                .map(|i| (format!("k{i}"), "v".into()))
                .collect();
        });
        assert!(
            matches!(
                err,
                ValidationError::TooMany {
                    field: "hit_notification.matched",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn texts_for_people_are_one_line() {
        let err = refused(|h| h.purpose = "check\n\u{1b}[2Jforged line".into());
        assert_eq!(
            err,
            ValidationError::ControlCharacter {
                field: "hit_notification.purpose"
            }
        );
        let err = refused(|h| {
            h.matched
                .insert("status".into(), "stolen\r\nowner: ncb.de".into());
        });
        assert!(
            matches!(err, ValidationError::ControlCharacter { .. }),
            "{err}"
        );
    }

    #[test]
    fn a_hit_names_what_matched_and_its_record() {
        assert!(matches!(
            refused(|h| h.matched.clear()),
            ValidationError::NoEntries { .. }
        ));
        assert!(matches!(
            refused(|h| h.record_key.clear()),
            ValidationError::Empty { .. }
        ));
        assert!(matches!(
            refused(|h| h.database.clear()),
            ValidationError::Empty { .. }
        ));
        assert!(matches!(
            refused(|h| h.requested_at_ms = -1),
            ValidationError::NegativeTime { .. }
        ));
    }

    #[test]
    fn identities_on_the_wire_must_be_node_ids() {
        let mut wire = sample_hit_notification().to_pb();
        wire.terminal = "Term One".into();
        let err = HitNotification::from_pb(wire).unwrap_err();
        assert!(
            matches!(
                err,
                ValidationError::BadId {
                    field: "hit_notification.terminal",
                    ..
                }
            ),
            "{err}"
        );
        let mut wire = sample_hit_notification().to_pb();
        wire.request_id = vec![1; 3];
        assert!(HitNotification::from_pb(wire).is_err());
    }
}
