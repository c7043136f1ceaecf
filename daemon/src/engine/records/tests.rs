use bluehelm_pki::Role;
use bluehelm_proto::records::{Database, RecordChange, SyncItem};
use bluehelm_proto::{NodeId, SignedRecordChange};

use super::replica::{plan, Apply, BatchRefusal};
use super::{admit, storage_key, ChangeRefusal, Held};
use crate::engine::policy::Party;

fn change(key: &str, owner: &str, version: u64, release: Option<&str>) -> RecordChange {
    RecordChange {
        database: Database::Sltd,
        key: key.into(),
        owner: owner.parse().unwrap(),
        version,
        withdrawn: false,
        record: b"{}".to_vec(),
        release_to: release.map(|r| r.parse().unwrap()),
        changed_at_ms: 1,
    }
}

fn signed(c: &RecordChange) -> SignedRecordChange {
    SignedRecordChange {
        change: c.encode_to_vec(),
        signature: bluehelm_proto::records::ChangeSignature::Alone([0; 64]),
        signer: [0; 32],
    }
}

fn post(node: &NodeId) -> Party<'_> {
    Party {
        node,
        role: Role::Mission,
        country: Some("SS"),
        mission: Some("UNMISS"),
    }
}

#[test]
fn only_the_owner_changes_a_live_record_and_only_forwards() {
    let held = Held {
        owner: "ncb.fr".parse().unwrap(),
        version: 5,
        withdrawn: false,
    };
    assert_eq!(admit(None, &change("FR/X1", "ncb.ke", 1, None)), Ok(()));
    assert!(matches!(
        admit(Some(&held), &change("FR/X1", "ncb.ke", 9, None)),
        Err(ChangeRefusal::OwnedByAnother { .. })
    ));
    assert!(matches!(
        admit(Some(&held), &change("FR/X1", "ncb.fr", 5, None)),
        Err(ChangeRefusal::Stale { held: 5, .. })
    ));
    assert_eq!(
        admit(Some(&held), &change("FR/X1", "ncb.fr", 6, None)),
        Ok(())
    );
    let withdrawn = Held {
        withdrawn: true,
        ..held
    };
    assert_eq!(
        admit(Some(&withdrawn), &change("FR/X1", "ncb.ke", 1, None)),
        Ok(())
    );
}

#[test]
fn a_batch_applies_only_where_the_replica_stands_and_in_order() {
    let me: NodeId = "mission.unmiss".parse().unwrap();
    let a = change("FR/A", "ncb.fr", 1, None);
    let b = change("FR/B", "ncb.fr", 1, Some("UNMISS"));
    let items = vec![
        SyncItem::Change {
            seq: 4,
            change: signed(&a),
        },
        SyncItem::Erase {
            seq: 6,
            key: [7; 32],
        },
        SyncItem::Change {
            seq: 9,
            change: signed(&b),
        },
    ];
    let ok = || vec![Ok(a.clone()), Ok(b.clone())];
    let writes = plan(Database::Sltd, 3, 3, 9, items.clone(), ok(), post(&me)).unwrap();
    assert_eq!(writes.len(), 3);
    assert!(
        matches!(&writes[0], Apply::Put { storage_key: k, .. } if *k == storage_key(Database::Sltd, "FR/A"))
    );
    assert_eq!(
        writes[1],
        Apply::Erase {
            storage_key: [7; 32]
        }
    );

    assert_eq!(
        plan(Database::Sltd, 2, 3, 9, items.clone(), ok(), post(&me)),
        Err(BatchRefusal::OutOfOrder {
            expected: 2,
            got: 3
        })
    );
    let mut swapped = items.clone();
    swapped.swap(0, 1);
    assert!(matches!(
        plan(Database::Sltd, 3, 3, 9, swapped, ok(), post(&me)),
        Err(BatchRefusal::NotIncreasing {
            seq: 4,
            previous: 6
        })
    ));
    assert!(matches!(
        plan(Database::Sltd, 3, 3, 8, items.clone(), ok(), post(&me)),
        Err(BatchRefusal::BeyondBatch { seq: 9, through: 8 })
    ));
    let forged = vec![Ok(a.clone()), Err("bad signature".to_owned())];
    assert!(matches!(
        plan(Database::Sltd, 3, 3, 9, items, forged, post(&me)),
        Err(BatchRefusal::Unsigned { seq: 9, .. })
    ));
}

#[test]
fn a_change_outside_the_replicas_release_markings_refuses_the_batch() {
    let me: NodeId = "mission.unmiss".parse().unwrap();
    let fr_only = change("FR/C", "ncb.fr", 1, Some("FR"));
    let items = vec![SyncItem::Change {
        seq: 1,
        change: signed(&fr_only),
    }];
    assert!(matches!(
        plan(Database::Sltd, 0, 0, 1, items, vec![Ok(fr_only)], post(&me)),
        Err(BatchRefusal::NotReleased { seq: 1, .. })
    ));
}

#[test]
fn a_signed_withdrawal_erases_the_record() {
    let me: NodeId = "mission.unmiss".parse().unwrap();
    let gone = RecordChange {
        withdrawn: true,
        record: Vec::new(),
        ..change("FR/D", "ncb.fr", 2, None)
    };
    let items = vec![SyncItem::Change {
        seq: 2,
        change: signed(&gone),
    }];
    let writes = plan(Database::Sltd, 1, 1, 2, items, vec![Ok(gone)], post(&me)).unwrap();
    assert_eq!(
        writes,
        vec![Apply::Erase {
            storage_key: storage_key(Database::Sltd, "FR/D")
        }]
    );
}
