-- Probing at tower scale: SNMP credentials and targets, discovery subnets,
-- ping pacing per site; device identity and topology; inventory by MAC.
ALTER TABLE sites ADD COLUMN snmp_interval_ms BIGINT NOT NULL DEFAULT 60000;
ALTER TABLE sites ADD COLUMN discovery_interval_ms BIGINT NOT NULL DEFAULT 3600000;
ALTER TABLE sites ADD COLUMN ping_rate_pps BIGINT NOT NULL DEFAULT 5000;
-- Comma-separated CIDRs swept by discovery.
ALTER TABLE sites ADD COLUMN subnets TEXT NOT NULL DEFAULT '';
-- SNMP credentials in the order agents try them. The secrets are pushed to
-- agents, so they are stored as given; pages, the API and logs never show them.
CREATE TABLE site_snmp_credentials (
    site_id BIGINT NOT NULL REFERENCES sites(id),
    position BIGINT NOT NULL,
    version TEXT NOT NULL,
    community TEXT,
    v3_user TEXT,
    v3_auth TEXT,
    v3_auth_key TEXT,
    v3_privacy TEXT,
    v3_priv_key TEXT,
    PRIMARY KEY (site_id, position)
);
-- Devices polled over SNMP: addr is ip:port, credential a position above.
CREATE TABLE site_snmp_targets (
    site_id BIGINT NOT NULL REFERENCES sites(id),
    addr TEXT NOT NULL,
    credential BIGINT NOT NULL,
    PRIMARY KEY (site_id, addr)
);
ALTER TABLE devices ADD COLUMN mac TEXT;
ALTER TABLE devices ADD COLUMN kind TEXT;
ALTER TABLE devices ADD COLUMN vendor TEXT;
ALTER TABLE devices ADD COLUMN model TEXT;
ALTER TABLE devices ADD COLUMN firmware TEXT;
ALTER TABLE devices ADD COLUMN parent_id BIGINT;
ALTER TABLE devices ADD COLUMN signal_dbm BIGINT;
ALTER TABLE devices ADD COLUMN snmp_outcome TEXT;
ALTER TABLE devices ADD COLUMN snmp_ms BIGINT;
ALTER TABLE devices ADD COLUMN uptime_s BIGINT;
CREATE INDEX devices_mac ON devices (mac);
CREATE INDEX devices_parent ON devices (parent_id);
-- The current picture of every MAC an agent learned of, per site.
CREATE TABLE inventory (
    site_id BIGINT NOT NULL REFERENCES sites(id),
    mac TEXT NOT NULL,
    ip TEXT,
    device_id BIGINT,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    vendor TEXT,
    oui_vendor TEXT,
    model TEXT,
    firmware TEXT,
    serial TEXT,
    name TEXT,
    parent_mac TEXT,
    signal_dbm BIGINT,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    PRIMARY KEY (site_id, mac)
);
CREATE INDEX inventory_mac ON inventory (mac);
CREATE INDEX inventory_device ON inventory (device_id);
-- Every change of an inventory field (append-only).
CREATE TABLE inventory_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL,
    mac TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT
);
CREATE INDEX inventory_history_mac ON inventory_history (site_id, mac, ts_ms);
-- Interface traffic per SNMP poll.
CREATE TABLE interface_rates (
    device_id BIGINT NOT NULL,
    if_index BIGINT NOT NULL,
    ts_ms BIGINT NOT NULL,
    in_bps BIGINT NOT NULL,
    out_bps BIGINT NOT NULL,
    PRIMARY KEY (device_id, if_index, ts_ms)
);
