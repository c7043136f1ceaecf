//! Helpers shared by the pki integration tests.

use bluehelm_pki::{CertificateAuthority, IssueRequest, NodeCredentials, Role};

/// Credentials of the NCB of country `cc` (`ncb.fr` for `FR`), issued by `ca`.
pub fn ncb(ca: &mut CertificateAuthority, cc: &str) -> NodeCredentials {
    let req = IssueRequest {
        node: format!("ncb.{}", cc.to_ascii_lowercase()).parse().unwrap(),
        role: Role::Ncb,
        country: Some(cc.to_owned()),
        mission: None,
        home: None,
        days: 30,
    };
    ca.issue(&req).unwrap().credentials().unwrap()
}
