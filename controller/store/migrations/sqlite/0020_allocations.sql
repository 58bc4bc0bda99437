-- Which credit pays which debit (core allocation.rs). open_minor on a
-- ledger row is what is not yet matched (absolute; every insert sets it to
-- ABS(amount_minor)); after each change of a customer's ledger either no
-- credit or no debit of theirs is open (billing/allocations.rs).
ALTER TABLE ledger ADD COLUMN open_minor BIGINT NOT NULL DEFAULT 0;
UPDATE ledger SET open_minor = ABS(amount_minor);
ALTER TABLE ledger ADD COLUMN credit_note_id BIGINT;
ALTER TABLE ledger ADD COLUMN refund_id BIGINT;
CREATE INDEX ledger_open ON ledger (customer_id) WHERE open_minor > 0;
-- chosen: 1 when staff (or a credit note, a refund) pointed it; 0 oldest first.
CREATE TABLE allocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    credit_entry_id BIGINT NOT NULL REFERENCES ledger(id),
    debit_entry_id BIGINT NOT NULL REFERENCES ledger(id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    chosen BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX allocations_credit ON allocations (credit_entry_id);
CREATE INDEX allocations_debit ON allocations (debit_entry_id);
-- An invoice's open amount (= its ledger debit's), what credit notes and
-- write-offs took, and its voiding. status: 'open', 'partly-paid', 'paid',
-- 'written-off' or 'void'.
ALTER TABLE invoices ADD COLUMN open_minor BIGINT NOT NULL DEFAULT 0;
UPDATE invoices SET open_minor = CASE WHEN status = 'void' THEN 0 ELSE total_minor END;
ALTER TABLE invoices ADD COLUMN credited_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN written_off_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN void_reason TEXT;
CREATE INDEX invoices_status ON invoices (status, due_date);
CREATE INDEX invoices_issue ON invoices (issue_date, id);
-- The invoice list's plan filter: the invoices with a line on a plan.
CREATE INDEX invoice_lines_plan ON invoice_lines (plan_id, invoice_id);
-- The invoice list's totals read this index only (no table rows).
CREATE INDEX invoices_sums ON invoices (currency, status, issue_date, customer_id, due_date, total_minor, open_minor);
-- Credit notes: numbered in their own gapless series (invoice_counters,
-- series from [billing] credit_note_series); kind 'credit' or 'void' (the
-- whole remaining invoice, when it is voided). Never deleted.
CREATE TABLE credit_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    number TEXT NOT NULL UNIQUE,
    series TEXT NOT NULL,
    year BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    invoice_id BIGINT NOT NULL REFERENCES invoices(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    issue_date TEXT NOT NULL,
    currency TEXT NOT NULL,
    net_minor BIGINT NOT NULL,
    tax_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (series, year, seq)
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id);
CREATE TABLE credit_note_lines (
    credit_note_id BIGINT NOT NULL REFERENCES credit_notes(id),
    position BIGINT NOT NULL,
    invoice_position BIGINT NOT NULL,
    description TEXT NOT NULL,
    net_minor BIGINT NOT NULL,
    tax_minor BIGINT NOT NULL,
    PRIMARY KEY (credit_note_id, position)
);
-- Money paid back: through the payment provider (card payments,
-- provider_refund_id) or recorded (cash, check, bank).
CREATE TABLE refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id BIGINT NOT NULL REFERENCES payments(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    refund_date TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    provider_refund_id TEXT UNIQUE,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id);
ALTER TABLE payments ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0;
-- Staff postpone dunning of an invoice (and reactivating a suspended
-- customer pauses it) until this day; NULL: not paused.
ALTER TABLE dunning_state ADD COLUMN paused_until TEXT;
