-- Staff work on incidents: acknowledgement (who, when), a manual close with
-- its reason (the correlator may still end the incident later: ended_ms), and
-- the incident's log of staff notes and the updates sent to customers.
ALTER TABLE incidents ADD COLUMN acked_by TEXT;
ALTER TABLE incidents ADD COLUMN acked_ms BIGINT;
ALTER TABLE incidents ADD COLUMN closed_by TEXT;
ALTER TABLE incidents ADD COLUMN closed_ms BIGINT;
ALTER TABLE incidents ADD COLUMN close_reason TEXT;
CREATE TABLE incident_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id BIGINT NOT NULL,
    -- 'note' (staff only) or 'update' (sent to the affected customers)
    kind TEXT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    -- customer messages queued for an update
    queued BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX incident_notes_incident ON incident_notes (incident_id, created_ms);
