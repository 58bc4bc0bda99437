-- Imports from another ISP system (UISP CRM, Splynx, a spreadsheet): the
-- local row each external id became, per source ('uisp', 'splynx', 'csv')
-- and kind ('customer', 'service'), so importing again updates those rows
-- instead of creating duplicates.
CREATE TABLE import_external_ids (
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    local_id BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    UNIQUE (source, kind, external_id)
);
CREATE INDEX import_external_ids_local ON import_external_ids (kind, local_id);
-- Files uploaded on the import page, kept between the dry run and the
-- import (the page carries only the token); removed after a day.
CREATE TABLE import_uploads (
    token TEXT PRIMARY KEY,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    source TEXT NOT NULL,
    customers TEXT NOT NULL,
    services TEXT,
    tariffs TEXT
);
