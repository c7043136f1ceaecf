//! Sealing at submission and opening at the inbox (issue 14, item 4): the shell around
//! `bluehelm_pki::seal`. Who to seal to is decided in `engine::seal`; here the recipients'
//! keys are read from the sealing directory and verified against the trust store in force,
//! and this node's decryption key is read from its file.

use bluehelm_pki::seal::{
    open_plaintext, DecryptionKey, SealBinding, SealDirectory, SealRecipient,
};
use bluehelm_proto::{Envelope, NodeId, SealedBody};
use tonic::Status;

use crate::custody::{now_ms, BureauHandle, Outgoing};
use crate::engine::seal;

/// The recipients of `outgoing`, sealed, with their certified keys; a clear refusal when it
/// cannot be sealed (nothing is sent then).
pub fn recipients(node: &BureauHandle, outgoing: &Outgoing) -> Result<Vec<SealRecipient>, Status> {
    let refused = |why: String| Status::failed_precondition(format!("cannot seal: {why}"));
    let config = node.config();
    let nodes = seal::recipients(
        outgoing.body.kind(),
        &outgoing.destination,
        &config.routing.groups,
    )
    .map_err(|e| refused(e.to_string()))?;
    let path = config.tls.directory.as_ref().ok_or_else(|| {
        refused(
            "this node has no sealing directory: set `directory` under [tls] in its config to \
             the file made by `bluehelm pki directory`"
                .into(),
        )
    })?;
    let directory = SealDirectory::load(path).map_err(|e| refused(e.to_string()))?;
    let trust = node.verifier().trust_store();
    let now = now_ms() / 1000;
    nodes
        .iter()
        .map(|n| {
            directory
                .recipient(&trust, now, n)
                .map_err(|e| refused(e.to_string()))
        })
        .collect()
}

/// This node's decryption key, read once per inbox stream; a missing or unusable key is
/// reported on each sealed message rather than failing the stream.
pub struct Opener {
    me: NodeId,
    key: Result<DecryptionKey, String>,
    /// Keys of earlier certificates (`previous_encryption_keys`): what was sealed to the
    /// node before a `pki rotate` stays readable.
    previous: Vec<DecryptionKey>,
}

impl Opener {
    /// Reads the key named by `[tls] encryption_key`.
    pub fn load(node: &BureauHandle) -> Self {
        let key = match &node.config().tls.encryption_key {
            None => Err(format!(
                "this node ({}) has no encryption key configured (`encryption_key` under \
                 [tls]), so it cannot read sealed messages",
                node.me()
            )),
            Some(path) => DecryptionKey::load(path)
                .map_err(|e| format!("this node's encryption key is unusable: {e}"))
                .and_then(|key| match node.identity().encryption_key {
                    Some(certified) if certified == key.public_key() => Ok(key),
                    Some(_) => Err(format!(
                        "this node's encryption key {} does not belong to its certificate: \
                         pair the .enc.key issued with the certificate",
                        path.display()
                    )),
                    None => Err(
                        "this node's certificate carries no encryption key, so nobody can seal \
                         to it: reissue it with `bluehelm pki issue`"
                            .into(),
                    ),
                }),
        };
        let previous = node
            .config()
            .tls
            .previous_encryption_keys
            .iter()
            .filter_map(|path| match DecryptionKey::load(path) {
                Ok(key) => Some(key),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e,
                        "a previous encryption key is unusable: what was sealed to it stays unreadable");
                    None
                }
            })
            .collect();
        Self {
            me: node.me().clone(),
            key,
            previous,
        }
    }

    /// The plaintext (inner body encoding) of a sealed body received in `envelope`, or why
    /// it cannot be read.
    pub fn open(&self, envelope: &Envelope, sealed: &SealedBody) -> Result<Vec<u8>, String> {
        let at = SealBinding {
            message_id: envelope.message_id,
            origin: envelope.origin.clone(),
        };
        let current = match &self.key {
            Ok(key) => open_plaintext(sealed, &at, &self.me, key).map_err(|e| e.to_string()),
            Err(why) => Err(why.clone()),
        };
        // The current key's error is the one to show when no earlier key opens it either.
        current
            .or_else(|why| {
                self.previous
                    .iter()
                    .find_map(|key| open_plaintext(sealed, &at, &self.me, key).ok())
                    .ok_or(why)
            })
            .map(|(_, plaintext)| plaintext)
    }
}
