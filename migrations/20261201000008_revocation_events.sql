-- Every replica asks PostgreSQL each second for the revocations written since its last look, so a
-- revocation whose Redis fan-out failed still reaches it. These keep that question an index range
-- scan over the last minute or so, however long the tables grow.
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX revoked_access_tokens_revoked_at_idx ON revoked_access_tokens (revoked_at);
CREATE INDEX clients_suspended_at_idx ON clients (suspended_at) WHERE suspended_at IS NOT NULL;
