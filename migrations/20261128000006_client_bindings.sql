-- Service providers bound to what they may act on: an agency's back office to its agency codes,
-- a marketplace integration to one merchant. And clients can be deleted: the row stays, so
-- client ids are never reused and the audit log's references keep their meaning.

ALTER TABLE clients
    ADD COLUMN agencies text[] NOT NULL DEFAULT '{}',
    ADD COLUMN merchant_id text,
    ADD COLUMN deleted_at timestamptz,
    ADD CONSTRAINT clients_one_binding CHECK (cardinality(agencies) = 0 OR merchant_id IS NULL);

ALTER TABLE clients DROP CONSTRAINT clients_status_check;
ALTER TABLE clients ADD CONSTRAINT clients_status_check
    CHECK (status IN ('active', 'suspended', 'deleted'));
