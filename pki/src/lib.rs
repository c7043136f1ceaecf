//! Bluehelm identity and trust.
//!
//! This crate issues and reads the network's certificates, keeps the trust store (root CA
//! and CRL), and signs and verifies envelopes. It does no networking and holds no global
//! state; the `bluehelm pki` subcommands and the daemon call it.
//!
//! # Decisions
//!
//! - **Every key is Ed25519** (rcgen `PKCS_ED25519` with ring, ed25519-dalek for envelope
//!   signatures). A node certificate's subject key is both the node's TLS key and the key
//!   that signs its envelopes: the certificate binds one key to one node id.
//! - **Envelope signatures are batch signatures** (issue 16, item 1): an origin signs the
//!   envelopes it commits together as one RFC 9162 Merkle tree whose leaves are their exact
//!   encoded bytes ([`batch`]), with one Ed25519 signature over
//!   `"bluehelm/v2/envelope-batch\0" || tree_size (u64 BE) || root`
//!   ([`bluehelm_proto::root_signing_input`], [`Signer::sign_batch`]); each envelope carries
//!   the signature, its leaf index, the tree size and its inclusion path, and verifies alone.
//!   A lone envelope is a batch of one. The exact transmitted bytes are signed and verified;
//!   they are decoded only after the signature checks and never re-encoded. The verifier
//!   caches the roots it verified, and the distinct roots of envelopes that arrive together
//!   are verified in one batch ([`ed25519_dalek::verify_batch`]), falling back to one by one
//!   to find the bad ones.
//! - **Node certificates**: random positive 16-byte serial; validity from 5 minutes ago for
//!   [`DEFAULT_NODE_VALIDITY_DAYS`]; CN = node id; SANs `urn:bluehelm:node:<id>` (URI, the
//!   identity) and `<id>.bluehelm.invalid` (DNS, because webpki only matches DNS names;
//!   dialers use it as the server name); EKU serverAuth + clientAuth; key usage
//!   digitalSignature; basicConstraints CA:false; and a non-critical identity extension
//!   under [`IDENTITY_EXTENSION_OID`] (`1.3.6.1.4.1.59541.1.1`, a **placeholder** until the
//!   project registers a Private Enterprise Number) with this DER:
//!   ```text
//!   SEQUENCE { role UTF8String,                        -- hub | ncb | mission | terminal
//!              country [0] IMPLICIT PrintableString OPTIONAL, -- ISO 3166 alpha-2
//!              mission [1] IMPLICIT UTF8String OPTIONAL,
//!              home [2] IMPLICIT UTF8String OPTIONAL,  -- terminal only: its node's id
//!              signing UTF8String }                    -- "ed25519-subject-key"
//!   ```
//!   Role rules ([`check_role_rules`]): `hub` has neither country nor mission, `ncb`
//!   requires a country, `mission` requires a mission code (a host country is allowed),
//!   `terminal` may carry either. Home rule ([`check_home_rule`]): a `terminal` requires
//!   `home`, the one node whose terminal listener it may use, and no other role has one.
//! - **Terminal certificates** (issue 4) have a node certificate's shape with the
//!   terminal's own id, the `home` field, and EKU clientAuth only (never a TLS server).
//!   [`TrustStore::verify_node`] refuses them, so a terminal cannot link or sign envelopes;
//!   [`TrustStore::verify_terminal`] accepts only a terminal bound to the given node.
//! - **Encryption keys** (issue 14, item 4): every node certificate but a terminal's also
//!   carries an X25519 key in a second non-critical extension (`1.3.6.1.4.1.59541.1.2`,
//!   [`ENCRYPTION_EXTENSION_OID`]), so that the one CRL entry revokes identity and encryption
//!   key together and no second certificate chain is needed; its private half is written
//!   beside the node key as `<node>.enc.key`. [`seal`] seals and opens bodies with HPKE and
//!   reads the sealing directory the CA makes from its register.
//! - **Root CA**: self-signed Ed25519, CN "Bluehelm Network Root CA", CA:true pathlen 0,
//!   key usage keyCertSign + cRLSign, ten years by default. CRLs are signed by the root
//!   itself (webpki and OpenSSL both accept this), numbered from 1 upwards.
//! - **Files**: keys are PKCS#8 v1 PEM (what `openssl genpkey` writes; v2 is read too)
//!   written with mode 0600 at creation, in directories created 0700; a key file that its
//!   group or others can read is refused. See [`ca`] for the CA directory layout.
//! - **No going back to an older CRL**: [`AppliedCrl`] remembers the highest CRL number a
//!   node has put in force and refuses a lower one.
//!
//! # Not done here
//!
//! TLS configuration (the daemon feeds [`TrustStore::ca_der`] and [`TrustStore::crl_der`]
//! to rustls), CRL distribution, and any policy on what a verified node may send.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod applied_crl;
pub mod batch;
pub mod ca;
mod checkpoint;
mod credentials;
mod crl;
mod defaults;
mod der;
mod encoding;
mod files;
mod identity;
mod records;
mod role;
pub mod seal;
mod signer;
mod trust;
mod verify;

pub use applied_crl::{AppliedCrl, AppliedCrlError, CrlNumber, CrlRollbackError};
pub use bluehelm_proto::NodeId;
pub use ca::{
    CaError, CertStatus, CertificateAuthority, IssueRequest, IssuedNode, IssuedRecord, Revocation,
    RevocationRecord, Revokee, Rotated,
};
pub use checkpoint::CHECKPOINT_SIGNATURE_LEN;
pub use credentials::{CredentialsError, NodeCredentials};
pub use crl::{
    parse_crl, reason_name, signing_cutoff, CrlInfo, CrlParseError, RevokedEntry, SigningCutoff,
};
pub use defaults::*;
pub use encoding::{pem_kind, pem_or_der, EncodingError, PemKind};
pub use files::{ReadError, WriteError};
pub use identity::{parse_certificate, CertError, NodeIdentity};
pub use rcgen::RevocationReason;
pub use records::{record_leaf_hash, RecordVerifyError, VerifiedChange};
pub use role::{check_home_rule, check_role_rules, ParseRoleError, Role, RoleRuleError};
pub use signer::{SignError, Signer};
pub use trust::{parse_ca_certificate, CaInfo, TrustError, TrustStore, TrustStoreError};
pub use verify::{EnvelopeVerifier, VerifiedEnvelope, VerifyError};
