//! The writer and reader on real files: a log survives restarts, a crash's torn last line,
//! and keeps its chain; checkpoints are signed and checked with the CA.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bluehelm_pki::NodeCredentials;

use super::*;
use crate::engine::audit::{Entry, Event, SignedCheckpoint};
use crate::engine::records::hex;
use crate::localnet::{standard_specs, LocalNet};

struct Fixture {
    _dir: tempfile::TempDir,
    net: LocalNet,
    storage: PathBuf,
    ca: PathBuf,
    creds: NodeCredentials,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut net = LocalNet::create(dir.path()).expect("local network");
    let spec = &standard_specs()[1];
    net.add(spec).expect("ncb.fr's files");
    let pki = net.pki_dir();
    let creds =
        NodeCredentials::load(&pki.join("ncb.fr.pem"), &pki.join("ncb.fr.key")).expect("creds");
    let storage = dir.path().join("storage");
    std::fs::create_dir_all(&storage).expect("storage");
    Fixture {
        ca: pki.join("ca.pem"),
        net,
        _dir: dir,
        storage,
        creds,
    }
}

/// The `i`th entry of a session.
fn entry(i: usize) -> Entry {
    Entry {
        message_id: format!("{i:032x}"),
        ..Entry::new(Event::Accepted, 1_000 + i as i64)
    }
}

/// Opens the log, records `n` entries, closes it; returns the checkpoints it sent.
fn session(f: &Fixture, n: usize) -> Vec<SignedCheckpoint> {
    let (sender, mut receiver) = tokio::sync::mpsc::channel(16);
    let log = AuditLog::open(
        &f.storage,
        Arc::new(ArcSwap::from_pointee(f.creds.signer())),
        Duration::from_secs(3600),
        sender,
    )
    .expect("the log opens");
    for i in 0..n {
        log.record(entry(i));
    }
    log.close();
    let mut sent = Vec::new();
    while let Ok(c) = receiver.try_recv() {
        sent.push(c);
    }
    sent
}

#[test]
fn a_log_goes_on_across_restarts_and_verifies_with_its_signed_checkpoints() {
    let f = fixture();
    let first = session(&f, 3);
    assert_eq!(first.len(), 1, "a checkpoint at close");
    assert_eq!(first[0].seq, 3);
    let second = session(&f, 2);
    assert_eq!(second[0].seq, 5, "numbering goes on after a restart");
    let found = verify_log(&f.storage, "ncb.fr", &f.ca, &[]).expect("intact");
    assert_eq!((found.entries, found.checkpoints), (5, 2));
    for name in [LOG_FILE, CHECKPOINTS_FILE] {
        let mode = std::fs::metadata(f.storage.join(name))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    // Nothing recorded: no new checkpoint, the file stays as it was.
    assert!(session(&f, 0).is_empty());
}

#[test]
fn checkpoints_are_signed_with_the_signer_in_force_and_verify_across_a_renewal() {
    let mut f = fixture();
    let renewed = f
        .net
        .ca()
        .rotate(&"ncb.fr".parse().expect("a node id"), 30, false)
        .expect("a new certificate and key for ncb.fr")
        .issued
        .credentials()
        .expect("credentials");
    let signer = Arc::new(ArcSwap::from_pointee(f.creds.signer()));
    let (sender, mut receiver) = tokio::sync::mpsc::channel(16);
    let log = AuditLog::open(
        &f.storage,
        signer.clone(),
        Duration::from_millis(50),
        sender,
    )
    .expect("the log opens");
    log.record(entry(0));
    // The first checkpoint, made on the writer's next tick, before the renewal.
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        if let Ok(signed) = receiver.try_recv() {
            break signed;
        }
        assert!(Instant::now() < deadline, "no checkpoint within 10 s");
        std::thread::sleep(Duration::from_millis(10));
    };
    // What a reload with a renewed certificate and key does to the node's signer.
    signer.store(Arc::new(renewed.signer()));
    log.record(entry(1));
    log.close();
    let mut after = Vec::new();
    while let Ok(signed) = receiver.try_recv() {
        after.push(signed);
    }

    assert_eq!(first.seq, 1);
    assert_eq!(first.certificate, hex(f.creds.node_cert_der()));
    let last = after.last().expect("a checkpoint at close");
    assert_eq!(last.seq, 2);
    assert_eq!(
        last.certificate,
        hex(renewed.node_cert_der()),
        "signed after the renewal: the new certificate, not the one the log was opened with"
    );
    // The node's own file holds both, and each verifies with the certificate on its line.
    let found = verify_log(&f.storage, "ncb.fr", &f.ca, &[]).expect("intact");
    assert_eq!((found.entries, found.checkpoints), (2, 1 + after.len()));
    assert_eq!(found.latest.map(|c| c.seq), Some(2));
}

#[test]
fn a_torn_last_line_is_removed_on_open_and_the_chain_goes_on() {
    let f = fixture();
    session(&f, 2);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(f.storage.join(LOG_FILE))
        .expect("log");
    file.write_all(b"4be1 {\"seq\":3,\"at_ms\":")
        .expect("torn write");
    drop(file);
    // A reader skips the line being written.
    assert_eq!(
        verify_log(&f.storage, "ncb.fr", &f.ca, &[])
            .expect("intact")
            .entries,
        2
    );
    session(&f, 1);
    let found = verify_log(&f.storage, "ncb.fr", &f.ca, &[]).expect("intact");
    assert_eq!(found.entries, 3);
}

#[test]
fn a_checkpoint_of_another_node_or_with_a_bad_signature_is_refused() {
    let f = fixture();
    session(&f, 2);
    let path = f.storage.join(CHECKPOINTS_FILE);
    let line = std::fs::read_to_string(&path).expect("checkpoints");
    let forged = line.replacen("\"seq\":2", "\"seq\":1", 1);
    std::fs::write(&path, forged).expect("forged");
    let err = verify_log(&f.storage, "ncb.fr", &f.ca, &[]).expect_err("refused");
    assert!(err.to_string().contains("signature refused"), "{err}");
    let other = line.replacen("\"node\":\"ncb.fr\"", "\"node\":\"ncb.ke\"", 1);
    std::fs::write(&path, other).expect("other");
    let err = verify_log(&f.storage, "ncb.fr", &f.ca, &[]).expect_err("refused");
    assert!(err.to_string().contains("a checkpoint of ncb.ke"), "{err}");
}

#[test]
fn an_endless_line_costs_a_bounded_read_and_is_reported() {
    let f = fixture();
    session(&f, 1);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(f.storage.join(LOG_FILE))
        .expect("log");
    file.write_all(&vec![b'a'; 1 << 20]).expect("write");
    file.write_all(b"\n").expect("write");
    drop(file);
    let err = verify_log(&f.storage, "ncb.fr", &f.ca, &[]).expect_err("refused");
    assert!(
        err.to_string()
            .contains("line 2: not an audit entry (longer than an entry can be)"),
        "{err}"
    );
}
