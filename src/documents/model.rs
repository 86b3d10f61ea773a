//! Document types and their magic bytes.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// The types we accept, decided by the file's first bytes, never by its name or the client's
/// `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DocumentType {
    Pdf,
    Jpeg,
    Png,
}

/// Bytes enough to decide the type.
pub const SNIFF_LEN: usize = 8;

impl DocumentType {
    pub fn sniff(head: &[u8]) -> Option<DocumentType> {
        const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        if head.starts_with(b"%PDF-") {
            Some(DocumentType::Pdf)
        } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(DocumentType::Jpeg)
        } else if head.starts_with(PNG) {
            Some(DocumentType::Png)
        } else {
            None
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            DocumentType::Pdf => "application/pdf",
            DocumentType::Jpeg => "image/jpeg",
            DocumentType::Png => "image/png",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            DocumentType::Pdf => "pdf",
            DocumentType::Jpeg => "jpg",
            DocumentType::Png => "png",
        }
    }
}

/// An uploaded document as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Document {
    pub id: Uuid,
    pub citizen_id: Uuid,
    pub object_key: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: Vec<u8>,
    pub file_name: Option<String>,
    pub uploaded_at: OffsetDateTime,
    pub dossier_code: Option<String>,
    pub document_type: Option<String>,
}

/// Where a citizen's document lives in object storage.
pub fn object_key(citizen: Uuid, id: Uuid) -> String {
    format!("documents/{citizen}/{id}")
}

/// A file name safe to repeat in `Content-Disposition`: the client's, reduced to visible ASCII
/// without quotes or separators, or one made from the id.
pub fn download_name(doc: &Document) -> String {
    let ext = match doc.content_type.as_str() {
        "application/pdf" => "pdf",
        "image/jpeg" => "jpg",
        _ => "png",
    };
    let given: String = doc
        .file_name
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(100)
        .collect();
    match given.trim_matches('.').is_empty() {
        true => format!("{}.{ext}", doc.id),
        false => given,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_magic_bytes_only() {
        assert_eq!(DocumentType::sniff(b"%PDF-1.7\n"), Some(DocumentType::Pdf));
        assert_eq!(
            DocumentType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(DocumentType::Jpeg)
        );
        assert_eq!(
            DocumentType::sniff(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0]),
            Some(DocumentType::Png)
        );
        assert_eq!(DocumentType::sniff(b"MZ\x90\0\x03\0\0\0"), None);
        assert_eq!(DocumentType::sniff(b"%PD"), None);
    }
}
