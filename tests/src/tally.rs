//! What the fault tests count (issue 15): messages acknowledged (taken into custody by the
//! origin), delivered, lost and duplicated at the destination.

use std::collections::BTreeMap;

use bluehelm::Node;

use crate::{eventually, number_of};

/// How many times each numbered test message is in `node`'s inbox.
pub async fn delivered(node: &Node) -> BTreeMap<usize, usize> {
    let inbox = node.bureau().inbox(None, 1_000_000).await.expect("inbox");
    let mut counts = BTreeMap::new();
    for message in &inbox {
        if let Some(n) = number_of(message) {
            *counts.entry(n).or_insert(0) += 1;
        }
    }
    counts
}

/// Waits until `node` has messages 0..acknowledged, prints the counts, and requires lost = 0
/// and duplicated = 0. The caller checks again once every queue on the path is empty, when no
/// copy can still arrive.
pub async fn every_one_once(node: &Node, acknowledged: usize, what: &str) {
    let counts = eventually(
        &format!("{what}: {acknowledged} messages delivered"),
        || async {
            let counts = delivered(node).await;
            (counts.len() >= acknowledged).then_some(counts)
        },
    )
    .await;
    let delivered: usize = counts.values().sum();
    let lost = (0..acknowledged)
        .filter(|n| !counts.contains_key(n))
        .count();
    let duplicated = delivered - counts.len();
    println!(
        "{what}: acknowledged {acknowledged}, delivered {delivered}, lost {lost}, duplicated {duplicated}"
    );
    assert_eq!((lost, duplicated), (0, 0), "{what}");
}
