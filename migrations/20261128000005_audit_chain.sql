-- Tamper evidence for the audit log: every entry carries the hash of its predecessor and its
-- own, and the head of the chain is signed with our key at intervals (checkpoints), so editing,
-- deleting or rewriting entries shows, even for someone who can write the table.

ALTER TABLE audit_log
    ADD COLUMN chain_seq bigint,
    ADD COLUMN prev_hash bytea CHECK (prev_hash IS NULL OR length(prev_hash) = 32),
    ADD COLUMN hash bytea CHECK (hash IS NULL OR length(hash) = 32);
-- Entries written before the chain existed keep NULLs; `motcua audit verify` counts them.
CREATE UNIQUE INDEX audit_log_chain_seq_key ON audit_log (chain_seq);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, chain_seq);
CREATE INDEX audit_log_target_idx ON audit_log (target, chain_seq);

-- The signed heads. Append-only as well: a checkpoint is a promise about the past.
CREATE TABLE audit_checkpoints (
    seq         bigint PRIMARY KEY,
    hash        bytea NOT NULL CHECK (length(hash) = 32),
    signed_at   timestamptz NOT NULL DEFAULT now(),
    kid         text NOT NULL,
    -- Compact JWS (ES256, typ `audit-checkpoint+jwt`) over {iss, seq, hash, iat}.
    jws         text NOT NULL
);
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

-- Name the table in the refusal, now that two tables use it.
CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
