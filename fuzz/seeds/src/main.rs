//! Writes the seeds that cannot be copied from the repository: envelopes signed by the
//! fixture nodes (for `envelope_verify`), link frames carrying them and the other frame kinds
//! (`link_frames`), and framed streams of those (`frame_decoder`). Text seeds (configs,
//! import files) are copied by `fuzz/seeds.sh`. Run from anywhere; writes under
//! `fuzz/corpus/`. Message ids are random, so each run writes new files: commit one run.

use std::path::{Path, PathBuf};

use bluehelm_proto::framing::write_frame;
use bluehelm_proto::records::{SyncBatch, SyncChanges, SyncItem, SyncRequest};
use bluehelm_proto::testing::{
    node, sample_delivery_report, sample_diffusion, sample_envelope, sample_hit_notification,
    sample_non_delivery_report, sample_notice_envelope, sample_sltd_hit, sample_sltd_request,
    sample_text,
};
use bluehelm_proto::{
    Body, Database, Destination, Envelope, LinkFrame, Precedence, RecordChange, Refusal,
    RefusalReason, SignedEnvelope, Transfer,
};

#[path = "../../src/pki.rs"]
mod pki;

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("the corpus folder can be made");
    dir
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    std::fs::write(corpus(target).join(name), bytes).expect("a seed can be written");
}

fn prefixed(prefix: u8, bytes: &[u8]) -> Vec<u8> {
    [&[prefix][..], bytes].concat()
}

/// Envelopes of every body kind the samples have, from `origin`, created at `at_ms`.
fn envelopes(origin: &str, at_ms: i64) -> Vec<(&'static str, Envelope)> {
    let to_gs = || Destination::Node(node("gs"));
    let env = |body| sample_envelope(node(origin), to_gs(), Precedence::Routine, at_ms, body);
    vec![
        (
            "notice",
            sample_notice_envelope(node(origin), to_gs(), Precedence::Immediate, at_ms, 600),
        ),
        ("diffusion", env(Body::Diffusion(sample_diffusion()))),
        ("text", env(Body::Text(sample_text()))),
        ("request", {
            let request = sample_sltd_request();
            let to = Destination::Service(request.service.clone());
            sample_envelope(
                node(origin),
                to,
                Precedence::Priority,
                at_ms,
                Body::Request(request),
            )
        }),
        ("hit", env(Body::HitNotification(sample_hit_notification()))),
        ("response", env(Body::Response(sample_sltd_hit()))),
        (
            "report",
            env(Body::DeliveryReport(sample_delivery_report(at_ms))),
        ),
        (
            "ndr",
            env(Body::NonDeliveryReport(sample_non_delivery_report())),
        ),
    ]
}

fn main() {
    let pki = pki::Pki::load();
    let now_ms = pki.now * 1000;
    let fr = pki.fr.signer();
    let de = pki.de.signer();

    // envelope_verify: signed by ncb.fr, all kinds together as one batch of 8 (issue 16: each
    // seed carries a path of three hashes); by the revoked ncb.de, each alone (a batch of
    // one), before and after its compromise; and unsigned bytes for the sign-then-verify
    // modes.
    let mut signed: Vec<SignedEnvelope> = Vec::new();
    let fr_envelopes = envelopes("ncb.fr", now_ms - 1000);
    let encoded = fr_envelopes
        .iter()
        .map(|(_, e)| e.encode_to_vec())
        .collect();
    let batch = fr.sign_batch(encoded).expect("samples are valid");
    for ((kind, envelope), s) in fr_envelopes.into_iter().zip(batch) {
        write(
            "envelope_verify",
            &format!("fr-{kind}"),
            &prefixed(0, &s.encode_to_vec()),
        );
        write(
            "envelope_verify",
            &format!("bytes-fr-{kind}"),
            &prefixed(1, &envelope.encode_to_vec()),
        );
        if kind == "text" {
            // Signed by the target as the middle leaf of a batch of three (mode bit 2).
            write(
                "envelope_verify",
                "bytes-fr-text-in-batch",
                &prefixed(5, &envelope.encode_to_vec()),
            );
        }
        // A seed that does not verify would not reach past the signature check.
        pki.verifier
            .verify(&s, pki.now)
            .expect("ncb.fr's seeds verify");
        signed.push(s);
    }
    for (when, at_ms) in [("before", now_ms - 3_600_000), ("after", now_ms)] {
        let (_, envelope) = envelopes("ncb.de", at_ms).remove(0);
        let s = de.sign(&envelope).expect("samples are valid");
        let verified = pki.verifier.verify(&s, pki.now);
        assert_eq!(
            verified.is_ok(),
            when == "before",
            "ncb.de {when}: {verified:?}"
        );
        write(
            "envelope_verify",
            &format!("de-{when}"),
            &prefixed(0, &s.encode_to_vec()),
        );
        write(
            "envelope_verify",
            &format!("bytes-de-{when}"),
            &prefixed(3, &envelope.encode_to_vec()),
        );
    }

    // link_frames: every kind, transfers of the envelopes above, a sync batch of changes
    // signed by ncb.fr with its certificate, and the fixture CRL.
    let mut frames: Vec<(String, LinkFrame)> = vec![
        (
            "open".into(),
            LinkFrame::Open {
                precedence: Precedence::Flash,
            },
        ),
        ("ping".into(), LinkFrame::Ping(7)),
        ("pong".into(), LinkFrame::Pong(7)),
        (
            "sync-request".into(),
            LinkFrame::SyncRequest(SyncRequest {
                database: Database::Sltd,
                after_seq: 3,
            }),
        ),
    ];
    let reference = signed[0].message_ref().expect("a sample's reference reads");
    frames.push((
        "accepted".into(),
        LinkFrame::Accepted(vec![
            reference.clone(),
            signed[1].message_ref().expect("reads"),
        ]),
    ));
    frames.push((
        "refused".into(),
        LinkFrame::Refused(Refusal {
            message: reference,
            reason: RefusalReason::QuotaExceeded,
            detail: "retry later".into(),
        }),
    ));
    for (i, s) in signed.iter().enumerate() {
        frames.push((
            format!("transfer-{i}"),
            LinkFrame::Transfer(Transfer {
                envelope: s.clone(),
                hops: (i % 3) as u8,
                recipients: if i % 2 == 0 {
                    Vec::new()
                } else {
                    vec![node("ncb.es"), node("ncb.it")]
                },
            }),
        ));
    }
    frames.push((
        "sync-batch".into(),
        LinkFrame::SyncBatch(sync_batch(&pki, now_ms)),
    ));
    frames.push((
        "crl".into(),
        LinkFrame::Crl(pki.trust.crl_der().expect("a CRL").to_vec()),
    ));
    for (name, frame) in &frames {
        write("link_frames", name, &frame.encode_to_vec());
    }

    // frame_decoder: framed streams of a few frames each, with different chunk knobs.
    let mut stream = Vec::new();
    for (i, (name, frame)) in frames.iter().enumerate() {
        let mut one = Vec::new();
        write_frame(frame, &mut one);
        write(
            "frame_decoder",
            &format!("one-{name}"),
            &prefixed(i as u8, &one),
        );
        if i < 6 {
            stream.extend_from_slice(&one);
        }
    }
    write("frame_decoder", "stream", &prefixed(3, &stream));
}

/// A batch of two SLTD changes signed by ncb.fr and one erasure, as a hub sends it.
fn sync_batch(pki: &pki::Pki, now_ms: i64) -> SyncBatch {
    let signer = pki.fr.signer();
    let change = |number: &str, withdrawn: bool| RecordChange {
        database: Database::Sltd,
        key: format!("FR/{number}"),
        owner: node("ncb.fr"),
        version: 1,
        withdrawn,
        record: if withdrawn {
            Vec::new()
        } else {
            format!(
                r#"{{"document_number":"{number}","issuing_country":"FR","document_type":"passport","status":"stolen","owner_bureau":"ncb.fr","reported_at":"2026-03-01","instructions":"Seize the document"}}"#
            )
            .into_bytes()
        },
        release_to: None,
        changed_at_ms: now_ms - 5000,
    };
    // A batch of three, of which the sync carries the first and the last: the proof's one
    // node stands for the change left out.
    let (batch, whole) = signer.sign_record_batch(&[
        change("X1234567", false),
        change("Z0000001", false),
        change("Y7654321", true),
    ]);
    let leaves: Vec<_> = batch
        .iter()
        .map(bluehelm_pki::record_leaf_hash)
        .collect();
    let proof = bluehelm_proto::records::RecordBatchProof {
        nodes: bluehelm_pki::batch::multiproof(&leaves, &[0, 2]).expect("a multiproof"),
        ..whole
    };
    let changes = SyncChanges {
        items: vec![
            SyncItem::Change {
                seq: 4,
                change: batch[0].clone(),
            },
            SyncItem::Erase {
                seq: 5,
                key: [7; 32],
            },
            SyncItem::Change {
                seq: 6,
                change: batch[2].clone(),
            },
        ],
        certificates: vec![pki.fr.node_cert_der().to_vec()],
        proofs: vec![proof],
    };
    let signed: Vec<_> = changes
        .items
        .iter()
        .filter_map(|item| match item {
            SyncItem::Change { change, .. } => Some(change.clone()),
            SyncItem::Erase { .. } => None,
        })
        .collect();
    let cert = pki.fr.node_cert_der();
    for result in pki.verifier.verify_record_changes(&signed, &changes.proofs, |_| Some(cert)) {
        result.expect("the batch's changes verify");
    }
    let compressed =
        zstd::bulk::compress(&changes.encode_to_vec(), 3).expect("zstd compresses in memory");
    SyncBatch {
        database: Database::Sltd,
        after_seq: 3,
        through_seq: 6,
        head_seq: 6,
        sent_at_ms: now_ms,
        compressed,
        digest: None,
    }
}
