-- Invoice totals per (issue month, currency, status, the customer's site,
-- plan) for the staff invoice list: its totals read a few hundred rows
-- instead of every matching invoice. `site_id` 0 = no site; `plan_id` 0 =
-- every invoice (the other rows count each invoice once per plan its lines
-- bill). Triggers keep it in step with every writer of invoices, their
-- lines and a customer's site; the list falls back to the invoices
-- themselves for filters it cannot answer (a customer, overdue on a day,
-- dates that are not whole months).
CREATE TABLE invoice_tallies (
    issue_month TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    site_id BIGINT NOT NULL,
    plan_id BIGINT NOT NULL,
    n BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    open_minor BIGINT NOT NULL,
    PRIMARY KEY (plan_id, site_id, status, issue_month, currency)
);

INSERT INTO invoice_tallies (issue_month, currency, status, site_id, plan_id, n, total_minor, open_minor)
SELECT substr(i.issue_date, 1, 7), i.currency, i.status, COALESCE(c.site_id, 0), 0, COUNT(*), SUM(i.total_minor), SUM(i.open_minor)
FROM invoices i JOIN customers c ON c.id = i.customer_id
GROUP BY substr(i.issue_date, 1, 7), i.currency, i.status, COALESCE(c.site_id, 0);
INSERT INTO invoice_tallies (issue_month, currency, status, site_id, plan_id, n, total_minor, open_minor)
SELECT substr(i.issue_date, 1, 7), i.currency, i.status, COALESCE(c.site_id, 0), l.plan_id, COUNT(*), SUM(i.total_minor), SUM(i.open_minor)
FROM invoices i JOIN customers c ON c.id = i.customer_id
JOIN (SELECT DISTINCT invoice_id, plan_id FROM invoice_lines WHERE plan_id IS NOT NULL) l ON l.invoice_id = i.id
GROUP BY substr(i.issue_date, 1, 7), i.currency, i.status, COALESCE(c.site_id, 0), l.plan_id;

-- Adds `k` times one invoice to its rows (every invoice, and each plan its lines bill).
CREATE FUNCTION invoice_tallies_apply(inv invoices, k BIGINT, with_plans BOOLEAN) RETURNS void AS $$
DECLARE
    site BIGINT;
BEGIN
    SELECT COALESCE(c.site_id, 0) INTO site FROM customers c WHERE c.id = inv.customer_id;
    INSERT INTO invoice_tallies (issue_month, currency, status, site_id, plan_id, n, total_minor, open_minor)
    VALUES (substr(inv.issue_date, 1, 7), inv.currency, inv.status, COALESCE(site, 0), 0, k, k * inv.total_minor, k * inv.open_minor)
    ON CONFLICT (plan_id, site_id, status, issue_month, currency) DO UPDATE SET
        n = invoice_tallies.n + EXCLUDED.n,
        total_minor = invoice_tallies.total_minor + EXCLUDED.total_minor,
        open_minor = invoice_tallies.open_minor + EXCLUDED.open_minor;
    IF with_plans THEN
        INSERT INTO invoice_tallies (issue_month, currency, status, site_id, plan_id, n, total_minor, open_minor)
        SELECT substr(inv.issue_date, 1, 7), inv.currency, inv.status, COALESCE(site, 0), p.plan_id, k, k * inv.total_minor, k * inv.open_minor
        FROM (SELECT DISTINCT plan_id FROM invoice_lines WHERE invoice_id = inv.id AND plan_id IS NOT NULL) p
        ON CONFLICT (plan_id, site_id, status, issue_month, currency) DO UPDATE SET
        n = invoice_tallies.n + EXCLUDED.n,
        total_minor = invoice_tallies.total_minor + EXCLUDED.total_minor,
        open_minor = invoice_tallies.open_minor + EXCLUDED.open_minor;
    END IF;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION invoice_tallies_invoice() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM invoice_tallies_apply(NEW, 1, false);
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        IF OLD.status IS DISTINCT FROM NEW.status OR OLD.open_minor <> NEW.open_minor OR OLD.total_minor <> NEW.total_minor
           OR OLD.issue_date <> NEW.issue_date OR OLD.currency <> NEW.currency OR OLD.customer_id <> NEW.customer_id THEN
            PERFORM invoice_tallies_apply(OLD, -1, true);
            PERFORM invoice_tallies_apply(NEW, 1, true);
        END IF;
        RETURN NEW;
    ELSE
        PERFORM invoice_tallies_apply(OLD, -1, true);
        RETURN OLD;
    END IF;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER invoice_tallies_insert AFTER INSERT ON invoices FOR EACH ROW EXECUTE FUNCTION invoice_tallies_invoice();
CREATE TRIGGER invoice_tallies_update AFTER UPDATE OF status, open_minor, total_minor, issue_date, currency, customer_id
    ON invoices FOR EACH ROW EXECUTE FUNCTION invoice_tallies_invoice();
CREATE TRIGGER invoice_tallies_delete BEFORE DELETE ON invoices FOR EACH ROW EXECUTE FUNCTION invoice_tallies_invoice();

-- A line counts its invoice under its plan once: at the invoice's first
-- line on that plan (row triggers run after the whole statement here, so
-- every line of a multi-row INSERT is visible).
CREATE FUNCTION invoice_tallies_line() RETURNS trigger AS $$
BEGIN
    IF NEW.plan_id IS NOT NULL
       AND NEW.position = (SELECT MIN(position) FROM invoice_lines WHERE invoice_id = NEW.invoice_id AND plan_id = NEW.plan_id) THEN
        INSERT INTO invoice_tallies (issue_month, currency, status, site_id, plan_id, n, total_minor, open_minor)
        SELECT substr(i.issue_date, 1, 7), i.currency, i.status, COALESCE(c.site_id, 0), NEW.plan_id, 1, i.total_minor, i.open_minor
        FROM invoices i JOIN customers c ON c.id = i.customer_id
        WHERE i.id = NEW.invoice_id
        ON CONFLICT (plan_id, site_id, status, issue_month, currency) DO UPDATE SET
        n = invoice_tallies.n + EXCLUDED.n,
        total_minor = invoice_tallies.total_minor + EXCLUDED.total_minor,
        open_minor = invoice_tallies.open_minor + EXCLUDED.open_minor;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER invoice_tallies_line AFTER INSERT ON invoice_lines FOR EACH ROW EXECUTE FUNCTION invoice_tallies_line();

CREATE FUNCTION invoice_tallies_site() RETURNS trigger AS $$
BEGIN
    IF OLD.site_id IS DISTINCT FROM NEW.site_id THEN
    INSERT INTO invoice_tallies (issue_month, currency, status, site_id, plan_id, n, total_minor, open_minor)
    SELECT substr(i.issue_date, 1, 7), i.currency, i.status, COALESCE(OLD.site_id, 0), 0, -COUNT(*), -SUM(i.total_minor), -SUM(i.open_minor)
    FROM invoices i WHERE i.customer_id = NEW.id GROUP BY substr(i.issue_date, 1, 7), i.currency, i.status
    ON CONFLICT (plan_id, site_id, status, issue_month, currency) DO UPDATE SET
        n = invoice_tallies.n + EXCLUDED.n,
        total_minor = invoice_tallies.total_minor + EXCLUDED.total_minor,
        open_minor = invoice_tallies.open_minor + EXCLUDED.open_minor;
    INSERT INTO invoice_tallies (issue_month, currency, status, site_id, plan_id, n, total_minor, open_minor)
    SELECT substr(i.issue_date, 1, 7), i.currency, i.status, COALESCE(OLD.site_id, 0), l.plan_id, -COUNT(*), -SUM(i.total_minor), -SUM(i.open_minor)
    FROM invoices i JOIN (SELECT DISTINCT invoice_id, plan_id FROM invoice_lines
        WHERE plan_id IS NOT NULL AND invoice_id IN (SELECT id FROM invoices WHERE customer_id = NEW.id)) l ON l.invoice_id = i.id
    WHERE i.customer_id = NEW.id GROUP BY substr(i.issue_date, 1, 7), i.currency, i.status, l.plan_id
    ON CONFLICT (plan_id, site_id, status, issue_month, currency) DO UPDATE SET
        n = invoice_tallies.n + EXCLUDED.n,
        total_minor = invoice_tallies.total_minor + EXCLUDED.total_minor,
        open_minor = invoice_tallies.open_minor + EXCLUDED.open_minor;
    INSERT INTO invoice_tallies (issue_month, currency, status, site_id, plan_id, n, total_minor, open_minor)
    SELECT substr(i.issue_date, 1, 7), i.currency, i.status, COALESCE(NEW.site_id, 0), 0, COUNT(*), SUM(i.total_minor), SUM(i.open_minor)
    FROM invoices i WHERE i.customer_id = NEW.id GROUP BY substr(i.issue_date, 1, 7), i.currency, i.status
    ON CONFLICT (plan_id, site_id, status, issue_month, currency) DO UPDATE SET
        n = invoice_tallies.n + EXCLUDED.n,
        total_minor = invoice_tallies.total_minor + EXCLUDED.total_minor,
        open_minor = invoice_tallies.open_minor + EXCLUDED.open_minor;
    INSERT INTO invoice_tallies (issue_month, currency, status, site_id, plan_id, n, total_minor, open_minor)
    SELECT substr(i.issue_date, 1, 7), i.currency, i.status, COALESCE(NEW.site_id, 0), l.plan_id, COUNT(*), SUM(i.total_minor), SUM(i.open_minor)
    FROM invoices i JOIN (SELECT DISTINCT invoice_id, plan_id FROM invoice_lines
        WHERE plan_id IS NOT NULL AND invoice_id IN (SELECT id FROM invoices WHERE customer_id = NEW.id)) l ON l.invoice_id = i.id
    WHERE i.customer_id = NEW.id GROUP BY substr(i.issue_date, 1, 7), i.currency, i.status, l.plan_id
    ON CONFLICT (plan_id, site_id, status, issue_month, currency) DO UPDATE SET
        n = invoice_tallies.n + EXCLUDED.n,
        total_minor = invoice_tallies.total_minor + EXCLUDED.total_minor,
        open_minor = invoice_tallies.open_minor + EXCLUDED.open_minor;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER invoice_tallies_site AFTER UPDATE OF site_id ON customers FOR EACH ROW EXECUTE FUNCTION invoice_tallies_site();

-- The list's pages walk this index newest first; with the status, due date
-- and customer in it, the rows a filter skips are never read from the table.
DROP INDEX invoices_issue;
CREATE INDEX invoices_issue ON invoices (issue_date, id, status, due_date, customer_id);
