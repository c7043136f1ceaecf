//! Signed checkpoints travel to gs (issue 14, item 5): a node that later rewrites its own
//! log, checkpoints included, is caught by the copies gs kept. A checkpoint goes as a
//! request to the `audit.checkpoint` service of gs, at ROUTINE, through custody like any
//! message (so a post offline for days sends them when its link returns). gs checks the
//! signature and appends the checkpoint to `audit-checkpoints-<node>.log`; it sends no
//! answer.
//!
//! The request carries the certificate whose key signed the checkpoint. A checkpoint signed
//! just before a reload renewed the node's certificate travels in an envelope signed with
//! the new one; checked against the envelope's certificate it would not verify, and gs
//! dropped it. gs checks it against the certificate the request names instead, which must
//! certify the envelope's origin and be trusted at the checkpoint's time (the network's CA,
//! validity; if the CRL revokes it, made before the revocation's cutoff, as for envelopes).

use std::collections::BTreeMap;
use std::time::Duration;

use bluehelm_pki::EnvelopeVerifier;
use bluehelm_proto::{Body, Destination, NodeId, Precedence, ServiceName, ServiceRequest};
use tokio::sync::mpsc;

use super::read::received_checkpoints_file;
use crate::custody::{hub, BureauHandle, Delivered, Outgoing, SubmitError};
use crate::engine::audit::{unhex, SignedCheckpoint};
use crate::engine::records::hex;
use crate::store::StoreError;

pub use crate::engine::audit::CHECKPOINT_SERVICE;
/// How long a checkpoint may wait for the link to gs: as long as a post may be cut off.
const CHECKPOINT_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Sends each checkpoint the writer signs to gs, until the node stops. At gs itself the
/// writer's own file is the copy.
pub async fn send_to_hub(node: BureauHandle, mut checkpoints: mpsc::Receiver<SignedCheckpoint>) {
    let hub = hub();
    loop {
        let signed = tokio::select! {
            _ = node.cancel().cancelled() => return,
            signed = checkpoints.recv() => match signed {
                Some(signed) => signed,
                None => return,
            },
        };
        if *node.me() == hub {
            continue;
        }
        let Ok(service) = ServiceName::new(CHECKPOINT_SERVICE) else {
            return; // a constant that is a valid name: not reached
        };
        let params = BTreeMap::from([
            ("seq".to_owned(), signed.seq.to_string()),
            ("hash".to_owned(), signed.hash.clone()),
            ("at_ms".to_owned(), signed.at_ms.to_string()),
            ("signature".to_owned(), signed.signature.clone()),
            ("certificate".to_owned(), signed.certificate.clone()),
        ]);
        let out = Outgoing {
            destination: Destination::Service(service.clone()),
            precedence: Precedence::Routine,
            body: Body::Request(ServiceRequest {
                service,
                params,
                purpose: String::new(),
                terminal: None,
                attachment: None,
            }),
            ttl: CHECKPOINT_TTL,
            want_delivery_report: false,
            correlation_id: None,
            release_to: None,
        };
        match node.submit(vec![out]).await {
            Ok(_) => tracing::debug!(seq = signed.seq, "audit checkpoint sent to gs"),
            Err(SubmitError::Store(err)) => {
                tracing::error!(error = %err, "cannot send an audit checkpoint to gs")
            }
            Err(err) => tracing::warn!(error = %err, "cannot send an audit checkpoint to gs"),
        }
    }
}

/// Why gs did not keep a checkpoint: said in its log; the sender is not told.
#[derive(Debug, thiserror::Error)]
enum Unkept {
    #[error("parameter `{0}` is missing or malformed")]
    Param(&'static str),
    #[error("signature does not verify: {0}")]
    Signature(bluehelm_pki::VerifyError),
    #[error("signed with a certificate of {certified}, not of the node that sent it")]
    OtherSigner { certified: NodeId },
}

/// At gs: keeps a checkpoint another node sent, after checking its signature.
pub async fn keep_received(node: &BureauHandle, message: &Delivered) -> Result<(), StoreError> {
    let envelope = &message.envelope;
    let Body::Request(request) = &envelope.body else {
        return Ok(());
    };
    let signed = match checked(node, message, &request.params) {
        Ok(signed) => signed,
        Err(err) => {
            tracing::warn!(origin = %envelope.origin, message = %envelope.message_id,
                error = %err, "dropped an audit checkpoint");
            return Ok(());
        }
    };
    let path = received_checkpoints_file(&node.config().storage, envelope.origin.as_str());
    let line = signed.to_line();
    let written = tokio::task::spawn_blocking(move || super::writer::append_synced(&path, &line))
        .await
        .map_err(|_| StoreError::Closed)?;
    match written {
        Ok(()) => {
            tracing::debug!(origin = %envelope.origin, seq = signed.seq, "audit checkpoint kept")
        }
        // The node's next checkpoint covers this one's entries too.
        Err(err) => tracing::error!(origin = %envelope.origin, seq = signed.seq, error = %err,
            "cannot keep an audit checkpoint (check the storage directory's disk)"),
    }
    Ok(())
}

fn checked(
    node: &BureauHandle,
    message: &Delivered,
    params: &BTreeMap<String, String>,
) -> Result<SignedCheckpoint, Unkept> {
    checked_with(
        node.verifier(),
        &message.envelope.origin,
        message.signed.signer_certificate(),
        params,
    )
}

/// The checkpoint in `params`, sent by `origin` in an envelope signed with
/// `envelope_certificate`, if its signature verifies with the certificate it names (or,
/// from a node that names none, the envelope's) and that certificate is `origin`'s.
fn checked_with(
    verifier: &EnvelopeVerifier,
    origin: &NodeId,
    envelope_certificate: &[u8],
    params: &BTreeMap<String, String>,
) -> Result<SignedCheckpoint, Unkept> {
    let param = |name: &'static str| params.get(name).ok_or(Unkept::Param(name));
    let certificate = match params.get("certificate") {
        Some(text) => unhex(text).ok_or(Unkept::Param("certificate"))?,
        None => envelope_certificate.to_vec(),
    };
    let signed = SignedCheckpoint {
        node: origin.to_string(),
        seq: param("seq")?.parse().map_err(|_| Unkept::Param("seq"))?,
        hash: param("hash")?.clone(),
        at_ms: param("at_ms")?
            .parse()
            .map_err(|_| Unkept::Param("at_ms"))?,
        signature: param("signature")?.clone(),
        certificate: hex(&certificate),
    };
    let parts = signed
        .signed_parts()
        .map_err(|_| Unkept::Param("hash or signature"))?;
    let signer = verifier
        .verify_checkpoint(&certificate, &parts.message, &parts.signature, signed.at_ms)
        .map_err(Unkept::Signature)?;
    if signer.node != *origin {
        return Err(Unkept::OtherSigner {
            certified: signer.node.clone(),
        });
    }
    Ok(signed)
}

#[cfg(test)]
pub(super) fn check_for_test(
    verifier: &EnvelopeVerifier,
    origin: &NodeId,
    envelope_certificate: &[u8],
    params: &BTreeMap<String, String>,
) -> Result<SignedCheckpoint, String> {
    checked_with(verifier, origin, envelope_certificate, params).map_err(|e| e.to_string())
}
