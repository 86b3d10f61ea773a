-- Documents a citizen uploaded: the object lives in object storage under `object_key`; the row
-- is written only once the object is complete, so a row always has its bytes.
CREATE TABLE documents (
    id uuid PRIMARY KEY,
    citizen_id uuid NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
    object_key text NOT NULL UNIQUE,
    content_type text NOT NULL CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    size bigint NOT NULL CHECK (size > 0),
    sha256 bytea NOT NULL CHECK (octet_length(sha256) = 32),
    file_name text,
    uploaded_at timestamptz NOT NULL,
    -- Set when the document is attached to a submitted dossier; then it cannot be attached again.
    dossier_code text REFERENCES dossiers (code) ON DELETE SET NULL,
    document_type text
);

CREATE INDEX documents_citizen ON documents (citizen_id, uploaded_at DESC);
CREATE INDEX documents_dossier ON documents (dossier_code) WHERE dossier_code IS NOT NULL;
