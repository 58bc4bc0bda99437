-- Autopay charges through the payment provider: every attempt, its outcome
-- and when the next one is due after a failure (billing/autopay.rs).
CREATE TABLE autopay_attempts (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    -- The ledger state charged for (highest ledger id at the time): one
    -- series of attempts per state, the idempotency key derives from it.
    ledger_mark BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    ts_ms BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    provider_payment_id TEXT,
    next_ms BIGINT,
    UNIQUE (customer_id, ledger_mark, attempt)
);
CREATE INDEX autopay_attempts_customer ON autopay_attempts (customer_id, ts_ms);
