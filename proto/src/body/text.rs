//! Free-text messages and their attachments.

use crate::check;
use crate::error::ValidationError;
use crate::limits::{MAX_ATTACHMENTS, MAX_NAME_LEN, MAX_TEXT_LEN};
use crate::pb;

/// A file attached to a text message. Its size is bounded by the frame cap, not here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attachment {
    /// The file's name, e.g. "photo.jpg". Required.
    pub filename: String,
    /// Its media type, e.g. "image/jpeg". Required.
    pub media_type: String,
    /// The file's bytes.
    pub content: Vec<u8>,
}

impl Attachment {
    /// Checks that the name and media type are present and bounded.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::required("attachment.filename", &self.filename, MAX_NAME_LEN)?;
        check::required("attachment.media_type", &self.media_type, MAX_NAME_LEN)
    }

    pub(crate) fn to_pb(&self) -> pb::Attachment {
        pb::Attachment {
            filename: self.filename.clone(),
            media_type: self.media_type.clone(),
            content: self.content.clone(),
        }
    }

    pub(crate) fn from_pb(a: pb::Attachment) -> Self {
        Attachment {
            filename: a.filename,
            media_type: a.media_type,
            content: a.content,
        }
    }
}

/// A free-text message between bureaus.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextMessage {
    /// One line saying what the message is about.
    pub subject_line: String,
    /// The text.
    pub body: String,
    /// Attached files.
    pub attachments: Vec<Attachment>,
}

impl TextMessage {
    /// Checks sizes and attachments.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check::max_len("text.subject_line", self.subject_line.len(), MAX_NAME_LEN)?;
        check::max_len("text.body", self.body.len(), MAX_TEXT_LEN)?;
        check::max_count("text.attachments", self.attachments.len(), MAX_ATTACHMENTS)?;
        self.attachments.iter().try_for_each(Attachment::validate)
    }

    pub(crate) fn to_pb(&self) -> pb::TextMessage {
        pb::TextMessage {
            subject_line: self.subject_line.clone(),
            body: self.body.clone(),
            attachments: self.attachments.iter().map(Attachment::to_pb).collect(),
        }
    }

    pub(crate) fn from_pb(t: pb::TextMessage) -> Self {
        TextMessage {
            subject_line: t.subject_line,
            body: t.body,
            attachments: t.attachments.into_iter().map(Attachment::from_pb).collect(),
        }
    }
}
