-- Outage incidents from the correlator (monitoring/correlator.rs): one per
-- root cause. `id` is the correlator's incident id; rows are upserted from
-- its actions, so applying an action twice changes nothing.
CREATE TABLE incidents (
    id BIGINT PRIMARY KEY,
    -- 'device', 'site' (backhaul: the agent is silent) or 'controller' (internal only)
    root_kind TEXT NOT NULL,
    root_device_id BIGINT,
    root_site_id BIGINT,
    started_ms BIGINT NOT NULL,
    opened_ms BIGINT NOT NULL,
    ended_ms BIGINT,
    flapping BIGINT NOT NULL,
    superseded_by BIGINT,
    device_count BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX incidents_open ON incidents (ended_ms);
CREATE TABLE incident_devices (
    incident_id BIGINT NOT NULL,
    device_id BIGINT NOT NULL,
    PRIMARY KEY (incident_id, device_id)
);
CREATE INDEX incident_devices_device ON incident_devices (device_id);
-- The correlator's serialized state, so a restart resumes mid-outage.
CREATE TABLE correlator_state (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
