-- When a client was last suspended: every token it holds from before then is dead, on every
-- replica, even after it is resumed.
ALTER TABLE clients ADD COLUMN suspended_at timestamptz;
