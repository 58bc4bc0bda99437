-- Support: groups, canned replies, SLA clocks and escalations, mail
-- threading, customer notifications (a transactional outbox) and
-- maintenance windows.

-- Staff groups tickets can be assigned to ("NOC", "Field", "Billing").
CREATE TABLE staff_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    email TEXT,
    created_ms BIGINT NOT NULL
);
CREATE TABLE staff_group_members (
    group_id BIGINT NOT NULL REFERENCES staff_groups(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (group_id, user_id)
);
ALTER TABLE tickets ADD COLUMN group_id BIGINT REFERENCES staff_groups(id);
-- Business time (ms) the first response and the resolution took, stamped
-- when they happen (SLA calendar, waiting and maintenance excluded).
ALTER TABLE tickets ADD COLUMN first_response_business_ms BIGINT;
ALTER TABLE tickets ADD COLUMN resolution_business_ms BIGINT;
-- Requester address for email tickets without a known customer.
ALTER TABLE tickets ADD COLUMN requester_email TEXT;
-- Clock pauses: waiting on the customer ('waiting').
CREATE TABLE ticket_pauses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    from_ms BIGINT NOT NULL,
    to_ms BIGINT,
    reason TEXT NOT NULL
);
CREATE INDEX ticket_pauses_ticket ON ticket_pauses (ticket_id);
-- Each (ticket, clock, level) escalates once.
CREATE TABLE ticket_escalations (
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    clock TEXT NOT NULL,
    level TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, clock, level)
);
-- Message-IDs of mail in and out of a ticket (threading, and an inbound
-- message is processed once even if the mailbox hands it over twice).
CREATE TABLE ticket_mail (
    message_id TEXT PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    direction TEXT NOT NULL,
    ts_ms BIGINT NOT NULL
);
CREATE INDEX ticket_mail_ticket ON ticket_mail (ticket_id);
CREATE TABLE canned_replies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
-- Customers may opt out of outage and maintenance notices.
ALTER TABLE customers ADD COLUMN notify_outages BIGINT NOT NULL DEFAULT 1;
-- Outgoing messages (email, SMS webhook), written in the transaction that
-- decides them; a worker delivers with retries. `dedup` makes deciding
-- twice harmless (e.g. 'incident:7:start:customer:12:email').
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    headers TEXT NOT NULL,
    customer_id BIGINT,
    ticket_id BIGINT,
    created_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    sent_ms BIGINT,
    failed_ms BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (sent_ms, failed_ms, next_attempt_ms);
CREATE INDEX outbox_customer ON outbox (customer_id);
-- Scheduled maintenance per site or device (monitoring/maintenance.rs).
CREATE TABLE maintenance_windows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scope_kind TEXT NOT NULL,
    scope_id BIGINT NOT NULL,
    tz TEXT NOT NULL,
    start_local TEXT NOT NULL,
    duration_minutes BIGINT NOT NULL,
    recurrence TEXT NOT NULL,
    until_date TEXT,
    notice_hours BIGINT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    cancelled_ms BIGINT
);
-- Customers were told about this occurrence.
CREATE TABLE maintenance_notices (
    window_id BIGINT NOT NULL REFERENCES maintenance_windows(id),
    occurrence_start_ms BIGINT NOT NULL,
    ts_ms BIGINT NOT NULL,
    customers BIGINT NOT NULL,
    PRIMARY KEY (window_id, occurrence_start_ms)
);
