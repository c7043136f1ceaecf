//! The network's certificate authority: create it, issue node certificates, record
//! revocations and sign CRLs. Used by `bluehelm pki`; nodes never hold the CA key.
//!
//! A CA directory (created with mode 0700) holds:
//! - `ca.pem`: the root certificate (mode 0644);
//! - `ca.key`: its PKCS#8 v1 Ed25519 key (mode 0600, refused if group/world readable);
//! - `issued.json`: the register of every certificate issued, see [`IssuedRecord`];
//! - `revoked.json` and `crl_number`: see [`RevocationRecord`] for their format.
//!
//! The three bookkeeping files are mode 0644 like `ca.pem`: they hold serials, node ids and
//! fingerprints, nothing secret, and the directory itself is 0700. Each is replaced whole
//! (temporary file, sync, rename), so a crash leaves the old or the new version.
//!
//! Two operators must not run commands against one CA directory at the same time.

mod directory;
mod register;
mod revocations;
mod revoke;
mod rotate;

use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use rustls_pki_types::PrivatePkcs8KeyDer;
use time::OffsetDateTime;

pub use directory::{write_directory, DirectoryContents};
use register::RegisterFile;
pub use register::{normalize_serial, status_at, CertStatus, IssuedRecord};
pub(crate) use revocations::parse_hex;
use revocations::RevocationFile;
pub use revocations::RevocationRecord;
pub use revoke::{Revocation, Revokee};
pub use rotate::Rotated;

use crate::defaults::{
    BACKDATE_SECS, CA_COMMON_NAME, ENCRYPTION_EXTENSION_OID, IDENTITY_EXTENSION_OID,
    NODE_DNS_SUFFIX, NODE_URI_PREFIX, SERIAL_LEN,
};
use crate::encoding::{pem_or_der, to_pem, EncodingError, PEM_CERTIFICATE, PEM_CRL};
use crate::files::{
    create_key_dir, ensure_absent, read_file, read_key_file, write_file, ReadError, WriteError,
    KEY_FILE_MODE, PUBLIC_FILE_MODE,
};
use crate::identity::{encode_encryption_extension, hex};
use crate::role::{check_home_rule, check_role_rules, IdentityExtension, RoleRuleError};
use crate::trust::{parse_ca_certificate, TrustStore, TrustStoreError};
use crate::{CertError, NodeId, NodeIdentity, Role};

/// File name of the CA certificate in a CA directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA key in a CA directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// File name of the register of issued certificates in a CA directory.
pub const REGISTER_FILE: &str = "issued.json";
/// File name of the revocation records in a CA directory.
pub const REVOKED_FILE: &str = "revoked.json";
/// File name of the last CRL number in a CA directory.
pub const CRL_NUMBER_FILE: &str = "crl_number";
/// Folder of a CA directory holding a copy of each certificate issued, `<serial>.pem`, from
/// which `pki directory` builds the sealing directory (issue 14, item 4).
pub const ISSUED_CERTS_DIR: &str = "certs";

const SECS_PER_DAY: i64 = 86_400;

/// A CA operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A file could not be written (or exists and `force` was not given).
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A file could not be read, or the key file is too open.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The CA certificate is unusable.
    #[error(transparent)]
    CaCertificate(#[from] TrustStoreError),
    /// The CA key is not an Ed25519 PKCS#8 key or does not match the certificate.
    #[error("CA key {0}: check that ca.key belongs to ca.pem")]
    BadCaKey(String),
    /// A bookkeeping file (`issued.json`, `revoked.json`, `crl_number`) is corrupt.
    #[error("{} is corrupt ({reason}): restore it from backup", path.display())]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The request breaks the role rules.
    #[error(transparent)]
    RoleRules(#[from] RoleRuleError),
    /// The requested validity is empty or out of range.
    #[error("invalid validity period: {0}")]
    BadValidity(String),
    /// The certificate to revoke is not PEM or DER.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// The certificate to revoke is not a node certificate.
    #[error(transparent)]
    BadCertificate(#[from] CertError),
    /// The certificate to revoke was not issued by this CA.
    #[error("certificate for {0} was not issued by this CA: check --ca")]
    NotOurs(NodeId),
    /// The certificate is already revoked.
    #[error("certificate serial {serial} was already revoked at {revoked_at}")]
    AlreadyRevoked {
        /// The serial, hex.
        serial: String,
        /// When, unix seconds.
        revoked_at: i64,
    },
    /// `revoke --serial` was given something that is not a hex serial number.
    #[error("`{0}` is not a serial number: give it in hex as `bluehelm pki list` shows it")]
    BadSerial(String),
    /// `revoke --serial`: the register has no certificate with this serial.
    #[error("serial {0} is not in this CA's register: check it with `bluehelm pki list`; a certificate issued before the register existed can be revoked with --cert FILE")]
    UnknownSerial(String),
    /// `revoke --node`: the register has no certificate of this node.
    #[error("no certificate of {0} is in this CA's register: check the id with `bluehelm pki list`; a certificate issued before the register existed can be revoked with --cert FILE")]
    UnknownNode(NodeId),
    /// A compromise time that does not fit the revocation.
    #[error("invalid compromise time: {0}")]
    CompromiseTime(String),
    /// `revoke --node`: every certificate of this node is already revoked or expired.
    #[error("every certificate of {0} in this CA's register is already revoked or expired: see `bluehelm pki list`")]
    NothingToRevoke(NodeId),
    /// rcgen refused to build a certificate or CRL (a bug or an impossible request).
    #[error("cannot build certificate or CRL: {0}")]
    Build(String),
    /// The system random generator failed.
    #[error("the system random number generator failed")]
    Randomness,
}

fn build_err(e: rcgen::Error) -> CaError {
    CaError::Build(e.to_string())
}

/// What to put in a node certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    /// The node id.
    pub node: NodeId,
    /// The node's role.
    pub role: Role,
    /// ISO 3166 alpha-2 country, upper case (required for `ncb`).
    pub country: Option<String>,
    /// Mission code (required for `mission`).
    pub mission: Option<String>,
    /// For `terminal` (required) and only then: the node whose terminal listener the
    /// terminal may use. See [`check_home_rule`](crate::check_home_rule).
    pub home: Option<NodeId>,
    /// Validity in days from now (see [`DEFAULT_NODE_VALIDITY_DAYS`](crate::DEFAULT_NODE_VALIDITY_DAYS)).
    pub days: u32,
}

/// A freshly issued node certificate and key.
#[derive(Debug, Clone)]
pub struct IssuedNode {
    /// What the certificate certifies.
    pub identity: NodeIdentity,
    /// The node certificate's DER.
    pub cert_der: Vec<u8>,
    /// PEM of the node certificate followed by the CA certificate.
    pub cert_pem: String,
    /// PEM of the node's PKCS#8 Ed25519 key.
    pub key_pem: String,
    /// PEM of the node's X25519 decryption key, whose public half the certificate carries
    /// (issue 14, item 4); `None` for a terminal, which reads through its node's inbox.
    pub encryption_key_pem: Option<String>,
}

impl IssuedNode {
    /// Writes `DIR/<node>.pem` (0644), `DIR/<node>.key` (0600) and, with an encryption key,
    /// `DIR/<node>.enc.key` (0600), refusing to overwrite any unless `force`, and creating
    /// `DIR` (mode 0700) if needed. Returns the certificate's and the node key's paths.
    pub fn write_to(&self, dir: &Path, force: bool) -> Result<(PathBuf, PathBuf), WriteError> {
        let (cert_path, key_path) = Self::check_target(dir, &self.identity.node, force)?;
        create_key_dir(dir)?;
        write_file(&key_path, self.key_pem.as_bytes(), KEY_FILE_MODE, force)?;
        if let Some(pem) = &self.encryption_key_pem {
            let path = Self::encryption_key_path(dir, &self.identity.node);
            write_file(&path, pem.as_bytes(), KEY_FILE_MODE, force)?;
        }
        write_file(
            &cert_path,
            self.cert_pem.as_bytes(),
            PUBLIC_FILE_MODE,
            force,
        )?;
        Ok((cert_path, key_path))
    }

    /// The paths [`write_to`](Self::write_to) would write for `node`, or
    /// [`WriteError::Exists`] if one exists and not `force`. `pki issue` asks before issuing,
    /// so that a refusal does not leave an entry in the register for a certificate nobody
    /// received.
    pub fn check_target(
        dir: &Path,
        node: &NodeId,
        force: bool,
    ) -> Result<(PathBuf, PathBuf), WriteError> {
        let cert_path = dir.join(format!("{node}.pem"));
        let key_path = dir.join(format!("{node}.key"));
        let encryption_path = Self::encryption_key_path(dir, node);
        ensure_absent(&[&cert_path, &key_path, &encryption_path], force)?;
        Ok((cert_path, key_path))
    }

    /// Where [`write_to`](Self::write_to) puts the decryption key: `DIR/<node>.enc.key`.
    pub fn encryption_key_path(dir: &Path, node: &NodeId) -> PathBuf {
        dir.join(format!("{node}{}", crate::seal::ENCRYPTION_KEY_FILE_SUFFIX))
    }

    /// Loads these as credentials without touching the disk (tests, tools).
    pub fn credentials(&self) -> Result<crate::NodeCredentials, crate::CredentialsError> {
        crate::NodeCredentials::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
    }
}

/// The network root CA: its key, its certificate and its revocation bookkeeping.
pub struct CertificateAuthority {
    key: KeyPair,
    cert_der: Vec<u8>,
    dir: Option<PathBuf>,
    register: RegisterFile,
    revocations: RevocationFile,
    crl_number: u64,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("dir", &self.dir)
            .field("issued", &self.register.issued.len())
            .field("revoked", &self.revocations.revoked.len())
            .field("crl_number", &self.crl_number)
            .finish_non_exhaustive()
    }
}

/// Current time in unix seconds.
pub fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn datetime(unix: i64) -> Result<OffsetDateTime, CaError> {
    OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|_| CaError::BadValidity(format!("time {unix} is out of range")))
}

fn validity_from_days(days: u32) -> Result<(i64, i64), CaError> {
    if days == 0 {
        return Err(CaError::BadValidity("days must be at least 1".into()));
    }
    let now = now_unix();
    Ok((now - BACKDATE_SECS, now + i64::from(days) * SECS_PER_DAY))
}

/// 16 random bytes with the top bit clear and a non-zero first byte, so the DER INTEGER is
/// positive and exactly 16 bytes long.
fn random_serial() -> Result<Vec<u8>, CaError> {
    let mut serial = vec![0u8; SERIAL_LEN];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial)
        .map_err(|_| CaError::Randomness)?;
    serial[0] = (serial[0] & 0x7f).max(1);
    Ok(serial)
}

/// A new Ed25519 key, kept as PKCS#8 v1 (RFC 5208: version 0, no public key field), the form
/// `openssl genpkey -algorithm ed25519` writes. ring and rcgen generate v2 (RFC 5958, with the
/// public key), which OpenSSL 3.0 and Python's `cryptography` cannot load, so a terminal
/// client written with them could not use its key (issue 10, defect 5). Every reader here
/// (ed25519-dalek, ring, rustls) takes both versions.
fn new_ed25519_key() -> Result<KeyPair, CaError> {
    let mut secret_key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret_key)
        .map_err(|_| CaError::Randomness)?;
    let v1 = KeypairBytes {
        secret_key,
        public_key: None,
    };
    let der = v1
        .to_pkcs8_der()
        .map_err(|e| CaError::Build(format!("cannot encode the new key: {e}")))?;
    KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(der.as_bytes()),
        &rcgen::PKCS_ED25519,
    )
    .map_err(build_err)
}

impl CertificateAuthority {
    /// Creates a CA in memory with a validity of `days` from now. Its register, revocations
    /// and CRL numbers are then kept in memory only.
    pub fn generate(days: u32) -> Result<Self, CaError> {
        let (not_before, not_after) = validity_from_days(days)?;
        Self::generate_with_validity(not_before, not_after)
    }

    /// Creates a CA in memory with an explicit validity in unix seconds.
    pub fn generate_with_validity(not_before: i64, not_after: i64) -> Result<Self, CaError> {
        if not_after <= not_before {
            return Err(CaError::BadValidity(
                "not_after must follow not_before".into(),
            ));
        }
        let key = new_ed25519_key()?;
        let mut params = CertificateParams::default();
        params.not_before = datetime(not_before)?;
        params.not_after = datetime(not_after)?;
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, CA_COMMON_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.key_identifier_method = KeyIdMethod::Sha256;
        let cert = params.self_signed(&key).map_err(build_err)?;
        Ok(Self {
            key,
            cert_der: cert.der().to_vec(),
            dir: None,
            register: RegisterFile::new(true, now_unix()),
            revocations: RevocationFile::new(),
            crl_number: 0,
        })
    }

    /// Creates a CA valid for `days` and writes `DIR/ca.pem` and `DIR/ca.key` (0600),
    /// creating `DIR` (mode 0700: it holds the network's root key) if needed. Refuses to
    /// overwrite an existing CA unless `force`; with `force` the old register, revocation
    /// records and CRL number are discarded as well.
    pub fn init(dir: &Path, days: u32, force: bool) -> Result<Self, CaError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        ensure_absent(&[&cert_path, &key_path], force)?;
        create_key_dir(dir)?;
        let mut ca = Self::generate(days)?;
        write_file(
            &key_path,
            ca.key.serialize_pem().as_bytes(),
            KEY_FILE_MODE,
            force,
        )?;
        write_file(
            &cert_path,
            ca.cert_pem().as_bytes(),
            PUBLIC_FILE_MODE,
            force,
        )?;
        ca.dir = Some(dir.to_owned());
        ca.save_register()?;
        ca.save_revocations()?;
        ca.save_crl_number()?;
        Ok(ca)
    }

    /// Loads the CA from `DIR` (see the module docs for the files).
    pub fn load(dir: &Path) -> Result<Self, CaError> {
        let cert = read_file(&dir.join(CA_CERT_FILE))?;
        let key_pem = read_key_file(&dir.join(CA_KEY_FILE))?;
        let cert_der = pem_or_der(&cert, PEM_CERTIFICATE)?.remove(0);
        let info = parse_ca_certificate(&cert_der)?;
        let key_pem =
            String::from_utf8(key_pem).map_err(|_| CaError::BadCaKey("is not PEM".into()))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| CaError::BadCaKey(e.to_string()))?;
        if key.algorithm() != &rcgen::PKCS_ED25519 {
            return Err(CaError::BadCaKey("is not Ed25519".into()));
        }
        if key.public_key_raw() != info.key {
            return Err(CaError::BadCaKey(
                "does not match the CA certificate".into(),
            ));
        }
        // A CA created before the register existed (issue 14) has no issued.json: it starts
        // an incomplete one, written at its next issue or revocation by file.
        let register = read_state(&dir.join(REGISTER_FILE), RegisterFile::parse)?
            .unwrap_or_else(|| RegisterFile::new(false, now_unix()));
        let revocations = read_state(&dir.join(REVOKED_FILE), RevocationFile::parse)?
            .unwrap_or_else(RevocationFile::new);
        let crl_number = read_state(&dir.join(CRL_NUMBER_FILE), |bytes| {
            std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .ok_or_else(|| "not a decimal number".to_owned())
        })?
        .unwrap_or(0);
        Ok(Self {
            key,
            cert_der,
            dir: Some(dir.to_owned()),
            register,
            revocations,
            crl_number,
        })
    }

    /// The CA certificate's DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA certificate as PEM.
    pub fn cert_pem(&self) -> String {
        to_pem(PEM_CERTIFICATE, &self.cert_der)
    }

    /// A trust store for this CA holding a fresh CRL of the current revocations (valid for
    /// [`DEFAULT_CRL_VALIDITY_DAYS`](crate::DEFAULT_CRL_VALIDITY_DAYS)); convenient for
    /// tests and local networks. Does not advance the stored CRL number.
    pub fn trust_store(&self) -> Result<TrustStore, CaError> {
        let crl = self.crl_der_at(
            now_unix(),
            crate::DEFAULT_CRL_VALIDITY_DAYS,
            self.crl_number + 1,
        )?;
        Ok(TrustStore::new(&self.cert_der, Some(&crl))?)
    }

    /// The revocations recorded so far.
    pub fn revocations(&self) -> &[RevocationRecord] {
        &self.revocations.revoked
    }

    /// The register: every certificate issued, oldest first (for an incomplete register,
    /// since [`register_started_at`](Self::register_started_at)).
    pub fn issued(&self) -> &[IssuedRecord] {
        &self.register.issued
    }

    /// Whether the register lists every certificate this CA issued: false for a CA created
    /// before the register existed (issue 14), whose older certificates are not in it.
    pub fn register_is_complete(&self) -> bool {
        self.register.complete
    }

    /// When the register started, unix seconds.
    pub fn register_started_at(&self) -> i64 {
        self.register.started_at
    }

    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, CaError> {
        Issuer::from_ca_cert_der(&self.cert_der.as_slice().into(), &self.key).map_err(build_err)
    }

    /// Issues a node certificate valid from five minutes ago for `request.days` days and
    /// records it in the register (`issued.json`) before returning it: a certificate whose
    /// recording failed is not handed out.
    pub fn issue(&mut self, request: &IssueRequest) -> Result<IssuedNode, CaError> {
        let (not_before, not_after) = validity_from_days(request.days)?;
        self.issue_with_validity(request, not_before, not_after)
    }

    /// Issues a node certificate with an explicit validity in unix seconds (`request.days`
    /// is ignored). For tests and for tools that align renewals.
    ///
    /// A `terminal` certificate has the same names as a node's (its own id) plus its home
    /// node in the identity extension, and extended key usage clientAuth only: it can never
    /// serve TLS, so no dialler takes it for a node.
    pub fn issue_with_validity(
        &mut self,
        request: &IssueRequest,
        not_before: i64,
        not_after: i64,
    ) -> Result<IssuedNode, CaError> {
        check_role_rules(
            request.role,
            request.country.as_deref(),
            request.mission.as_deref(),
        )?;
        check_home_rule(request.role, &request.node, request.home.as_ref())?;
        if not_after <= not_before {
            return Err(CaError::BadValidity(
                "not_after must follow not_before".into(),
            ));
        }
        let node = request.node.as_str();
        let ia5 = |s: String| rcgen::string::Ia5String::try_from(s).map_err(build_err);
        let extension = IdentityExtension {
            role: request.role,
            country: request.country.clone(),
            mission: request.mission.clone(),
            home: request.home.clone(),
        };

        let mut params = CertificateParams::default();
        params.not_before = datetime(not_before)?;
        params.not_after = datetime(not_after)?;
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, node);
        params.subject_alt_names = vec![
            SanType::URI(ia5(format!("{NODE_URI_PREFIX}{node}"))?),
            SanType::DnsName(ia5(format!("{node}{NODE_DNS_SUFFIX}"))?),
        ];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = match request.role {
            Role::Terminal => vec![ExtendedKeyUsagePurpose::ClientAuth],
            _ => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        };
        // Non-critical: webpki rejects certificates with unknown critical extensions.
        params.custom_extensions = vec![CustomExtension::from_oid_content(
            IDENTITY_EXTENSION_OID,
            extension.to_der(),
        )];
        // Issue 14, item 4: every node gets an X25519 key that sealed bodies are encrypted
        // to, certified here beside its identity (revoked with it by the same CRL entry). A
        // terminal reads through its node's inbox, so it needs none.
        let encryption_key =
            (request.role != Role::Terminal).then(crate::seal::DecryptionKey::generate);
        if let Some(key) = &encryption_key {
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    ENCRYPTION_EXTENSION_OID,
                    encode_encryption_extension(&key.public_key()),
                ));
        }
        params.use_authority_key_identifier_extension = true;

        let key = new_ed25519_key()?;
        let cert = params.signed_by(&key, &self.issuer()?).map_err(build_err)?;
        let cert_der = cert.der().to_vec();
        let identity = crate::parse_certificate(&cert_der)?;
        // The copy the sealing directory is made from; written before the register so that
        // every registered certificate has one.
        self.save_issued_copy(&identity, &cert.pem())?;
        self.register.issued.push(IssuedRecord::of(&identity));
        if let Err(e) = self.save_register() {
            // Keep memory as on disk; the certificate and its key are dropped unseen.
            self.register.issued.pop();
            return Err(e);
        }
        Ok(IssuedNode {
            identity,
            cert_pem: format!("{}{}", cert.pem(), self.cert_pem()),
            key_pem: key.serialize_pem(),
            encryption_key_pem: encryption_key.as_ref().map(|k| k.to_pem()),
            cert_der,
        })
    }

    /// Signs a CRL listing every revocation, valid from now for `next_update_days`, with
    /// the next CRL number (saved to `crl_number` first, so numbers never repeat). PEM.
    pub fn crl(&mut self, next_update_days: u32) -> Result<String, CaError> {
        self.crl_issued_at(now_unix(), next_update_days)
    }

    /// [`crl`](Self::crl) as if signed at `this_update` (Unix seconds): with a time in the
    /// past, a CRL that has already expired, for drills and tests of the expiry alarms.
    pub fn crl_issued_at(
        &mut self,
        this_update: i64,
        next_update_days: u32,
    ) -> Result<String, CaError> {
        let number = self.crl_number + 1;
        let der = self.crl_der_at(this_update, next_update_days, number)?;
        self.crl_number = number;
        self.save_crl_number()?;
        Ok(to_pem(PEM_CRL, &der))
    }

    fn crl_der_at(&self, now: i64, days: u32, number: u64) -> Result<Vec<u8>, CaError> {
        if days == 0 {
            return Err(CaError::BadValidity("CRL days must be at least 1".into()));
        }
        let revoked_certs = self
            .revocations
            .revoked
            .iter()
            .map(|r| {
                Ok(RevokedCertParams {
                    // Checked when the file was parsed; records made here are hex already.
                    serial_number: SerialNumber::from_slice(
                        &parse_hex(&r.serial).unwrap_or_default(),
                    ),
                    revocation_time: datetime(r.revoked_at)?,
                    reason_code: r.reason.and_then(reason_from_code),
                    invalidity_date: r.invalidity_date.map(datetime).transpose()?,
                })
            })
            .collect::<Result<Vec<_>, CaError>>()?;
        let params = CertificateRevocationListParams {
            this_update: datetime(now)?,
            next_update: datetime(now + i64::from(days) * SECS_PER_DAY)?,
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.issuer()?).map_err(build_err)?;
        Ok(crl.der().to_vec())
    }

    fn save_register(&self) -> Result<(), CaError> {
        self.save_state(REGISTER_FILE, &self.register.to_json())
    }

    fn save_revocations(&self) -> Result<(), CaError> {
        self.save_state(REVOKED_FILE, &self.revocations.to_json())
    }

    fn save_crl_number(&self) -> Result<(), CaError> {
        self.save_state(CRL_NUMBER_FILE, format!("{}\n", self.crl_number).as_bytes())
    }

    /// Replaces bookkeeping file `name` of the CA directory, if the CA has one.
    fn save_state(&self, name: &str, contents: &[u8]) -> Result<(), CaError> {
        if let Some(dir) = &self.dir {
            write_file(&dir.join(name), contents, PUBLIC_FILE_MODE, true)?;
        }
        Ok(())
    }
}

/// Reads and parses a bookkeeping file of the CA directory; `None` if it does not exist.
fn read_state<T>(
    path: &Path,
    parse: impl FnOnce(&[u8]) -> Result<T, String>,
) -> Result<Option<T>, CaError> {
    match std::fs::read(path) {
        Ok(bytes) => parse(&bytes)
            .map(Some)
            .map_err(|reason| CaError::CorruptState {
                path: path.to_owned(),
                reason,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ReadError::Io {
            path: path.to_owned(),
            source,
        }
        .into()),
    }
}

/// Parses an RFC 5280 reason name (`key-compromise`, …) as used on the command line.
pub fn parse_reason(name: &str) -> Option<RevocationReason> {
    (0..=10u8)
        .filter_map(reason_from_code)
        .find(|r| crate::crl::reason_name(*r as u8) == name)
}

fn reason_from_code(code: u8) -> Option<RevocationReason> {
    use RevocationReason::*;
    Some(match code {
        0 => Unspecified,
        1 => KeyCompromise,
        2 => CaCompromise,
        3 => AffiliationChanged,
        4 => Superseded,
        5 => CessationOfOperation,
        6 => CertificateHold,
        8 => RemoveFromCrl,
        9 => PrivilegeWithdrawn,
        10 => AaCompromise,
        _ => return None,
    })
}

/// Lower-case hex (re-exported for the CLI's output).
pub fn to_hex(bytes: &[u8]) -> String {
    hex(bytes)
}

/// An NCB certificate for `node` (country FR, 30 days), for the crate's unit tests.
#[cfg(test)]
pub(crate) fn issue_test_ncb(ca: &mut CertificateAuthority, node: &str) -> IssuedNode {
    ca.issue(&IssueRequest {
        node: node.parse().expect("a test node id"),
        role: Role::Ncb,
        country: Some("FR".into()),
        mission: None,
        home: None,
        days: 30,
    })
    .expect("issued")
}
