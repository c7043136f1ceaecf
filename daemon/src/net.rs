//! The IO shell of links: TLS settings, the QUIC endpoint's accept and dial loops, and one
//! set of tasks per link. Decisions are taken in `engine`, writes go through `store`.

pub mod congestion;
pub mod crl;
pub mod endpoint;
pub mod frames;
pub mod link;
pub mod links;
pub mod tls;
