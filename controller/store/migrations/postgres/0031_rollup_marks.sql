-- The oldest ping time each agent wrote since the last rollup pass: a row per
-- agent, so concurrent ingest never waits on one global row (the
-- `rollup_state` row stays for marks that are not an agent's).
CREATE TABLE rollup_marks (
    agent_id BIGINT PRIMARY KEY,
    dirty_from_ms BIGINT NOT NULL
);
