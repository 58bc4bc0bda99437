-- Settings an admin saved in the browser, by their `MAST_*` name (the same
-- names as the environment overrides). They override the config file; an
-- environment variable of the same name wins over them. Read when the
-- controller starts.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
