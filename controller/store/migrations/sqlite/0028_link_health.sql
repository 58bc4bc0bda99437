-- Radio link health (issue 17): one row per link sample the agents send.
-- `role` 0: a row of an AP's station table (`device_id` = the station's
-- device, `via_device_id` = the AP); 1: the polled device's own radio
-- (`device_id` = that device, `peer_mac` = its AP or far end).
-- Figures as the agent decoded them (dBm, dB, %, kbit/s, m, MHz); NULL
-- where the device gave none. Raw rows follow the samples' retention.
CREATE TABLE link_samples (
    device_id BIGINT NOT NULL,
    ts_ms BIGINT NOT NULL,
    role BIGINT NOT NULL,
    radio BIGINT NOT NULL,
    via_device_id BIGINT,
    peer_mac TEXT,
    signal_dbm BIGINT,
    chain0_dbm BIGINT,
    chain1_dbm BIGINT,
    remote_signal_dbm BIGINT,
    noise_dbm BIGINT,
    snr_db BIGINT,
    quality_pct BIGINT,
    airtime_pct BIGINT,
    tx_rate_kbps BIGINT,
    rx_rate_kbps BIGINT,
    tx_capacity_kbps BIGINT,
    rx_capacity_kbps BIGINT,
    modulation TEXT,
    distance_m BIGINT,
    frequency_mhz BIGINT,
    width_mhz BIGINT,
    tx_power_dbm BIGINT,
    stations BIGINT,
    PRIMARY KEY (device_id, role, radio, ts_ms)
);
CREATE INDEX link_samples_via ON link_samples (via_device_id, ts_ms);
CREATE INDEX link_samples_ts ON link_samples (ts_ms);

-- The newest link sample per (device, role, radio): what pages and the API show.
CREATE TABLE link_latest (
    device_id BIGINT NOT NULL,
    role BIGINT NOT NULL,
    radio BIGINT NOT NULL,
    ts_ms BIGINT NOT NULL,
    via_device_id BIGINT,
    peer_mac TEXT,
    signal_dbm BIGINT,
    chain0_dbm BIGINT,
    chain1_dbm BIGINT,
    remote_signal_dbm BIGINT,
    noise_dbm BIGINT,
    snr_db BIGINT,
    quality_pct BIGINT,
    airtime_pct BIGINT,
    tx_rate_kbps BIGINT,
    rx_rate_kbps BIGINT,
    tx_capacity_kbps BIGINT,
    rx_capacity_kbps BIGINT,
    modulation TEXT,
    distance_m BIGINT,
    frequency_mhz BIGINT,
    width_mhz BIGINT,
    tx_power_dbm BIGINT,
    stations BIGINT,
    PRIMARY KEY (device_id, role, radio)
);
CREATE INDEX link_latest_via ON link_latest (via_device_id);
