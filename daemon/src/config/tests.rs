use super::*;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/examples");

#[test]
fn shipped_examples_parse() {
    for name in ["hub.toml", "ncb.toml", "mission.toml"] {
        let path = Path::new(EXAMPLES).join(name);
        let config = NodeConfig::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!config.peers.is_empty(), "{name}");
    }
    let hub = NodeConfig::load(&Path::new(EXAMPLES).join("hub.toml")).unwrap();
    assert_eq!(hub.routing.groups.len(), 2);
    assert!(hub.accept_unknown_peers);
    assert!(hub.reference_services.sltd && hub.reference_services.smv);
    let mission = NodeConfig::load(&Path::new(EXAMPLES).join("mission.toml")).unwrap();
    assert_eq!(mission.limits.custody_log_file_bytes, 16 * 1024 * 1024);
}

fn minimal(extra: &str) -> String {
    format!(
        r#"
node_id = "ncb.fr"
storage = "data"
{extra}
[tls]
certificate = "a.pem"
key = "a.key"
ca = "ca.pem"
crl = "crl.pem"

[[peers]]
node = "gs"
address = "127.0.0.1:7400"
"#
    )
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let config = NodeConfig::parse(&minimal(""), Path::new("/etc/bh")).unwrap();
    assert_eq!(config.storage, Path::new("/etc/bh/data"));
    assert_eq!(config.tls.key, Path::new("/etc/bh/a.key"));
}

#[test]
fn sealing_files_are_optional_and_resolve_like_the_other_pki_files() {
    // A config written before issue 14: no sealing, but it loads.
    let config = NodeConfig::parse(&minimal(""), Path::new("/etc/bh")).unwrap();
    assert_eq!(config.tls.encryption_key, None);
    assert_eq!(config.tls.directory, None);
    let text = minimal("").replace(
        "crl = \"crl.pem\"",
        "crl = \"crl.pem\"\nencryption_key = \"a.enc.key\"\ndirectory = \"/srv/directory.pem\"",
    );
    let config = NodeConfig::parse(&text, Path::new("/etc/bh")).unwrap();
    assert_eq!(
        config.tls.encryption_key.as_deref(),
        Some(Path::new("/etc/bh/a.enc.key"))
    );
    assert_eq!(
        config.tls.directory.as_deref(),
        Some(Path::new("/srv/directory.pem"))
    );
    let ncb = NodeConfig::load(&Path::new(EXAMPLES).join("ncb.toml")).unwrap();
    assert!(ncb.tls.encryption_key.is_some() && ncb.tls.directory.is_some());
}

#[test]
fn unknown_key_is_named() {
    let err = NodeConfig::parse(&minimal("colour = \"blue\""), Path::new(".")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("unknown field `colour`"), "{text}");
}

#[test]
fn route_via_non_peer_is_refused_with_a_fix() {
    let err =
        NodeConfig::parse(&minimal("default_route = \"ncb.de\""), Path::new(".")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("default_route") && text.contains("add it as a peer"),
        "{text}"
    );
}

#[test]
fn bad_node_id_is_refused() {
    let text = minimal("").replace("\"ncb.fr\"", "\"NCB FR\"");
    let err = NodeConfig::parse(&text, Path::new(".")).unwrap_err();
    assert!(err.to_string().contains("node_id"), "{err}");
}

#[test]
fn exact_routes_win_over_wildcards() {
    let text = minimal("[routes]\n\"ncb.*\" = \"gs\"\n\"ncb.de\" = \"gs\"\n");
    let config = NodeConfig::parse(&text, Path::new(".")).unwrap();
    assert!(matches!(
        config.routing.routes[0].pattern,
        RoutePattern::Exact(_)
    ));
}

#[test]
fn frame_limit_below_the_largest_message_is_refused() {
    let text = minimal("") + "\n[limits]\nmax_frame_bytes = 65536\n";
    let err = NodeConfig::parse(&text, Path::new(".")).unwrap_err();
    assert!(err.to_string().contains("limits.max_frame_bytes"), "{err}");
}

#[test]
fn frame_limit_above_hard_cap_is_refused() {
    let text = minimal("") + "\n[limits]\nmax_frame_bytes = 999999999\n";
    let err = NodeConfig::parse(&text, Path::new(".")).unwrap_err();
    assert!(err.to_string().contains("limits.max_frame_bytes"), "{err}");
}

#[test]
fn api_socket_defaults_to_the_storage_folder() {
    let config = NodeConfig::parse(&minimal(""), Path::new("/etc/bh")).unwrap();
    assert_eq!(config.api_socket, Path::new("/etc/bh/data/api.sock"));
    let config = NodeConfig::parse(
        &minimal("api_socket = \"/run/bluehelm/api.sock\""),
        Path::new("/etc/bh"),
    )
    .unwrap();
    assert_eq!(config.api_socket, Path::new("/run/bluehelm/api.sock"));
}

#[test]
fn reference_services_are_off_by_default_and_need_a_services_entry() {
    let config = NodeConfig::parse(&minimal(""), Path::new(".")).unwrap();
    assert_eq!(config.reference_services, ReferenceServices::default());

    let text = minimal("") + "\n[reference_services]\nsltd = true\n";
    let err = NodeConfig::parse(&text, Path::new(".")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("reference_services.sltd") && text.contains("\"sltd.check\" = \"ncb.fr\""),
        "{text}"
    );

    let text = minimal("")
        + "\n[services]\n\"sltd.check\" = \"ncb.fr\"\n\n[reference_services]\nsltd = true\n";
    let config = NodeConfig::parse(&text, Path::new(".")).unwrap();
    assert!(config.reference_services.sltd && !config.reference_services.smv);
}

#[test]
fn unknown_reference_service_is_refused() {
    let text = minimal("") + "\n[reference_services]\nfingerprints = true\n";
    let err = NodeConfig::parse(&text, Path::new(".")).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `fingerprints`"),
        "{err}"
    );
}

#[test]
fn terminal_listener_is_off_unless_configured() {
    let config = NodeConfig::parse(&minimal(""), Path::new(".")).unwrap();
    assert_eq!(config.terminal_listen, None);
    let config = NodeConfig::parse(
        &minimal("terminal_listen = \"0.0.0.0:7443\""),
        Path::new("."),
    )
    .unwrap();
    assert_eq!(
        config.terminal_listen,
        Some("0.0.0.0:7443".parse().unwrap())
    );
}

#[test]
fn terminal_listen_that_is_not_an_address_is_named() {
    let err = NodeConfig::parse(
        &minimal("terminal_listen = \"mission-lan:7443\""),
        Path::new("."),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("terminal_listen"), "{text}");
}

#[test]
fn custody_log_files_default_to_32_mib_and_take_a_size_in_mib() {
    let config = NodeConfig::parse(&minimal(""), Path::new(".")).unwrap();
    assert_eq!(config.limits.custody_log_file_bytes, 32 * 1024 * 1024);
    let text = minimal("") + "\n[limits]\ncustody_log_file_mib = 16\n";
    let config = NodeConfig::parse(&text, Path::new(".")).unwrap();
    assert_eq!(config.limits.custody_log_file_bytes, 16 * 1024 * 1024);
}

#[test]
fn the_store_cache_defaults_to_8_mib_takes_a_size_in_mib_and_has_a_floor() {
    let config = NodeConfig::parse(&minimal(""), Path::new(".")).unwrap();
    assert_eq!(config.limits.store_cache_bytes, 8 * 1024 * 1024);
    let text = minimal("") + "\n[limits]\nstore_cache_mib = 16\n";
    let config = NodeConfig::parse(&text, Path::new(".")).unwrap();
    assert_eq!(config.limits.store_cache_bytes, 16 * 1024 * 1024);
    let text = minimal("") + "\n[limits]\nstore_cache_mib = 4\n";
    let err = NodeConfig::parse(&text, Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(err.contains("limits.store_cache_mib"), "{err}");
    assert!(err.contains("at least 8"), "{err}");
}

#[test]
fn custody_log_files_too_small_for_a_round_are_refused() {
    let text = minimal("") + "\n[limits]\ncustody_log_file_mib = 8\n";
    let err = NodeConfig::parse(&text, Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(err.contains("limits.custody_log_file_mib"), "{err}");
    assert!(err.contains("at least 16"), "{err}");
    // A frame of offers is one command, which a round takes whole: half a file must hold it.
    let text = minimal("") + "\n[limits]\nmax_frame_bytes = 16777216\ncustody_log_file_mib = 16\n";
    let err = NodeConfig::parse(&text, Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least 32"), "{err}");
}

#[test]
fn policy_defaults_when_absent() {
    let config = NodeConfig::parse(&minimal(""), Path::new("/etc/bluehelm")).unwrap();
    assert_eq!(config.policy, Policy::default());
}

#[test]
fn policy_overrides_a_role_and_names_mission_bureaus() {
    let text = minimal("")
        + r#"
[policy.mission]
publish_notices = true
messages_to = ["hub"]
[policy.missions.UNMISS]
may_address = ["ncb.ke", "ncb.ug"]
"#;
    let config = NodeConfig::parse(&text, Path::new("/etc/bluehelm")).unwrap();
    let mission = config.policy.mission;
    assert!(mission.publish_notices && !mission.diffusions);
    assert!(mission.messages_to.hub && !mission.messages_to.services);
    // Keys not given keep the role's default.
    assert_eq!(
        mission.service_requests_to,
        crate::engine::policy::RolePolicy::MISSION.service_requests_to
    );
    assert_eq!(config.policy.missions["UNMISS"].len(), 2);
}

#[test]
fn policy_refuses_unknown_roles_keys_and_scopes_naming_the_key() {
    for (extra, key) in [
        ("[policy.terminal]\ndiffusions = true\n", "policy.terminal"),
        ("[policy.ncb]\npublish = true\n", "policy.ncb"),
        (
            "[policy.mission]\nmessages_to = [\"everyone\"]\n",
            "policy.mission.messages_to",
        ),
        (
            "[policy.missions.UNMISS]\nmay_address = [\"not an id\"]\n",
            "policy.missions.UNMISS.may_address",
        ),
        (
            "[policy.missions.UNMISS]\nbureaus = []\n",
            "policy.missions",
        ),
    ] {
        let text = minimal("") + extra;
        let err = NodeConfig::parse(&text, Path::new("/etc/bluehelm")).unwrap_err();
        let line = err.to_string();
        assert!(line.contains(&format!("`{key}`")), "{extra}: {line}");
        assert!(!line.contains('\n'), "{line}");
    }
}

#[test]
fn log_format_is_text_unless_json_is_asked_for() {
    let config = NodeConfig::parse(&minimal(""), Path::new(".")).unwrap();
    assert_eq!(config.log_format, LogFormat::Text);
    let config = NodeConfig::parse(&minimal("log_format = \"json\""), Path::new(".")).unwrap();
    assert_eq!(config.log_format, LogFormat::Json);
    let err = NodeConfig::parse(&minimal("log_format = \"xml\""), Path::new(".")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("log_format") && text.contains("`json`"),
        "{text}"
    );
}

#[test]
fn the_disk_reserve_defaults_to_64_mib_and_zero_turns_it_off() {
    let config = NodeConfig::parse(&minimal(""), Path::new(".")).unwrap();
    assert_eq!(config.limits.min_free_disk_bytes, 64 * 1024 * 1024);
    let text = minimal("") + "\n[limits]\nmin_free_disk_mib = 0\n";
    let config = NodeConfig::parse(&text, Path::new(".")).unwrap();
    assert_eq!(config.limits.min_free_disk_bytes, 0);
    let text = minimal("") + "\n[limits]\nmin_free_disk_mib = -1\n";
    assert!(NodeConfig::parse(&text, Path::new(".")).is_err());
}

/// `minimal` with a second hub, gs-b, as a peer.
fn with_backup_hub(extra: &str) -> String {
    minimal(extra) + "\n[[peers]]\nnode = \"gs-b\"\naddress = \"127.0.0.1:7401\"\n"
}

#[test]
fn a_route_lists_its_alternates_in_order() {
    let text = with_backup_hub(
        "[routes]\n\"*\" = [\"gs\", \"gs-b\"]\n\"mission.*\" = [\"gs-b\", \"gs\"]\n",
    ) + "\n[limits]\nfailover_after_secs = 3\n";
    let config = NodeConfig::parse(&text, Path::new(".")).unwrap();
    let routing = &config.routing;
    assert_eq!(routing.default_route, Some("gs".parse().unwrap()));
    assert_eq!(routing.default_alternates, vec!["gs-b".parse().unwrap()]);
    assert_eq!(routing.routes.len(), 1);
    assert_eq!(routing.routes[0].via.as_str(), "gs-b");
    assert_eq!(routing.routes[0].alternates, vec!["gs".parse().unwrap()]);
    assert_eq!(config.limits.failover_after_secs, 3);
    let plain = NodeConfig::parse(&minimal("default_route = \"gs\""), Path::new(".")).unwrap();
    assert!(plain.routing.default_alternates.is_empty());
    assert_eq!(plain.limits.failover_after_secs, 60);
    let listed = with_backup_hub("default_route = [\"gs\", \"gs-b\"]");
    let listed = NodeConfig::parse(&listed, Path::new(".")).unwrap();
    assert_eq!(listed.routing.default_alternates.len(), 1);
}

#[test]
fn an_alternate_that_is_not_a_peer_is_named() {
    let text = minimal("[routes]\n\"*\" = [\"gs\", \"gs-b\"]\n");
    let err = NodeConfig::parse(&text, Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("routes.\"*\"") && err.contains("gs-b is not in [[peers]]"),
        "{err}"
    );
}

#[test]
fn bad_alternate_lists_are_refused_with_the_reason() {
    for (extra, says) in [
        ("[routes]\n\"*\" = []\n", "an empty list"),
        ("[routes]\n\"*\" = [\"gs\", \"gs\"]\n", "listed twice"),
        ("[routes]\n\"*\" = 7\n", "ordered list of peers"),
        (
            "default_route = \"gs\"\n[routes]\n\"*\" = [\"gs\", \"gs-b\"]\n",
            "given twice",
        ),
    ] {
        let err = NodeConfig::parse(&with_backup_hub(extra), Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{extra}: {err}");
    }
    let zero = with_backup_hub("") + "\n[limits]\nfailover_after_secs = 0\n";
    let err = NodeConfig::parse(&zero, Path::new(".")).unwrap_err();
    assert!(err.to_string().contains("failover_after_secs"), "{err}");
}

#[test]
fn the_audit_log_is_set_aside_past_rotate_mib_and_zero_means_never() {
    let config = NodeConfig::parse(&minimal(""), Path::new(".")).unwrap();
    assert_eq!(config.audit.rotate_bytes, 256 << 20, "the default");
    let config = NodeConfig::parse(&minimal("[audit]\nrotate_mib = 5"), Path::new(".")).unwrap();
    assert_eq!(config.audit.rotate_bytes, 5 << 20);
    let config = NodeConfig::parse(&minimal("[audit]\nrotate_mib = 0"), Path::new(".")).unwrap();
    assert_eq!(config.audit.rotate_bytes, 0);
    let err = NodeConfig::parse(&minimal("[audit]\nrotate_mib = 2000000"), Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(err.contains("audit.rotate_mib"), "{err}");
}
