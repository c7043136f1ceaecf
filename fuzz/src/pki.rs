//! A fixed test PKI for the fuzz targets and their seeds: a CA, `ncb.fr` (in good standing)
//! and `ncb.de` (revoked for key compromise in the CRL), made once with `bluehelm pki` and
//! kept in `fuzz/fixtures/`. Fixed rather than generated per run so that envelopes signed
//! for the seed corpus still verify in every later run: mutations of them then reach the
//! signature check instead of stopping at an unknown CA. Test keys only; they sign nothing
//! outside this directory.

use bluehelm_pki::{EnvelopeVerifier, NodeCredentials, TrustStore};

const CA: &[u8] = include_bytes!("../fixtures/ca.pem");
const CRL: &[u8] = include_bytes!("../fixtures/crl.pem");
const FR_CERT: &[u8] = include_bytes!("../fixtures/ncb.fr.pem");
const FR_KEY: &[u8] = include_bytes!("../fixtures/ncb.fr.key");
const DE_CERT: &[u8] = include_bytes!("../fixtures/ncb.de.pem");
const DE_KEY: &[u8] = include_bytes!("../fixtures/ncb.de.key");

/// The fixture PKI, loaded.
pub struct Pki {
    /// The CA with its CRL.
    pub trust: TrustStore,
    /// A verifier trusting [`Pki::trust`], as a node has.
    pub verifier: EnvelopeVerifier,
    /// `ncb.fr`, in good standing.
    pub fr: NodeCredentials,
    /// `ncb.de`, revoked (key compromise) when the CRL was made.
    pub de: NodeCredentials,
    /// The instant every check is made at (Unix seconds): a minute after the CRL was
    /// issued, inside every fixture's validity, so that runs do not depend on the clock.
    pub now: i64,
}

impl Pki {
    /// Loads the fixtures. They are checked in with this code: failing to load them is a
    /// broken checkout, not an input the fuzzer found.
    pub fn load() -> Self {
        let trust = TrustStore::new(CA, Some(CRL)).expect("fixtures/ca.pem and crl.pem load");
        let now = trust
            .crl_info()
            .map(|crl| crl.this_update + 60)
            .expect("the fixture trust store has a CRL");
        Pki {
            verifier: EnvelopeVerifier::new(trust.clone()),
            trust,
            fr: NodeCredentials::from_pem(FR_CERT, FR_KEY).expect("fixtures/ncb.fr load"),
            de: NodeCredentials::from_pem(DE_CERT, DE_KEY).expect("fixtures/ncb.de load"),
            now,
        }
    }
}
