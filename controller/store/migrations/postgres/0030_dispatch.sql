-- Dispatch and field work (issue 19).

-- A staff member who works in the field, and their usual day. Times are
-- minutes since local midnight; places are where the day starts and ends
-- (a depot, the technician's home).
CREATE TABLE dispatch_technicians (
    user_id BIGINT PRIMARY KEY REFERENCES users(id),
    name TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    skills TEXT NOT NULL DEFAULT '',
    shift_start_min BIGINT NOT NULL DEFAULT 480,
    shift_end_min BIGINT NOT NULL DEFAULT 1020,
    -- ISO weekdays worked, e.g. '1,2,3,4,5'.
    work_days TEXT NOT NULL DEFAULT '1,2,3,4,5',
    start_lat DOUBLE PRECISION,
    start_lon DOUBLE PRECISION,
    end_lat DOUBLE PRECISION,
    end_lon DOUBLE PRECISION,
    active BIGINT NOT NULL DEFAULT 1,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);

CREATE TABLE dispatch_days_off (
    user_id BIGINT NOT NULL REFERENCES users(id),
    day TEXT NOT NULL,
    PRIMARY KEY (user_id, day)
);

-- Zones drawn on the map: corners as JSON [[lat, lon], ...].
CREATE TABLE dispatch_zones (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    color TEXT NOT NULL,
    corners TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE dispatch_technician_zones (
    user_id BIGINT NOT NULL REFERENCES users(id),
    zone_id BIGINT NOT NULL REFERENCES dispatch_zones(id),
    PRIMARY KEY (user_id, zone_id)
);

-- The checklist each kind of job starts with, one item per line.
CREATE TABLE dispatch_checklists (
    kind TEXT PRIMARY KEY,
    items TEXT NOT NULL
);
INSERT INTO dispatch_checklists (kind, items) VALUES
    ('installation', 'Line of sight checked
Radio mounted and aimed
Signal within the plan''s target
Customer''s router connected
Speed test shown to the customer'),
    ('repair', 'Fault confirmed on site
Cause found
Signal and speed checked after the fix'),
    ('removal', 'Equipment collected
Cables removed
Customer signed'),
    ('site-survey', 'Line of sight to the tower
Mounting point found
Photos taken'),
    ('tower-work', 'Climb plan and harness checked
Work done
Site left clean');

-- Work orders. `day` (YYYY-MM-DD) and `technician_id` are set once
-- scheduled; `seq` orders a technician's day; window and duration in
-- minutes; `revision` grows with every change (a phone's offline change
-- names the revision it saw, so a conflict is found).
CREATE TABLE work_orders (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    title TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers(id),
    ticket_id BIGINT REFERENCES tickets(id),
    incident_id BIGINT,
    site_id BIGINT REFERENCES sites(id),
    address TEXT NOT NULL DEFAULT '',
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    day TEXT,
    technician_id BIGINT REFERENCES users(id),
    seq BIGINT,
    pinned BIGINT NOT NULL DEFAULT 0,
    window_start_min BIGINT,
    window_end_min BIGINT,
    duration_min BIGINT NOT NULL,
    skills TEXT NOT NULL DEFAULT '',
    planned_start_min BIGINT,
    planned_drive_s BIGINT,
    planned_drive_m BIGINT,
    notes TEXT NOT NULL DEFAULT '',
    close_ticket BIGINT NOT NULL DEFAULT 0,
    signature TEXT,
    signed_by TEXT,
    revision BIGINT NOT NULL DEFAULT 1,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX work_orders_day ON work_orders (day, technician_id, seq);
CREATE INDEX work_orders_status ON work_orders (status);
CREATE INDEX work_orders_customer ON work_orders (customer_id);
CREATE INDEX work_orders_ticket ON work_orders (ticket_id);

-- Each status a job took, when and by whom.
CREATE TABLE work_order_steps (
    id BIGSERIAL PRIMARY KEY,
    work_order_id BIGINT NOT NULL REFERENCES work_orders(id),
    status TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    technician_id BIGINT,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX work_order_steps_job ON work_order_steps (work_order_id, id);

CREATE TABLE work_order_checklist (
    work_order_id BIGINT NOT NULL REFERENCES work_orders(id),
    position BIGINT NOT NULL,
    label TEXT NOT NULL,
    done BIGINT NOT NULL DEFAULT 0,
    done_by TEXT,
    done_ms BIGINT,
    PRIMARY KEY (work_order_id, position)
);

CREATE TABLE work_order_notes (
    id BIGSERIAL PRIMARY KEY,
    work_order_id BIGINT NOT NULL REFERENCES work_orders(id),
    body TEXT NOT NULL,
    actor TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX work_order_notes_job ON work_order_notes (work_order_id, id);

-- Photos as base64 JPEG/PNG (a few hundred kilobytes each, resized on
-- the phone).
CREATE TABLE work_order_photos (
    id BIGSERIAL PRIMARY KEY,
    work_order_id BIGINT NOT NULL REFERENCES work_orders(id),
    content_type TEXT NOT NULL,
    data TEXT NOT NULL,
    actor TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX work_order_photos_job ON work_order_photos (work_order_id);

-- Parts to bring (reserved from stock: `stock_reservations` with the
-- reference 'work-order:<id>') and parts used (`movement_seq`: the stock
-- movement that recorded it).
CREATE TABLE work_order_parts (
    id BIGSERIAL PRIMARY KEY,
    work_order_id BIGINT NOT NULL REFERENCES work_orders(id),
    model_id BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    used BIGINT NOT NULL DEFAULT 0,
    unit_id BIGINT,
    movement_seq BIGINT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX work_order_parts_job ON work_order_parts (work_order_id);

-- Changes a phone made offline, by the id the phone gave each: applied
-- once, their result kept to answer a repeated sync the same way.
CREATE TABLE dispatch_sync (
    client_id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    work_order_id BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
