//! Large messages survive a link drop mid-transfer without starting over (issue 15, item 6):
//! real nodes on loopback, the mission post's link to gs through the fault proxy at a low
//! bandwidth. A copy above 256 KiB goes in parts; after a drop the post tells gs what it
//! holds, and gs sends only the rest. Each test requires the message delivered once and
//! intact.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bluehelm::custody::Outgoing;
use bluehelm::localnet::standard_specs;
use bluehelm::Node;
use bluehelm_faultproxy::{FaultProxy, Impairments};
use bluehelm_proto::{Attachment, Body, Destination, Precedence, TextMessage};
use bluehelm_tests::{eventually, linked, queues_empty, TestNet};

const POST: &str = "mission.unmiss";
/// The attachment: about 3 MiB, a bit over 12 s at 2 Mbit/s.
const SIZE: usize = 3 * 1024 * 1024;

/// The standard network with the post's link to gs through a 2 Mbit/s proxy; gs, ncb.ke and
/// the post started and linked.
async fn start() -> (TestNet, FaultProxy, [Node; 3]) {
    let mut specs = standard_specs();
    let hub = specs[0].listen.expect("gs listens");
    let proxy = FaultProxy::start(
        hub,
        Impairments {
            delay: Duration::from_millis(20),
            bandwidth_bps: Some(2_000_000),
            buffer_bytes: 150_000,
            ..Impairments::none()
        },
    )
    .await
    .expect("the proxy starts");
    let post = specs
        .iter_mut()
        .find(|s| s.id.as_str() == POST)
        .expect("the post in the network");
    post.peers = vec![("gs".parse().expect("id"), Some(proxy.address()))];
    let net = TestNet::with_specs(specs);
    let gs = net.start("gs").await;
    let ke = net.start("ncb.ke").await;
    let post = net.start(POST).await;
    linked(&ke, "gs").await;
    linked(&post, "gs").await;
    (net, proxy, [gs, ke, post])
}

/// A ROUTINE text message to the post with `content` attached.
fn large(content: Vec<u8>) -> Outgoing {
    Outgoing {
        destination: Destination::Node(POST.parse().expect("id")),
        precedence: Precedence::Routine,
        body: Body::Text(TextMessage {
            subject_line: "a large file".to_owned(),
            body: String::new(),
            attachments: vec![Attachment {
                filename: "scan.bin".to_owned(),
                media_type: "application/octet-stream".to_owned(),
                content,
            }],
        }),
        ttl: Duration::from_secs(3600),
        want_delivery_report: false,
        release_to: None,
        correlation_id: None,
    }
}

/// Bytes that do not compress and differ from message to message.
fn content(seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..SIZE)
        .map(|_| {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn carried(proxy: &FaultProxy) -> u64 {
    proxy.stats().delivered_bytes.load(Ordering::Relaxed)
}

/// Cuts the post's link and waits until both ends have given it up (10 s idle timeout), so
/// that what follows is a new link, not the old one resuming.
async fn drop_link(proxy: &FaultProxy, gs: &Node, post: &Node) {
    proxy.cut(true);
    eventually("both ends give the post's link up", || async {
        (!gs.is_linked(&POST.parse().expect("id")) && !post.is_linked(&"gs".parse().expect("id")))
            .then_some(())
    })
    .await;
}

/// The post's inbox, once it holds the message: exactly one, with `content` attached, and
/// nothing left queued on the way.
async fn delivered_once_intact(gs: &Node, ke: &Node, post: &Node, content: &[u8]) {
    let patience = Duration::from_secs(180);
    let started = tokio::time::Instant::now();
    loop {
        let inbox = post.bureau().inbox(None, 100).await.expect("inbox");
        if !inbox.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < patience,
            "the large message never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    queues_empty(&[gs, ke]).await;
    let inbox = post.bureau().inbox(None, 100).await.expect("inbox");
    assert_eq!(inbox.len(), 1, "delivered once");
    match &inbox[0].envelope.body {
        Body::Text(text) => assert!(
            text.attachments.len() == 1 && text.attachments[0].content == content,
            "delivered intact"
        ),
        other => panic!("not the text sent: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_message_cut_halfway_resumes_where_it_stopped() {
    let (_net, proxy, [gs, ke, post]) = start().await;
    let content = content(1);
    let before = carried(&proxy);
    ke.bureau()
        .submit(vec![large(content.clone())])
        .await
        .expect("taken into custody");
    // Cut once about half of it went through.
    eventually("half the message through the proxy", || async {
        (carried(&proxy) - before >= SIZE as u64 / 2).then_some(())
    })
    .await;
    let at_cut = carried(&proxy) - before;
    drop_link(&proxy, &gs, &post).await;
    let at_heal = carried(&proxy);
    proxy.cut(false);
    linked(&post, "gs").await;
    delivered_once_intact(&gs, &ke, &post, &content).await;
    let after_heal = carried(&proxy) - at_heal;
    println!(
        "message {SIZE} bytes: {at_cut} carried before the cut, {after_heal} after the heal \
         ({:.2} of the message)",
        after_heal as f64 / SIZE as f64
    );
    assert!(
        (after_heal as f64) < 0.75 * SIZE as f64,
        "after the heal the proxy carried {after_heal} bytes: the message started over"
    );
    for node in [post, ke, gs] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_message_gets_through_a_link_that_drops_before_it_could_finish() {
    // Each time the link is up it carries about 1 MiB, a third of the message, before it
    // drops: starting over on every link, the message would never arrive.
    const PER_LINK: u64 = 1024 * 1024;
    let (_net, proxy, [gs, ke, post]) = start().await;
    let content = content(2);
    ke.bureau()
        .submit(vec![large(content.clone())])
        .await
        .expect("taken into custody");
    let mut drops = 0;
    let arrived = loop {
        let up_at = carried(&proxy);
        let arrived = eventually(
            "the link carries its share, or the message arrives",
            || async {
                let inbox = post.bureau().inbox(None, 1).await.expect("inbox");
                if !inbox.is_empty() {
                    return Some(true);
                }
                (carried(&proxy) - up_at >= PER_LINK).then_some(false)
            },
        )
        .await;
        if arrived {
            break true;
        }
        drop_link(&proxy, &gs, &post).await;
        drops += 1;
        assert!(drops <= 6, "no progress across {drops} links");
        proxy.cut(false);
        linked(&post, "gs").await;
    };
    assert!(arrived);
    println!("the message arrived after {drops} link drops");
    assert!(drops >= 2, "the link did drop mid-transfer ({drops} drops)");
    delivered_once_intact(&gs, &ke, &post, &content).await;
    for node in [post, ke, gs] {
        node.shutdown().await;
    }
}
