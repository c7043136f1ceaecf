//! A test AFIS: a host application of `afis.check` (issue 13, item 6) that answers from a
//! fixed table of file digests. It stands in for a real AFIS (automated fingerprint
//! identification system), which would extract minutiae from the ANSI/NIST-ITL record and
//! search its gallery: writing a matcher is out of scope, and the relay does not care how
//! the answer is found. Like a real one, it is only a gRPC client of its node's local API
//! (`ServeRequests`): it gets each request with its file and the file's SHA-256, and answers
//! hit with the reference of the table entry, or no-hit.

use std::collections::BTreeMap;

use bluehelm::api::pb::{self, bureau_client::BureauClient};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// The service name an AFIS hosts.
pub const SERVICE: &str = "afis.check";

/// The media type of ANSI/NIST-ITL files, as `bluehelm request --attach` sends them.
pub const ANSI_NIST: &str = "application/x-ansi-nist";

/// What the test AFIS saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub request_id: String,
    pub origin: String,
    /// The attachment's length as received, 0 without one.
    pub len: usize,
    /// The digest the node computed (`IncomingRequest.attachment_sha256`).
    pub sha256: String,
    /// Whether the digest the node gave matches the bytes received.
    pub digest_matches: bool,
}

/// A running test AFIS; it stops when dropped or when its node goes away.
pub struct TestAfis {
    pub seen: mpsc::UnboundedReceiver<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestAfis {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestAfis {
    /// Serves `afis.check` through `client` (a client of the hosting node's API), answering
    /// hit with `reference` for a file whose SHA-256 (lower-case hex) is a key of `table`,
    /// no-hit for any other ANSI/NIST-ITL file, and an error without one.
    pub async fn serve(mut client: BureauClient<Channel>, table: BTreeMap<String, String>) -> Self {
        let (tx, rx) = mpsc::channel(16);
        tx.send(pb::ServeMessage {
            kind: Some(pb::serve_message::Kind::Serve(SERVICE.into())),
        })
        .await
        .expect("the channel is new");
        let mut incoming = client
            .serve_requests(ReceiverStream::new(rx))
            .await
            .expect("the node lets the test AFIS serve afis.check")
            .into_inner();
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok(Some(request)) = incoming.message().await {
                let (answer, saw) = answer(&table, request);
                let _ = seen_tx.send(saw);
                let message = pb::ServeMessage {
                    kind: Some(pb::serve_message::Kind::Answer(answer)),
                };
                if tx.send(message).await.is_err() {
                    return;
                }
            }
        });
        TestAfis { seen, task }
    }
}

/// The AFIS's answer to one request, and what it saw of it.
fn answer(table: &BTreeMap<String, String>, request: pb::IncomingRequest) -> (pb::Answer, Seen) {
    let file = request.request.and_then(|r| r.attachment);
    let content = file.as_ref().map(|f| f.content.as_slice()).unwrap_or(&[]);
    let saw = Seen {
        request_id: request.request_id.clone(),
        origin: request.origin,
        len: content.len(),
        sha256: request.attachment_sha256.clone(),
        digest_matches: bluehelm::api::sha256_hex(content) == request.attachment_sha256,
    };
    let reply =
        |status: pb::ResponseStatus, fields: BTreeMap<String, String>, detail: &str| pb::Answer {
            request_id: request.request_id.clone(),
            status: status as i32,
            fields,
            detail: detail.into(),
        };
    let answer = match file {
        Some(f) if f.media_type == ANSI_NIST => {
            let digest = BTreeMap::from([("sha256".to_owned(), saw.sha256.clone())]);
            match table.get(&saw.sha256) {
                Some(reference) => {
                    let mut fields = digest;
                    fields.insert("reference".into(), reference.clone());
                    reply(pb::ResponseStatus::Hit, fields, "")
                }
                None => reply(pb::ResponseStatus::NoHit, digest, ""),
            }
        }
        _ => reply(
            pb::ResponseStatus::Error,
            BTreeMap::new(),
            "afis.check needs an ANSI/NIST-ITL file (application/x-ansi-nist) attached",
        ),
    };
    (answer, saw)
}

/// A file of `len` bytes that looks like an ANSI/NIST-ITL transaction to the CLI's check
/// (it begins with the Type-1 record's field 1.001), different for each `seed`: the rest is
/// a pseudo-random filler standing in for the fingerprint images.
pub fn ansi_nist_file(len: usize, seed: u64) -> Vec<u8> {
    let mut content = b"1.001:".to_vec();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while content.len() < len {
        // xorshift64: cheap, deterministic, and no two seeds give the same file.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        content.extend_from_slice(&state.to_le_bytes());
    }
    content.truncate(len);
    content
}
