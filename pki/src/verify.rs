//! Verifying signed envelopes: who signed (certificate trust, cached), that they signed
//! these bytes (the inclusion proof up to the batch root, then the signature over the root,
//! verified roots cached), and that the envelope claims to come from the node that signed it.

mod roots;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bluehelm_proto::{
    alone_signing_input, BatchProof, DecodeError, Envelope, SignedEnvelope, SIGNATURE_LEN,
};
use ed25519_dalek::{Signature, VerifyingKey};

use self::roots::{RootCache, RootKey};
use crate::batch::{leaf_hash, root_from_path, InclusionError, RootMemo};
use crate::crl::{signing_cutoff, SigningCutoff};
use crate::defaults::VERIFIER_CACHE_CAPACITY;
use crate::identity::{fingerprint, hex};
use crate::trust::check_validity;
use crate::{CertError, NodeId, NodeIdentity, TrustError, TrustStore, TrustStoreError};

/// An envelope whose signature, signer certificate and origin have been checked. Only this
/// crate can make one.
#[derive(Debug, Clone)]
pub struct VerifiedEnvelope {
    envelope: Envelope,
    signer: Arc<NodeIdentity>,
    signed: SignedEnvelope,
}

impl VerifiedEnvelope {
    /// The decoded envelope (decoded from the signed bytes, never re-encoded).
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The certified node that signed it; equal to the envelope's origin.
    pub fn signer(&self) -> &Arc<NodeIdentity> {
        &self.signer
    }

    /// The signed envelope as received, for storing and forwarding unchanged.
    pub fn signed(&self) -> &SignedEnvelope {
        &self.signed
    }

    /// Takes the parts apart.
    pub fn into_parts(self) -> (Envelope, Arc<NodeIdentity>, SignedEnvelope) {
        (self.envelope, self.signer, self.signed)
    }
}

/// A signed envelope was refused. All of these are the sender's (or its signer's) fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    /// The signer certificate is not trusted.
    #[error("signer certificate refused: {0}")]
    Untrusted(TrustError),
    /// The batch proof does not fit its leaf index and tree size (a path of the wrong
    /// length): no root to check a signature against.
    #[error("envelope batch proof refused: {0}")]
    BadProof(InclusionError),
    /// The signature does not match the batch root the envelope's bytes and proof lead to
    /// and the certified key: the bytes, the proof or the signature were altered, or the
    /// proof belongs to another batch.
    #[error("envelope signature does not verify against the signer certificate")]
    BadSignature,
    /// The signed bytes are not a valid envelope.
    #[error("signed envelope bytes do not decode: {0}")]
    Decode(DecodeError),
    /// The envelope claims another origin than the node that signed it.
    #[error("envelope claims origin {claimed} but was signed by {certified}")]
    OriginMismatch {
        /// The origin written in the envelope.
        claimed: NodeId,
        /// The node the signer certificate certifies.
        certified: NodeId,
    },
}

// Not `#[from]`, which would also report the inner error as `source` (printed twice).
impl From<TrustError> for VerifyError {
    fn from(e: TrustError) -> Self {
        VerifyError::Untrusted(e)
    }
}

#[derive(Clone)]
struct CachedSigner {
    identity: Arc<NodeIdentity>,
    key: VerifyingKey,
    /// SHA-256 of the certificate's DER: the signer's part of a [`RootKey`].
    fingerprint: [u8; 32],
    /// The trust generation the certificate was checked under ([`State::generation`]): a
    /// root verified with this signer is remembered only if the trust has not changed since.
    generation: u64,
    /// Set when the CRL revokes the certificate: whether an envelope it signed is accepted
    /// then depends on the envelope's creation time, so the cache keeps the facts, not the
    /// verdict.
    revoked: Option<RevokedSigner>,
}

#[derive(Clone, Copy)]
struct RevokedSigner {
    reason: Option<u8>,
    cutoff: SigningCutoff,
}

impl CachedSigner {
    /// This signer, unless its revocation leaves it nothing to sign validly: then the
    /// refusal, before any signature is checked.
    fn may_sign_something(self) -> Result<Self, TrustError> {
        match self.revoked {
            Some(RevokedSigner {
                cutoff: SigningCutoff::Nothing,
                reason,
            }) => Err(self.refusal(reason)),
            _ => Ok(self),
        }
    }

    fn refusal(&self, reason: Option<u8>) -> TrustError {
        let serial = hex(&self.identity.serial);
        match reason {
            Some(reason) => TrustError::RevokedSigner { serial, reason },
            None => TrustError::Revoked { serial },
        }
    }

    /// Whether this signer's revocation, if any, still admits an envelope created at
    /// `created_at_ms`.
    fn admits(&self, created_at_ms: i64) -> Result<(), TrustError> {
        let Some(RevokedSigner { reason, cutoff }) = self.revoked else {
            return Ok(());
        };
        if cutoff.admits(created_at_ms) {
            return Ok(());
        }
        match (cutoff, reason) {
            (SigningCutoff::Before(cutoff), Some(reason)) => {
                Err(TrustError::SignedAfterRevocation {
                    serial: hex(&self.identity.serial),
                    reason,
                    cutoff,
                    created_at_ms,
                })
            }
            // `signing_cutoff` sets a time only for a reason; refused outright otherwise.
            _ => Err(self.refusal(reason)),
        }
    }
}

struct State {
    trust: Arc<TrustStore>,
    /// Bumped whenever the trust store changes, so a certificate checked against the old
    /// one, or a root verified with it, is not cached after the change.
    generation: u64,
    cache: HashMap<[u8; 32], CachedSigner>,
    roots: RootCache,
}

/// An envelope whose signer passed and whose proof led to a root: what is left to check is
/// the signature over that root.
struct Claim {
    signer: CachedSigner,
    root: RootKey,
    signature: [u8; SIGNATURE_LEN],
}

/// Verifies signed envelopes against a trust store.
///
/// Signer certificates that passed the trust store are cached by fingerprint (at most
/// [`VERIFIER_CACHE_CAPACITY`](crate::VERIFIER_CACHE_CAPACITY)); every hit re-checks the
/// certificate's validity period against `now`, and replacing the trust store (a new CRL)
/// empties the cache. Safe to share between threads.
///
/// Batch roots whose signature verified are cached too (issue 16, item 1), keyed by signer
/// fingerprint, tree size and root, each with the exact signature bytes that verified (at
/// most [`ROOT_CACHE_CAPACITY`](crate::ROOT_CACHE_CAPACITY)): the other envelopes of the
/// batch then cost a path check each. A hit replaces only the signature check; the
/// certificate, the proof and everything after the signature are checked for every envelope.
/// Replacing the trust store empties this cache as well.
///
/// A signer the CRL revokes is cached with its revocation: an envelope it signed is accepted
/// only if its signed `created_at_ms` is before the cutoff the revocation's reason and dates
/// set ([`signing_cutoff`](crate::signing_cutoff)); with no cutoff it is refused before its
/// signature is checked.
pub struct EnvelopeVerifier {
    state: Mutex<State>,
}

impl std::fmt::Debug for EnvelopeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvelopeVerifier").finish_non_exhaustive()
    }
}

impl EnvelopeVerifier {
    /// A verifier trusting `trust`.
    pub fn new(trust: TrustStore) -> Self {
        Self {
            state: Mutex::new(State {
                trust: Arc::new(trust),
                generation: 0,
                cache: HashMap::new(),
                roots: RootCache::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is a single
        // assignment or map operation.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The trust store in use.
    pub fn trust_store(&self) -> Arc<TrustStore> {
        self.lock().trust.clone()
    }

    /// Replaces the trust store (e.g. with a new CRL) and forgets every cached signer and
    /// every verified batch root.
    pub fn replace_trust_store(&self, trust: TrustStore) {
        let mut state = self.lock();
        state.trust = Arc::new(trust);
        state.generation += 1;
        state.cache.clear();
        state.roots.clear();
    }

    /// How many verified batch roots are cached now, at most
    /// [`ROOT_CACHE_CAPACITY`](crate::ROOT_CACHE_CAPACITY): for metrics and tests.
    pub fn cached_roots(&self) -> usize {
        self.lock().roots.len()
    }

    /// Installs a new CRL (PEM or DER) for the same CA and forgets every cached signer and
    /// every verified batch root.
    pub fn set_crl(&self, crl: &[u8]) -> Result<(), TrustStoreError> {
        let trust = self.trust_store().with_crl(crl)?;
        self.replace_trust_store(trust);
        Ok(())
    }

    fn signer_for(&self, cert_der: &[u8], now: i64) -> Result<CachedSigner, TrustError> {
        let fp = fingerprint(cert_der);
        let (trust, generation) = {
            let state = self.lock();
            if let Some(hit) = state.cache.get(&fp) {
                check_validity(&hit.identity, now)?;
                let ca = state.trust.ca_info();
                if now < ca.not_before || now > ca.not_after {
                    return Err(TrustError::CaNotValid { now });
                }
                return Ok(hit.clone());
            }
            (state.trust.clone(), state.generation)
        };
        // Chain check outside the lock: it costs a signature verification.
        let (identity, revocation) = trust.verify_signer(cert_der, now)?;
        let key = VerifyingKey::from_bytes(&identity.signing_key)
            .ok()
            .filter(|k| !k.is_weak())
            .ok_or(TrustError::Malformed(CertError::NotEd25519))?;
        let entry = CachedSigner {
            identity: Arc::new(identity),
            key,
            fingerprint: fp,
            generation,
            revoked: revocation.map(|entry| RevokedSigner {
                reason: entry.reason,
                cutoff: signing_cutoff(&entry),
            }),
        };
        let mut state = self.lock();
        if state.generation == generation {
            if state.cache.len() >= VERIFIER_CACHE_CAPACITY {
                // Any entry will do: a miss only costs one chain check.
                if let Some(victim) = state.cache.keys().next().copied() {
                    state.cache.remove(&victim);
                }
            }
            state.cache.insert(fp, entry.clone());
        }
        Ok(entry)
    }

    /// The identity and key of a trusted signer certificate at `now`. Record changes carry
    /// no time of their own a revocation could be compared with: any revocation refuses.
    pub(crate) fn signer_key(
        &self,
        cert_der: &[u8],
        now: i64,
    ) -> Result<(Arc<NodeIdentity>, VerifyingKey), TrustError> {
        let signer = self.signer_for(cert_der, now)?;
        if signer.revoked.is_some() {
            return Err(TrustError::Revoked {
                serial: hex(&signer.identity.serial),
            });
        }
        Ok((signer.identity, signer.key))
    }

    /// The identity and key of `cert_der` for something it signed at `signed_at_ms`: trusted
    /// then, and, if revoked, signed before the revocation's cutoff (the envelopes' rule).
    pub(crate) fn signer_key_signed_at(
        &self,
        cert_der: &[u8],
        signed_at_ms: i64,
    ) -> Result<(Arc<NodeIdentity>, VerifyingKey), TrustError> {
        let signer = self
            .signer_for(cert_der, signed_at_ms.div_euclid(1000))?
            .may_sign_something()?;
        signer.admits(signed_at_ms)?;
        Ok((signer.identity, signer.key))
    }

    /// Verifies one signed envelope at `now_unix`: signer certificate, then the batch proof
    /// (the envelope's leaf up to a root), then the signature over the tree size and root
    /// (unless this verifier verified the same signature over the same root already), then
    /// decoding of the signed bytes, then `origin == certified node`, then, for a revoked
    /// signer, that the envelope was created before its revocation's cutoff.
    pub fn verify(
        &self,
        signed: &SignedEnvelope,
        now_unix: i64,
    ) -> Result<VerifiedEnvelope, VerifyError> {
        let Some(proof) = signed.proof() else {
            return self.verify_alone(signed, now_unix);
        };
        let signer = self.signer_for(signed.signer_certificate(), now_unix)?;
        let claim = claim(signed, proof, signer, None)?;
        let known = self.lock().roots.holds(&claim.root, &claim.signature);
        if !known {
            claim
                .signer
                .key
                .verify_strict(
                    &claim.root.signing_input(),
                    &Signature::from_bytes(&claim.signature),
                )
                .map_err(|_| VerifyError::BadSignature)?;
            self.remember([&claim]);
        }
        finish(signed, claim.signer)
    }

    /// Verifies envelopes that arrived together; result `i` belongs to `signed[i]`.
    ///
    /// Each distinct (root, signature) that is not cached is checked once, all of them in
    /// one Ed25519 batch; if the batch fails, each is checked alone to find the bad ones.
    /// Batch verification uses the cofactored equation, so a signer could craft a signature
    /// that passes in a batch and fails alone (and, once its root is cached, passes
    /// [`EnvelopeVerifier::verify`] too); that only lets a certified node confuse the
    /// acceptance of its own envelopes, never forge another's.
    pub fn verify_batch(
        &self,
        signed: &[SignedEnvelope],
        now_unix: i64,
    ) -> Vec<Result<VerifiedEnvelope, VerifyError>> {
        // `None`: signed alone (bluehelm/6), checked by itself below.
        // A batch's envelopes nearly all carry one certificate: looked up once, not
        // hashed and looked up again for each (the fingerprint was a fifth of the hub's
        // hashing). The same bytes at the same `now` get the same answer.
        let mut last_signer: Option<(&[u8], Result<CachedSigner, TrustError>)> = None;
        // Likewise their inclusion paths join each other's a node or two above the leaf.
        let mut memo = RootMemo::default();
        let claims: Vec<Option<Result<Claim, VerifyError>>> = signed
            .iter()
            .map(|s| {
                let proof = s.proof()?;
                let certificate = s.signer_certificate();
                let signer = match &last_signer {
                    Some((last, signer)) if *last == certificate => signer.clone(),
                    _ => {
                        let signer = self.signer_for(certificate, now_unix);
                        last_signer = Some((certificate, signer.clone()));
                        signer
                    }
                };
                Some(
                    signer
                        .map_err(VerifyError::from)
                        .and_then(|signer| claim(s, proof, signer, Some(&mut memo))),
                )
            })
            .collect();

        // The verdict on every distinct (root, signature): cached, or to be checked.
        let mut verdicts: foldhash::HashMap<(RootKey, [u8; SIGNATURE_LEN]), bool> =
            foldhash::HashMap::default();
        let mut unknown: Vec<&Claim> = Vec::new();
        {
            let state = self.lock();
            for claim in claims.iter().flatten().flatten() {
                let id = (claim.root, claim.signature);
                if verdicts.contains_key(&id) {
                    continue;
                }
                let known = state.roots.holds(&claim.root, &claim.signature);
                verdicts.insert(id, known);
                if !known {
                    unknown.push(claim);
                }
            }
        }
        if !unknown.is_empty() {
            let inputs: Vec<_> = unknown.iter().map(|c| c.root.signing_input()).collect();
            let messages: Vec<&[u8]> = inputs.iter().map(|input| input.as_slice()).collect();
            let signatures: Vec<Signature> = unknown
                .iter()
                .map(|c| Signature::from_bytes(&c.signature))
                .collect();
            let keys: Vec<VerifyingKey> = unknown.iter().map(|c| c.signer.key).collect();
            let all_good = ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok();
            let mut good = Vec::with_capacity(unknown.len());
            for (i, claim) in unknown.into_iter().enumerate() {
                let ok = all_good
                    || claim
                        .signer
                        .key
                        .verify_strict(messages[i], &signatures[i])
                        .is_ok();
                verdicts.insert((claim.root, claim.signature), ok);
                if ok {
                    good.push(claim);
                }
            }
            self.remember(good);
        }

        signed
            .iter()
            .zip(claims)
            .map(|(s, claim)| {
                let Some(claim) = claim else {
                    return self.verify_alone(s, now_unix);
                };
                let claim = claim?;
                // Every claim's verdict was set above; a missing one would be refused.
                let verified = verdicts
                    .get(&(claim.root, claim.signature))
                    .copied()
                    .unwrap_or(false);
                if !verified {
                    return Err(VerifyError::BadSignature);
                }
                finish(s, claim.signer)
            })
            .collect()
    }

    /// Verifies an envelope signed alone, as `bluehelm/6` and before signed each one: what a
    /// node held in custody when it was upgraded. One signature check each, never cached (no
    /// node makes these any more); every other check as for a batch.
    fn verify_alone(
        &self,
        signed: &SignedEnvelope,
        now_unix: i64,
    ) -> Result<VerifiedEnvelope, VerifyError> {
        let signer = self
            .signer_for(signed.signer_certificate(), now_unix)?
            .may_sign_something()?;
        signer
            .key
            .verify_strict(
                &alone_signing_input(signed.envelope_bytes()),
                &Signature::from_bytes(signed.signature()),
            )
            .map_err(|_| VerifyError::BadSignature)?;
        finish(signed, signer)
    }

    /// Caches the roots of claims whose signature verified, unless the trust store changed
    /// since their signer was checked: a root verified under the old CRL is not kept.
    fn remember<'a>(&self, verified: impl IntoIterator<Item = &'a Claim>) {
        let mut state = self.lock();
        let generation = state.generation;
        for claim in verified {
            if claim.signer.generation == generation {
                state.roots.insert(claim.root, claim.signature);
            }
        }
    }
}

/// The checks before the signature: a trusted signer that may still sign something, and
/// the root that the envelope's leaf and proof lead to (`memo`: a batch's last path).
fn claim(
    signed: &SignedEnvelope,
    proof: &BatchProof,
    signer: CachedSigner,
    memo: Option<&mut RootMemo>,
) -> Result<Claim, VerifyError> {
    let signer = signer.may_sign_something()?;
    let leaf = leaf_hash(signed.envelope_bytes());
    let (index, tree_size, path) = (proof.leaf_index(), proof.tree_size(), proof.path());
    let root = match memo {
        Some(memo) => memo.root_from_path(&leaf, index, tree_size, path),
        None => root_from_path(&leaf, index, tree_size, path),
    }
    .map_err(VerifyError::BadProof)?;
    Ok(Claim {
        root: RootKey {
            signer: signer.fingerprint,
            tree_size: proof.tree_size(),
            root,
        },
        signature: *signed.signature(),
        signer,
    })
}

/// Decodes the signed bytes (never re-encoding them), checks the origin, and for a revoked
/// signer the envelope's signed creation time against the cutoff.
fn finish(signed: &SignedEnvelope, signer: CachedSigner) -> Result<VerifiedEnvelope, VerifyError> {
    let envelope = Envelope::decode(signed.envelope_bytes()).map_err(VerifyError::Decode)?;
    if envelope.origin != signer.identity.node {
        return Err(VerifyError::OriginMismatch {
            claimed: envelope.origin.clone(),
            certified: signer.identity.node.clone(),
        });
    }
    signer.admits(envelope.created_at_ms)?;
    Ok(VerifiedEnvelope {
        envelope,
        signer: signer.identity,
        signed: signed.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CertificateAuthority, IssueRequest, Role};
    use bluehelm_proto::testing::{node, sample_notice_envelope};
    use bluehelm_proto::{Destination, Precedence};

    #[test]
    fn a_root_verified_under_the_trust_store_before_a_new_crl_is_not_cached_after_it() {
        let mut ca = CertificateAuthority::generate(3650).unwrap();
        let request = IssueRequest {
            node: "ncb.fr".parse().unwrap(),
            role: Role::Ncb,
            country: Some("FR".into()),
            mission: None,
            home: None,
            days: 30,
        };
        let fr = ca.issue(&request).unwrap().credentials().unwrap();
        let now = crate::ca::now_unix();
        let envelope = sample_notice_envelope(
            node("ncb.fr"),
            Destination::Node(node("gs")),
            Precedence::Routine,
            now * 1000,
            100,
        );
        let signed = fr.signer().sign(&envelope).unwrap();
        let verifier = EnvelopeVerifier::new(ca.trust_store().unwrap());
        // What `verify` does between checking the signer and caching the root, with the
        // trust store replaced in between (a CRL arriving on another thread).
        let signer = verifier
            .signer_for(signed.signer_certificate(), now)
            .unwrap();
        let claim = claim(&signed, signed.proof().unwrap(), signer, None).unwrap();
        verifier.replace_trust_store(ca.trust_store().unwrap());
        verifier.remember([&claim]);
        assert_eq!(verifier.cached_roots(), 0);
        // Under the store in force, the same root is cached once verified.
        verifier.verify(&signed, now).unwrap();
        assert_eq!(verifier.cached_roots(), 1);
    }
}
