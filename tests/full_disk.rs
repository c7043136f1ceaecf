//! A full disk (issue 15, item 8): gs's storage file system falls under its reserve
//! (`limits.min_free_disk_mib`) while messages flow, for real: the test fills the file system
//! with a ballast file. The sender keeps custody and hears "retry later"; when the ballast
//! goes, delivery resumes. Counts acknowledged, delivered, lost and duplicated, and requires
//! lost = 0 and duplicated = 0.

use std::path::Path;
use std::time::Duration;

use bluehelm::localnet::standard_specs;
use bluehelm_proto::{Precedence, RefusalReason};
use bluehelm_tests::tally::{delivered, every_one_once};
use bluehelm_tests::{eventually, linked, queues_empty, text, TestNet};

const POST: &str = "mission.unmiss";
const MIB: u64 = 1024 * 1024;
/// The ballast, and twice the margin on each side of gs's reserve: other writers on the same
/// file system (a build beside the test) must move its free space by half of this to upset
/// the test.
const BALLAST: u64 = 2048 * MIB;

fn free_bytes(dir: &Path) -> u64 {
    let stat = rustix::fs::statvfs(dir).expect("statvfs of the test directory");
    stat.f_bavail * stat.f_frsize
}

/// A file of `bytes` whose blocks are really taken (not sparse).
fn ballast(path: &Path, bytes: u64) {
    let file = std::fs::File::create(path).expect("ballast file");
    rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, bytes)
        .expect("fallocate the ballast (the file system must support it)");
    file.sync_all().expect("sync the ballast");
}

fn refused_for_storage(node: &bluehelm::Node) -> u64 {
    node.bureau()
        .stats()
        .refusals()
        .find(|(reason, _)| *reason == RefusalReason::StorageUnavailable)
        .map_or(0, |(_, n)| n)
}

async fn send(from: &bluehelm::Node, range: std::ops::Range<usize>) -> usize {
    let messages: Vec<_> = range
        .map(|n| {
            let precedence = if n % 10 == 0 {
                Precedence::Flash
            } else {
                Precedence::Routine
            };
            text(n, POST, precedence)
        })
        .collect();
    from.bureau()
        .submit(messages)
        .await
        .expect("taken into custody by the origin")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_out_of_disk_space_refuses_for_later_and_delivers_all_once_when_space_returns() {
    const BEFORE: usize = 200;
    const DURING: usize = 300;
    let mut specs = standard_specs();
    let temp = std::env::temp_dir();
    let free = free_bytes(&temp);
    assert!(
        free > BALLAST + BALLAST / 2,
        "this test fills the disk of {} with a {} MiB ballast: it needs {} MiB free, and has {} MiB",
        temp.display(),
        BALLAST / MIB,
        (BALLAST + BALLAST / 2) / MIB,
        free / MIB
    );
    // gs's reserve sits half the ballast under today's free space: met now, missed with the
    // ballast in place.
    let reserve_mib = (free - BALLAST / 2) / MIB;
    specs[0].limits = Some(format!("min_free_disk_mib = {reserve_mib}"));
    let net = TestNet::with_specs(specs);
    let gs = net.start("gs").await;
    let ke = net.start("ncb.ke").await;
    let post = net.start(POST).await;
    linked(&ke, "gs").await;
    linked(&post, "gs").await;

    let mut acknowledged = send(&ke, 0..BEFORE).await;
    every_one_once(&post, acknowledged, "before the disk filled").await;

    let ballast_path = net.dir().join("ballast");
    ballast(&ballast_path, BALLAST);
    let why = eventually("gs sees its disk under the reserve", || async {
        gs.bureau().disk().shortage
    })
    .await;
    println!("gs: {why}");
    let refused_before = refused_for_storage(&gs);
    acknowledged += send(&ke, BEFORE..BEFORE + DURING).await;
    // The sender keeps custody and hears "retry later"; nothing passes gs.
    let gs_id = "gs".parse().expect("id");
    eventually("gs refuses offers for storage", || async {
        (refused_for_storage(&gs) > refused_before).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held_at_sender = ke.bureau().queue_depth(&gs_id);
    let at_post = delivered(&post).await.len();
    println!(
        "disk full at gs: the sender holds {held_at_sender}, the post has {at_post}, gs refused {} offers for storage",
        refused_for_storage(&gs) - refused_before
    );
    assert_eq!(
        held_at_sender, DURING,
        "the sender kept every message gs refused"
    );
    assert_eq!(at_post, BEFORE, "nothing passed gs while its disk was full");
    // gs's own applications hear the same.
    let local = gs
        .bureau()
        .submit(vec![text(999_999, POST, Precedence::Routine)])
        .await
        .expect_err("gs takes no custody of its own messages either");
    assert!(local.to_string().contains("retry later"), "{local}");
    let health = bluehelm::metrics::snapshot::health(gs.bureau());
    assert!(!health.is_ready(), "gs is not ready while short of disk");

    std::fs::remove_file(&ballast_path).expect("remove the ballast");
    eventually("gs has disk space again", || async {
        gs.bureau().disk().shortage.is_none().then_some(())
    })
    .await;
    every_one_once(&post, acknowledged, "a full disk at gs, then space again").await;
    queues_empty(&[&ke, &gs]).await;
    assert_eq!(delivered(&post).await.values().sum::<usize>(), acknowledged);
    for node in [post, ke, gs] {
        node.shutdown().await;
    }
}
