//! Constants of the PKI, each with the reason for its value.

/// Node certificates live 397 days by default: the longest lifetime browsers accept for
/// TLS server certificates, which operators already know how to schedule renewals for.
pub const DEFAULT_NODE_VALIDITY_DAYS: u32 = 397;

/// The network root lives ten years: replacing it means touching every node.
pub const DEFAULT_CA_VALIDITY_DAYS: u32 = 3650;

/// A CRL promises its successor within a week: short enough that a stale CRL is noticed,
/// long enough to survive a weekend without an operator.
pub const DEFAULT_CRL_VALIDITY_DAYS: u32 = 7;

/// Certificates start five minutes in the past so that a peer whose clock is slightly
/// behind does not refuse a certificate issued just now.
pub const BACKDATE_SECS: i64 = 5 * 60;

/// Common name of the network root CA.
pub const CA_COMMON_NAME: &str = "Bluehelm Network Root CA";

/// URI subject alternative name prefix that carries a node's identity.
pub const NODE_URI_PREFIX: &str = "urn:bluehelm:node:";

/// DNS subject alternative name suffix. webpki matches only DNS and IP names, so every node
/// id is also carried as `<id>.bluehelm.invalid` (RFC 6761 reserves `.invalid`: it can
/// never resolve) and dialers use that as the TLS server name.
pub const NODE_DNS_SUFFIX: &str = ".bluehelm.invalid";

/// OID of the Bluehelm identity extension: `1.3.6.1.4.1.59541.1.1`.
///
/// PLACEHOLDER: 59541 is not a Private Enterprise Number registered to this project. Register
/// a PEN with IANA before production and reissue; until then the extension is non-critical,
/// so other software ignores it.
pub const IDENTITY_EXTENSION_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 59541, 1, 1];

/// OID of the encryption key extension (issue 14, item 4): `1.3.6.1.4.1.59541.1.2`, under
/// the same placeholder arc as [`IDENTITY_EXTENSION_OID`]. Non-critical: a node or tool that
/// does not know it still accepts the certificate. Its DER:
/// `SEQUENCE { scheme UTF8String, key OCTET STRING (32) }`.
pub const ENCRYPTION_EXTENSION_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 59541, 1, 2];

/// The encryption extension's `scheme`: what the key is for, so that a later scheme gets
/// a new name rather than a silent reinterpretation.
pub const ENCRYPTION_SCHEME: &str = "hpke-base-x25519-hkdf-sha256-chacha20poly1305";

/// Value of the extension's `signing` field: envelopes are signed with the certificate's own
/// Ed25519 subject key.
pub const SIGNING_SCHEME: &str = "ed25519-subject-key";

/// Serial numbers are 16 random bytes (128 bits), positive, well under RFC 5280's 20 octets.
pub const SERIAL_LEN: usize = 16;

/// How many chain-verified signer certificates `EnvelopeVerifier` remembers. A network has
/// a few hundred nodes; a peer that floods distinct certificates only evicts entries.
pub const VERIFIER_CACHE_CAPACITY: usize = 1024;

/// How many verified batch roots (issue 16, item 1) `EnvelopeVerifier` remembers, each with
/// its signer, tree size and signature (136 bytes of key and value: well under 1 MiB in all
/// with the map's overhead). The envelopes of one batch travel together (one commit, one link),
/// so a root is needed again within moments of its first check; 4096 holds several rounds
/// of every origin of a network of a few hundred nodes. A miss costs one signature check.
pub const ROOT_CACHE_CAPACITY: usize = 4096;
