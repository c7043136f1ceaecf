//! Sealed bodies (issue 14, item 4): a diffusion or text message encrypted to its recipients,
//! so that relays, the hub included, route it without reading it.
//!
//! The construction (docs/protocol.md, "Sealed bodies"):
//! - a fresh 32-byte content key per message; the inner body's protobuf encoding is
//!   encrypted once with ChaCha20-Poly1305 under it (nonce of zeros: the key is used once),
//!   with the envelope binding ([`binding`]) as associated data;
//! - the content key is sealed to each recipient with HPKE (RFC 9180), mode base,
//!   DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, info [`HPKE_INFO`], and as
//!   associated data the binding followed by the recipient's id and key id;
//! - the recipient's X25519 key is certified by the network CA in its node certificate
//!   ([`crate::NodeIdentity::encryption_key`]); its private half is a file beside the node key.
//!
//! The binding holds the envelope's message id, origin and sealed kind: a sealed body copied
//! into another envelope (another id or origin) does not open. The origin signs the envelope
//! after sealing, so the signature covers the ciphertext.

mod directory;
mod key;

pub use directory::{DirectoryError, SealDirectory};
pub use key::{DecryptionKey, KeyFileError, ENCRYPTION_KEY_FILE_SUFFIX};

use bluehelm_proto::{
    Body, DecodeError, Kind, MessageId, NodeId, SealedBody, SealedKey, SealedKind,
    SEALED_CONTENT_KEY_LEN,
};
use hpke::{Deserializable, Serializable};
use rand_core_09::{OsRng, TryRngCore, UnwrapErr};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;

/// Domain separation of the binding, the associated data of both encryptions.
pub const BINDING_DOMAIN: &[u8] = b"bluehelm/v1/sealed\0";

/// HPKE `info`: every content key sealed by this protocol version.
pub const HPKE_INFO: &[u8] = b"bluehelm/v1/sealed-key\0";

/// Where a sealed body belongs: the envelope fields it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealBinding {
    /// The envelope's message id.
    pub message_id: MessageId,
    /// The envelope's origin.
    pub origin: NodeId,
}

/// A recipient of a seal: a node and its certified X25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealRecipient {
    /// The node.
    pub node: NodeId,
    /// Its X25519 public key, from its verified node certificate.
    pub public_key: [u8; 32],
}

/// A body could not be sealed. The sender's mistake or the machine's, never a peer's.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Only diffusions and text messages are sealed.
    #[error("a {0} cannot be sealed: only diffusions and text messages can (notices stay readable by the hub, which reviews them; requests are read by the service)")]
    NotSealable(Kind),
    /// The recipient list is empty or too long.
    #[error("a sealed body needs 1 to {max} recipients, not {0}", max = bluehelm_proto::limits::MAX_SEALED_RECIPIENTS)]
    Recipients(usize),
    /// A recipient's public key is not an X25519 key (its certificate was checked, so a bug).
    #[error("the encryption key of {0} is unusable")]
    BadPublicKey(NodeId),
    /// The encryption itself failed.
    #[error("sealing failed: {0}")]
    Crypto(String),
}

/// A sealed body could not be opened. Shown to the application, so each says what happened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// This node is not among the recipients the origin sealed the body to.
    #[error("this node ({me}) is not among the recipients of the sealed body ({recipients})")]
    NotARecipient {
        /// This node.
        me: NodeId,
        /// The recipients, comma-separated.
        recipients: String,
    },
    /// The body was sealed to another encryption key of this node (an older or newer
    /// certificate).
    #[error("the body was sealed to another encryption key of this node (key id {sealed_to}, this node's is {ours}): it was sealed for a certificate this node no longer (or not yet) holds")]
    OtherKey {
        /// The key id in the message, hex.
        sealed_to: String,
        /// This node's key id, hex.
        ours: String,
    },
    /// Authentication failed: the ciphertext, the sealed key or the envelope binding was
    /// changed.
    #[error("the sealed body does not decrypt: it was altered on the way or moved from another envelope")]
    Tampered,
    /// It decrypted, but the plaintext is not a valid body of its kind.
    #[error("the sealed body decrypted to an invalid {kind}: {source}")]
    BadPlaintext {
        /// The kind it claims.
        kind: SealedKind,
        /// What is wrong.
        source: DecodeError,
    },
}

/// The associated data binding a sealed body to its envelope:
/// `BINDING_DOMAIN || message_id (16) || len(origin) (1) || origin || kind (1)`.
pub fn binding(binding: &SealBinding, kind: SealedKind) -> Vec<u8> {
    let origin = binding.origin.as_str().as_bytes();
    let mut out = Vec::with_capacity(BINDING_DOMAIN.len() + 16 + 2 + origin.len());
    out.extend_from_slice(BINDING_DOMAIN);
    out.extend_from_slice(binding.message_id.as_bytes());
    // Node ids are at most 63 bytes (bluehelm_proto::ids::MAX_NAME_ID_LEN): one byte holds it.
    out.push(origin.len() as u8);
    out.extend_from_slice(origin);
    out.push(kind.number() as u8);
    out
}

/// The HPKE associated data of one recipient's content key.
fn key_aad(bound: &[u8], recipient: &NodeId, key_id: &[u8; 32]) -> Vec<u8> {
    let node = recipient.as_str().as_bytes();
    let mut out = Vec::with_capacity(bound.len() + 1 + node.len() + key_id.len());
    out.extend_from_slice(bound);
    out.push(node.len() as u8);
    out.extend_from_slice(node);
    out.extend_from_slice(key_id);
    out
}

/// The key id of an X25519 public key: its SHA-256.
pub fn key_id(public_key: &[u8; 32]) -> [u8; 32] {
    crate::identity::fingerprint(public_key)
}

/// Seals `body` for `recipients`, bound to `at`: the body is encrypted once, the content key
/// once per recipient.
pub fn seal(
    body: &Body,
    at: &SealBinding,
    recipients: &[SealRecipient],
) -> Result<SealedBody, SealError> {
    let (kind, mut plaintext) = body
        .sealing_plaintext()
        .ok_or(SealError::NotSealable(body.kind()))?;
    if recipients.is_empty() || recipients.len() > bluehelm_proto::limits::MAX_SEALED_RECIPIENTS {
        return Err(SealError::Recipients(recipients.len()));
    }
    let bound = binding(at, kind);
    let mut content_key = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut content_key)
        .map_err(|e| SealError::Crypto(format!("no randomness: {e}")))?;
    content_cipher(&content_key)
        .seal_in_place_append_tag(zero_nonce(), Aad::from(&bound[..]), &mut plaintext)
        .map_err(|_| SealError::Crypto("content encryption failed".into()))?;
    let mut keys = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        let public = <Kem as hpke::Kem>::PublicKey::from_bytes(&recipient.public_key)
            .map_err(|_| SealError::BadPublicKey(recipient.node.clone()))?;
        let key_id = key_id(&recipient.public_key);
        // UnwrapErr: hpke takes an infallible generator. The OS generator failing is a broken
        // machine (ring's, which signs every envelope, would fail too); it panics here rather
        // than seal with a weak ephemeral key.
        let (enc, sealed) = hpke::single_shot_seal::<Aead, Kdf, Kem, _>(
            &hpke::OpModeS::Base,
            &public,
            HPKE_INFO,
            &content_key,
            &key_aad(&bound, &recipient.node, &key_id),
            &mut UnwrapErr(OsRng),
        )
        .map_err(|e| SealError::Crypto(e.to_string()))?;
        let sealed_key = <[u8; SEALED_CONTENT_KEY_LEN]>::try_from(sealed.as_slice())
            .map_err(|_| SealError::Crypto("unexpected sealed key length".into()))?;
        let mut enc_bytes = [0u8; 32];
        enc_bytes.copy_from_slice(&enc.to_bytes());
        keys.push(SealedKey {
            recipient: recipient.node.clone(),
            key_id,
            enc: enc_bytes,
            sealed_key,
        });
    }
    Ok(SealedBody {
        kind,
        keys,
        ciphertext: plaintext,
    })
}

/// Opens a sealed body as recipient `me` with its decryption key; `at` is the envelope the
/// body came in.
pub fn open(
    sealed: &SealedBody,
    at: &SealBinding,
    me: &NodeId,
    key: &DecryptionKey,
) -> Result<Body, OpenError> {
    open_plaintext(sealed, at, me, key).map(|(body, _)| body)
}

/// [`open`], also returning the plaintext: the inner body's protobuf encoding, checked to
/// decode to a valid body of the sealed kind (the API hands it on as it is).
pub fn open_plaintext(
    sealed: &SealedBody,
    at: &SealBinding,
    me: &NodeId,
    key: &DecryptionKey,
) -> Result<(Body, Vec<u8>), OpenError> {
    let entry = sealed.key_for(me).ok_or_else(|| OpenError::NotARecipient {
        me: me.clone(),
        recipients: sealed
            .recipients()
            .map(NodeId::as_str)
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let ours = key_id(&key.public_key());
    if entry.key_id != ours {
        return Err(OpenError::OtherKey {
            sealed_to: crate::identity::hex(&entry.key_id),
            ours: crate::identity::hex(&ours),
        });
    }
    let bound = binding(at, sealed.kind);
    let enc =
        <Kem as hpke::Kem>::EncappedKey::from_bytes(&entry.enc).map_err(|_| OpenError::Tampered)?;
    let content_key = hpke::single_shot_open::<Aead, Kdf, Kem>(
        &hpke::OpModeR::Base,
        key.hpke_private(),
        &enc,
        HPKE_INFO,
        &entry.sealed_key,
        &key_aad(&bound, me, &entry.key_id),
    )
    .map_err(|_| OpenError::Tampered)?;
    let content_key =
        <[u8; 32]>::try_from(content_key.as_slice()).map_err(|_| OpenError::Tampered)?;
    let mut buffer = sealed.ciphertext.clone();
    let plaintext = content_cipher(&content_key)
        .open_in_place(zero_nonce(), Aad::from(&bound[..]), &mut buffer)
        .map_err(|_| OpenError::Tampered)?;
    let body = Body::from_sealed_plaintext(sealed.kind, plaintext).map_err(|source| {
        OpenError::BadPlaintext {
            kind: sealed.kind,
            source,
        }
    })?;
    let len = plaintext.len();
    buffer.truncate(len);
    Ok((body, buffer))
}

fn content_cipher(key: &[u8; 32]) -> LessSafeKey {
    // A 32-byte key is exactly what ChaCha20-Poly1305 takes: this cannot fail.
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).expect("32-byte ChaCha20 key"))
}

/// Every content key encrypts exactly one plaintext, so a fixed nonce never repeats a
/// (key, nonce) pair.
fn zero_nonce() -> Nonce {
    Nonce::assume_unique_for_key([0u8; 12])
}

#[cfg(test)]
mod tests;
