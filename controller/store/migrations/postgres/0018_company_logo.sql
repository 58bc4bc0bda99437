-- The operator's logo (settings page), printed on invoices and shown in the
-- portal: one row (id = 1), the image as uploaded, hex-encoded.
CREATE TABLE company_logo (
    id BIGINT PRIMARY KEY,
    content_type TEXT NOT NULL,
    data TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
