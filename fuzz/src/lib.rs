//! What the fuzz targets share: the fixture PKI, loaded once per process.

use std::sync::OnceLock;

mod pki;

pub use pki::Pki;

/// The fixture PKI ([`Pki`]), loaded on first use.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(Pki::load)
}
