-- Support tickets: staff-entered (phone, walk-in), and one per outage
-- incident (source 'outage', incident_id unique), with their timeline.
CREATE TABLE tickets (
    id BIGSERIAL PRIMARY KEY,
    subject TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers(id),
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    category TEXT NOT NULL,
    source TEXT NOT NULL,
    assignee_id BIGINT REFERENCES users(id),
    incident_id BIGINT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    first_response_ms BIGINT,
    resolved_ms BIGINT,
    closed_ms BIGINT
);
CREATE INDEX tickets_status ON tickets (status);
CREATE INDEX tickets_customer ON tickets (customer_id);
CREATE UNIQUE INDEX tickets_incident ON tickets (incident_id);
-- Customers an outage ticket affects.
CREATE TABLE ticket_customers (
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    PRIMARY KEY (ticket_id, customer_id)
);
CREATE INDEX ticket_customers_customer ON ticket_customers (customer_id);
-- The timeline: public replies, internal notes, status and assignment changes, system events.
CREATE TABLE ticket_events (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    ts_ms BIGINT NOT NULL,
    author TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, ts_ms);
