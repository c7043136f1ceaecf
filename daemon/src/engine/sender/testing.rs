//! Queued copies for the send side's unit tests: a sequence number, a class and a message
//! reference, nothing else.

use bluehelm_proto::{MessageId, MessageRef, Precedence};

use super::QueuedCopy;

#[derive(Debug, Clone, PartialEq)]
pub struct TestCopy {
    pub seq: u64,
    pub class: Precedence,
    pub message: MessageRef,
}

impl QueuedCopy for TestCopy {
    fn seq(&self) -> u64 {
        self.seq
    }

    fn message(&self) -> &MessageRef {
        &self.message
    }
}

/// The copy of message number `seq` of class `class`, queued as number `seq`.
pub fn copy_of(class: Precedence, seq: u64) -> TestCopy {
    let mut id = [0; 16];
    id[..8].copy_from_slice(&seq.to_be_bytes());
    TestCopy {
        seq,
        class,
        message: MessageRef {
            origin: "ncb.fr".parse().expect("a valid node id"),
            id: MessageId::from(id),
        },
    }
}

/// A ROUTINE copy.
pub fn copy(seq: u64) -> TestCopy {
    copy_of(Precedence::Routine, seq)
}

pub fn seqs(copies: &[TestCopy]) -> Vec<u64> {
    copies.iter().map(|q| q.seq).collect()
}

pub fn refs(copies: &[TestCopy]) -> Vec<MessageRef> {
    copies.iter().map(|q| q.message.clone()).collect()
}
