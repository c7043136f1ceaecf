//! The writer and reader on real files: a log survives restarts, a crash's torn last line,
//! and keeps its chain; checkpoints are signed and checked with the CA.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use arc_swap::ArcSwap;
use bluehelm_pki::{EnvelopeVerifier, NodeCredentials, TrustStore};

use super::*;
use crate::engine::audit::{Entry, Event, SignedCheckpoint, Tamper};
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

/// Checkpoints every `every`, files set aside past `rotate_bytes` (0: never).
fn settings(every: Duration, rotate_bytes: u64) -> AuditConfig {
    AuditConfig {
        enabled: true,
        checkpoint_every: every,
        rotate_bytes,
    }
}

/// Opens the log, records `n` entries, closes it; returns the checkpoints it sent.
fn session(f: &Fixture, n: usize) -> Vec<SignedCheckpoint> {
    rotating_session(f, n, 0)
}

/// [`session`], the file set aside past `rotate_bytes`.
fn rotating_session(f: &Fixture, n: usize, rotate_bytes: u64) -> Vec<SignedCheckpoint> {
    let (sender, mut receiver) = tokio::sync::mpsc::channel(1024);
    let log = AuditLog::open(
        &f.storage,
        Arc::new(ArcSwap::from_pointee(f.creds.signer())),
        settings(Duration::from_secs(3600), rotate_bytes),
        sender,
    )
    .expect("the log opens");
    for i in 0..n {
        log.record(entry(i));
        if rotate_bytes > 0 {
            // Past the writer's gathering: a write (and a size check) every few entries.
            std::thread::sleep(Duration::from_millis(5));
        }
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
        settings(Duration::from_millis(50), 0),
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

/// The files of the log, oldest first, by name.
fn file_names(f: &Fixture) -> Vec<String> {
    read::log_files(&f.storage)
        .expect("the storage folder reads")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_full_file_is_set_aside_and_the_chain_verifies_across_files_and_restarts() {
    let f = fixture();
    // Entries are about 250 bytes: a new file every few entries (one per write batch).
    let sent = rotating_session(&f, 40, 1_000);
    let names = file_names(&f);
    assert!(names.len() >= 3, "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some(LOG_FILE));
    for (name, path) in names.iter().zip(read::log_files(&f.storage).unwrap()) {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    // Each file set aside ends at a checkpoint the node signed: its name's number.
    for name in &names[..names.len() - 1] {
        let last: u64 = name.trim_start_matches("audit.log.").parse().unwrap();
        assert!(
            sent.iter().any(|c| c.seq == last),
            "{name}: no checkpoint of its last entry"
        );
    }
    // A restart (the current file may be new and empty) goes on with the chain.
    rotating_session(&f, 5, 1_000);
    let found = verify_log(&f.storage, "ncb.fr", &f.ca, &[]).expect("intact");
    assert_eq!((found.first, found.entries), (1, 45));
    let all: Vec<u64> = entries(&f.storage)
        .unwrap()
        .map(|e| e.unwrap().seq)
        .collect();
    assert_eq!(
        all,
        (1..=45).collect::<Vec<_>>(),
        "trace and queries read every file"
    );
}

#[test]
fn older_files_moved_away_leave_a_log_that_verifies_from_its_checkpoint() {
    let f = fixture();
    rotating_session(&f, 40, 1_000);
    let files = read::log_files(&f.storage).unwrap();
    let archive = f.storage.join("archive");
    std::fs::create_dir(&archive).unwrap();
    for old in &files[..2] {
        std::fs::rename(old, archive.join(old.file_name().unwrap())).unwrap();
    }
    let found = verify_log(&f.storage, "ncb.fr", &f.ca, &[]).expect("verifies from a checkpoint");
    let first_kept: u64 = files[1]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_start_matches("audit.log.")
        .parse()
        .unwrap();
    assert_eq!((found.first, found.entries), (first_kept + 1, 40));

    // Without the checkpoints, what is left cannot be anchored: said, not passed.
    let checkpoints = f.storage.join(CHECKPOINTS_FILE);
    std::fs::rename(&checkpoints, archive.join(CHECKPOINTS_FILE)).unwrap();
    let err = verify_log(&f.storage, "ncb.fr", &f.ca, &[]).expect_err("no anchor");
    assert!(matches!(err, ReadError::Unanchored { .. }), "{err}");
    // Given as --checkpoints, they anchor it again.
    verify_log(
        &f.storage,
        "ncb.fr",
        &f.ca,
        &[archive.join(CHECKPOINTS_FILE)],
    )
    .expect("anchored by the checkpoints given");
}

#[test]
fn an_entry_changed_in_a_file_set_aside_is_found_and_the_file_named() {
    let f = fixture();
    rotating_session(&f, 40, 1_000);
    let files = read::log_files(&f.storage).unwrap();
    let victim = &files[1];
    let text = std::fs::read_to_string(victim).unwrap();
    let edited = text.replacen("\"accepted\"", "\"refused\"", 1);
    assert_ne!(text, edited, "the file holds an entry to change");
    std::fs::write(victim, edited).unwrap();
    let err = verify_log(&f.storage, "ncb.fr", &f.ca, &[]).expect_err("tampered");
    match err {
        ReadError::Tampered { path, tamper } => {
            assert_eq!(&path, victim);
            assert!(
                matches!(tamper, Tamper::Edited { line: 1.., .. }),
                "{tamper}"
            );
        }
        other => panic!("{other}"),
    }
    // A file removed from the middle is a gap in the numbers.
    let f = fixture();
    rotating_session(&f, 40, 1_000);
    let files = read::log_files(&f.storage).unwrap();
    std::fs::remove_file(&files[1]).unwrap();
    let err = verify_log(&f.storage, "ncb.fr", &f.ca, &[]).expect_err("a file is missing");
    assert!(
        matches!(
            err,
            ReadError::Tampered {
                tamper: Tamper::OutOfSequence { line: 1, .. },
                ..
            }
        ),
        "{err}"
    );
}

/// The parameters of the request that carries `signed` to gs, naming `certificate` or not.
fn checkpoint_params(
    signed: &SignedCheckpoint,
    certificate: Option<&str>,
) -> BTreeMap<String, String> {
    let mut params = BTreeMap::from([
        ("seq".to_owned(), signed.seq.to_string()),
        ("hash".to_owned(), signed.hash.clone()),
        ("at_ms".to_owned(), signed.at_ms.to_string()),
        ("signature".to_owned(), signed.signature.clone()),
    ]);
    if let Some(certificate) = certificate {
        params.insert("certificate".to_owned(), certificate.to_owned());
    }
    params
}

/// gs keeps a checkpoint that verifies with the certificate it names, if that certificate is
/// the sender's: one signed just before a reload renewed the sender's certificate travels
/// in an envelope signed with the new one, and was dropped when gs used the envelope's.
#[test]
fn gs_checks_a_checkpoint_with_the_certificate_that_signed_it_which_must_be_the_senders() {
    let mut f = fixture();
    f.net.add(&standard_specs()[0]).expect("gs's files");
    let pki = f.net.pki_dir();
    let gs = NodeCredentials::load(&pki.join("gs.pem"), &pki.join("gs.key")).expect("gs");
    let fr: bluehelm_proto::NodeId = "ncb.fr".parse().expect("a node id");
    let renewed = f
        .net
        .ca()
        .rotate(&fr, 30, false)
        .expect("a new certificate and key for ncb.fr")
        .issued
        .credentials()
        .expect("credentials");
    let verifier = EnvelopeVerifier::new(TrustStore::load(&f.ca, None).expect("the CA"));
    let checkpoint = crate::engine::audit::Checkpoint {
        seq: 7,
        hash: [9; 32],
        at_ms: crate::custody::now_ms(),
    };
    let sign = |creds: &NodeCredentials, named: &str| {
        let signer = creds.signer();
        SignedCheckpoint::new(named, &checkpoint, creds.node_cert_der(), |m| {
            signer.sign_checkpoint(m)
        })
    };
    let params = checkpoint_params;
    let check = |envelope_certificate: &[u8], params: &BTreeMap<String, String>| {
        checkpoints::check_for_test(&verifier, &fr, envelope_certificate, params)
    };

    // Signed with the old certificate, carried in an envelope signed with the renewed one.
    let before = sign(&f.creds, "ncb.fr");
    let kept = check(
        renewed.node_cert_der(),
        &params(&before, Some(&before.certificate)),
    )
    .expect("kept: it verifies with the certificate it names, ncb.fr's");
    assert_eq!(kept.certificate, hex(f.creds.node_cert_der()));
    // A sender that names no certificate: the envelope's, as before.
    let unnamed = check(renewed.node_cert_der(), &params(&before, None)).unwrap_err();
    assert!(unnamed.contains("signature does not verify"), "{unnamed}");
    assert!(check(f.creds.node_cert_der(), &params(&before, None)).is_ok());
    // Another node's key and certificate, on a checkpoint that names ncb.fr.
    let forged = sign(&gs, "ncb.fr");
    let other = check(
        renewed.node_cert_der(),
        &params(&forged, Some(&forged.certificate)),
    )
    .unwrap_err();
    assert!(other.contains("a certificate of gs"), "{other}");
    // ncb.fr's certificate named on gs's signature; a certificate that is no hex or no
    // certificate; a signature with a flipped byte.
    let swapped = check(
        renewed.node_cert_der(),
        &params(&forged, Some(&before.certificate)),
    )
    .unwrap_err();
    assert!(swapped.contains("signature does not verify"), "{swapped}");
    for bad in ["zz", "00ff"] {
        assert!(check(renewed.node_cert_der(), &params(&before, Some(bad))).is_err());
    }
    let mut flipped = before.clone();
    let last = flipped.signature.pop().expect("a signature");
    flipped.signature.push(if last == '0' { '1' } else { '0' });
    let err = check(
        renewed.node_cert_der(),
        &params(&flipped, Some(&flipped.certificate)),
    )
    .unwrap_err();
    assert!(err.contains("signature does not verify"), "{err}");
}

/// A rotation that revokes the old certificate as superseded (`pki rotate --revoke-old`):
/// once gs has that CRL, a checkpoint the old key signed before the revocation is still kept
/// (as an envelope would be), one it claims to have signed after is not.
#[test]
fn gs_keeps_a_checkpoint_signed_before_its_certificate_was_superseded_and_not_one_after() {
    let mut f = fixture();
    let fr: bluehelm_proto::NodeId = "ncb.fr".parse().expect("a node id");
    let sign_at = |at_ms: i64| {
        let checkpoint = crate::engine::audit::Checkpoint {
            seq: 3,
            hash: [4; 32],
            at_ms,
        };
        let signer = f.creds.signer();
        SignedCheckpoint::new("ncb.fr", &checkpoint, f.creds.node_cert_der(), |m| {
            signer.sign_checkpoint(m)
        })
    };
    let before = sign_at(crate::custody::now_ms());
    // CRL times are in whole seconds, and the revocation's second itself is refused.
    std::thread::sleep(Duration::from_millis(1_100));
    let renewed = f
        .net
        .ca()
        .rotate(&fr, 30, true)
        .expect("a new certificate, the old one superseded")
        .issued
        .credentials()
        .expect("credentials");
    let crl = f.net.ca().crl(7).expect("a CRL");
    let crl_path = f.storage.join("crl.pem");
    std::fs::write(&crl_path, crl).expect("the CRL written");
    let verifier = EnvelopeVerifier::new(TrustStore::load(&f.ca, Some(&crl_path)).expect("trust"));
    let after = sign_at(crate::custody::now_ms() + 2_000);
    let check = |signed: &SignedCheckpoint| {
        checkpoints::check_for_test(
            &verifier,
            &fr,
            renewed.node_cert_der(),
            &checkpoint_params(signed, Some(&signed.certificate)),
        )
    };

    check(&before).expect("signed before the revocation: kept");
    let refused = check(&after).unwrap_err();
    assert!(refused.contains("signature does not verify"), "{refused}");
    assert!(refused.contains("revoked"), "{refused}");
}
