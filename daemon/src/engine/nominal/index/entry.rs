//! What the index keeps per entry: enough to score a candidate straight off the scan,
//! without reading the record.

use thiserror::Error;

use crate::engine::nominal::{fold, Person};

/// Bumped when the layout changes; an entry of another version is refused, not misread.
const VERSION: u8 = 1;
/// Longest field kept, in bytes: names are folded ASCII, so this is 255 letters.
const MAX_FIELD: usize = u8::MAX as usize;
/// Most given names or nationalities kept.
const MAX_LIST: usize = 8;

/// A recorded person as the index holds it: names folded ([`fold`]), so scoring does not
/// transliterate them again. Scoring an entry reports `SameFoldedName` where the record
/// would report `SameName`; the service re-scores the few it answers with from the records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub family_name: String,
    pub given_names: Vec<String>,
    pub date_of_birth: String,
    pub sex: String,
    pub nationalities: Vec<String>,
}

/// Why bytes are not an entry: the index is corrupt or was written by another version.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EntryError {
    /// The entry's version is not this code's.
    #[error("index entry version {0} is not {VERSION}")]
    Version(u8),
    /// The bytes end inside a field.
    #[error("index entry is truncated")]
    Truncated,
    /// Bytes follow the last field.
    #[error("index entry has {0} bytes after its end")]
    Trailing(usize),
    /// A list is longer than an entry may hold.
    #[error("index entry has a list of {0} items (at most {MAX_LIST})")]
    TooLong(usize),
    /// A field is not UTF-8.
    #[error("index entry has a field that is not UTF-8")]
    NotUtf8,
}

impl Entry {
    /// The entry for a recorded person. Fields past the limits are cut (names at a letter,
    /// lists at [`MAX_LIST`]): the index narrows, the record decides.
    pub fn of(person: &Person<'_>) -> Self {
        Self {
            family_name: cut(fold(person.family_name)),
            given_names: person
                .given_names
                .iter()
                .map(|g| cut(fold(g)))
                .filter(|g| !g.is_empty())
                .take(MAX_LIST)
                .collect(),
            date_of_birth: cut(person.date_of_birth.to_owned()),
            sex: cut(person.sex.to_owned()),
            nationalities: person
                .nationalities
                .iter()
                .map(|n| cut(n.clone()))
                .take(MAX_LIST)
                .collect(),
        }
    }

    /// The person to score.
    pub fn person(&self) -> Person<'_> {
        Person {
            family_name: &self.family_name,
            given_names: &self.given_names,
            date_of_birth: &self.date_of_birth,
            nationalities: &self.nationalities,
            sex: &self.sex,
        }
    }

    /// `version, family, dob, sex, [given], [nationalities]`; a field is a length byte and
    /// its bytes, a list a count byte and its fields. Fields longer than 255 bytes are cut
    /// at a character boundary.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            8 + self.family_name.len() + self.date_of_birth.len() + self.given_names.len() * 8,
        );
        out.push(VERSION);
        for field in [&self.family_name, &self.date_of_birth, &self.sex] {
            put(&mut out, field);
        }
        for list in [&self.given_names, &self.nationalities] {
            let list = &list[..list.len().min(MAX_LIST)];
            out.push(list.len() as u8); // at most MAX_LIST, which fits a byte
            for field in list {
                put(&mut out, field);
            }
        }
        out
    }

    /// The entry `encode` wrote; an error, never a panic, on any other bytes. Allocates no
    /// more than the bytes given.
    pub fn decode(bytes: &[u8]) -> Result<Self, EntryError> {
        let mut reader = Reader(bytes);
        let version = reader.byte()?;
        if version != VERSION {
            return Err(EntryError::Version(version));
        }
        let family_name = reader.field()?;
        let date_of_birth = reader.field()?;
        let sex = reader.field()?;
        let given_names = reader.list()?;
        let nationalities = reader.list()?;
        if !reader.0.is_empty() {
            return Err(EntryError::Trailing(reader.0.len()));
        }
        Ok(Self {
            family_name,
            given_names,
            date_of_birth,
            sex,
            nationalities,
        })
    }
}

/// The field's first [`MAX_FIELD`] bytes at most, ending at a character boundary.
fn cut_str(field: &str) -> &str {
    let mut end = field.len().min(MAX_FIELD);
    while !field.is_char_boundary(end) {
        end -= 1;
    }
    &field[..end]
}

fn cut(mut field: String) -> String {
    let len = cut_str(&field).len();
    field.truncate(len);
    field
}

fn put(out: &mut Vec<u8>, field: &str) {
    let field = cut_str(field);
    out.push(field.len() as u8); // at most MAX_FIELD, which fits a byte
    out.extend_from_slice(field.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, EntryError> {
        let (&first, rest) = self.0.split_first().ok_or(EntryError::Truncated)?;
        self.0 = rest;
        Ok(first)
    }

    fn field(&mut self) -> Result<String, EntryError> {
        let len = usize::from(self.byte()?);
        if self.0.len() < len {
            return Err(EntryError::Truncated);
        }
        let (field, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(field.to_vec()).map_err(|_| EntryError::NotUtf8)
    }

    fn list(&mut self) -> Result<Vec<String>, EntryError> {
        let count = usize::from(self.byte()?);
        if count > MAX_LIST {
            return Err(EntryError::TooLong(count));
        }
        (0..count).map(|_| self.field()).collect()
    }
}
