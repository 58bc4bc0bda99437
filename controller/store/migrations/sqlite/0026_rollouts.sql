-- Fleet rollouts (issue 16). A rollout takes the agents to one version in
-- stages (canaries, then waves); its plan and spec are the rollout core's
-- JSON, fixed at the start. At most one rollout is active (running, paused
-- or halted): `active` is 1 then and NULL after, under a UNIQUE constraint.
CREATE TABLE rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL,
    spec TEXT NOT NULL,
    plan TEXT NOT NULL,
    state TEXT NOT NULL,
    stage BIGINT NOT NULL,
    why TEXT,
    trial_secs BIGINT NOT NULL,
    active BIGINT UNIQUE,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    finished_ms BIGINT
);
-- Each agent's part: its stage (-1: skipped, with the reason), the release
-- for its target, and where it is: pending, offered, upgraded, rolled-back,
-- refused, skipped. `accepted`: a failure the operator accepted by resuming
-- a halted rollout (it no longer halts it).
CREATE TABLE rollout_agents (
    rollout_id BIGINT NOT NULL REFERENCES rollouts(id),
    agent_id BIGINT NOT NULL REFERENCES agents(id),
    stage BIGINT NOT NULL,
    release_id BIGINT REFERENCES releases(id),
    state TEXT NOT NULL,
    reason TEXT,
    offered_ms BIGINT,
    finished_ms BIGINT,
    accepted BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (rollout_id, agent_id)
);
CREATE INDEX rollout_agents_agent ON rollout_agents (agent_id, state);
-- Release keys keep their public key file (what agents check endorsements
-- over) and, for a key trusted after others, its endorsement: the minisign
-- signature of that file by an older trusted key.
ALTER TABLE release_keys ADD COLUMN key_file TEXT;
ALTER TABLE release_keys ADD COLUMN endorsement TEXT;
UPDATE release_keys SET key_file = 'untrusted comment: ' || comment || char(10) || public_key || char(10);
