//! `bluehelm reload --config node.toml`: the running node reads its config file again and
//! puts what changed in force, as SIGHUP does (issue 15, item 3). Prints what changed;
//! exits non-zero, with the reason, when the node refuses the new config and keeps the old.
//! See `api/reload.rs` and docs/operations.md ("Reloading the configuration").

use std::process::ExitCode;

use bluehelm::api::pb;

use super::bureau::{self, NodeArgs};
use super::out::outln;

#[derive(Debug, clap::Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Print what changed as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ReloadArgs) -> anyhow::Result<ExitCode> {
    bureau::block_on(async move {
        let mut client = args.node.connect().await?;
        let done = client
            .reload(pb::ReloadRequest {})
            .await
            .map_err(bureau::from_status)?
            .into_inner();
        if args.json {
            outln!("{}", bureau::to_json(&done))?;
            return Ok(());
        }
        for line in lines(&done) {
            outln!("{line}")?;
        }
        Ok(())
    })
}

/// What changed, one line per kind of change; one line saying so when nothing did.
fn lines(done: &pb::ReloadResponse) -> Vec<String> {
    let mut lines = vec![format!("reloaded {}", done.config)];
    for (what, items) in [
        ("peers added (dialled)", &done.peers_added),
        (
            "peers removed (link closed, queues kept)",
            &done.peers_removed,
        ),
        (
            "peers with a new address (redialled)",
            &done.peers_readdressed,
        ),
        ("groups changed", &done.groups_changed),
        ("also changed", &done.keys_changed),
    ] {
        if !items.is_empty() {
            lines.push(format!("{what}: {}", items.join(", ")));
        }
    }
    if done.identity_changed {
        lines.push("certificate or key changed: new links present the new certificate".into());
    }
    if done.trust_changed {
        lines.push("CA or CRL changed: in force for new links and envelopes".into());
    }
    if lines.len() == 1 {
        lines.push("nothing changed".into());
    } else {
        lines.push("links to unchanged peers stay up".into());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_config_says_nothing_changed() {
        let done = pb::ReloadResponse {
            config: "/etc/bh/gs.toml".into(),
            ..Default::default()
        };
        assert_eq!(
            lines(&done),
            ["reloaded /etc/bh/gs.toml", "nothing changed"]
        );
    }

    #[test]
    fn each_kind_of_change_has_its_line() {
        let done = pb::ReloadResponse {
            config: "gs.toml".into(),
            peers_added: vec!["ncb.it".into()],
            groups_changed: vec!["europe".into()],
            keys_changed: vec!["routes".into(), "limits.queue_quota".into()],
            ..Default::default()
        };
        assert_eq!(
            lines(&done),
            [
                "reloaded gs.toml",
                "peers added (dialled): ncb.it",
                "groups changed: europe",
                "also changed: routes, limits.queue_quota",
                "links to unchanged peers stay up",
            ]
        );
    }
}
