-- A site's contacts (landlord, tower owner, power company, the technician
-- who looks after it); those with alerts = 1 are emailed about the site's
-- incidents and alert rules along with the on-call group.
CREATE TABLE site_contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    name TEXT NOT NULL,
    role TEXT,
    phone TEXT,
    email TEXT,
    alerts BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL
);
CREATE INDEX site_contacts_site ON site_contacts (site_id);
-- Alert rules beyond reachability. metric: 'signal' (a station's signal
-- below threshold dBm for window_mins), 'loss' (ping loss above threshold %
-- over window_mins), 'backlog' (an agent's unsent samples older than
-- window_mins; threshold unused). site_id NULL: every site.
CREATE TABLE alert_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    metric TEXT NOT NULL,
    threshold REAL NOT NULL,
    window_mins BIGINT NOT NULL,
    site_id BIGINT REFERENCES sites(id),
    enabled BIGINT NOT NULL DEFAULT 1,
    created_ms BIGINT NOT NULL
);
-- Each time a rule fired for a subject ('device:ID' or 'agent:ID'): open
-- while cleared_ms is NULL (at most one open row per rule and subject).
CREATE TABLE alert_firings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id BIGINT NOT NULL REFERENCES alert_rules(id),
    subject TEXT NOT NULL,
    site_id BIGINT,
    since_ms BIGINT NOT NULL,
    value REAL NOT NULL,
    cleared_ms BIGINT
);
CREATE INDEX alert_firings_open ON alert_firings (rule_id, subject, cleared_ms);
