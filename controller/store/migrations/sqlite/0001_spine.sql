-- Spine: sites and their probe config, agents and enrollment, devices, samples, API tokens.
-- Times are Unix milliseconds UTC (BIGINT) on both backends.
CREATE TABLE sites (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    interval_ms BIGINT NOT NULL,
    timeout_ms BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE site_targets (
    site_id BIGINT NOT NULL REFERENCES sites(id),
    addr TEXT NOT NULL,
    name TEXT,
    PRIMARY KEY (site_id, addr)
);
CREATE TABLE agents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    status TEXT NOT NULL,
    token_hash TEXT UNIQUE,
    token_expires_ms BIGINT,
    cert_serial TEXT,
    cert_expires_ms BIGINT,
    version TEXT,
    target TEXT,
    boot_epoch BIGINT,
    connected_ms BIGINT,
    disconnected_ms BIGINT,
    last_seen_ms BIGINT,
    last_addr TEXT,
    backlog BIGINT,
    dropped BIGINT,
    last_ack_epoch BIGINT,
    last_ack_seq BIGINT,
    created_ms BIGINT NOT NULL,
    enrolled_ms BIGINT,
    revoked_ms BIGINT
);
CREATE TABLE devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    addr TEXT NOT NULL,
    name TEXT,
    last_sample_ms BIGINT,
    last_rtt_us BIGINT,
    last_ok_ms BIGINT,
    created_ms BIGINT NOT NULL,
    UNIQUE (site_id, addr)
);
-- Every sample an agent sent, once. kind 0 = ping (device_id, rtt_us; NULL rtt = lost),
-- kind 1 = uplink event (value 1 = link up, 0 = link down, at ts_ms).
CREATE TABLE samples (
    agent_id BIGINT NOT NULL,
    boot_epoch BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    kind BIGINT NOT NULL,
    device_id BIGINT,
    ts_ms BIGINT NOT NULL,
    rtt_us BIGINT,
    value BIGINT,
    PRIMARY KEY (agent_id, boot_epoch, seq)
);
CREATE INDEX samples_device_ts ON samples (device_id, ts_ms);
-- Key ranges an agent reported lost (spool cap, disk full, corruption).
CREATE TABLE agent_drops (
    agent_id BIGINT NOT NULL,
    boot_epoch BIGINT NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    reason TEXT NOT NULL,
    reported_ms BIGINT NOT NULL,
    PRIMARY KEY (agent_id, boot_epoch, first_seq)
);
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);
