-- A key withdrawn as compromised: out of the JWKS at once, and whatever it signed (tokens, audit
-- checkpoints) is no longer evidence of anything.
ALTER TABLE signing_keys ADD COLUMN withdrawn_at timestamptz;
