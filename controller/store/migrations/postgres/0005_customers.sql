-- Customers, shared by tickets, billing and dispatch: who they are, how to
-- reach them, where the service is, and the CPE(s) (by MAC) that serve them.
CREATE TABLE customers (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    address TEXT,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    status TEXT NOT NULL,
    site_id BIGINT REFERENCES sites(id),
    notes TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX customers_name ON customers (name);
CREATE INDEX customers_site ON customers (site_id);
-- A CPE serves one customer; a customer may have several.
CREATE TABLE customer_devices (
    mac TEXT PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    created_ms BIGINT NOT NULL
);
CREATE INDEX customer_devices_customer ON customer_devices (customer_id);
-- Where a tower stands (for the map).
ALTER TABLE sites ADD COLUMN lat DOUBLE PRECISION;
ALTER TABLE sites ADD COLUMN lon DOUBLE PRECISION;
