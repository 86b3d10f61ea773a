-- A stored first answer can hold secrets (a registration's lookup PIN): it is kept encrypted
-- under a key derived from the master key, bound to its caller and key. Rows written before keep
-- their plain body until they expire.
ALTER TABLE idempotency_keys ADD COLUMN response_sealed bytea;
