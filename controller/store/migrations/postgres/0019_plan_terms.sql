-- What a plan promises besides its price and speeds: a monthly data cap
-- (NULL: none) and a one-time setup fee charged when a customer subscribes.
ALTER TABLE plans ADD COLUMN data_cap_gb BIGINT;
ALTER TABLE plans ADD COLUMN setup_fee_minor BIGINT NOT NULL DEFAULT 0;
