//! Size and count limits checked by validation, each with the reason for its value.
//!
//! The frame cap ([`crate::framing::HARD_MAX_FRAME`]) already bounds the memory one message
//! can take; these limits keep individual fields to sizes that a bureau application, a log
//! line or a database column can handle without surprises.

pub use crate::ids::MAX_NAME_ID_LEN;

/// Most relay hops an envelope may allow. The network is a star of regional hubs around the
/// general secretariat, so real paths are a handful of hops; 32 leaves room for detours while
/// still killing routing loops quickly.
pub const MAX_HOP_LIMIT: u8 = 32;

/// Longest name-like string (references, names, document numbers, filenames, map keys), in
/// bytes. Long enough for any transliterated name, short enough for an index column.
pub const MAX_NAME_LEN: usize = 256;

/// Longest free-text field (bodies, summaries, remarks, map values), in bytes: 64 KiB is
/// about 30 pages of text. Larger material travels as an attachment.
pub const MAX_TEXT_LEN: usize = 64 * 1024;

/// Most entries in a repeated field of a subject (given names, aliases, nationalities,
/// documents). Real records have a few; the cap stops a peer from sending millions of empty
/// strings, which cost little on the wire but much in memory.
pub const MAX_LIST_LEN: usize = 64;

/// Most addressees of a diffusion. INTERPOL has 196 member countries; 256 covers all of their
/// bureaus plus regional nodes.
pub const MAX_ADDRESSEES: usize = 256;

/// Most attachments on one text message.
pub const MAX_ATTACHMENTS: usize = 16;

/// Most entries in a service request's parameters or a response's fields.
pub const MAX_MAP_ENTRIES: usize = 64;

/// Longest stated purpose of a service request (issue 12, item 4), in bytes: a sentence
/// with a case reference, not a report. It is copied into every hit notification.
pub const MAX_PURPOSE_LEN: usize = 1024;

/// Longest signer certificate, in bytes. An Ed25519 certificate with a few extensions is
/// under 1 KiB in DER; 16 KiB tolerates long names and policies.
pub const MAX_CERTIFICATE_LEN: usize = 16 * 1024;

/// Longest `detail` of a refusal or a non-delivery report, in bytes: a diagnostic line, not
/// a document.
pub const MAX_DETAIL_LEN: usize = 4 * 1024;

/// Most message references in one custody acceptance. Receivers batch acceptances after a
/// group commit; 1024 matches a generous batch and keeps the frame far below the frame cap
/// (each reference is at most about 85 bytes).
pub const MAX_ACCEPTED_REFS: usize = 1024;

/// Longest encoded envelope, in bytes. Every node accepts link frames of at least 4 MiB
/// (`framing::DEFAULT_MAX_FRAME`, the smallest cap a node may configure); 4 MiB - 64 KiB
/// leaves room for the signature, the batch proof (at most [`MAX_BATCH_PATH_LEN`] hashes,
/// about 1.1 KiB), the signer's certificate (at most 16 KiB), and a relay's hop count and
/// recipient list (256 node ids, about 17 KiB), so a message one node accepted can always be
/// forwarded to any other.
pub const MAX_ENVELOPE_LEN: usize = 4 * 1024 * 1024 - 64 * 1024;

/// Most leaves of the Merkle tree an origin signs over one batch of envelopes (issue 16,
/// item 1): 2^32, so that no inclusion path is longer than [`MAX_BATCH_PATH_LEN`]. A batch
/// is one round of one origin's envelopes, thousands at most; the bound is there to cap the
/// path, not the batch. The same value as `bluehelm_pki::batch::MAX_TREE_SIZE`.
pub const MAX_BATCH_TREE_SIZE: u64 = 1 << 32;

/// Most hashes in a signed envelope's inclusion path: one per level of a tree of at most
/// [`MAX_BATCH_TREE_SIZE`] leaves, so a proof is at most 32 x 32 bytes and is refused, when
/// longer, before it is copied. The same value as `bluehelm_pki::batch::MAX_PATH_LEN`.
pub const MAX_BATCH_PATH_LEN: usize = 32;

/// Longest file attached to a service request (issue 13, item 6: an ANSI/NIST-ITL record
/// sent to `afis.check`), in bytes. A ten-print record of WSQ-compressed 500 ppi images is
/// about 0.5 to 1 MB, and one with palms or 1000 ppi JPEG 2000 images 2 to 3 MB; 3 MiB
/// takes those and leaves about 900 KiB of the envelope for the parameters and headers. A
/// larger file does not fit the smallest frame cap every node accepts.
pub const MAX_REQUEST_ATTACHMENT_LEN: usize = 3 * 1024 * 1024;

/// Longest message of the local API (gRPC) that the node and its clients decode, in bytes.
/// An inbox message carries its body twice, decoded and as the signed envelope, so it may be
/// twice [`MAX_ENVELOPE_LEN`] plus a certificate; 8 MiB covers that. gRPC's usual default
/// (4 MiB) would refuse a text message with a few MiB of attachments.
pub const MAX_API_MESSAGE_LEN: usize = 8 * 1024 * 1024;

/// Longest CRL carried in a link frame (`LinkFrame::Crl`), in DER bytes. An entry of an
/// Ed25519 CRL (serial, date, reason) takes about 40 bytes: 1 MiB holds over 25,000
/// revocations, far more than a network of a few hundred nodes will ever make, and keeps a
/// CRL far below the smallest frame cap (4 MiB), so that every node can take it.
pub const MAX_CRL_LEN: usize = 1024 * 1024;

/// Most recipients of one sealed body (issue 14, item 4): the same bound as a diffusion's
/// addressees, every bureau and regional node. Each costs 112 bytes of key material plus the
/// node id, so the largest key list stays under 40 KiB.
pub const MAX_SEALED_RECIPIENTS: usize = 256;

/// Longest `data` of one `TransferPart` (issue 15, item 6), in bytes. Senders cut large
/// copies into much smaller parts (64 KiB here) so that a link drop loses at most one part;
/// 1 MiB bounds what a receiver buffers for one frame of a peer that cuts coarser.
pub const MAX_PART_LEN: usize = 1024 * 1024;

/// Most entries in one `PartsHeld` frame. A receiver holds at most 32 MiB of parts per peer
/// and a copy is sent in parts only above 256 KiB, so it never holds more than 128 copies
/// of one peer; 1,024 leaves room for another implementation's smaller threshold.
pub const MAX_HELD_PARTS: usize = 1024;

/// Length of the SHA-256 digest that names a copy sent in parts.
pub const PART_DIGEST_LEN: usize = 32;
