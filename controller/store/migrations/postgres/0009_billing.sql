-- Billing (issue 7): the catalog (tax classes, plans), billing accounts,
-- subscriptions with plan changes and holds, one-time charges, discounts,
-- invoices with gapless numbers, the ledger, payments and invoice runs.
-- Money is BIGINT minor units with a currency code; calendar dates (the
-- operator's calendar) are TEXT 'YYYY-MM-DD', which sort as dates; instants
-- are BIGINT Unix milliseconds UTC; flags are BIGINT 0/1.

-- A tax class and its components (stacked, each on the line's net amount).
-- rounding: 'half-even', 'half-up', 'toward-zero' or 'away-from-zero'.
CREATE TABLE tax_classes (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    rounding TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE tax_components (
    tax_class_id BIGINT NOT NULL REFERENCES tax_classes(id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    rate_bp BIGINT NOT NULL CHECK (rate_bp BETWEEN 0 AND 10000),
    PRIMARY KEY (tax_class_id, position)
);
-- Service plans; price per monthly period, tax excluded. An inactive plan is
-- no longer sold but keeps billing the subscriptions on it.
CREATE TABLE plans (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    price_minor BIGINT NOT NULL CHECK (price_minor >= 0),
    currency TEXT NOT NULL,
    down_kbps BIGINT NOT NULL,
    up_kbps BIGINT NOT NULL,
    cycle TEXT NOT NULL DEFAULT 'monthly',
    tax_class_id BIGINT NOT NULL REFERENCES tax_classes(id),
    active BIGINT NOT NULL DEFAULT 1,
    created_ms BIGINT NOT NULL
);
-- How a customer is billed. payment_reference ('M' + 8-digit customer id +
-- a Luhn check digit) is printed on invoices and matched by bank imports.
CREATE TABLE billing_accounts (
    customer_id BIGINT PRIMARY KEY REFERENCES customers(id),
    billing_day BIGINT NOT NULL CHECK (billing_day BETWEEN 1 AND 28),
    tax_exempt BIGINT NOT NULL DEFAULT 0,
    currency TEXT NOT NULL,
    payment_reference TEXT NOT NULL UNIQUE,
    autopay BIGINT NOT NULL DEFAULT 0,
    provider_customer_id TEXT,
    payment_method_id TEXT,
    payment_method_label TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX billing_accounts_day ON billing_accounts (billing_day);
-- Billed from start_date to end_date (exclusive; NULL = open-ended) on
-- plan_id until the first plan change.
CREATE TABLE subscriptions (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    plan_id BIGINT NOT NULL REFERENCES plans(id),
    start_date TEXT NOT NULL,
    end_date TEXT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);
-- From on_date (inclusive) the subscription is on plan_id.
CREATE TABLE plan_changes (
    id BIGSERIAL PRIMARY KEY,
    subscription_id BIGINT NOT NULL REFERENCES subscriptions(id),
    on_date TEXT NOT NULL,
    plan_id BIGINT NOT NULL REFERENCES plans(id),
    created_ms BIGINT NOT NULL
);
CREATE INDEX plan_changes_subscription ON plan_changes (subscription_id);
-- Days not billed: one subscription, or all of the customer's when
-- subscription_id is NULL. kind: 'suspension', 'vacation' or 'seasonal'.
CREATE TABLE holds (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    subscription_id BIGINT REFERENCES subscriptions(id),
    start_date TEXT NOT NULL,
    end_date TEXT,
    kind TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX holds_customer ON holds (customer_id);
-- Issued invoices; never deleted (voiding is a credit note). number is
-- 'SERIES-YYYY-NNNNNN', gapless per (series, year); (customer_id,
-- period_start) is the idempotency key of the invoice run.
-- status: 'open', 'paid' or 'void'. content_hash: the core's FNV-1a, hex.
CREATE TABLE invoices (
    id BIGSERIAL PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    series TEXT NOT NULL,
    year BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    period_start TEXT NOT NULL,
    period_end TEXT NOT NULL,
    issue_date TEXT NOT NULL,
    due_date TEXT NOT NULL,
    currency TEXT NOT NULL,
    gross_minor BIGINT NOT NULL,
    discount_minor BIGINT NOT NULL,
    subtotal_minor BIGINT NOT NULL,
    tax_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    credits_applied_minor BIGINT NOT NULL,
    amount_due_minor BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    payment_reference TEXT,
    run_id BIGINT,
    created_ms BIGINT NOT NULL,
    UNIQUE (series, year, seq),
    UNIQUE (customer_id, period_start)
);
CREATE INDEX invoices_period ON invoices (period_start);
-- kind 'recurring' (subscription_id, plan_id, range) or 'one-time'
-- (charge_id, charge_kind); net = amount - discount; tax is on net.
CREATE TABLE invoice_lines (
    invoice_id BIGINT NOT NULL REFERENCES invoices(id),
    position BIGINT NOT NULL,
    kind TEXT NOT NULL,
    subscription_id BIGINT,
    plan_id BIGINT,
    charge_id BIGINT,
    charge_kind TEXT,
    description TEXT NOT NULL,
    range_start TEXT,
    range_end TEXT,
    amount_minor BIGINT NOT NULL,
    discount_minor BIGINT NOT NULL,
    net_minor BIGINT NOT NULL,
    tax_class_id BIGINT,
    tax_minor BIGINT NOT NULL,
    PRIMARY KEY (invoice_id, position)
);
-- The tax summary: one row per (class, component) of an invoice.
CREATE TABLE invoice_taxes (
    invoice_id BIGINT NOT NULL REFERENCES invoices(id),
    tax_class_id BIGINT NOT NULL,
    component BIGINT NOT NULL,
    name TEXT NOT NULL,
    rate_bp BIGINT NOT NULL,
    base_minor BIGINT NOT NULL,
    tax_minor BIGINT NOT NULL,
    PRIMARY KEY (invoice_id, tax_class_id, component)
);
-- The last number issued per series and year, written in the transaction
-- that stores the invoices it numbered (numbering.rs: no gap, no reuse).
CREATE TABLE invoice_counters (
    series TEXT NOT NULL,
    year BIGINT NOT NULL,
    last BIGINT NOT NULL,
    PRIMARY KEY (series, year)
);
-- One-time charges; billed on the first invoice whose period ends after
-- charge_date, which then sets invoice_id.
-- kind: 'installation', 'equipment', 'fee', 'deposit' or 'other'.
CREATE TABLE charges (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    charge_date TEXT NOT NULL,
    kind TEXT NOT NULL,
    description TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
    currency TEXT NOT NULL,
    tax_class_id BIGINT REFERENCES tax_classes(id),
    invoice_id BIGINT REFERENCES invoices(id),
    created_ms BIGINT NOT NULL
);
CREATE INDEX charges_customer ON charges (customer_id, invoice_id);
-- Discounts on the invoices whose period starts in [start_date, end_date).
-- target: 'all', 'recurring', 'subscription' or 'charge' (target_id); value:
-- percent_bp, or amount_minor + currency (fixed, per invoice).
CREATE TABLE discounts (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    description TEXT NOT NULL,
    target TEXT NOT NULL,
    target_id BIGINT,
    percent_bp BIGINT,
    amount_minor BIGINT,
    currency TEXT,
    start_date TEXT NOT NULL,
    end_date TEXT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX discounts_customer ON discounts (customer_id);
-- Money received; each has exactly one ledger row. method: 'cash', 'check',
-- 'bank', 'card' or 'ach'; provider_payment_id makes webhooks idempotent.
CREATE TABLE payments (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    payment_date TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    method TEXT NOT NULL,
    reference TEXT,
    provider_payment_id TEXT UNIQUE,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX payments_customer ON payments (customer_id);
-- Every balance change (append-only). The sign follows the kind (core
-- ledger.rs): 'invoice', 'late-fee', 'reconnection-fee', 'refund' >= 0;
-- 'payment', 'credit' <= 0; 'adjustment' either. Balance = SUM(amount_minor).
CREATE TABLE ledger (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    ts_ms BIGINT NOT NULL,
    entry_date TEXT NOT NULL,
    due_date TEXT,
    kind TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    invoice_id BIGINT REFERENCES invoices(id),
    payment_id BIGINT REFERENCES payments(id),
    memo TEXT
);
CREATE INDEX ledger_customer ON ledger (customer_id, entry_date);
-- One debit per invoice, whatever happens to a run.
CREATE UNIQUE INDEX ledger_invoice_debit ON ledger (invoice_id) WHERE kind = 'invoice';
CREATE UNIQUE INDEX ledger_payment ON ledger (payment_id) WHERE kind = 'payment';
-- Invoice runs (a preview writes nothing, this row included; the column is
-- for runs a future UI may keep). finished_ms NULL = interrupted or running.
CREATE TABLE billing_runs (
    id BIGSERIAL PRIMARY KEY,
    run_date TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    finished_ms BIGINT,
    customers_due BIGINT NOT NULL DEFAULT 0,
    invoices BIGINT NOT NULL DEFAULT 0,
    already_issued BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0,
    total_minor BIGINT NOT NULL DEFAULT 0,
    currency TEXT,
    preview BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX billing_runs_date ON billing_runs (run_date);
