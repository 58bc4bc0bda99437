-- The customer portal: logins (email + optional argon2 password), sessions
-- and single-use magic links (only hashes of secrets are stored).
CREATE TABLE portal_logins (
    customer_id BIGINT PRIMARY KEY REFERENCES customers(id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    disabled_ms BIGINT
);
CREATE TABLE portal_sessions (
    id_hash TEXT PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    csrf_token TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL
);
CREATE INDEX portal_sessions_customer ON portal_sessions (customer_id);
CREATE TABLE portal_magic_links (
    token_hash TEXT PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    used_ms BIGINT
);
