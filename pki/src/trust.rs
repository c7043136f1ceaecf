//! The trust store: this network's root CA and its current CRL, [`TrustStore::verify_node`]
//! and [`TrustStore::verify_terminal`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ring::signature::{UnparsedPublicKey, ED25519};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::OID_SIG_ED25519;
use x509_parser::x509::X509Version;

use crate::crl::{info_of, parse_x509_crl, reason_name, CrlInfo, RevokedEntry};
use crate::encoding::{pem_or_der, to_pem, EncodingError, PEM_CERTIFICATE, PEM_CRL};
use crate::files::{write_file, WriteError, PUBLIC_FILE_MODE};
use crate::identity::{fingerprint, hex, identity_of, parse_x509, strip_leading_zeros};
use crate::{CertError, NodeId, NodeIdentity, Role};

/// What a CA certificate says, after [`parse_ca_certificate`] checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaInfo {
    /// The subject distinguished name, as text.
    pub subject: String,
    /// Serial number: big-endian magnitude without leading zero bytes.
    pub serial: Vec<u8>,
    /// Start of validity, unix seconds.
    pub not_before: i64,
    /// End of validity (inclusive), unix seconds.
    pub not_after: i64,
    /// SHA-256 of the certificate's DER.
    pub fingerprint: [u8; 32],
    /// The CA's Ed25519 public key.
    pub key: [u8; 32],
    subject_der: Vec<u8>,
}

impl CaInfo {
    /// The fingerprint as lower-case hex.
    pub fn fingerprint_hex(&self) -> String {
        hex(&self.fingerprint)
    }
}

/// The trust store cannot be built: the operator's CA or CRL file is wrong.
#[derive(Debug, thiserror::Error)]
pub enum TrustStoreError {
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The input is neither DER nor PEM of the expected kind.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// The CA file holds more than one certificate.
    #[error("CA file holds {0} certificates: give only the network root CA")]
    SeveralCas(usize),
    /// The CA certificate is not a usable Bluehelm root CA.
    #[error("CA certificate is unusable: {0}")]
    BadCa(String),
    /// The CRL cannot be read.
    #[error(transparent)]
    BadCrl(#[from] crate::crl::CrlParseError),
    /// The CRL names another issuer or its signature does not verify with the CA key.
    #[error("CRL was not issued by this CA: regenerate it with `bluehelm pki crl --ca <dir>`")]
    CrlNotFromCa,
}

/// RFC 3339 UTC for messages (`2026-11-28T16:30:00Z`): people read these, not seconds since
/// 1970 (issue 10). UTC because the library does not know the reader's zone.
fn utc(unix: &i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(*unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("@{unix}"),
    }
}

/// Why a revoked signer signs nothing validly, for people.
fn refused_outright(reason: u8) -> String {
    match reason {
        1 | 2 => format!("{}, no invalidity date", reason_name(reason)),
        _ => reason_name(reason).to_owned(),
    }
}

/// A node certificate is not trusted. Each refusal has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The certificate is not a well-formed node certificate.
    #[error("malformed node certificate: {0}")]
    Malformed(CertError),
    /// The certificate was not issued (signed) by this network's CA.
    #[error("certificate was not issued by this network's CA")]
    UnknownIssuer,
    /// The certificate's validity has not started.
    #[error("certificate is not valid before {} (now {}): check the clocks", utc(.not_before), utc(.now))]
    NotYetValid {
        /// Start of validity, unix seconds.
        not_before: i64,
        /// The time checked, unix seconds.
        now: i64,
    },
    /// The certificate's validity has ended.
    #[error("certificate expired at {} (now {}): the node needs a new certificate", utc(.not_after), utc(.now))]
    Expired {
        /// End of validity, unix seconds.
        not_after: i64,
        /// The time checked, unix seconds.
        now: i64,
    },
    /// The certificate's serial is on the CRL.
    #[error("certificate serial {serial} is revoked")]
    Revoked {
        /// The serial, lower-case hex.
        serial: String,
    },
    /// An envelope signer's certificate is on the CRL with a reason under which it signs
    /// nothing validly (see [`signing_cutoff`](crate::signing_cutoff)).
    #[error("certificate serial {serial} is revoked ({}): nothing it signed is accepted", refused_outright(*.reason))]
    RevokedSigner {
        /// The serial, lower-case hex.
        serial: String,
        /// The CRL's RFC 5280 reason code (without one, the refusal is [`Revoked`](Self::Revoked)).
        reason: u8,
    },
    /// An envelope signer's certificate is on the CRL, and the envelope was created at or
    /// after the cutoff its revocation sets (see [`signing_cutoff`](crate::signing_cutoff)).
    // Short: a refusal's detail on the wire is cut at 200 characters.
    #[error("serial {serial} revoked ({}): accepted only if created before {}, created {}", reason_name(*.reason), utc(.cutoff), utc(&.created_at_ms.div_euclid(1000)))]
    SignedAfterRevocation {
        /// The serial, lower-case hex.
        serial: String,
        /// The CRL's RFC 5280 reason code.
        reason: u8,
        /// Envelopes created before this time (unix seconds) are accepted.
        cutoff: i64,
        /// The envelope's signed creation time, unix milliseconds.
        created_at_ms: i64,
    },
    /// A terminal certificate was presented where a node's is needed (a link, an envelope
    /// signer): terminals only use their node's terminal listener.
    #[error("certificate of terminal {terminal} (for node {home}) is not a node certificate: terminals connect only to their node's terminal listener")]
    TerminalNotANode {
        /// The terminal's id.
        terminal: NodeId,
        /// The node it is bound to.
        home: NodeId,
    },
    /// A node certificate was presented to a terminal listener.
    #[error("certificate of {node} has role {role}, not terminal: a terminal needs a certificate from `bluehelm pki issue --role terminal --for-node <node>`")]
    NotATerminal {
        /// The certified id.
        node: NodeId,
        /// Its role.
        role: Role,
    },
    /// A terminal certificate bound to another node.
    #[error("terminal {terminal} is bound to node {home}, not {expected}: issue it a certificate with --for-node {expected}")]
    OtherHome {
        /// The terminal's id.
        terminal: NodeId,
        /// The node its certificate names.
        home: NodeId,
        /// The node it tried to use.
        expected: NodeId,
    },
    /// Our own CA certificate is not valid now (local problem: renew the CA or fix the clock).
    #[error(
        "the network CA certificate is not valid now ({now}): check the clock or renew the CA"
    )]
    CaNotValid {
        /// The time checked, unix seconds.
        now: i64,
    },
}

// Not `#[from]`: that would also make the inner error the `source`, and error reporters
// that walk sources would print it twice.
impl From<CertError> for TrustError {
    fn from(e: CertError) -> Self {
        TrustError::Malformed(e)
    }
}

/// Checks that `now` lies in `[not_before, not_after]`.
pub(crate) fn check_validity(identity: &NodeIdentity, now: i64) -> Result<(), TrustError> {
    if now < identity.not_before {
        return Err(TrustError::NotYetValid {
            not_before: identity.not_before,
            now,
        });
    }
    if now > identity.not_after {
        return Err(TrustError::Expired {
            not_after: identity.not_after,
            now,
        });
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct LoadedCrl {
    der: Vec<u8>,
    info: CrlInfo,
    /// Serial -> index of its entry in `info.entries`.
    revoked: HashMap<Vec<u8>, usize>,
}

/// This network's root CA and, optionally, its CRL. Immutable: build a new one to change
/// the CRL.
///
/// An expired CRL (next update in the past) is still applied; callers watch
/// [`crl_next_update`](Self::crl_next_update) and alarm, so a late CRL never stops traffic.
#[derive(Debug, Clone)]
pub struct TrustStore {
    ca_der: Vec<u8>,
    ca: CaInfo,
    crl: Option<LoadedCrl>,
}

impl TrustStore {
    /// Builds a trust store from the CA certificate and an optional CRL, each PEM or DER.
    pub fn new(ca: &[u8], crl: Option<&[u8]>) -> Result<Self, TrustStoreError> {
        let mut cas = pem_or_der(ca, PEM_CERTIFICATE)?;
        if cas.len() != 1 {
            return Err(TrustStoreError::SeveralCas(cas.len()));
        }
        let ca_der = cas.remove(0);
        let ca = parse_ca_certificate(&ca_der)?;
        let mut store = Self {
            ca_der,
            ca,
            crl: None,
        };
        if let Some(crl) = crl {
            store = store.with_crl(crl)?;
        }
        Ok(store)
    }

    /// Reads the CA certificate and optional CRL files (PEM or DER).
    pub fn load(ca_path: &Path, crl_path: Option<&Path>) -> Result<Self, TrustStoreError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TrustStoreError::Io {
                path: path.to_owned(),
                source,
            })
        };
        let ca = read(ca_path)?;
        let crl = crl_path.map(read).transpose()?;
        Self::new(&ca, crl.as_deref())
    }

    /// A copy of this trust store with `crl` (PEM or DER) in place of the current CRL. The
    /// CRL must name this CA as issuer and carry a valid signature from its key.
    pub fn with_crl(&self, crl: &[u8]) -> Result<Self, TrustStoreError> {
        let der = pem_or_der(crl, PEM_CRL)?.remove(0);
        let parsed = parse_x509_crl(&der)?;
        if parsed.issuer().as_raw() != self.ca.subject_der.as_slice()
            || parsed.signature_algorithm.algorithm != OID_SIG_ED25519
        {
            return Err(TrustStoreError::CrlNotFromCa);
        }
        UnparsedPublicKey::new(&ED25519, &self.ca.key)
            .verify(
                parsed.tbs_cert_list.as_ref(),
                parsed.signature_value.data.as_ref(),
            )
            .map_err(|_| TrustStoreError::CrlNotFromCa)?;
        let info = info_of(&parsed);
        let revoked = info
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.serial.clone(), i))
            .collect();
        drop(parsed);
        Ok(Self {
            ca_der: self.ca_der.clone(),
            ca: self.ca.clone(),
            crl: Some(LoadedCrl { der, info, revoked }),
        })
    }

    /// Checks a node certificate: well-formed, signed by this CA, valid at `now_unix`, not
    /// revoked, and not a terminal's (a terminal may neither link nor sign envelopes).
    /// Returns what it certifies.
    pub fn verify_node(&self, cert_der: &[u8], now_unix: i64) -> Result<NodeIdentity, TrustError> {
        let identity = self.verify_certificate(cert_der, now_unix)?;
        Self::check_node_role(identity)
    }

    /// Checks an envelope signer's certificate as [`verify_node`](Self::verify_node) does,
    /// except that a revoked certificate is returned with its CRL entry instead of refused:
    /// whether it still signs validly depends on the envelope (see
    /// [`signing_cutoff`](crate::signing_cutoff)). Links never use this.
    pub fn verify_signer(
        &self,
        cert_der: &[u8],
        now_unix: i64,
    ) -> Result<(NodeIdentity, Option<RevokedEntry>), TrustError> {
        let identity = self.verify_unrevoked_parts(cert_der, now_unix)?;
        let revocation = self.revocation_of(&identity.serial).cloned();
        Ok((Self::check_node_role(identity)?, revocation))
    }

    /// The CRL entry of the certificate with this serial (big-endian magnitude), if the CRL
    /// in force revokes it.
    pub fn revocation_of(&self, serial: &[u8]) -> Option<&RevokedEntry> {
        let crl = self.crl.as_ref()?;
        crl.revoked.get(serial).map(|&i| &crl.info.entries[i])
    }

    /// Refuses a terminal's certificate where a node's is needed.
    fn check_node_role(identity: NodeIdentity) -> Result<NodeIdentity, TrustError> {
        if identity.role == Role::Terminal {
            return Err(TrustError::TerminalNotANode {
                home: identity
                    .home
                    .clone()
                    .unwrap_or_else(|| identity.node.clone()),
                terminal: identity.node,
            });
        }
        Ok(identity)
    }

    /// Checks a terminal certificate for the terminal listener of node `home`: well-formed,
    /// signed by this CA, valid at `now_unix`, not revoked, role `terminal`, and bound to
    /// `home`. Returns what it certifies.
    pub fn verify_terminal(
        &self,
        cert_der: &[u8],
        now_unix: i64,
        home: &NodeId,
    ) -> Result<NodeIdentity, TrustError> {
        let identity = self.verify_certificate(cert_der, now_unix)?;
        if identity.role != Role::Terminal {
            return Err(TrustError::NotATerminal {
                node: identity.node,
                role: identity.role,
            });
        }
        match &identity.home {
            Some(bound) if bound == home => Ok(identity),
            // Parsing refuses a terminal certificate without a home node.
            bound => Err(TrustError::OtherHome {
                terminal: identity.node.clone(),
                home: bound.clone().unwrap_or_else(|| identity.node.clone()),
                expected: home.clone(),
            }),
        }
    }

    /// What node and terminal checks share: shape, issuer, validity, revocation.
    fn verify_certificate(
        &self,
        cert_der: &[u8],
        now_unix: i64,
    ) -> Result<NodeIdentity, TrustError> {
        let identity = self.verify_unrevoked_parts(cert_der, now_unix)?;
        self.check_not_revoked(&identity.serial)?;
        Ok(identity)
    }

    /// Shape, issuer and validity: everything but revocation.
    fn verify_unrevoked_parts(
        &self,
        cert_der: &[u8],
        now_unix: i64,
    ) -> Result<NodeIdentity, TrustError> {
        let cert = parse_x509(cert_der)?;
        let identity = identity_of(&cert, cert_der)?;
        self.check_issued_by_ca(&cert)?;
        if now_unix < self.ca.not_before || now_unix > self.ca.not_after {
            return Err(TrustError::CaNotValid { now: now_unix });
        }
        check_validity(&identity, now_unix)?;
        Ok(identity)
    }

    pub(crate) fn check_issued_by_ca(&self, cert: &X509Certificate<'_>) -> Result<(), TrustError> {
        // The issuer name alone proves nothing (any CA can call itself "Bluehelm Network
        // Root CA"): the signature decides.
        if cert.issuer().as_raw() != self.ca.subject_der.as_slice()
            || cert.signature_algorithm.algorithm != OID_SIG_ED25519
        {
            return Err(TrustError::UnknownIssuer);
        }
        UnparsedPublicKey::new(&ED25519, &self.ca.key)
            .verify(
                cert.tbs_certificate.as_ref(),
                cert.signature_value.data.as_ref(),
            )
            .map_err(|_| TrustError::UnknownIssuer)
    }

    pub(crate) fn check_not_revoked(&self, serial: &[u8]) -> Result<(), TrustError> {
        match self.revocation_of(serial) {
            Some(_) => Err(TrustError::Revoked {
                serial: hex(serial),
            }),
            None => Ok(()),
        }
    }

    /// The CA certificate's DER (a root for rustls' `WebPkiClientVerifier`).
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// What the CA certificate says.
    pub fn ca_info(&self) -> &CaInfo {
        &self.ca
    }

    /// The CRL's DER, if one is loaded (for rustls' `with_crls`).
    pub fn crl_der(&self) -> Option<&[u8]> {
        self.crl.as_ref().map(|c| c.der.as_slice())
    }

    /// Writes the loaded CRL to `path` as PEM, readable by all (a CRL is public), atomically
    /// and durably: a temporary file, synced, renamed over `path`, and the directory synced,
    /// so that a reader or a restart sees the old CRL or the new one, whole. For a CRL that
    /// came in-band (issue 14): the node starts from it after a restart. Nothing to write
    /// without a CRL.
    pub fn save_crl(&self, path: &Path) -> Result<(), WriteError> {
        match &self.crl {
            Some(crl) => write_file(
                path,
                to_pem(PEM_CRL, &crl.der).as_bytes(),
                PUBLIC_FILE_MODE,
                true,
            ),
            None => Ok(()),
        }
    }

    /// What the loaded CRL says.
    pub fn crl_info(&self) -> Option<&CrlInfo> {
        self.crl.as_ref().map(|c| &c.info)
    }

    /// When the loaded CRL's successor is due, unix seconds.
    pub fn crl_next_update(&self) -> Option<i64> {
        self.crl.as_ref().and_then(|c| c.info.next_update)
    }
}

/// Parses and checks a Bluehelm root CA certificate: X.509 v3, self-issued and self-signed
/// with Ed25519, `CA:true`, key usage including keyCertSign and cRLSign.
pub fn parse_ca_certificate(der: &[u8]) -> Result<CaInfo, TrustStoreError> {
    let bad = |why: &str| TrustStoreError::BadCa(why.to_owned());
    let cert = parse_x509(der).map_err(|e| TrustStoreError::BadCa(e.to_string()))?;
    if cert.version() != X509Version::V3 {
        return Err(bad("not X.509 version 3"));
    }
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_SIG_ED25519 {
        return Err(bad("key is not Ed25519"));
    }
    let key: [u8; 32] = spki
        .subject_public_key
        .data
        .as_ref()
        .try_into()
        .map_err(|_| bad("Ed25519 key is not 32 bytes"))?;
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        _ => return Err(bad("basic constraints do not say CA:true")),
    }
    match cert.key_usage() {
        Ok(Some(ku)) if ku.value.key_cert_sign() && ku.value.crl_sign() => {}
        _ => return Err(bad("key usage lacks keyCertSign or cRLSign")),
    }
    if cert.issuer().as_raw() != cert.subject().as_raw()
        || cert.signature_algorithm.algorithm != OID_SIG_ED25519
    {
        return Err(bad("not a self-signed root"));
    }
    UnparsedPublicKey::new(&ED25519, &key)
        .verify(
            cert.tbs_certificate.as_ref(),
            cert.signature_value.data.as_ref(),
        )
        .map_err(|_| bad("self-signature does not verify"))?;
    Ok(CaInfo {
        subject: cert.subject().to_string(),
        serial: strip_leading_zeros(cert.raw_serial()).to_vec(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        fingerprint: fingerprint(der),
        key,
        subject_der: cert.subject().as_raw().to_vec(),
    })
}
