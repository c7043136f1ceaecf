use std::path::Path;

use super::*;

/// A hub with two peers and a group, in the shape of docs/examples/hub.toml; `top` goes
/// before the first table, `tail` after the peers.
fn hub(top: &str, tail: &str) -> NodeConfig {
    let text = format!(
        r#"
node_id = "gs"
listen = "127.0.0.1:7400"
storage = "data"
{top}
[tls]
certificate = "gs.pem"
key = "gs.key"
ca = "ca.pem"
crl = "crl.pem"

[[peers]]
node = "ncb.fr"
address = "127.0.0.1:7401"

[[peers]]
node = "ncb.de"

[groups]
europe = ["ncb.fr", "ncb.de"]
{tail}
"#
    );
    NodeConfig::parse(&text, Path::new("/etc/bh")).unwrap()
}

fn node(id: &str) -> NodeId {
    id.parse().unwrap()
}

fn same_files() -> TlsDigests {
    TlsDigests::default()
}

fn change(old: &NodeConfig, new: &NodeConfig) -> Result<ConfigChange, NeedsRestart> {
    diff(old, new, &same_files(), &same_files())
}

#[test]
fn the_same_config_changes_nothing() {
    let change = change(&hub("", ""), &hub("", "")).unwrap();
    assert!(change.is_empty(), "{change:?}");
    assert!(!change.tls());
}

#[test]
fn a_group_member_added_names_the_group_and_nothing_else() {
    let old = hub("", "");
    let mut new = hub("", "");
    new.routing
        .groups
        .values_mut()
        .for_each(|members| members.push(node("ncb.it")));
    let change = change(&old, &new).unwrap();
    assert_eq!(change.groups, vec!["europe".parse::<GroupName>().unwrap()]);
    assert!(change.peers_added.is_empty() && change.peers_removed.is_empty());
    assert!(change.keys.is_empty(), "{:?}", change.keys);
}

#[test]
fn groups_added_and_removed_are_named() {
    let old = hub("", "asia = [\"ncb.fr\"]");
    let new = hub("", "africa = [\"ncb.de\"]");
    let change = change(&old, &new).unwrap();
    let names: Vec<String> = change.groups.iter().map(|g| g.to_string()).collect();
    assert_eq!(names, ["africa", "asia"]);
}

#[test]
fn peers_added_removed_and_readdressed_are_told_apart() {
    let old = hub("", "");
    let text = |peers: &str| {
        format!(
            "node_id = \"gs\"\nlisten = \"127.0.0.1:7400\"\nstorage = \"data\"\n[tls]\n\
             certificate = \"gs.pem\"\nkey = \"gs.key\"\nca = \"ca.pem\"\ncrl = \"crl.pem\"\n{peers}"
        )
    };
    let new = NodeConfig::parse(
        &text(
            "[[peers]]\nnode = \"ncb.fr\"\naddress = \"127.0.0.1:7999\"\n\
             [[peers]]\nnode = \"ncb.it\"\naddress = \"ncb-it.example:7400\"\n",
        ),
        Path::new("/etc/bh"),
    )
    .unwrap();
    let change = change(&old, &new).unwrap();
    assert_eq!(change.peers_added, [node("ncb.it")]);
    assert_eq!(change.peers_removed, [node("ncb.de")]);
    assert_eq!(change.peers_readdressed, [node("ncb.fr")]);
    // The group went with ncb.de's peering (a group is a table of its own).
    assert_eq!(change.groups.len(), 1);
}

#[test]
fn a_peer_given_an_address_is_readdressed() {
    let old = hub("", "");
    let mut new = hub("", "");
    new.peers[1].address = Some(crate::config::PeerAddress::parse("127.0.0.1:7402").unwrap());
    assert_eq!(
        change(&old, &new).unwrap().peers_readdressed,
        [node("ncb.de")]
    );
}

#[test]
fn live_keys_are_named_as_in_the_file() {
    let old = hub("", "");
    let new = hub(
        "accept_unknown_peers = true\ndefault_route = \"ncb.fr\"",
        "[limits]\nqueue_quota = 10\nmax_peers = 3",
    );
    let change = change(&old, &new).unwrap();
    assert_eq!(
        change.keys,
        [
            "default_route",
            "accept_unknown_peers",
            "limits.queue_quota",
            "limits.max_peers"
        ]
    );
}

#[test]
fn keys_bound_at_start_refuse_the_reload_and_are_named() {
    let old = hub("", "");
    let mut new = hub("metrics_listen = \"127.0.0.1:9464\"", "");
    new.node_id = node("gs-b");
    new.listen = Some("127.0.0.1:7500".parse().unwrap());
    let refused = change(&old, &new).unwrap_err();
    assert_eq!(refused.keys, ["node_id", "listen", "metrics_listen"]);
    let text = refused.to_string();
    assert!(
        text.starts_with("`node_id`, `listen`, `metrics_listen` cannot change while the node runs"),
        "{text}"
    );
    assert!(text.contains("restart the node to apply them"), "{text}");
}

#[test]
fn a_new_storage_or_api_socket_needs_a_restart() {
    let old = hub("", "");
    let new = hub("api_socket = \"/run/bh.sock\"", "");
    let refused = change(&old, &new).unwrap_err();
    assert_eq!(refused.keys, ["api_socket"]);
    assert!(refused.to_string().contains("apply it;"), "{refused}");
    let mut new = hub("", "");
    new.storage = "/elsewhere".into();
    assert_eq!(change(&old, &new).unwrap_err().keys, ["storage"]);
    let mut new = hub("", "");
    new.limits.store_cache_bytes *= 2;
    assert_eq!(
        change(&old, &new).unwrap_err().keys,
        ["limits.store_cache_mib"],
        "sled's cache is sized when the store opens"
    );
}

#[test]
fn a_certificate_renewed_in_place_is_an_identity_change() {
    let config = hub("", "");
    let renewed = TlsDigests {
        certificate: [1; 32],
        ..TlsDigests::default()
    };
    let change = diff(&config, &config, &same_files(), &renewed).unwrap();
    assert!(change.identity && !change.trust && change.tls());
}

#[test]
fn a_new_crl_or_ca_path_is_a_trust_change() {
    let old = hub("", "");
    let mut new = hub("", "");
    new.tls.crl = "/etc/bh/crl-2.pem".into();
    let change = change(&old, &new).unwrap();
    assert!(change.trust && !change.identity);
    let new_crl = TlsDigests {
        crl: [2; 32],
        ..TlsDigests::default()
    };
    assert!(diff(&old, &old, &same_files(), &new_crl).unwrap().trust);
}
