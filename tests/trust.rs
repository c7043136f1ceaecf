//! A node's own trust at start-up, with real `bluehelm run` processes (issue 10): a CRL older
//! than one the node has put in force is refused, also after a kill -9 and when the newer
//! CRL came in while the node ran; a node whose own certificate its CA or CRL refuses does
//! not start. Each refusal is one error line and an exit, not a retry loop.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bluehelm::localnet::LocalNet;
use bluehelm_tests::{bluehelm_bin, NodeProcess, TestNet};

/// A refusing node exits in well under a second; a node that starts runs until killed.
const REFUSAL: Duration = Duration::from_secs(10);

fn crl_path(net: &TestNet) -> PathBuf {
    net.net.pki_dir().join("crl.pem")
}

/// Writes the CA's next CRL in place of the network's CRL file; returns its bytes.
fn next_crl(net: &mut TestNet) -> Vec<u8> {
    net.net.write_crl().unwrap();
    std::fs::read(crl_path(net)).unwrap()
}

/// Runs the node of `config`, which must refuse to start; returns its one error line.
fn refused(config: &Path) -> String {
    let (code, stderr) = NodeProcess::refused(bluehelm_bin!(), config, REFUSAL);
    assert_ne!(code, 0, "refused with exit code 0: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

#[test]
fn restart_with_an_older_crl_is_refused_and_the_log_names_the_crl_in_force() {
    let mut net = TestNet::standard();
    let config = net.config_path("gs");
    let two = next_crl(&mut net);
    let three = next_crl(&mut net);

    NodeProcess::start(bluehelm_bin!(), &config).kill9();
    std::fs::write(crl_path(&net), &two).unwrap();
    let error = refused(&config);
    assert!(
        error.contains("number 2, older than CRL number 3"),
        "{error}"
    );

    // The same CRL, then a newer one: the node starts and says which CRL is in force.
    std::fs::write(crl_path(&net), &three).unwrap();
    let (node, log) = NodeProcess::start_logged(bluehelm_bin!(), &config);
    let started = log.wait_for("node started");
    assert!(started.contains("crl_number=3"), "{started}");
    node.stop();
    next_crl(&mut net);
    let (node, log) = NodeProcess::start_logged(bluehelm_bin!(), &config);
    let started = log.wait_for("node started");
    assert!(started.contains("crl_number=4"), "{started}");
    node.stop();
}

#[test]
fn a_crl_put_in_force_while_running_is_remembered_across_kill_9() {
    let mut net = TestNet::standard();
    let config = net.config_path("gs");
    let one = std::fs::read(crl_path(&net)).unwrap();

    let (node, log) = NodeProcess::start_logged(bluehelm_bin!(), &config);
    next_crl(&mut net);
    let in_force = log.wait_for("new CRL in force");
    node.kill9();

    std::fs::write(crl_path(&net), &one).unwrap();
    let error = refused(&config);
    assert!(
        error.contains("number 1, older than CRL number 2"),
        "{error}"
    );
    assert!(in_force.contains("crl_number=2"), "{in_force}");
}

#[test]
fn a_node_whose_certificate_another_ca_issued_refuses_to_start() {
    let net = TestNet::standard();
    let other_dir = tempfile::tempdir().unwrap();
    let other = LocalNet::create(other_dir.path()).unwrap();
    let (ca, crl) = (
        other.pki_dir().join("ca.pem"),
        other.pki_dir().join("crl.pem"),
    );
    let text = std::fs::read_to_string(net.config_path("ncb.fr"))
        .unwrap()
        .replace("\"pki/ca.pem\"", &format!("{:?}", ca.to_str().unwrap()))
        .replace("\"pki/crl.pem\"", &format!("{:?}", crl.to_str().unwrap()));
    let config = net.dir().join("ncb.fr-other-ca.toml");
    std::fs::write(&config, text).unwrap();

    let error = refused(&config);
    assert!(error.contains("was not issued by the CA in"), "{error}");
    assert!(error.contains(ca.to_str().unwrap()), "{error}");
}

#[test]
fn a_node_revoked_by_its_own_crl_refuses_to_start() {
    let mut net = TestNet::standard();
    let cert = std::fs::read(net.net.pki_dir().join("ncb.fr.pem")).unwrap();
    let record = net.net.ca().revoke(&cert, None).unwrap();
    next_crl(&mut net);

    let error = refused(&net.config_path("ncb.fr"));
    assert!(error.contains("is revoked by the CRL in"), "{error}");
    assert!(error.contains(&record.serial), "{error}");
}
