-- Several controllers on one database (PostgreSQL; SQLite keeps one).
-- Who runs each worker that must run once (`leases.rs`).
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
-- The controller CA, shared by every controller (was `<data_dir>/pki`).
CREATE TABLE controller_ca (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    key_pem TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
-- Correlator events from controllers that do not run the correlator, for
-- the one that does (taken and deleted in one statement).
CREATE TABLE outage_feed (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL
);
