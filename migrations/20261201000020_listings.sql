-- Local-product listings: merchants (household businesses, cooperatives, enterprises) and their
-- listings, searched accent-insensitively with trigram indexes and paged by keyset.

CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The searchable form of a text: folded as fold_vietnamese does (accents gone, đ → d, lower
-- case), every run of anything but a-z and 0-9 one space, and a space at either end, so that
-- `LIKE '% word%'` is a word-prefix match whose trigrams (padded at the word start) the GIN
-- index can use even for two-letter words.
CREATE FUNCTION search_words(text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ' ' || btrim(regexp_replace(fold_vietnamese($1), '[^a-z0-9]+', ' ', 'g')) || ' ' $$;

CREATE TABLE merchants (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind                text NOT NULL CHECK (kind IN ('household', 'cooperative', 'enterprise')),
    -- Mã số hộ kinh doanh / doanh nghiệp / hợp tác xã, as printed on the registration.
    business_registration_number text NOT NULL UNIQUE
                        CHECK (business_registration_number ~ '^[0-9A-Za-z.-]{6,20}$'),
    commune_code        text NOT NULL REFERENCES communes (code),
    -- A phone number or address the merchant may choose to show on their page.
    contact             text CHECK (length(contact) <= 200),
    contact_public      boolean NOT NULL DEFAULT false,
    -- The citizen (with the `merchant` role) who manages it; NULL for merchants loaded by an
    -- operator or the demo seed.
    owner_citizen_id    uuid REFERENCES citizens (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
SELECT manage_updated_at('merchants');
CREATE INDEX merchants_owner_idx ON merchants (owner_citizen_id) WHERE owner_citizen_id IS NOT NULL;

CREATE TABLE listings (
    id              uuid PRIMARY KEY,
    merchant_id     uuid NOT NULL REFERENCES merchants (id),
    -- A partner marketplace's own id, unique per merchant: bulk upserts key on it.
    external_id     text CHECK (length(external_id) BETWEEN 1 AND 100),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    price_vnd       bigint NOT NULL CHECK (price_vnd > 0),
    unit            text NOT NULL CHECK (length(unit) BETWEEN 1 AND 40),
    category        text NOT NULL CHECK (category IN ('food', 'drinks', 'herbal',
                        'textiles_handicrafts', 'souvenirs_furniture', 'tourism')),
    ocop_stars      smallint CHECK (ocop_stars BETWEEN 3 AND 5),
    ocop_year       smallint CHECK (ocop_year BETWEEN 2018 AND 2100),
    commune_code    text NOT NULL REFERENCES communes (code),
    stock           integer CHECK (stock >= 0),
    -- The merchant's choice; a moderator's hiding is kept apart (hidden_at) so that unhiding
    -- gives back whatever the merchant had chosen.
    status          text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'archived')),
    hidden_at       timestamptz,
    hidden_reason   text CHECK (length(hidden_reason) <= 500),
    -- External HTTPS URLs given by partners (uploaded images come with the object store).
    images          text[] NOT NULL DEFAULT '{}' CHECK (cardinality(images) <= 10),
    -- First publication: the order of `sort=newest`, never moved, so pages stay stable.
    published_at    timestamptz,
    search          text GENERATED ALWAYS AS (search_words(title || ' ' || description)) STORED,
    title_words     text GENERATED ALWAYS AS (search_words(title)) STORED,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT listings_ocop_year_with_stars CHECK ((ocop_stars IS NULL) = (ocop_year IS NULL)),
    CONSTRAINT listings_published_have_a_date CHECK (status <> 'published' OR published_at IS NOT NULL),
    CONSTRAINT listings_external_id_unique UNIQUE (merchant_id, external_id)
);
SELECT manage_updated_at('listings');

-- Everything the public reads is published and not hidden: the search and keyset indexes cover
-- those rows only.
CREATE INDEX listings_search_trgm_idx ON listings USING gin (search gin_trgm_ops)
    WHERE status = 'published' AND hidden_at IS NULL;
CREATE INDEX listings_newest_idx ON listings (published_at DESC, id DESC)
    WHERE status = 'published' AND hidden_at IS NULL;
CREATE INDEX listings_price_idx ON listings (price_vnd, id)
    WHERE status = 'published' AND hidden_at IS NULL;
CREATE INDEX listings_category_newest_idx ON listings (category, published_at DESC, id DESC)
    WHERE status = 'published' AND hidden_at IS NULL;
CREATE INDEX listings_category_price_idx ON listings (category, price_vnd, id)
    WHERE status = 'published' AND hidden_at IS NULL;
CREATE INDEX listings_merchant_idx ON listings (merchant_id, published_at DESC, id DESC);
-- Typo tolerance compares titles only (shorter, so cheaper to compare), when exact words find
-- nothing.
CREATE INDEX listings_title_trgm_idx ON listings USING gin (title_words gin_trgm_ops)
    WHERE status = 'published' AND hidden_at IS NULL;
