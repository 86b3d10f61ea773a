-- Shared helpers every table uses.

-- Keeps `updated_at` true without each query remembering to set it.
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

-- Attaches the trigger above to a table: SELECT manage_updated_at('clients');
CREATE OR REPLACE FUNCTION manage_updated_at(_tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'CREATE TRIGGER set_updated_at BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
        _tbl);
END;
$$;
