-- Downsampled ping statistics per device: 5-minute and hourly buckets.
CREATE TABLE sample_rollups (
    device_id BIGINT NOT NULL,
    width_ms BIGINT NOT NULL,
    t_ms BIGINT NOT NULL,
    n BIGINT NOT NULL,
    lost BIGINT NOT NULL,
    rtt_sum_us BIGINT NOT NULL,
    rtt_n BIGINT NOT NULL,
    PRIMARY KEY (device_id, width_ms, t_ms)
);
CREATE INDEX sample_rollups_width_t ON sample_rollups (width_ms, t_ms);
-- The oldest sample time written since the last rollup pass (NULL: nothing new).
CREATE TABLE rollup_state (
    name TEXT PRIMARY KEY,
    dirty_from_ms BIGINT
);
INSERT INTO rollup_state (name, dirty_from_ms) VALUES ('samples', 0);
-- Delivery accounting per agent and boot epoch, kept apart from the samples
-- so it survives their retention.
CREATE TABLE delivery_counts (
    agent_id BIGINT NOT NULL,
    boot_epoch BIGINT NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    stored BIGINT NOT NULL,
    PRIMARY KEY (agent_id, boot_epoch)
);
INSERT INTO delivery_counts (agent_id, boot_epoch, first_seq, last_seq, stored)
    SELECT agent_id, boot_epoch, MIN(seq), MAX(seq), COUNT(*) FROM samples GROUP BY agent_id, boot_epoch;
CREATE INDEX samples_ts ON samples (ts_ms);
