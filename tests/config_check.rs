//! `bluehelm config check FILE` (issue 15, item 3), with the real binary on the files of a
//! real test network: a good config passes without creating the node's storage; an unknown
//! key, a missing certificate or a key others may read fail with a clear message; a peer
//! name that does not resolve is a warning. And a peer given as `localhost:PORT` links up.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bluehelm::Node;
use bluehelm_tests::{bluehelm_bin, linked, run_cli, TestNet};

async fn check(config: &Path) -> (i32, String, String) {
    let path = config.to_str().expect("a UTF-8 path");
    run_cli(bluehelm_bin!(), ["config", "check", path]).await
}

/// ncb.fr's config with `from` replaced by `to`, written beside it as `name`.
fn variant(net: &TestNet, name: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(net.config_path("ncb.fr")).expect("config");
    assert!(text.contains(from), "{from} in\n{text}");
    let path = net.dir().join(name);
    std::fs::write(&path, text.replacen(from, to, 1)).expect("written");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_passes_a_good_file_and_names_what_is_wrong_in_a_bad_one() {
    let net = TestNet::standard();

    let (code, out, err) = check(&net.config_path("ncb.fr")).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok: ncb.fr, 1 peers (1 dialled)"), "{out}");
    assert!(
        !net.dir().join("data").join("ncb.fr").exists(),
        "a check opens no store"
    );

    let unknown = variant(
        &net,
        "unknown.toml",
        "node_id =",
        "colour = \"blue\"\nnode_id =",
    );
    let (code, out, err) = check(&unknown).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("unknown field `colour`"), "{err}");

    let missing = variant(&net, "missing.toml", "pki/ncb.fr.pem", "pki/missing.pem");
    let (code, out, err) = check(&missing).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("missing.pem"), "{err}");

    let key = net.dir().join("pki").join("ncb.fr.key");
    let loose_key = net.dir().join("pki").join("loose.key");
    std::fs::copy(&key, &loose_key).expect("copied");
    std::fs::set_permissions(&loose_key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let loose = variant(&net, "loose.toml", "pki/ncb.fr.key", "pki/loose.key");
    let (code, out, err) = check(&loose).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("loose.key"), "{err}");
    assert!(err.contains("644"), "the mode is named: {err}");

    // A name that cannot resolve (RFC 6761 reserves .invalid) is only a warning.
    let text = std::fs::read_to_string(net.config_path("ncb.fr")).expect("config");
    let gs_address = address_of_gs(&text);
    let unresolved = variant(
        &net,
        "unresolved.toml",
        &gs_address,
        "gs.bluehelm.invalid:7400",
    );
    let (code, out, err) = check(&unresolved).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("warning: peers[0].address gs.bluehelm.invalid:7400"),
        "{err}"
    );

    let bad_port = variant(&net, "bad_port.toml", &gs_address, "gs.example.org:http");
    let (code, out, err) = check(&bad_port).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("peers[0].address"), "{err}");
}

/// The `ip:port` ncb.fr dials gs at.
fn address_of_gs(config: &str) -> String {
    config
        .lines()
        .find_map(|l| l.strip_prefix("address = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("ncb.fr dials gs")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_given_as_localhost_and_port_links_up() {
    let net = TestNet::standard();
    let path = net.config_path("ncb.fr");
    let text = std::fs::read_to_string(&path).expect("config");
    let address = address_of_gs(&text);
    let port = address.rsplit_once(':').expect("ip:port").1;
    std::fs::write(
        &path,
        text.replacen(&address, &format!("localhost:{port}"), 1),
    )
    .expect("written");
    let (code, out, err) = check(&path).await;
    assert_eq!(code, 0, "{out}{err}");

    let gs = net.start("gs").await;
    let fr = net.start("ncb.fr").await;
    assert_eq!(
        fr.bureau().config().peers[0]
            .address
            .as_ref()
            .map(ToString::to_string),
        Some(format!("localhost:{port}"))
    );
    linked(&fr, "gs").await;
    linked(&gs, "ncb.fr").await;
    for node in [fr, gs] {
        Node::shutdown(node).await;
    }
}
