use super::*;

const NODE: &str = "mission.unmiss";

/// A log of `n` entries and the checkpoint after each.
fn log(n: u64) -> (Vec<String>, Vec<Checkpoint>) {
    let mut chain = Chain::new(NODE);
    let mut lines = Vec::new();
    let mut checkpoints = Vec::new();
    for k in 0..n {
        let mut entry = Entry::new(Event::Relayed, 1_000 + k as i64);
        entry.message_id = format!("m-{k}");
        entry.origin = "ncb.fr".into();
        entry.destination = "gs".into();
        let line = chain.append(entry);
        lines.push(line.trim_end().to_owned());
        checkpoints.push(chain.checkpoint(2_000 + k as i64));
    }
    (lines, checkpoints)
}

fn verify(lines: &[String], checkpoints: Vec<Checkpoint>) -> Result<u64, Tamper> {
    let mut verifier = Verifier::new(NODE, checkpoints);
    for line in lines {
        verifier.line(line)?;
    }
    Ok(verifier.finish()?.checkpoint(0).seq)
}

#[test]
fn an_untouched_log_verifies_with_every_checkpoint() {
    let (lines, checkpoints) = log(20);
    assert_eq!(verify(&lines, checkpoints.clone()), Ok(20));
    assert_eq!(
        verify(&lines, vec![checkpoints[4], checkpoints[19]]),
        Ok(20)
    );
    assert_eq!(verify(&[], Vec::new()), Ok(0));
}

#[test]
fn an_edited_entry_is_found_even_with_its_hash_recomputed() {
    let (mut lines, _) = log(5);
    let edited = lines[2].replace("m-2", "m-X");
    lines[2] = edited.clone();
    assert_eq!(
        verify(&lines, Vec::new()),
        Err(Tamper::Edited { line: 3, seq: 3 })
    );
    // The forger recomputes the edited line's hash: the next line no longer follows.
    let (_, json) = edited.split_once(' ').unwrap();
    let (before, _) = lines[1].split_once(' ').unwrap();
    let mut previous = [0u8; 32];
    for (n, byte) in previous.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&before[2 * n..2 * n + 2], 16).unwrap();
    }
    lines[2] = format!("{} {json}", hex(&link(&previous, json.as_bytes())));
    assert_eq!(
        verify(&lines, Vec::new()),
        Err(Tamper::Edited { line: 4, seq: 4 })
    );
}

#[test]
fn removed_inserted_and_reordered_entries_are_out_of_sequence() {
    let (lines, _) = log(5);
    let mut removed = lines.clone();
    removed.remove(1);
    assert_eq!(
        verify(&removed, Vec::new()),
        Err(Tamper::OutOfSequence {
            line: 2,
            expected: 2,
            found: 3
        })
    );
    let mut inserted = lines.clone();
    inserted.insert(2, lines[1].clone());
    assert_eq!(
        verify(&inserted, Vec::new()),
        Err(Tamper::OutOfSequence {
            line: 3,
            expected: 3,
            found: 2
        })
    );
    let mut reordered = lines.clone();
    reordered.swap(3, 4);
    assert_eq!(
        verify(&reordered, Vec::new()),
        Err(Tamper::OutOfSequence {
            line: 4,
            expected: 4,
            found: 5
        })
    );
}

#[test]
fn a_log_cut_or_rewritten_behind_a_checkpoint_is_caught() {
    let (lines, checkpoints) = log(10);
    // Cut after entry 6, with a checkpoint at 8: a chain that verifies, but too short.
    assert_eq!(
        verify(&lines[..6], vec![checkpoints[7]]),
        Err(Tamper::Truncated {
            last: 6,
            seq: 8,
            at_ms: 2_007
        })
    );
    // Without the checkpoint the cut log is indistinguishable from a shorter one.
    assert_eq!(verify(&lines[..6], Vec::new()), Ok(6));

    // Entries 8 to 10 rewritten by their own node, hashes and all: checkpoint 8 disagrees.
    let mut chain = Chain::resume(7, {
        let mut v = Verifier::new(NODE, Vec::new());
        for line in &lines[..7] {
            v.line(line).unwrap();
        }
        v.finish().unwrap().checkpoint(0).hash
    });
    let mut rewritten = lines[..7].to_vec();
    for k in 7..10 {
        let line = chain.append(Entry::new(Event::Refused, 9_000 + k));
        rewritten.push(line.trim_end().to_owned());
    }
    assert_eq!(
        verify(&rewritten, Vec::new()),
        Ok(10),
        "the chain alone holds"
    );
    assert_eq!(
        verify(&rewritten, vec![checkpoints[7]]),
        Err(Tamper::CheckpointMismatch {
            seq: 8,
            at_ms: 2_007
        })
    );
}

#[test]
fn another_nodes_log_and_malformed_lines_are_refused() {
    let (lines, _) = log(2);
    let mut verifier = Verifier::new("ncb.fr", Vec::new());
    assert_eq!(
        verifier.line(&lines[0]),
        Err(Tamper::Edited { line: 1, seq: 1 })
    );
    for bad in [
        "",
        "no-space",
        "abcd {not json}",
        "abcd {\"seq\":1,\"at_ms\":0,\"event\":\"relayed\",\"body\":\"x\"}",
    ] {
        let mut verifier = Verifier::new(NODE, Vec::new());
        assert!(
            matches!(verifier.line(bad), Err(Tamper::Malformed { line: 1, .. })),
            "{bad:?}"
        );
    }
    let long = format!("ab {}", "x".repeat(MAX_LINE));
    assert!(matches!(
        Verifier::new(NODE, Vec::new()).line(&long),
        Err(Tamper::Malformed { .. })
    ));
}

#[test]
fn a_checkpoint_message_binds_node_position_time_and_hash() {
    let (_, checkpoints) = log(3);
    let base = checkpoint_message(NODE, &checkpoints[2]);
    assert_ne!(base, checkpoint_message("ncb.fr", &checkpoints[2]));
    assert_ne!(base, checkpoint_message(NODE, &checkpoints[1]));
    let mut later = checkpoints[2];
    later.at_ms += 1;
    assert_ne!(base, checkpoint_message(NODE, &later));
    assert!(base.starts_with(b"bluehelm/v1/audit-checkpoint\0"));
}

/// The line as the writer wrote it before `line.rs`: serde_json, then `format!`.
fn line_by_serde(previous: &Digest, entry: &Entry) -> String {
    let json = serde_json::to_string(entry).unwrap();
    format!("{} {json}\n", hex(&link(previous, json.as_bytes())))
}

#[test]
fn lines_are_byte_for_byte_what_serde_json_writes() {
    let events = [
        Event::Accepted,
        Event::Relayed,
        Event::Delivered,
        Event::Read,
        Event::Refused,
        Event::Expired,
        Event::Quarantined,
        Event::Released,
        Event::Dropped,
        Event::Purged,
        Event::Rerouted,
        Event::Queried,
    ];
    let texts = [
        "",
        "ncb.fr",
        "0190d6c2-7f3a-7c1e-9a41-3f5e2b8c1d00",
        "say \"no\"",
        "back\\slash",
        "tab\tnew\nline\r",
        "bell\u{7}nul\u{0}esc\u{1b}del\u{7f}",
        "réseau 警察 🚓",
        "/",
    ];
    let mut chain = Chain::new(NODE);
    let (mut json, mut out) = (String::new(), String::new());
    for (k, event) in events.iter().enumerate() {
        for t in 0..texts.len() {
            let mut entry = Entry::new(*event, -5 + (k * t) as i64 * 1_000_003);
            let pick = |n: usize| texts[(t + n) % texts.len()].to_string();
            entry.message_id = pick(0);
            entry.origin = pick(1);
            entry.destination = pick(2);
            entry.kind = pick(3);
            entry.decision = pick(4);
            entry.rule = pick(5);
            entry.terminal = pick(6);
            entry.owner = pick(7);
            let before = chain.checkpoint(0).hash;
            let mut numbered = entry.clone();
            numbered.seq = chain.last_seq() + 1;
            let expected = line_by_serde(&before, &numbered);
            out.clear();
            chain.append_to(entry, &mut json, &mut out);
            assert_eq!(out, expected, "{event:?} with text {t}");
            let (_, written) = out.trim_end().split_once(' ').unwrap();
            assert_eq!(serde_json::from_str::<Entry>(written).unwrap(), numbered);
        }
    }
    assert_eq!(
        serde_json::to_string(&Event::Rerouted).unwrap(),
        "\"rerouted\""
    );
}
