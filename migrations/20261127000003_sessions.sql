-- Login sessions, refresh-token families, revoked access tokens, and roles.

CREATE TABLE sessions (
    -- The `sid` claim of every token of this sign-in.
    id                  uuid PRIMARY KEY,
    citizen_id          uuid NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
    client_id           text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_agent          text,
    level               smallint NOT NULL CHECK (level IN (1, 2)),
    scope               text NOT NULL,
    auth_time           timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_used_at        timestamptz NOT NULL DEFAULT now(),
    idle_expires_at     timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    revoked_at          timestamptz,
    revoked_reason      text
);
CREATE INDEX sessions_citizen_idx ON sessions (citizen_id, created_at DESC);

-- One family per session; each use rotates the token.
CREATE TABLE refresh_tokens (
    id              bigserial PRIMARY KEY,
    session_id      uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    parent_id       bigint REFERENCES refresh_tokens (id) ON DELETE CASCADE,
    -- SHA-256 of the opaque 256-bit token: the token itself is never stored.
    token_sha256    bytea NOT NULL CHECK (length(token_sha256) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    rotated_at      timestamptz,
    -- The pair that replaced this token, encrypted under a key derived from the master key, kept
    -- for the grace window so a client that lost the response gets the same answer again.
    reply_enc       bytea,
    reply_until     timestamptz,
    CONSTRAINT refresh_tokens_token_sha256_key UNIQUE (token_sha256)
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_parent_idx ON refresh_tokens (parent_id);

-- Access tokens revoked before they expire (RFC 7009); rows are useless after expires_at.
CREATE TABLE revoked_access_tokens (
    jti         text PRIMARY KEY,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_access_tokens_expires_idx ON revoked_access_tokens (expires_at);

CREATE TABLE roles (
    citizen_id  uuid NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('operator', 'agency', 'merchant')),
    granted_at  timestamptz NOT NULL DEFAULT now(),
    granted_by  text NOT NULL,
    PRIMARY KEY (citizen_id, role)
);
