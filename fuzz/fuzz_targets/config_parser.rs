//! A node's config from arbitrary TOML text, through the parser and checks that `bluehelm
//! run`, `reload` and `config check` use (`NodeConfig::parse`: serde, then every cross-field
//! check) without touching files. A config that passes then routes its own peers, and its
//! peer addresses print back to what they parse from.
#![no_main]

use std::path::Path;

use bluehelm::config::PeerAddress;
use bluehelm::NodeConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = NodeConfig::parse(text, Path::new("/nonexistent/bluehelm")) else {
        return;
    };
    for peer in &config.peers {
        let _ = config.routing.hop_to(&peer.node);
        if let Some(address) = &peer.address {
            assert_eq!(
                PeerAddress::parse(&address.to_string()).as_ref(),
                Ok(address)
            );
        }
    }
    let _ = config.routing.hop_to(&config.node_id);
});
