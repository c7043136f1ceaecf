//! Sealed bodies (issue 14, item 4): a diffusion or a text message encrypted to its
//! recipients. This module holds the wire shape and the plaintext encoding only; the
//! cryptography (HPKE, the content key) is in the `pki` crate, like signing.

use std::collections::BTreeSet;

use prost::Message as _;

use super::{Body, Diffusion, TextMessage};
use crate::check;
use crate::envelope::Kind;
use crate::error::{DecodeError, ValidationError};
use crate::ids::NodeId;
use crate::limits::{MAX_ENVELOPE_LEN, MAX_SEALED_RECIPIENTS};
use crate::pb;

/// Length of a key id: SHA-256 of the recipient's X25519 public key.
pub const SEALED_KEY_ID_LEN: usize = 32;
/// Length of an HPKE encapsulated key for DHKEM(X25519, HKDF-SHA256).
pub const SEALED_ENC_LEN: usize = 32;
/// Length of a sealed content key: 32 bytes of key and the AEAD's 16-byte tag.
pub const SEALED_CONTENT_KEY_LEN: usize = 48;
/// Length of the AEAD tag at the end of the ciphertext.
pub const SEALED_TAG_LEN: usize = 16;

wire_enum! {
    /// The kind of the body inside a seal, visible to every node.
    pub enum SealedKind: pb::SealedKind, "sealed kind" {
        /// A [`Diffusion`].
        Diffusion = "diffusion" => Diffusion,
        /// A [`TextMessage`].
        Text = "text" => Text,
    }
}

impl SealedKind {
    /// The message kind of a sealed body of this kind.
    pub fn kind(self) -> Kind {
        match self {
            SealedKind::Diffusion => Kind::Diffusion,
            SealedKind::Text => Kind::Text,
        }
    }
}

/// The content key sealed to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedKey {
    /// The recipient node.
    pub recipient: NodeId,
    /// SHA-256 of the recipient's certified X25519 public key.
    pub key_id: [u8; SEALED_KEY_ID_LEN],
    /// HPKE encapsulated key.
    pub enc: [u8; SEALED_ENC_LEN],
    /// HPKE ciphertext of the content key.
    pub sealed_key: [u8; SEALED_CONTENT_KEY_LEN],
}

/// A body encrypted to its recipients. Its [`Kind`] is the kind of the body inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBody {
    /// What the plaintext is.
    pub kind: SealedKind,
    /// One sealed content key per recipient.
    pub keys: Vec<SealedKey>,
    /// The inner body, encrypted under the content key, tag at the end.
    pub ciphertext: Vec<u8>,
}

impl SealedBody {
    /// Checks the recipient list (1 to [`MAX_SEALED_RECIPIENTS`], no node twice) and that
    /// the ciphertext can hold a tag.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.keys.is_empty() {
            return Err(ValidationError::NoEntries {
                field: "sealed.keys",
            });
        }
        check::max_count("sealed.keys", self.keys.len(), MAX_SEALED_RECIPIENTS)?;
        let mut seen = BTreeSet::new();
        for key in &self.keys {
            if !seen.insert(&key.recipient) {
                return Err(ValidationError::DuplicateRecipient(key.recipient.clone()));
            }
        }
        if self.ciphertext.len() < SEALED_TAG_LEN {
            return Err(ValidationError::TooShort {
                field: "sealed.ciphertext",
                len: self.ciphertext.len(),
                min: SEALED_TAG_LEN,
            });
        }
        check::max_len("sealed.ciphertext", self.ciphertext.len(), MAX_ENVELOPE_LEN)
    }

    /// The sealed key for `node`, if it is a recipient.
    pub fn key_for(&self, node: &NodeId) -> Option<&SealedKey> {
        self.keys.iter().find(|k| &k.recipient == node)
    }

    /// The recipients, in the order of the key list.
    pub fn recipients(&self) -> impl Iterator<Item = &NodeId> {
        self.keys.iter().map(|k| &k.recipient)
    }

    pub(crate) fn to_pb(&self) -> pb::SealedBody {
        pb::SealedBody {
            kind: self.kind.to_pb(),
            keys: self
                .keys
                .iter()
                .map(|k| pb::SealedKey {
                    recipient: k.recipient.as_str().to_owned(),
                    key_id: k.key_id.to_vec(),
                    enc: k.enc.to_vec(),
                    sealed_key: k.sealed_key.to_vec(),
                })
                .collect(),
            ciphertext: self.ciphertext.clone(),
        }
    }

    pub(crate) fn from_pb(s: pb::SealedBody) -> Result<Self, ValidationError> {
        // Bounded before converting: a peer's million empty entries cost no node ids.
        check::max_count("sealed.keys", s.keys.len(), MAX_SEALED_RECIPIENTS)?;
        let keys = s
            .keys
            .into_iter()
            .map(|k| {
                Ok(SealedKey {
                    recipient: check::node_id("sealed.keys.recipient", k.recipient)?,
                    key_id: fixed("sealed.keys.key_id", &k.key_id)?,
                    enc: fixed("sealed.keys.enc", &k.enc)?,
                    sealed_key: fixed("sealed.keys.sealed_key", &k.sealed_key)?,
                })
            })
            .collect::<Result<_, ValidationError>>()?;
        Ok(SealedBody {
            kind: SealedKind::from_pb(s.kind, "sealed.kind")?,
            keys,
            ciphertext: s.ciphertext,
        })
    }
}

fn fixed<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N], ValidationError> {
    <[u8; N]>::try_from(bytes).map_err(|_| ValidationError::BadLength {
        field,
        len: bytes.len(),
        expected: N,
    })
}

impl Body {
    /// The plaintext a seal of this body encrypts: its kind and the encoded inner message.
    /// `None` for the kinds that cannot be sealed (issue 14: notices stay readable by the
    /// hub, which reviews them; requests, answers and reports are read by nodes on the path).
    pub fn sealing_plaintext(&self) -> Option<(SealedKind, Vec<u8>)> {
        match self {
            Body::Diffusion(d) => Some((SealedKind::Diffusion, d.to_pb().encode_to_vec())),
            Body::Text(t) => Some((SealedKind::Text, t.to_pb().encode_to_vec())),
            _ => None,
        }
    }

    /// The body a decrypted plaintext of `kind` holds, fully validated: a recipient trusts
    /// what it decrypted no more than what it received in clear.
    pub fn from_sealed_plaintext(kind: SealedKind, plaintext: &[u8]) -> Result<Body, DecodeError> {
        let body = match kind {
            SealedKind::Diffusion => {
                Body::Diffusion(Diffusion::from_pb(pb::Diffusion::decode(plaintext)?)?)
            }
            SealedKind::Text => {
                Body::Text(TextMessage::from_pb(pb::TextMessage::decode(plaintext)?))
            }
        };
        body.validate()?;
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, sample_envelope, sample_text};
    use crate::{Destination, Envelope, Precedence};

    fn key(recipient: &str) -> SealedKey {
        SealedKey {
            recipient: node(recipient),
            key_id: [1; SEALED_KEY_ID_LEN],
            enc: [2; SEALED_ENC_LEN],
            sealed_key: [3; SEALED_CONTENT_KEY_LEN],
        }
    }

    fn sealed_envelope(body: SealedBody) -> Envelope {
        sample_envelope(
            node("ncb.fr"),
            Destination::Node(node("ncb.ke")),
            Precedence::Routine,
            1_780_000_000_000,
            Body::Sealed(body),
        )
    }

    #[test]
    fn a_sealed_body_round_trips_and_keeps_its_inner_kind() {
        let body = SealedBody {
            kind: SealedKind::Text,
            keys: vec![key("ncb.ke"), key("ncb.de")],
            ciphertext: vec![9; 40],
        };
        let envelope = sealed_envelope(body.clone());
        let decoded = Envelope::decode(&envelope.encode_to_vec()).unwrap();
        assert_eq!(decoded.body, Body::Sealed(body));
        assert_eq!(decoded.kind(), Kind::Text);
    }

    #[test]
    fn a_malformed_sealed_body_is_refused_with_its_field() {
        let good = SealedBody {
            kind: SealedKind::Diffusion,
            keys: vec![key("ncb.ke")],
            ciphertext: vec![9; 40],
        };
        let twice = SealedBody {
            keys: vec![key("ncb.ke"), key("ncb.ke")],
            ..good.clone()
        };
        assert!(matches!(
            twice.validate(),
            Err(ValidationError::DuplicateRecipient(_))
        ));
        let none = SealedBody {
            keys: vec![],
            ..good.clone()
        };
        assert!(matches!(
            none.validate(),
            Err(ValidationError::NoEntries { .. })
        ));
        let short = SealedBody {
            ciphertext: vec![0; 3],
            ..good.clone()
        };
        assert!(matches!(
            short.validate(),
            Err(ValidationError::TooShort { .. })
        ));
        // A key of the wrong length never becomes a domain value.
        let mut wire = good.to_pb();
        wire.keys[0].enc.pop();
        assert!(matches!(
            SealedBody::from_pb(wire),
            Err(ValidationError::BadLength {
                field: "sealed.keys.enc",
                ..
            })
        ));
        let mut wire = good.to_pb();
        wire.kind = 0;
        assert!(SealedBody::from_pb(wire).is_err());
    }

    #[test]
    fn only_diffusions_and_texts_have_a_sealing_plaintext_and_it_decodes_back() {
        let text = Body::Text(sample_text());
        let (kind, plaintext) = text.sealing_plaintext().unwrap();
        assert_eq!(Body::from_sealed_plaintext(kind, &plaintext).unwrap(), text);
        let notice = Body::Notice(crate::testing::sample_red_notice());
        assert!(notice.sealing_plaintext().is_none());
        assert!(Body::from_sealed_plaintext(SealedKind::Diffusion, &[0xff, 0xff]).is_err());
    }
}
