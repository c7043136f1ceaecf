//! A checkpoint as a node signed it: the line kept in `audit-checkpoints.log` at the node
//! and, at gs, in `audit-checkpoints-<node>.log`. It carries the signer's certificate, so
//! `bluehelm audit verify` can check it anywhere with nothing but the network CA.

use serde::{Deserialize, Serialize};

use super::{checkpoint_message, Checkpoint, Digest};
use crate::engine::records::hex;

/// A signed checkpoint, one JSON line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    pub node: String,
    pub seq: u64,
    /// The chain hash of entry `seq`, hex.
    pub hash: String,
    pub at_ms: i64,
    /// Ed25519 over [`checkpoint_message`], hex.
    pub signature: String,
    /// DER of the signer's certificate, hex.
    pub certificate: String,
}

/// Why a signed checkpoint line cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointLineError {
    #[error("not a signed checkpoint: {0}")]
    Json(String),
    #[error("the `{0}` field is not hex of the right length")]
    Hex(&'static str),
}

impl SignedCheckpoint {
    /// Signs `checkpoint` of `node`'s log with `sign`.
    pub fn new(
        node: &str,
        checkpoint: &Checkpoint,
        certificate: &[u8],
        sign: impl FnOnce(&[u8]) -> [u8; 64],
    ) -> Self {
        let signature = sign(&checkpoint_message(node, checkpoint));
        Self {
            node: node.to_owned(),
            seq: checkpoint.seq,
            hash: hex(&checkpoint.hash),
            at_ms: checkpoint.at_ms,
            signature: hex(&signature),
            certificate: hex(certificate),
        }
    }

    /// Reads one line (the caller caps its length).
    pub fn parse(line: &str) -> Result<Self, CheckpointLineError> {
        serde_json::from_str(line).map_err(|e| CheckpointLineError::Json(e.to_string()))
    }

    /// The line, without its newline.
    pub fn to_line(&self) -> String {
        // Strings and integers only: always serialises.
        serde_json::to_string(self).expect("a signed checkpoint serialises")
    }

    /// The checkpoint it vouches for.
    pub fn checkpoint(&self) -> Result<Checkpoint, CheckpointLineError> {
        let hash: Digest = unhex(&self.hash)
            .and_then(|h| h.try_into().ok())
            .ok_or(CheckpointLineError::Hex("hash"))?;
        Ok(Checkpoint {
            seq: self.seq,
            hash,
            at_ms: self.at_ms,
        })
    }

    /// The message that was signed, the signature and the certificate, as bytes.
    pub fn signed_parts(&self) -> Result<SignedParts, CheckpointLineError> {
        Ok(SignedParts {
            message: checkpoint_message(&self.node, &self.checkpoint()?),
            signature: unhex(&self.signature).ok_or(CheckpointLineError::Hex("signature"))?,
            certificate: unhex(&self.certificate).ok_or(CheckpointLineError::Hex("certificate"))?,
        })
    }
}

/// What a signature check of a checkpoint needs.
pub struct SignedParts {
    pub message: Vec<u8>,
    pub signature: Vec<u8>,
    /// DER.
    pub certificate: Vec<u8>,
}

/// Lower- or upper-case hex to bytes; `None` for an odd length or another character.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}
