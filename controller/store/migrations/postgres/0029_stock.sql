-- Equipment inventory (issue 18). The rules are mast-stock-core's; these
-- tables keep the catalogue, the locations, the append-only movement log
-- and the state it derives (each unit's location, quantities of
-- consumables, lengths cut from spools), updated in the movement's own
-- transaction.

-- The catalogue. `class`: trackable, consumable or cut-to-length.
-- `targets`: JSON object, location kind -> stock to hold there.
CREATE TABLE stock_models (
    id BIGSERIAL PRIMARY KEY,
    vendor TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    class TEXT NOT NULL,
    needs_mac BIGINT NOT NULL,
    needs_serial BIGINT NOT NULL,
    reorder_threshold BIGINT,
    targets TEXT NOT NULL,
    unit_cost_minor BIGINT NOT NULL,
    supplier TEXT,
    warranty_months BIGINT,
    created_ms BIGINT NOT NULL,
    UNIQUE (vendor, name)
);

-- Where things can be. Warehouses and vehicles are named (a vehicle is a
-- technician's: `user_id`); a site's or a customer's location is made the
-- first time something is installed there; RMA, retired and lost are one
-- row each (ids 1-3).
CREATE TABLE stock_locations (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    customer_id BIGINT UNIQUE,
    site_id BIGINT UNIQUE,
    user_id BIGINT,
    created_ms BIGINT NOT NULL,
    -- Set when a location with history is deleted: kept for the log.
    archived_ms BIGINT
);
INSERT INTO stock_locations (id, kind, name, created_ms) VALUES (1, 'rma', 'At the vendor (RMA)', 0);
INSERT INTO stock_locations (id, kind, name, created_ms) VALUES (2, 'retired', 'Retired', 0);
INSERT INTO stock_locations (id, kind, name, created_ms) VALUES (3, 'lost', 'Lost', 0);

-- Trackable units and spools as the log leaves them. A unit's id is the
-- sequence number of the movement that received it.
CREATE TABLE stock_units (
    id BIGINT PRIMARY KEY,
    model_id BIGINT NOT NULL REFERENCES stock_models(id),
    mac TEXT UNIQUE,
    serial TEXT UNIQUE,
    location_id BIGINT NOT NULL REFERENCES stock_locations(id),
    since_ms BIGINT NOT NULL,
    remaining_mm BIGINT,
    unit_cost_minor BIGINT NOT NULL,
    purchase_order_id BIGINT,
    received_ms BIGINT NOT NULL
);
CREATE INDEX stock_units_location ON stock_units (location_id, model_id);
CREATE INDEX stock_units_model ON stock_units (model_id);

-- Consumables on hand (no zero rows) and lengths cut to a location.
CREATE TABLE stock_quantities (
    location_id BIGINT NOT NULL,
    model_id BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    PRIMARY KEY (location_id, model_id)
);
CREATE TABLE stock_cuts (
    location_id BIGINT NOT NULL,
    model_id BIGINT NOT NULL,
    length_mm BIGINT NOT NULL,
    PRIMARY KEY (location_id, model_id)
);

-- The append-only log. `batch`: the movements recorded together (one form,
-- several scanned units) share the first one's seq. `automatic`: made by
-- the reconciliation, not a person.
CREATE TABLE stock_movements (
    seq BIGINT PRIMARY KEY,
    batch BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    from_location_id BIGINT,
    to_location_id BIGINT NOT NULL,
    unit_id BIGINT,
    model_id BIGINT NOT NULL,
    quantity BIGINT,
    length_mm BIGINT,
    unit_cost_minor BIGINT,
    purchase_order_id BIGINT,
    rma_number TEXT,
    note TEXT NOT NULL,
    automatic BIGINT NOT NULL
);
CREATE INDEX stock_movements_unit ON stock_movements (unit_id, seq);
CREATE INDEX stock_movements_at ON stock_movements (at_ms);
CREATE INDEX stock_movements_to ON stock_movements (to_location_id, seq);
CREATE INDEX stock_movements_from ON stock_movements (from_location_id, seq);
-- The log's last sequence number: every batch takes its numbers here
-- first, which also orders concurrent batches.
CREATE TABLE stock_log_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL
);
INSERT INTO stock_log_head (id, seq) VALUES (1, 0);

-- Purchase orders: draft, ordered, partly-received, received, cancelled.
CREATE TABLE stock_orders (
    id BIGSERIAL PRIMARY KEY,
    supplier TEXT NOT NULL,
    status TEXT NOT NULL,
    note TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE stock_order_lines (
    order_id BIGINT NOT NULL REFERENCES stock_orders(id),
    line BIGINT NOT NULL,
    model_id BIGINT NOT NULL REFERENCES stock_models(id),
    quantity BIGINT NOT NULL,
    unit_cost_minor BIGINT NOT NULL,
    received BIGINT NOT NULL,
    PRIMARY KEY (order_id, line)
);

-- Parts held back for scheduled jobs (dispatch fills it), counted against
-- what a location has available.
CREATE TABLE stock_reservations (
    id BIGSERIAL PRIMARY KEY,
    model_id BIGINT NOT NULL,
    location_id BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    reference TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- MACs the staff marked as not ours (a customer's own router, a
-- neighbour's radio): left out of the "unknown" list.
CREATE TABLE stock_ignored_macs (
    mac TEXT PRIMARY KEY,
    note TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- The days whose reconciliation summary went to the admins (one row per
-- day, inserted by whoever sends it: sent once).
CREATE TABLE stock_summaries (
    day TEXT PRIMARY KEY,
    sent_ms BIGINT NOT NULL
);
-- The three fixed locations were inserted with their ids.
SELECT setval('stock_locations_id_seq', 3);
