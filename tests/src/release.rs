//! Helpers of `tests/release.rs` (issue 12, release markings): the standard network plus
//! ncb.de and a group naming every node, started and linked; a barrier that proves a marked
//! message never arrived; notice review at gs.

use bluehelm::api::pb::{self, bureau_client::BureauClient};
use bluehelm::localnet::{standard_specs, NodeSpec};
use bluehelm::Node;
use bluehelm_proto::{Body, NoticeLifecycle, Precedence, ReleaseList};
use tonic::transport::Channel;

use crate::{eventually, id, linked, number_of, queues_empty, text, TestNet};

pub type Client = BureauClient<Channel>;

/// The standard network with ncb.de linked to gs and in its `all-ncb` group, and a group
/// `everyone` at gs naming every node, gs included.
pub fn specs() -> Vec<NodeSpec> {
    let mut specs = standard_specs();
    let de = {
        let hub = &specs[0];
        assert_eq!(hub.id.as_str(), "gs");
        let mut de = NodeSpec::ncb("ncb.de", "DE", hub);
        de.policy = hub.policy.clone();
        de
    };
    let hub = &mut specs[0];
    hub.peers.push((de.id.clone(), None));
    for (name, members) in &mut hub.groups {
        if name == "all-ncb" {
            members.push(de.id.clone());
        }
    }
    let everyone = ["gs", "ncb.fr", "ncb.ke", "ncb.de", "mission.unmiss"];
    hub.groups
        .push(("everyone".into(), everyone.into_iter().map(id).collect()));
    specs.push(de);
    specs
}

pub fn list(text: &str) -> ReleaseList {
    text.parse().expect("a valid release list")
}

pub async fn start(net: &TestNet, nodes: &[&str]) -> Vec<Node> {
    let mut started = Vec::new();
    for node in nodes {
        started.push(net.start(node).await);
    }
    started
}

/// Every node of [`specs`], each linked with gs (so gs knows who they are): gs, ncb.fr,
/// ncb.ke, mission.unmiss, ncb.de.
pub async fn start_all_linked(net: &TestNet) -> [Node; 5] {
    let all = ["gs", "ncb.fr", "ncb.ke", "mission.unmiss", "ncb.de"];
    let nodes: [Node; 5] = start(net, &all)
        .await
        .try_into()
        .unwrap_or_else(|_| unreachable!("five nodes started"));
    for peer in &all[1..] {
        linked(&nodes[0], peer).await;
    }
    nodes
}

pub async fn stop(nodes: Vec<Node>) {
    for node in nodes.into_iter().rev() {
        node.shutdown().await;
    }
}

pub async fn unlinked(gs: &Node, peer: &str) {
    eventually(&format!("gs to see {peer} gone"), || async {
        (!gs.is_linked(&id(peer))).then_some(())
    })
    .await
}

pub fn config(net: &TestNet, node: &str) -> String {
    net.config_path(node).display().to_string()
}

/// Barrier: gs sends each of `nodes` an unmarked text and waits until it arrived and every
/// queue is empty; anything marked that was on its way would have arrived by then. Returns
/// each node's whole inbox.
pub async fn after_barrier(gs: &Node, nodes: &[&Node]) -> Vec<Vec<bluehelm::custody::Delivered>> {
    let batch = nodes
        .iter()
        .enumerate()
        .map(|(n, node)| text(900 + n, node.bureau().me().as_str(), Precedence::Routine))
        .collect();
    gs.bureau().submit(batch).await.expect("gs's barrier texts");
    let mut inboxes = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let inbox = eventually("the barrier text", || async {
            let inbox = node.bureau().inbox(None, 1_000).await.expect("inbox");
            inbox
                .iter()
                .any(|m| number_of(m) == Some(900 + n))
                .then_some(inbox)
        })
        .await;
        inboxes.push(inbox);
    }
    let mut all = vec![gs];
    all.extend(nodes);
    queues_empty(&all).await;
    inboxes
}

pub fn is_notice(m: &bluehelm::custody::Delivered, reference: &str) -> bool {
    matches!(&m.envelope.body, Body::Notice(n) if n.notice_ref == reference)
}

pub fn is_diffusion(m: &bluehelm::custody::Delivered, reference: &str) -> bool {
    matches!(&m.envelope.body, Body::Diffusion(d) if d.reference == reference)
}

/// Waits for the publication of notice `reference` in `node`'s inbox.
pub async fn publication(node: &Node, reference: &str) -> bluehelm::custody::Delivered {
    eventually(&format!("{reference} published at {}", node.bureau().me()), || async {
        let inbox = node.bureau().inbox(None, 1_000).await.expect("inbox");
        inbox.into_iter().find(|m| {
            matches!(&m.envelope.body,
                Body::Notice(n) if n.notice_ref == reference && n.lifecycle == NoticeLifecycle::Published)
        })
    })
    .await
}

pub async fn approve(gs: &mut Client, reference: &str) {
    let item = eventually(&format!("request {reference} awaiting review"), || {
        let mut gs = gs.clone();
        async move {
            let list = gs.list_reviews(pb::ListReviewsRequest {}).await.ok()?;
            list.into_inner()
                .items
                .into_iter()
                .find(|i| i.notice.as_ref().is_some_and(|n| n.notice_ref == reference))
        }
    })
    .await;
    gs.approve_notice(pb::ApproveNoticeRequest {
        message_id: item.message_id,
        remarks: String::new(),
    })
    .await
    .expect("gs approves");
}
