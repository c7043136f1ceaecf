//! The `[policy]` table of a node config (issue 12): one table per role (`hub`, `ncb`,
//! `mission`), each key optional with the role's default, and `[policy.missions.<CODE>]`
//! naming the bureaus a mission may address. Absent: the defaults of `engine::policy`.
//! Unknown roles, unknown keys and unknown scope words are refused with the key named.

use std::collections::{BTreeMap, BTreeSet};

use bluehelm_proto::NodeId;
use serde::Deserialize;

use super::{invalid, node_id, ConfigError};
use crate::engine::policy::{Policy, RolePolicy, Scope};

/// The `[policy]` table as written: role names and `missions` are checked by hand so that an
/// unknown role gets its own message.
pub(super) type PolicyFile = BTreeMap<String, toml::Value>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    publish_notices: Option<bool>,
    request_notices: Option<bool>,
    diffusions: Option<bool>,
    messages_to: Option<Vec<String>>,
    service_requests_to: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MissionFile {
    #[serde(default)]
    may_address: Vec<String>,
}

/// The validated policy; the defaults where the file says nothing.
pub(super) fn validate(file: PolicyFile) -> Result<Policy, ConfigError> {
    let mut policy = Policy::default();
    for (name, value) in file {
        let key = format!("policy.{name}");
        match name.as_str() {
            "hub" => policy.hub = role(&key, value, policy.hub)?,
            "ncb" => policy.ncb = role(&key, value, policy.ncb)?,
            "mission" => policy.mission = role(&key, value, policy.mission)?,
            "missions" => policy.missions = missions(&key, value)?,
            _ => {
                return Err(invalid(
                    key,
                    "unknown role: use [policy.hub], [policy.ncb], [policy.mission] or \
                     [policy.missions.<CODE>] (terminals never sign messages)",
                ))
            }
        }
    }
    Ok(policy)
}

fn role(key: &str, value: toml::Value, defaults: RolePolicy) -> Result<RolePolicy, ConfigError> {
    let file: RoleFile = value
        .try_into()
        .map_err(|e: toml::de::Error| invalid(key, one_line(&e)))?;
    Ok(RolePolicy {
        publish_notices: file.publish_notices.unwrap_or(defaults.publish_notices),
        request_notices: file.request_notices.unwrap_or(defaults.request_notices),
        diffusions: file.diffusions.unwrap_or(defaults.diffusions),
        messages_to: match file.messages_to {
            Some(words) => scope(&format!("{key}.messages_to"), &words)?,
            None => defaults.messages_to,
        },
        service_requests_to: match file.service_requests_to {
            Some(words) => scope(&format!("{key}.service_requests_to"), &words)?,
            None => defaults.service_requests_to,
        },
    })
}

fn scope(key: &str, words: &[String]) -> Result<Scope, ConfigError> {
    let mut scope = Scope::default();
    for word in words {
        if !scope.add(word) {
            return Err(invalid(
                key,
                format!(
                    "unknown scope {word:?}: use {}",
                    Scope::WORDS.map(|w| format!("{w:?}")).join(", ")
                ),
            ));
        }
    }
    Ok(scope)
}

fn missions(
    key: &str,
    value: toml::Value,
) -> Result<BTreeMap<String, BTreeSet<NodeId>>, ConfigError> {
    let file: BTreeMap<String, MissionFile> = value
        .try_into()
        .map_err(|e: toml::de::Error| invalid(key, one_line(&e)))?;
    let mut missions = BTreeMap::new();
    for (code, mission) in file {
        let key = format!("{key}.{code}.may_address");
        let bureaus = mission
            .may_address
            .iter()
            .map(|b| node_id(&key, b))
            .collect::<Result<BTreeSet<_>, _>>()?;
        missions.insert(code, bureaus);
    }
    Ok(missions)
}

/// toml's errors can span lines (a snippet of the file); the key is named by the caller.
fn one_line(e: &toml::de::Error) -> String {
    e.message().replace('\n', " ")
}
