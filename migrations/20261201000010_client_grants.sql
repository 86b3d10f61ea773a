-- Refresh grace windows: the sweeper finds the kept replies whose window has closed.
CREATE INDEX refresh_tokens_reply_until_idx ON refresh_tokens (reply_until)
    WHERE reply_enc IS NOT NULL;

-- Sessions of a citizen, newest first (device list pages, ending them all).
DROP INDEX sessions_citizen_idx;
CREATE INDEX sessions_citizen_idx ON sessions (citizen_id, created_at DESC, id DESC);

-- RFC 7591 grant_types per client; existing clients keep what their kind allowed until now.
ALTER TABLE clients ADD COLUMN grant_types text[];
-- (Confidential clients with redirect URIs could redeem codes before: they keep that.)
UPDATE clients SET grant_types = CASE
    WHEN kind = 'public' THEN ARRAY['authorization_code', 'refresh_token']
    WHEN cardinality(redirect_uris) > 0
        THEN ARRAY['authorization_code', 'client_credentials', 'refresh_token']
    ELSE ARRAY['client_credentials'] END;
ALTER TABLE clients ALTER COLUMN grant_types SET NOT NULL;
