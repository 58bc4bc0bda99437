-- Dunning (billing/collections.rs): per overdue invoice, which steps fired
-- (a bit mask over the configured steps) and whether it suspended the
-- customer; every action taken, for the customer's history.
CREATE TABLE dunning_state (
    invoice_id BIGINT PRIMARY KEY REFERENCES invoices(id),
    done BIGINT NOT NULL,
    suspended BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE dunning_log (
    invoice_id BIGINT NOT NULL REFERENCES invoices(id),
    customer_id BIGINT NOT NULL,
    ts_ms BIGINT NOT NULL,
    run_date TEXT NOT NULL,
    action TEXT NOT NULL
);
CREATE INDEX dunning_log_customer ON dunning_log (customer_id, ts_ms);
