//! Notice publications built by a test, as a node that bypasses review would send them: a
//! bureau's genuine signed request (signed with its key from the test network's PKI), and a
//! publication that carries it.

use bluehelm::api::pb;
use bluehelm_pki::NodeCredentials;
use bluehelm_proto::testing::{sample_envelope, sample_subject};
use bluehelm_proto::{Body, Destination, Notice, NoticeLifecycle, NoticeType, Precedence};
use prost::Message;

use crate::{id, TestNet};

/// A red notice request from `bureau` for `reference`, signed with `bureau`'s key, and the
/// publication that carries it (lifecycle PUBLISHED, the request's fields, the request
/// embedded), as API types.
pub fn genuine_publication(net: &TestNet, bureau: &str, reference: &str) -> pb::Notice {
    let pki = net.net.pki_dir();
    let creds = NodeCredentials::load(
        &pki.join(format!("{bureau}.pem")),
        &pki.join(format!("{bureau}.key")),
    )
    .expect("the bureau's credentials");
    let request = Notice {
        notice_ref: reference.into(),
        notice_type: NoticeType::Red,
        lifecycle: NoticeLifecycle::Requested,
        requesting_bureau: id(bureau),
        subject: Some(sample_subject()),
        offence_summary: "Armed robbery.".into(),
        legal_basis: "Warrant 1/2026.".into(),
        remarks: String::new(),
        request: None,
        valid_until: String::new(),
    };
    let envelope = sample_envelope(
        id(bureau),
        Destination::Node(id("gs")),
        Precedence::Routine,
        bluehelm::custody::now_ms(),
        Body::Notice(request),
    );
    let signed = creds.signer().sign(&envelope).expect("signed request");
    let wire = pb::Envelope::decode(signed.envelope_bytes()).expect("the request decodes");
    let Some(pb::envelope::Body::Notice(mut notice)) = wire.body else {
        unreachable!("the body is a notice")
    };
    notice.lifecycle = pb::NoticeLifecycle::Published as i32;
    // The API's SignedEnvelope is the wire's message: the same bytes decode as either.
    let signed = pb::SignedEnvelope::decode(signed.encode_to_vec().as_slice());
    notice.request = Some(signed.expect("the API decodes a signed envelope"));
    notice
}
