-- Several controllers on one database (PostgreSQL; SQLite keeps one).
-- Who runs each worker that must run once (`leases.rs`).
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
-- The controller CA, shared by every controller (was `<data_dir>/pki`).
CREATE TABLE controller_ca (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    key_pem TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
-- Correlator events from controllers that do not run the correlator, for
-- the one that does (taken and deleted in one statement).
CREATE TABLE outage_feed (
    id BIGSERIAL PRIMARY KEY,
    event TEXT NOT NULL
);
-- What the live links act on (revocations, site config revisions, release
-- offers) announced on channel `mast_control` to every controller, whoever
-- wrote it (another controller, the CLI). Column lists keep ingest's own
-- updates of `agents` (acks, last seen) from announcing anything.
CREATE FUNCTION mast_control_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mast_control', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER agents_control AFTER INSERT OR DELETE OR UPDATE OF status, site_id, cert_serial ON agents
    FOR EACH STATEMENT EXECUTE FUNCTION mast_control_changed();
CREATE TRIGGER sites_control AFTER UPDATE OF revision ON sites
    FOR EACH STATEMENT EXECUTE FUNCTION mast_control_changed();
CREATE TRIGGER rollouts_control AFTER INSERT OR DELETE OR UPDATE OF state ON rollouts
    FOR EACH STATEMENT EXECUTE FUNCTION mast_control_changed();
CREATE TRIGGER rollout_agents_control AFTER INSERT OR DELETE OR UPDATE OF state ON rollout_agents
    FOR EACH STATEMENT EXECUTE FUNCTION mast_control_changed();
