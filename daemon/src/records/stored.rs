//! A record as the field-database storage keeps it: the owner's signed change, exactly as
//! received, with where it sits in the hub's sequence and the keys of the index entries it
//! wrote (so that a replacement or an erasure removes them without re-deriving them; their
//! values live in the index alone, since a person's would double what it costs to store).

use bluehelm_proto::records::{RecordChange, HASH_LEN};
use bluehelm_proto::{DecodeError, SignedRecordChange};

/// Format version of [`Stored::encode`].
const FORMAT: u8 = 1;

/// One secondary index entry: filed under `key`, with a small `value` that lets a search
/// judge the record without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub storage_key: [u8; HASH_LEN],
    /// Its change's sequence number at the hub.
    pub seq: u64,
    /// The hub keeps withdrawals to tell replicas; replicas erase instead.
    pub withdrawn: bool,
    /// The encoded [`SignedRecordChange`].
    pub signed: Vec<u8>,
    /// The keys of its index entries.
    pub index_keys: Vec<Vec<u8>>,
}

impl Stored {
    /// The signed change, shape-checked.
    pub fn signed_change(&self) -> Result<SignedRecordChange, DecodeError> {
        SignedRecordChange::decode(&self.signed)
    }

    /// The change, decoded (its signature was verified before it was stored).
    pub fn change(&self) -> Result<RecordChange, DecodeError> {
        self.signed_change()?.decode_change()
    }

    pub fn encode(&self) -> Vec<u8> {
        let index_len: usize = self.index_keys.iter().map(|key| 6 + key.len()).sum();
        let mut out = Vec::with_capacity(44 + index_len + self.signed.len());
        out.push(FORMAT);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.push(u8::from(self.withdrawn));
        out.extend_from_slice(&self.storage_key);
        out.extend_from_slice(&(self.index_keys.len() as u16).to_be_bytes());
        for key in &self.index_keys {
            out.extend_from_slice(&(key.len() as u16).to_be_bytes());
            out.extend_from_slice(key);
            // An entry's value, kept empty: the format once held a copy of it.
            out.extend_from_slice(&0u32.to_be_bytes());
        }
        out.extend_from_slice(&self.signed);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader(bytes);
        if r.take(1)? != [FORMAT] {
            return Err("unknown record format".into());
        }
        let seq = u64::from_be_bytes(r.array()?);
        let withdrawn = r.take(1)?[0] != 0;
        let storage_key = r.array()?;
        let entries = u16::from_be_bytes(r.array()?);
        let mut index_keys = Vec::with_capacity(usize::from(entries).min(64));
        for _ in 0..entries {
            let key_len = u16::from_be_bytes(r.array()?);
            index_keys.push(r.take(usize::from(key_len))?.to_vec());
            let value_len = u32::from_be_bytes(r.array()?);
            r.take(value_len as usize)?;
        }
        Ok(Stored {
            storage_key,
            seq,
            withdrawn,
            signed: r.0.to_vec(),
            index_keys,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("record entry cut short".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self.take(N)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_record_round_trips_and_cut_bytes_are_an_error() {
        let stored = Stored {
            storage_key: [3; 32],
            seq: 77,
            withdrawn: false,
            signed: vec![1, 2, 3],
            index_keys: vec![b"PLATE/FR/AB123".to_vec()],
        };
        let bytes = stored.encode();
        assert_eq!(Stored::decode(&bytes).unwrap(), stored);
        for cut in 0..44 {
            assert!(Stored::decode(&bytes[..cut]).is_err(), "{cut} bytes");
        }
    }
}
