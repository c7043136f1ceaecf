//! Where to dial a peer (issue 15, item 3): an IP address and port, or a DNS name and port.
//! A name is resolved at each dial (`net::endpoint::dial_loop`), not once at start: a peer
//! whose address changes, or whose name does not resolve yet, is reached on a later redial.

use std::fmt;
use std::net::SocketAddr;

/// A peer's dialling address, as written in `[[peers]] address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAddress {
    /// `203.0.113.5:7400` or `[2001:db8::1]:7400`.
    Socket(SocketAddr),
    /// `gs.example.org:7400`, resolved at each dial.
    Name { host: String, port: u16 },
}

/// Longest DNS name (RFC 1035, 2.3.4).
const MAX_NAME_LEN: usize = 253;

impl PeerAddress {
    /// Parses `ip:port`, `[ipv6]:port` or `name:port`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Ok(socket) = text.parse::<SocketAddr>() {
            return Ok(Self::Socket(socket));
        }
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(format!(
                "{text:?} has no port: give host:port, e.g. gs.example.org:7400 or 203.0.113.5:7400"
            ));
        };
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{text:?}: the port {port:?} is not a number from 1 to 65535"))?;
        if port == 0 {
            return Err(format!("{text:?}: port 0 cannot be dialled"));
        }
        if !is_dns_name(host) {
            return Err(format!(
                "{text:?}: {host:?} is neither an IP address nor a DNS name (letters, digits, hyphens and dots; an IPv6 address goes in brackets)"
            ));
        }
        Ok(Self::Name {
            host: host.to_owned(),
            port,
        })
    }
}

/// Labels of letters, digits and hyphens (not at either end), 1-63 bytes, joined by dots.
fn is_dns_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= MAX_NAME_LEN
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Socket(socket) => write!(f, "{socket}"),
            Self::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

impl From<SocketAddr> for PeerAddress {
    fn from(socket: SocketAddr) -> Self {
        Self::Socket(socket)
    }
}

#[cfg(test)]
mod tests {
    use super::PeerAddress;

    #[test]
    fn addresses_and_names_parse_and_nonsense_is_refused() {
        assert_eq!(
            PeerAddress::parse("127.0.0.1:7400"),
            Ok(PeerAddress::Socket("127.0.0.1:7400".parse().unwrap()))
        );
        assert_eq!(
            PeerAddress::parse("[::1]:7400"),
            Ok(PeerAddress::Socket("[::1]:7400".parse().unwrap()))
        );
        assert_eq!(
            PeerAddress::parse("localhost:7400"),
            Ok(PeerAddress::Name {
                host: "localhost".into(),
                port: 7400
            })
        );
        assert_eq!(
            PeerAddress::parse("gs.example.org:7400").map(|a| a.to_string()),
            Ok("gs.example.org:7400".to_owned())
        );
        for bad in [
            "gs.example.org",
            "gs.example.org:0",
            "gs.example.org:70000",
            "gs..example.org:7400",
            "-gs.example.org:7400",
            "gs_1.example.org:7400",
            "::1:7400",
            ":7400",
        ] {
            assert!(PeerAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
