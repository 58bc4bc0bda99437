-- Signed agent releases (issue 16). Release keys are minisign public keys
-- trusted by `release trust`; a release is stored only once its signature
-- verifies with one of them, its file is an ELF for its target and its
-- version is well formed. The file itself is kept here (not in one
-- controller's data directory) so any controller can serve it.
CREATE TABLE release_keys (
    id BIGSERIAL PRIMARY KEY,
    public_key TEXT NOT NULL UNIQUE,
    comment TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE releases (
    id BIGSERIAL PRIMARY KEY,
    version TEXT NOT NULL,
    target TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    signature TEXT NOT NULL,
    key_id BIGINT NOT NULL REFERENCES release_keys(id),
    data BYTEA NOT NULL,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (version, target)
);
