-- What the agency asked for when it requested a supplement: the required-document codes it
-- named, its reason, when, and the status the dossier returns to once the citizen answers.
-- Kept after the answer (the timeline has the history); shown while the dossier waits.
ALTER TABLE dossiers ADD COLUMN supplement_request jsonb
    CHECK (supplement_request IS NULL OR jsonb_typeof(supplement_request) = 'object');

-- A citizen's application before it is submitted: at most one per procedure, resumed from any
-- device. The form is kept as the citizen left it (checked against the schema only on
-- submission); `documents` names their uploads, which stay theirs whatever becomes of the draft.
CREATE TABLE dossier_drafts (
    citizen_id      uuid NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
    procedure_code  text NOT NULL REFERENCES procedures (code) ON DELETE CASCADE,
    form            jsonb NOT NULL CHECK (jsonb_typeof(form) = 'object'),
    documents       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(documents) = 'array'),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (citizen_id, procedure_code)
);
-- The citizen's drafts, most recently saved first (keyset pages).
CREATE INDEX dossier_drafts_recent ON dossier_drafts (citizen_id, updated_at DESC, procedure_code DESC);
