//! Documents citizens upload for their applications: PDF, JPEG or PNG decided by the file's
//! magic bytes, streamed to object storage with their SHA-256, capped in size, owned by the
//! citizen until a dossier takes them; and streamed back to those allowed to read them.
//!
//! `model` decides types and limits, `store` holds the SQL, `service` the streaming upload and
//! download, `api` the upload route (the download routes belong to the dossiers that hold them).

pub mod api;
pub mod messages;
pub mod model;
pub mod service;
pub mod store;

pub use api::UploadsApi;
pub use model::{Document, DocumentType};
