-- Dossier tracking: the catalogue (agencies, communes, procedures), the holiday calendar, dossiers
-- with their timeline, per-agency daily code counters, in-app notifications and idempotency keys.

-- Both ship with PostgreSQL's contrib modules (part of Debian's postgresql-NN package).
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- unaccent() is only STABLE (its dictionary could be edited), and generated columns and index
-- expressions need IMMUTABLE: this wrapper pins the dictionary, which we never edit. đ/Đ are not
-- accents to every unaccent version, so they are folded explicitly.
CREATE FUNCTION fold_vietnamese(text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT lower(unaccent('unaccent'::regdictionary, translate($1, 'đĐ', 'dD'))) $$;

CREATE TABLE agencies (
    -- Electronic ID code of the agency, XXX.YY.ZZ.Hnn (Hnn = the province).
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.H[0-9]{2}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
    province    text NOT NULL,
    commune_code text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT manage_updated_at('agencies');

-- Communes (xã, phường) since the 2025 reorganisation: no districts any more.
CREATE TABLE communes (
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]{5}$'),
    name        text NOT NULL,
    province    text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('xa', 'phuong', 'dac_khu'))
);

CREATE TABLE procedures (
    -- National procedure code from the national database of administrative procedures.
    code                text PRIMARY KEY CHECK (code ~ '^[0-9]\.[0-9]{6}(\.[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.H[0-9]{2})?$'),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 500),
    field               text NOT NULL,
    agency_code         text NOT NULL REFERENCES agencies (code),
    -- Working days, in halves.
    processing_days     numeric(5, 1) NOT NULL
        CHECK (processing_days >= 0 AND processing_days <= 365 AND processing_days * 2 = trunc(processing_days * 2)),
    -- A receipt at or after this local time counts from the next working day.
    cutoff              time NOT NULL DEFAULT '15:00',
    fee_vnd             bigint NOT NULL DEFAULT 0 CHECK (fee_vnd >= 0),
    fee_note            text,
    online_level        text NOT NULL CHECK (online_level IN ('whole_process', 'partial', 'none')),
    online              boolean GENERATED ALWAYS AS (online_level <> 'none') STORED,
    required_documents  jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(required_documents) = 'array'),
    -- JSON Schema of the online form; its top-level `examples` holds a valid form.
    form_schema         jsonb,
    search              text GENERATED ALWAYS AS (fold_vietnamese(code || ' ' || name || ' ' || field)) STORED,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT online_procedures_have_a_form CHECK (online_level = 'none' OR form_schema IS NOT NULL)
);
SELECT manage_updated_at('procedures');
CREATE INDEX procedures_search_trgm_idx ON procedures USING gin (search gin_trgm_ops);
CREATE INDEX procedures_agency_idx ON procedures (agency_code, code);

-- Days that are not what the weekday says: public holidays, days off moved or given in
-- compensation, and weekend days worked in exchange. Operators edit it every year.
CREATE TABLE holidays (
    day         date PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('holiday', 'day_off', 'working_day')),
    note        text
);

INSERT INTO holidays (day, name, kind, note) VALUES
    -- 2025
    ('2025-01-01', 'Tết Dương lịch', 'holiday', NULL),
    ('2025-01-27', 'Tết Nguyên đán (28 tháng Chạp)', 'holiday', 'Tết Ất Tỵ: nghỉ 25/1–2/2/2025 theo thông báo của Bộ Lao động – Thương binh và Xã hội'),
    ('2025-01-28', 'Tết Nguyên đán (29 tháng Chạp)', 'holiday', NULL),
    ('2025-01-29', 'Tết Nguyên đán (mùng 1)', 'holiday', NULL),
    ('2025-01-30', 'Tết Nguyên đán (mùng 2)', 'holiday', NULL),
    ('2025-01-31', 'Tết Nguyên đán (mùng 3)', 'holiday', NULL),
    ('2025-04-07', 'Giỗ Tổ Hùng Vương (10/3 âm lịch)', 'holiday', NULL),
    ('2025-04-26', 'Làm bù cho ngày nghỉ 2/5/2025', 'working_day', 'Hoán đổi ngày làm việc: nghỉ thứ Sáu 2/5, làm bù thứ Bảy 26/4/2025'),
    ('2025-04-30', 'Ngày Giải phóng miền Nam, thống nhất đất nước', 'holiday', NULL),
    ('2025-05-01', 'Ngày Quốc tế Lao động', 'holiday', NULL),
    ('2025-05-02', 'Nghỉ hoán đổi (làm bù 26/4/2025)', 'day_off', 'Hoán đổi ngày làm việc: nghỉ thứ Sáu 2/5, làm bù thứ Bảy 26/4/2025'),
    ('2025-09-01', 'Quốc khánh (ngày liền kề)', 'holiday', 'Nghỉ 30/8–2/9/2025'),
    ('2025-09-02', 'Quốc khánh', 'holiday', NULL),
    -- 2026
    ('2026-01-01', 'Tết Dương lịch', 'holiday', NULL),
    ('2026-02-16', 'Tết Nguyên đán (29 tháng Chạp)', 'holiday', 'Tết Bính Ngọ: nghỉ 14/2–22/2/2026 theo quyết định của Thủ tướng Chính phủ'),
    ('2026-02-17', 'Tết Nguyên đán (mùng 1)', 'holiday', NULL),
    ('2026-02-18', 'Tết Nguyên đán (mùng 2)', 'holiday', NULL),
    ('2026-02-19', 'Tết Nguyên đán (mùng 3)', 'holiday', NULL),
    ('2026-02-20', 'Tết Nguyên đán (mùng 4)', 'holiday', NULL),
    ('2026-04-27', 'Nghỉ bù Giỗ Tổ Hùng Vương', 'day_off', '10/3 âm lịch là Chủ nhật 26/4/2026: nghỉ bù ngày làm việc kế tiếp (Bộ luật Lao động, Điều 111)'),
    ('2026-04-30', 'Ngày Giải phóng miền Nam, thống nhất đất nước', 'holiday', NULL),
    ('2026-05-01', 'Ngày Quốc tế Lao động', 'holiday', NULL),
    ('2026-09-01', 'Quốc khánh (ngày liền kề)', 'holiday', 'Ngày liền kề do Thủ tướng quyết định hằng năm: ước tính, cần xác nhận'),
    ('2026-09-02', 'Quốc khánh', 'holiday', NULL),
    -- 2027: not yet decided; estimates from the Labour Code, to be confirmed.
    ('2027-01-01', 'Tết Dương lịch', 'holiday', NULL),
    ('2027-02-04', 'Tết Nguyên đán', 'holiday', 'Tết Đinh Mùi (mùng 1 = 6/2/2027): ước tính 5 ngày làm việc, cần xác nhận'),
    ('2027-02-05', 'Tết Nguyên đán', 'holiday', 'ước tính'),
    ('2027-02-08', 'Tết Nguyên đán', 'holiday', 'ước tính'),
    ('2027-02-09', 'Tết Nguyên đán', 'holiday', 'ước tính'),
    ('2027-02-10', 'Tết Nguyên đán', 'holiday', 'ước tính'),
    ('2027-04-16', 'Giỗ Tổ Hùng Vương (10/3 âm lịch)', 'holiday', NULL),
    ('2027-04-30', 'Ngày Giải phóng miền Nam, thống nhất đất nước', 'holiday', NULL),
    ('2027-05-03', 'Nghỉ bù Ngày Quốc tế Lao động', 'day_off', '1/5/2027 là thứ Bảy: nghỉ bù thứ Hai 3/5'),
    ('2027-09-02', 'Quốc khánh', 'holiday', NULL),
    ('2027-09-03', 'Quốc khánh (ngày liền kề)', 'holiday', 'ước tính, cần xác nhận');

-- Gap-free dossier numbers: the row is incremented inside the registering transaction, so a
-- number is used exactly when its dossier commits, and concurrent registrations queue on it.
CREATE TABLE dossier_code_counters (
    agency_code text NOT NULL REFERENCES agencies (code),
    day         date NOT NULL,
    n           integer NOT NULL CHECK (n > 0),
    PRIMARY KEY (agency_code, day)
);

CREATE TABLE dossiers (
    code                text PRIMARY KEY,
    procedure_code      text NOT NULL REFERENCES procedures (code),
    agency_code         text NOT NULL REFERENCES agencies (code),
    status              text NOT NULL CHECK (status IN ('submitted', 'received', 'refused', 'processing',
                            'supplement_requested', 'awaiting_fee', 'withdrawn', 'stopped', 'result_ready', 'returned')),
    online              boolean NOT NULL,
    -- The applicant, once they have signed in; until then matched by the keyed hash of the ID number.
    citizen_id          uuid REFERENCES citizens (id),
    applicant_id_hmac   bytea NOT NULL,
    applicant_name_masked text NOT NULL,
    -- When the dossier entered the system (online submission or counter receipt): the list order.
    filed_at            timestamptz NOT NULL,
    submitted_at        timestamptz,
    received_at         timestamptz,
    -- The due date promised at receipt, moved by supplement pauses: the date statistics judge.
    due_at              timestamptz,
    -- A later date the agency apologised for (form 04); never used by statistics.
    revised_due_at      timestamptz,
    apology_reason      text,
    -- Working time the clock stood still waiting for the citizen (calendar ticks).
    paused_ticks        bigint NOT NULL DEFAULT 0 CHECK (paused_ticks >= 0),
    paused_since        timestamptz,
    -- The result was ready (status result_ready): the dossier is settled.
    finished_at         timestamptz,
    -- Working time from receipt to result, pauses excluded (calendar ticks).
    processing_ticks    bigint,
    -- The dossier reached a final status.
    closed_at           timestamptz,
    result              jsonb,
    form                jsonb,
    documents           jsonb,
    lookup_pin_hash     bytea NOT NULL,
    demo                boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT received_dossiers_have_a_due_date CHECK (received_at IS NULL OR due_at IS NOT NULL)
);
SELECT manage_updated_at('dossiers');
CREATE INDEX dossiers_citizen_list_idx ON dossiers (citizen_id, filed_at DESC, code DESC) WHERE citizen_id IS NOT NULL;
CREATE INDEX dossiers_unlinked_applicant_idx ON dossiers (applicant_id_hmac) WHERE citizen_id IS NULL;
CREATE INDEX dossiers_agency_received_idx ON dossiers (agency_code, received_at);
CREATE INDEX dossiers_agency_finished_idx ON dossiers (agency_code, finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX dossiers_agency_open_idx ON dossiers (agency_code, due_at) WHERE closed_at IS NULL AND finished_at IS NULL;
CREATE INDEX dossiers_submissions_idx ON dossiers (agency_code, filed_at, code) WHERE status = 'submitted';

CREATE TABLE dossier_events (
    dossier_code    text NOT NULL REFERENCES dossiers (code),
    seq             integer NOT NULL CHECK (seq > 0),
    kind            text NOT NULL CHECK (kind IN ('status', 'transfer', 'apology', 'result')),
    -- The dossier's status after the event.
    status          text NOT NULL,
    at              timestamptz NOT NULL,
    note            text,
    -- `agency:<client id>`, `citizen:<sub>` or `system`.
    actor           text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (dossier_code, seq)
);

CREATE TABLE notifications (
    id              uuid PRIMARY KEY,
    -- NULL until the applicant signs in for the first time; linking fills it in.
    citizen_id      uuid REFERENCES citizens (id) ON DELETE CASCADE,
    dossier_code    text NOT NULL REFERENCES dossiers (code),
    kind            text NOT NULL,
    title           text NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL,
    read_at         timestamptz
);
CREATE INDEX notifications_citizen_idx ON notifications (citizen_id, created_at DESC, id DESC) WHERE citizen_id IS NOT NULL;
CREATE INDEX notifications_unread_idx ON notifications (citizen_id) WHERE read_at IS NULL AND citizen_id IS NOT NULL;
CREATE INDEX notifications_dossier_idx ON notifications (dossier_code) WHERE citizen_id IS NULL;

-- The first response to each (caller, Idempotency-Key): a retry gets it back and writes nothing.
CREATE TABLE idempotency_keys (
    -- Whose key: `client:<id>` or `citizen:<sub>`; keys of different callers never meet.
    caller          text NOT NULL,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash    bytea NOT NULL,
    response_status smallint,
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
