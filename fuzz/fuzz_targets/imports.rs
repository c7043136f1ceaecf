//! Import files of the field databases (`bluehelm db import`, the `ImportRecords` call) from
//! arbitrary bytes, through the parser a node runs before it signs the rows
//! (`services::import::parse`: CSV with a header, or JSON lines; every record type's row
//! checks). The first byte picks the database; the importing node is `ncb.fr`, the owner the
//! seeds name. Every good row must carry a key and the importing node as its owner, and
//! every row a line number within the file.
#![no_main]

use bluehelm::services::import::parse;
use bluehelm_proto::{Database, NodeId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let database = Database::ALL[usize::from(pick) % Database::ALL.len()];
    let me: NodeId = "ncb.fr".parse().expect("a valid node id");
    let Ok(parsed) = parse(database, file, &me) else {
        return;
    };
    // CSV ends a line at `\n`, `\r` or both: more terminators than lines is an upper bound.
    let lines = 1 + file.iter().filter(|b| matches!(b, b'\n' | b'\r')).count() as u64;
    for item in &parsed.items {
        assert!(!item.key.is_empty());
        assert_eq!(item.owner, me);
        assert!(
            (1..=lines).contains(&item.line),
            "line {} of {lines}",
            item.line
        );
    }
    for error in &parsed.errors {
        assert!(
            (1..=lines).contains(&error.line),
            "line {} of {lines}",
            error.line
        );
    }
    assert!(parsed.bad_rows >= parsed.errors.len() as u64);
});
