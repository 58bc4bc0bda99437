-- An invoice run started from the browser runs in the background: its page
-- follows `progress_done` of `progress_total` invoices, then shows the
-- stored summary (JSON) or why it failed.
ALTER TABLE billing_runs ADD COLUMN progress_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE billing_runs ADD COLUMN progress_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE billing_runs ADD COLUMN summary TEXT;
ALTER TABLE billing_runs ADD COLUMN failed TEXT;
