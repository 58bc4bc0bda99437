-- A billing-day change of an invoiced account issues a bridge invoice up to
-- the first new billing day; runs bill no period that starts before
-- `bill_from` (YYYY-MM-DD; NULL: no such limit).
ALTER TABLE billing_accounts ADD COLUMN bill_from TEXT;
