//! Field databases (issue 13), the shell around `engine::records`: the storage, importing and
//! signing a bureau's own records, the hub's sequencing of uploads, and the sync streams that
//! keep replicas level with the hub.

pub mod batch_row;
pub mod import;
pub mod kinds;
pub mod status;
pub mod store;
pub mod stored;
pub mod sync;
pub mod upload;
