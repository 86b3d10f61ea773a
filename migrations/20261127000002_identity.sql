-- Clients (apps and service providers), citizens, our signing keys, and the audit log.

CREATE TABLE clients (
    id              text PRIMARY KEY CHECK (id ~ '^mc_[a-z0-9]{16,64}$'),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind            text NOT NULL CHECK (kind IN ('public', 'confidential')),
    redirect_uris   text[] NOT NULL DEFAULT '{}',
    scopes          text[] NOT NULL DEFAULT '{}',
    rate_limit_per_min integer CHECK (rate_limit_per_min > 0),
    jwks_uri        text,
    -- SHA-256 of a generated 256-bit secret: random secrets need no slow hash.
    secret_sha256   bytea CHECK (secret_sha256 IS NULL OR length(secret_sha256) = 32),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT public_clients_have_no_secret CHECK (kind = 'confidential' OR (secret_sha256 IS NULL AND jwks_uri IS NULL))
);
SELECT manage_updated_at('clients');

CREATE TABLE citizens (
    -- Our `sub`: never the provider's subject, never the identification number.
    id                  uuid PRIMARY KEY,
    provider            text NOT NULL,
    provider_subject    text NOT NULL,
    name                text,
    -- HMAC-SHA256 of the 12-digit personal identification number under a server key, to match
    -- dossiers; the number itself is never stored.
    id_number_hmac      bytea,
    id_number_masked    text,
    level               smallint NOT NULL CHECK (level IN (1, 2)),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT citizens_provider_subject_key UNIQUE (provider, provider_subject)
);
SELECT manage_updated_at('citizens');
CREATE INDEX citizens_id_number_hmac_idx ON citizens (id_number_hmac) WHERE id_number_hmac IS NOT NULL;

CREATE TABLE signing_keys (
    kid             text PRIMARY KEY,
    alg             text NOT NULL CHECK (alg IN ('ES256', 'EdDSA')),
    -- PKCS#8 private key, AES-256-GCM under a key derived from MOTCUA_MASTER_KEY (nonce || ciphertext).
    private_key_enc bytea NOT NULL,
    public_jwk      jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Published in the JWKS from creation; used for signing from this instant.
    signing_from    timestamptz NOT NULL DEFAULT now(),
    -- No longer signs after this; stays published until every token it signed has expired.
    retired_at      timestamptz,
    unpublish_at    timestamptz
);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    action      text NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('success', 'failure')),
    -- Who acted: a citizen's `sub`, a client id, `operator:<sub>`, or `system`. Never personal data.
    actor       text,
    target      text,
    reason      text,
    client_id   text,
    client_ip   inet,
    request_id  text,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);

-- Append-only: history is never rewritten, not even by mistake.
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
