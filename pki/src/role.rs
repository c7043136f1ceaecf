//! Node roles, the rules that tie a role to a country or mission, and the DER of the
//! identity extension that carries them in a certificate.
//!
//! ```text
//! BluehelmIdentity ::= SEQUENCE {
//!     role     UTF8String,                        -- "hub" | "ncb" | "mission" | "terminal"
//!     country  [0] IMPLICIT PrintableString OPTIONAL,  -- ISO 3166-1 alpha-2, upper case
//!     mission  [1] IMPLICIT UTF8String OPTIONAL,       -- mission code, e.g. "UNMISS"
//!     home     [2] IMPLICIT UTF8String OPTIONAL,       -- terminal only: its node's id
//!     signing  UTF8String                          -- "ed25519-subject-key"
//! }
//! ```
//!
//! `home` binds a terminal certificate to the one node whose terminal listener it may use
//! (issue 4). It is inside the CA's signature, so only the CA can set or change it; a
//! terminal certificate without it, or a node certificate with it, does not parse. Node
//! certificates never carry it, so their DER is the same as before the field existed.

use std::fmt;
use std::str::FromStr;

use crate::defaults::SIGNING_SCHEME;
use crate::der::{write_tlv, Reader};
use crate::NodeId;

/// Longest accepted mission code.
pub const MAX_MISSION_LEN: usize = 32;
/// Shortest accepted mission code: a two-letter one would read as a country.
pub const MIN_MISSION_LEN: usize = 3;

const TAG_SEQUENCE: u8 = 0x30;
const TAG_UTF8: u8 = 0x0c;
const TAG_COUNTRY: u8 = 0x80;
const TAG_MISSION: u8 = 0x81;
const TAG_HOME: u8 = 0x82;

/// What a node is in the network; decides which attributes its certificate must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The central hub (INTERPOL's General Secretariat, node `gs`). No country, no mission.
    Hub,
    /// A national central bureau. Requires a country.
    Ncb,
    /// A UN or regional mission post. Requires a mission code; may name a host country.
    Mission,
    /// An end-user terminal on a node's LAN (issue 4). Country and mission are optional; it
    /// requires its home node, the only node whose terminal listener it may use. Never a
    /// node: it cannot link or sign envelopes.
    Terminal,
}

impl Role {
    /// The name used in certificates and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Hub => "hub",
            Role::Ncb => "ncb",
            Role::Mission => "mission",
            Role::Terminal => "terminal",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of `hub`, `ncb`, `mission`, `terminal`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: use hub, ncb, mission or terminal")]
pub struct ParseRoleError(pub String);

impl FromStr for Role {
    type Err = ParseRoleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hub" => Ok(Role::Hub),
            "ncb" => Ok(Role::Ncb),
            "mission" => Ok(Role::Mission),
            "terminal" => Ok(Role::Terminal),
            other => Err(ParseRoleError(other.to_owned())),
        }
    }
}

/// A role's attributes break the role rules (see [`check_role_rules`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleRuleError {
    /// An `ncb` node needs its country.
    #[error(
        "role ncb requires a country: pass --country with an ISO 3166 alpha-2 code such as FR"
    )]
    CountryRequired,
    /// A `mission` node needs its mission code.
    #[error("role mission requires a mission code: pass --mission, e.g. --mission UNMISS")]
    MissionRequired,
    /// The role does not take a country.
    #[error("role {0} takes no country: drop --country")]
    CountryNotAllowed(Role),
    /// The role does not take a mission code.
    #[error("role {0} takes no mission code: drop --mission")]
    MissionNotAllowed(Role),
    /// The country is not two upper-case ASCII letters.
    #[error("country `{0}` is not an ISO 3166 alpha-2 code: use two letters such as FR or DE")]
    BadCountry(String),
    /// The mission code is empty, too long or has characters other than letters, digits, `-`.
    #[error("mission code `{0}` is invalid: use 3 to 32 ASCII letters, digits or `-`, not a role word (two letters would read as a country, `ncb` as the role, in release markings)")]
    BadMission(String),
    /// A `terminal` certificate must name the node it may connect to.
    #[error("role terminal requires the node it may connect to: pass --for-node, e.g. --for-node mission.unmiss")]
    HomeRequired,
    /// Only terminals are bound to a home node.
    #[error("role {0} takes no home node: drop --for-node (only terminal certificates are bound to a node)")]
    HomeNotAllowed(Role),
    /// A terminal's id and its home node's id are the same.
    #[error("terminal {0} cannot be bound to itself: --node names the terminal, --for-node the node it connects to")]
    HomeIsSelf(NodeId),
}

/// Checks the role rules: `hub` takes neither country nor mission; `ncb` requires a country
/// and takes no mission; `mission` requires a mission code and may name a host country;
/// `terminal` may carry either. Countries are two upper-case ASCII letters (the ISO 3166
/// list itself is not checked); mission codes are 3 to 32 ASCII letters, digits or `-`.
pub fn check_role_rules(
    role: Role,
    country: Option<&str>,
    mission: Option<&str>,
) -> Result<(), RoleRuleError> {
    if let Some(c) = country {
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(RoleRuleError::BadCountry(c.to_owned()));
        }
    }
    if let Some(m) = mission {
        let ok_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
        // Two letters would read as a country in a release list (`--release-to FR,KE`).
        // Nor may a code be a role word: `--release-to NCB` means every NCB.
        let role_word = ["hub", "ncb", "mission"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(m));
        if m.len() < MIN_MISSION_LEN
            || m.len() > MAX_MISSION_LEN
            || !m.bytes().all(ok_char)
            || role_word
        {
            return Err(RoleRuleError::BadMission(m.to_owned()));
        }
    }
    match (role, country, mission) {
        (Role::Hub, Some(_), _) => Err(RoleRuleError::CountryNotAllowed(role)),
        (Role::Hub | Role::Ncb, _, Some(_)) => Err(RoleRuleError::MissionNotAllowed(role)),
        (Role::Ncb, None, _) => Err(RoleRuleError::CountryRequired),
        (Role::Mission, _, None) => Err(RoleRuleError::MissionRequired),
        _ => Ok(()),
    }
}

/// Checks the home rule: a `terminal` names its home node (the node whose terminal listener
/// it may use), which is not the terminal itself; no other role names one.
pub fn check_home_rule(
    role: Role,
    node: &NodeId,
    home: Option<&NodeId>,
) -> Result<(), RoleRuleError> {
    match (role, home) {
        (Role::Terminal, None) => Err(RoleRuleError::HomeRequired),
        (Role::Terminal, Some(home)) if home == node => {
            Err(RoleRuleError::HomeIsSelf(node.clone()))
        }
        (Role::Terminal, Some(_)) | (_, None) => Ok(()),
        (_, Some(_)) => Err(RoleRuleError::HomeNotAllowed(role)),
    }
}

/// The content of the identity extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdentityExtension {
    pub(crate) role: Role,
    pub(crate) country: Option<String>,
    pub(crate) mission: Option<String>,
    /// Terminals only: the node they may connect to ([`check_home_rule`]).
    pub(crate) home: Option<NodeId>,
}

impl IdentityExtension {
    /// DER of the extension value. Callers have checked the role rules, which bound lengths.
    pub(crate) fn to_der(&self) -> Vec<u8> {
        let mut body = Vec::new();
        write_tlv(&mut body, TAG_UTF8, self.role.as_str().as_bytes());
        if let Some(c) = &self.country {
            write_tlv(&mut body, TAG_COUNTRY, c.as_bytes());
        }
        if let Some(m) = &self.mission {
            write_tlv(&mut body, TAG_MISSION, m.as_bytes());
        }
        if let Some(h) = &self.home {
            write_tlv(&mut body, TAG_HOME, h.as_str().as_bytes());
        }
        write_tlv(&mut body, TAG_UTF8, SIGNING_SCHEME.as_bytes());
        let mut out = Vec::with_capacity(body.len() + 4);
        write_tlv(&mut out, TAG_SEQUENCE, &body);
        out
    }

    /// Parses the extension value strictly: nothing may follow the SEQUENCE or its last
    /// field, and the role rules must hold. The home rule needs the certificate's node id
    /// and is checked by the caller ([`check_home_rule`]).
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, String> {
        let mut outer = Reader::new(der);
        let body = outer.read(TAG_SEQUENCE).map_err(|e| e.0.to_owned())?;
        if !outer.is_empty() {
            return Err("trailing bytes after the SEQUENCE".into());
        }
        let mut r = Reader::new(body);
        let text = |bytes: &[u8]| {
            std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|_| "string is not UTF-8".to_owned())
        };
        let role = text(r.read(TAG_UTF8).map_err(|e| e.0.to_owned())?)?;
        let role = Role::from_str(&role).map_err(|e| e.to_string())?;
        let mut country = None;
        if r.peek_tag() == Some(TAG_COUNTRY) {
            let c = r.read(TAG_COUNTRY).map_err(|e| e.0.to_owned())?;
            country = Some(text(c)?);
        }
        let mut mission = None;
        if r.peek_tag() == Some(TAG_MISSION) {
            let m = r.read(TAG_MISSION).map_err(|e| e.0.to_owned())?;
            mission = Some(text(m)?);
        }
        let mut home = None;
        if r.peek_tag() == Some(TAG_HOME) {
            let h = text(r.read(TAG_HOME).map_err(|e| e.0.to_owned())?)?;
            let id = h
                .parse::<NodeId>()
                .map_err(|e| format!("home `{h}` is not a node id ({e})"))?;
            home = Some(id);
        }
        let signing = text(r.read(TAG_UTF8).map_err(|e| e.0.to_owned())?)?;
        if !r.is_empty() {
            return Err("unexpected fields after `signing`".into());
        }
        if signing != SIGNING_SCHEME {
            return Err(format!(
                "signing scheme `{signing}` is not supported (expected `{SIGNING_SCHEME}`)"
            ));
        }
        check_role_rules(role, country.as_deref(), mission.as_deref())
            .map_err(|e| e.to_string())?;
        Ok(Self {
            role,
            country,
            mission,
            home,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(role: Role, country: Option<&str>, mission: Option<&str>) -> IdentityExtension {
        IdentityExtension {
            role,
            country: country.map(str::to_owned),
            mission: mission.map(str::to_owned),
            home: None,
        }
    }

    fn node(s: &str) -> NodeId {
        s.parse().unwrap()
    }

    fn terminal(home: &str, country: Option<&str>) -> IdentityExtension {
        IdentityExtension {
            home: Some(node(home)),
            ..ext(Role::Terminal, country, None)
        }
    }

    #[test]
    fn extension_round_trips_for_every_role() {
        for e in [
            ext(Role::Hub, None, None),
            ext(Role::Ncb, Some("FR"), None),
            ext(Role::Mission, None, Some("UNMISS")),
            ext(Role::Mission, Some("SS"), Some("UNMISS")),
            ext(Role::Terminal, None, None),
            terminal("mission.unmiss", None),
            terminal("ncb.fr", Some("FR")),
        ] {
            assert_eq!(IdentityExtension::from_der(&e.to_der()).unwrap(), e);
        }
    }

    #[test]
    fn extension_der_is_the_documented_layout() {
        let der = ext(Role::Ncb, Some("FR"), None).to_der();
        let mut want = vec![0x30, 30, 0x0c, 3];
        want.extend_from_slice(b"ncb");
        want.extend_from_slice(&[0x80, 2]);
        want.extend_from_slice(b"FR");
        want.extend_from_slice(&[0x0c, 19]);
        want.extend_from_slice(b"ed25519-subject-key");
        assert_eq!(der, want);
    }

    #[test]
    fn home_is_context_tag_2_between_mission_and_signing() {
        let der = terminal("gs", Some("FR")).to_der();
        let mut want = vec![0x30, 39, 0x0c, 8];
        want.extend_from_slice(b"terminal");
        want.extend_from_slice(&[0x80, 2]);
        want.extend_from_slice(b"FR");
        want.extend_from_slice(&[0x82, 2]);
        want.extend_from_slice(b"gs");
        want.extend_from_slice(&[0x0c, 19]);
        want.extend_from_slice(b"ed25519-subject-key");
        assert_eq!(der, want);
        // A node's extension has no home field: its bytes are what they were before it.
        assert!(!ext(Role::Hub, None, None).to_der().contains(&0x82));
    }

    #[test]
    fn home_that_is_not_a_node_id_is_refused() {
        let mut der = terminal("gs", None).to_der();
        let at = der.windows(2).position(|w| w == b"gs").unwrap();
        der[at] = b'G';
        let err = IdentityExtension::from_der(&der).unwrap_err();
        assert!(err.contains("home"), "{err}");
    }

    #[test]
    fn home_rule() {
        use RoleRuleError::*;
        let t = node("term1.unmiss");
        let home = node("mission.unmiss");
        assert_eq!(check_home_rule(Role::Terminal, &t, Some(&home)), Ok(()));
        assert_eq!(check_home_rule(Role::Terminal, &t, None), Err(HomeRequired));
        assert_eq!(
            check_home_rule(Role::Terminal, &t, Some(&t)),
            Err(HomeIsSelf(t.clone()))
        );
        for role in [Role::Hub, Role::Ncb, Role::Mission] {
            assert_eq!(check_home_rule(role, &home, None), Ok(()));
            assert_eq!(
                check_home_rule(role, &home, Some(&t)),
                Err(HomeNotAllowed(role))
            );
        }
    }

    #[test]
    fn extension_refuses_truncation_trailing_bytes_and_broken_rules() {
        let good = ext(Role::Ncb, Some("FR"), None).to_der();
        for cut in 0..good.len() {
            assert!(IdentityExtension::from_der(&good[..cut]).is_err());
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(IdentityExtension::from_der(&trailing).is_err());
        assert!(IdentityExtension::from_der(&ext(Role::Ncb, None, None).to_der()).is_err());
    }

    #[test]
    fn role_rules() {
        use RoleRuleError::*;
        assert_eq!(check_role_rules(Role::Hub, None, None), Ok(()));
        assert_eq!(
            check_role_rules(Role::Hub, Some("FR"), None),
            Err(CountryNotAllowed(Role::Hub))
        );
        assert_eq!(
            check_role_rules(Role::Ncb, None, None),
            Err(CountryRequired)
        );
        assert_eq!(
            check_role_rules(Role::Ncb, Some("fr"), None),
            Err(BadCountry("fr".into()))
        );
        assert_eq!(
            check_role_rules(Role::Ncb, Some("FR"), Some("XYZ")),
            Err(MissionNotAllowed(Role::Ncb))
        );
        assert_eq!(
            check_role_rules(Role::Mission, None, None),
            Err(MissionRequired)
        );
        assert_eq!(
            check_role_rules(Role::Mission, None, Some("a b")),
            Err(BadMission("a b".into()))
        );
        assert_eq!(
            check_role_rules(Role::Mission, None, Some("UN")),
            Err(BadMission("UN".into())),
            "two letters would read as a country in a release list"
        );
        assert_eq!(
            check_role_rules(Role::Mission, None, Some("NCB")),
            Err(BadMission("NCB".into())),
            "a role word would read as the role in a release list"
        );
        assert_eq!(check_role_rules(Role::Terminal, Some("DE"), None), Ok(()));
    }
}
