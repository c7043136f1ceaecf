//! A `LinkFrame` body (the bytes after the length prefix) decoded from arbitrary bytes, then
//! put through what a node does with each kind it receives:
//!
//! - any frame: its name for logs, and encoding again (`decode(encode(f)) == f`, and the
//!   encoded length matches);
//! - `Transfer`: the relay's byte-for-byte re-framing (`write_transfer_frame`, which must
//!   equal `write_frame`), the message reference read for a refusal, the envelope decoded,
//!   and the signature verified (`net::link` -> `custody::shell::decide_offers`);
//! - `SyncBatch`: decompressed and decoded (`records::sync::unpack`), its changes verified
//!   with the certificates it carries, and planned (`engine::records::replica::plan`) with
//!   the index entries of every write (`records::sync::client::apply`);
//! - `Crl`: checked against the CA (`TrustStore::with_crl`, as `node::crl` does);
//! - `TransferPart`: taken into the receiver's parts cache (`engine::partials`), and a copy
//!   made whole decoded as a Transfer.
#![no_main]

use std::collections::HashMap;
use std::time::Instant;

use bluehelm::engine::partials::{PartOutcome, Partials};
use bluehelm::engine::policy::Party;
use bluehelm::engine::records::replica::{self, Apply};
use bluehelm::net::frames::frame_name;
use bluehelm::records::kinds;
use bluehelm_fuzz::pki;
use bluehelm_proto::framing::{write_frame, write_transfer_frame};
use bluehelm_proto::records::SyncItem;
use bluehelm_proto::framing::HARD_MAX_FRAME;
use bluehelm_proto::{LinkFrame, NodeId, Precedence, Transfer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = LinkFrame::decode(data) else {
        return;
    };
    let _ = frame_name(&frame);
    let bytes = frame.encode_to_vec();
    assert_eq!(bytes.len(), frame.encoded_len());
    assert_eq!(LinkFrame::decode(&bytes).as_ref(), Ok(&frame));

    let pki = pki();
    match &frame {
        LinkFrame::Transfer(t) => {
            let mut framed = Vec::new();
            write_frame(&frame, &mut framed);
            let mut forwarded = Vec::new();
            write_transfer_frame(
                &t.envelope.encode_to_vec(),
                t.hops,
                &t.recipients,
                &mut forwarded,
            );
            assert_eq!(framed, forwarded);
            let _ = t.envelope.message_ref();
            let _ = t.envelope.decode_envelope();
            let _ = pki
                .verifier
                .verify_batch(std::slice::from_ref(&t.envelope), pki.now);
        }
        LinkFrame::SyncBatch(batch) => {
            let Ok(changes) = bluehelm::records::sync::unpack(batch) else {
                return;
            };
            let certificates: HashMap<[u8; 32], Vec<u8>> = changes
                .certificates
                .iter()
                .map(|der| (bluehelm::engine::records::sha256(der), der.clone()))
                .collect();
            let signed: Vec<_> = changes
                .items
                .iter()
                .filter_map(|item| match item {
                    SyncItem::Change { change, .. } => Some(change.clone()),
                    SyncItem::Erase { .. } => None,
                })
                .collect();
            let verified = pki
                .verifier
                .verify_record_changes(&signed, &changes.proofs, |fp| {
                    certificates.get(fp).map(Vec::as_slice)
                })
                .into_iter()
                .map(|r| r.map(|v| v.change).map_err(|e| e.to_string()))
                .collect();
            let me = Party::of(pki.fr.identity());
            let Ok(writes) = replica::plan(
                batch.database,
                batch.after_seq,
                batch.after_seq,
                batch.through_seq,
                changes.items,
                verified,
                me,
            ) else {
                return;
            };
            for write in writes {
                if let Apply::Put { change, .. } = write {
                    let _ = kinds::index_entries(&change);
                }
            }
        }
        LinkFrame::Crl(der) => {
            let _ = pki.trust.with_crl(der);
        }
        LinkFrame::TransferPart(part) => {
            // As `net::link::parts` takes one: into the receiver's bounded cache, and a copy
            // made whole is decoded as a Transfer frame would be.
            let mut partials = Partials::default();
            let peer: NodeId = "ncb.fr".parse().expect("a valid node id");
            if let Ok(PartOutcome::Whole(bytes)) = partials.add(
                Instant::now(),
                &peer,
                Precedence::Routine,
                part.clone(),
                HARD_MAX_FRAME,
            ) {
                let _ = Transfer::decode(&bytes);
            }
        }
        LinkFrame::PartsHeld(_)
        | LinkFrame::Open { .. }
        | LinkFrame::Accepted(_)
        | LinkFrame::Refused(_)
        | LinkFrame::Ping(_)
        | LinkFrame::Pong(_)
        | LinkFrame::SyncRequest(_) => {}
    }
});
