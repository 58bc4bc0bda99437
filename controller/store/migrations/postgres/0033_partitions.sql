-- Samples at scale (issue 20): the raw samples, the link samples and the
-- rollups become partitioned tables, so retention drops whole partitions
-- (no vacuum debt) and a chart reads only the partitions of its range.
-- PostgreSQL only; SQLite keeps plain tables and deletes by time.
--
-- Each time-partitioned table has a DEFAULT partition that catches rows no
-- dated partition holds (here: everything already stored); the rollup
-- worker (`mast_store::partitions`) creates the dated partitions of the
-- retention window and a few days ahead, moving such rows in, and drops
-- the dated partitions past retention. Partition keys must be in every
-- unique key: the samples' primary key gains `kind` and `ts_ms` (a sample
-- sent again carries the same ones; ingest reads stored keys before it
-- inserts, so exactly-once does not rest on this key alone).

-- samples: by kind (uplink events, kept forever as the backhaul history,
-- apart) and then, for all others, by day.
ALTER TABLE samples RENAME TO samples_unpartitioned;
ALTER INDEX samples_pkey RENAME TO samples_unpartitioned_pkey;
ALTER INDEX samples_device_ts RENAME TO samples_unpartitioned_device_ts;
ALTER INDEX samples_ts RENAME TO samples_unpartitioned_ts;
CREATE TABLE samples (LIKE samples_unpartitioned INCLUDING DEFAULTS, PRIMARY KEY (agent_id, boot_epoch, seq, kind, ts_ms))
    PARTITION BY LIST (kind);
CREATE TABLE samples_uplink PARTITION OF samples FOR VALUES IN (1);
CREATE TABLE samples_timed PARTITION OF samples DEFAULT PARTITION BY RANGE (ts_ms);
CREATE TABLE samples_timed_default PARTITION OF samples_timed DEFAULT;
CREATE INDEX samples_device_ts ON samples (device_id, ts_ms);
CREATE INDEX samples_ts ON samples (ts_ms);
INSERT INTO samples SELECT * FROM samples_unpartitioned;
DROP TABLE samples_unpartitioned;

-- link_samples: by day.
ALTER TABLE link_samples RENAME TO link_samples_unpartitioned;
ALTER INDEX link_samples_pkey RENAME TO link_samples_unpartitioned_pkey;
ALTER INDEX link_samples_via RENAME TO link_samples_unpartitioned_via;
ALTER INDEX link_samples_ts RENAME TO link_samples_unpartitioned_ts;
CREATE TABLE link_samples (LIKE link_samples_unpartitioned INCLUDING DEFAULTS, PRIMARY KEY (device_id, role, radio, ts_ms))
    PARTITION BY RANGE (ts_ms);
CREATE TABLE link_samples_default PARTITION OF link_samples DEFAULT;
CREATE INDEX link_samples_via ON link_samples (via_device_id, ts_ms);
CREATE INDEX link_samples_ts ON link_samples (ts_ms);
INSERT INTO link_samples SELECT * FROM link_samples_unpartitioned;
DROP TABLE link_samples_unpartitioned;

-- sample_rollups: by width (each has its own retention), then by month.
-- The primary key carries the values (INCLUDE): a chart reads a device's
-- buckets from the index alone, not one heap page per bucket (a year of
-- hourly buckets: about 150 pages instead of 8,760).
ALTER TABLE sample_rollups RENAME TO sample_rollups_unpartitioned;
ALTER INDEX sample_rollups_pkey RENAME TO sample_rollups_unpartitioned_pkey;
ALTER INDEX sample_rollups_width_t RENAME TO sample_rollups_unpartitioned_width_t;
CREATE TABLE sample_rollups (LIKE sample_rollups_unpartitioned INCLUDING DEFAULTS,
    PRIMARY KEY (device_id, width_ms, t_ms) INCLUDE (n, lost, rtt_sum_us, rtt_n))
    PARTITION BY LIST (width_ms);
CREATE TABLE sample_rollups_5m PARTITION OF sample_rollups FOR VALUES IN (300000) PARTITION BY RANGE (t_ms);
CREATE TABLE sample_rollups_5m_default PARTITION OF sample_rollups_5m DEFAULT;
CREATE TABLE sample_rollups_1h PARTITION OF sample_rollups FOR VALUES IN (3600000) PARTITION BY RANGE (t_ms);
CREATE TABLE sample_rollups_1h_default PARTITION OF sample_rollups_1h DEFAULT;
CREATE TABLE sample_rollups_other PARTITION OF sample_rollups DEFAULT;
CREATE INDEX sample_rollups_width_t ON sample_rollups (width_ms, t_ms);
INSERT INTO sample_rollups SELECT * FROM sample_rollups_unpartitioned;
DROP TABLE sample_rollups_unpartitioned;
