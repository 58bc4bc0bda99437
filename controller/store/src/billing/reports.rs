//! Billing reports (shell, read-only): MRR by plan and by site, revenue
//! invoiced per month by plan and by site, payments received by method,
//! accounts receivable aging, and churn. Dates are `YYYY-MM-DD` strings
//! compared as text (ISO dates sort as dates). Amounts are minor units of
//! one currency (the operator's; multi-currency operators get one report
//! per currency).

use super::common::{add_minor, currency as parse_currency, fmt_date, parse_date};
use super::invoices::InvoiceStatus;
use super::money::Money;
use super::store;
use crate::db::{Db, StoreError};
use jiff::civil::Date;
use mast_text_core::csv;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub as_of: String,
    pub month: String,
    pub currency: String,
    /// Monthly recurring revenue: active subscriptions (not ended, not on
    /// hold today) at their current plan's price.
    pub mrr_minor: i64,
    pub mrr_by_plan: BTreeMap<String, i64>,
    pub mrr_by_site: BTreeMap<String, i64>,
    pub active_subscriptions: i64,
    /// Net invoiced (before tax) for periods starting in `month`.
    pub revenue_by_plan: BTreeMap<String, i64>,
    pub revenue_by_site: BTreeMap<String, i64>,
    pub payments_by_method: BTreeMap<String, i64>,
    /// Money taken back in the month: `credit notes` (voids included),
    /// `write-offs` and `refunds`, by their date.
    pub reductions: BTreeMap<String, i64>,
    /// current, 1-30, 31-60, 61-90, over 90 days past due.
    pub aging_minor: [i64; 5],
    pub customers_at_start: i64,
    pub customers_lost: i64,
    /// customers lost in the month / customers at its start.
    pub churn: f64,
}

/// The names of [`Report::aging_minor`]'s buckets, as the CSV writes them.
const AGING_KEYS: [&str; 5] = ["current", "1-30", "31-60", "61-90", "over-90"];

fn month_bounds(month: &str) -> Result<(String, String), StoreError> {
    let d = parse_date("month", &format!("{}-01", month.trim()))
        .map_err(|_| StoreError::invalid("month", format!("{month:?} is not a month (YYYY-MM)")))?;
    let next = if d.month() == 12 { Date::new(d.year() + 1, 1, 1) } else { Date::new(d.year(), d.month() + 1, 1) }
        .map_err(|e| StoreError::invalid("month", e.to_string()))?;
    Ok((fmt_date(d), fmt_date(next)))
}

/// `*slot += v`, checked (the database sums each group as BIGINT; the
/// groups are combined here).
fn add_to(slot: &mut i64, v: i64) -> Result<(), StoreError> {
    *slot = add_minor(*slot, v)?;
    Ok(())
}

/// Customers with a live subscription on `day`.
async fn live_on(db: &Db, day: &str) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT customer_id FROM subscriptions WHERE start_date <= $1 AND (end_date IS NULL OR end_date > $1)",
    )
    .bind(day)
    .fetch_all(&db.pool)
    .await?)
}

/// The report for `month` (`YYYY-MM`) with MRR and aging as of `as_of`.
pub async fn report(db: &Db, month: &str, as_of: Date, currency: &str) -> Result<Report, StoreError> {
    let (start, end) = month_bounds(month)?;
    parse_currency(currency)?;
    let today = fmt_date(as_of);
    let mut r =
        Report { as_of: today.clone(), month: month.trim().into(), currency: currency.into(), ..Default::default() };
    // MRR: each live subscription's current plan (latest change on or before today).
    let rows: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT p.name, p.price_minor, COALESCE(st.name, '(no site)') AS site FROM subscriptions s \
         JOIN customers c ON c.id = s.customer_id LEFT JOIN sites st ON st.id = c.site_id \
         JOIN plans p ON p.id = COALESCE((SELECT pc.plan_id FROM plan_changes pc WHERE pc.subscription_id = s.id \
              AND pc.on_date <= $1 ORDER BY pc.on_date DESC, pc.id DESC LIMIT 1), s.plan_id) \
         WHERE s.start_date <= $1 AND (s.end_date IS NULL OR s.end_date > $1) AND p.currency = $2 \
         AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.customer_id = s.customer_id \
              AND (h.subscription_id IS NULL OR h.subscription_id = s.id) AND h.start_date <= $1 \
              AND (h.end_date IS NULL OR h.end_date > $1))",
    )
    .bind(&today)
    .bind(currency)
    .fetch_all(&db.pool)
    .await?;
    for (plan, price, site) in rows {
        add_to(&mut r.mrr_minor, price)?;
        add_to(r.mrr_by_plan.entry(plan).or_default(), price)?;
        add_to(r.mrr_by_site.entry(site).or_default(), price)?;
        r.active_subscriptions += 1;
    }
    // Revenue invoiced for periods starting in the month.
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT COALESCE(p.name, '(one-time)'), COALESCE(st.name, '(no site)'), CAST(SUM(l.net_minor) AS BIGINT) \
         FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id JOIN customers c ON c.id = i.customer_id \
         LEFT JOIN plans p ON p.id = l.plan_id LEFT JOIN sites st ON st.id = c.site_id \
         WHERE i.period_start >= $1 AND i.period_start < $2 AND i.currency = $3 AND i.status <> $4 \
         GROUP BY p.name, st.name",
    )
    .bind(&start)
    .bind(&end)
    .bind(currency)
    .bind(InvoiceStatus::Void)
    .fetch_all(&db.pool)
    .await?;
    for (plan, site, v) in rows {
        add_to(r.revenue_by_plan.entry(plan).or_default(), v)?;
        add_to(r.revenue_by_site.entry(site).or_default(), v)?;
    }
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT method, CAST(SUM(amount_minor) AS BIGINT) FROM payments WHERE payment_date >= $1 AND payment_date < $2 \
         AND currency = $3 GROUP BY method",
    )
    .bind(&start)
    .bind(&end)
    .bind(currency)
    .fetch_all(&db.pool)
    .await?;
    r.payments_by_method.extend(rows);
    for (key, sql) in [
        (
            "credit notes",
            "SELECT CAST(COALESCE(SUM(total_minor), 0) AS BIGINT) FROM credit_notes WHERE issue_date >= $1 \
             AND issue_date < $2 AND currency = $3",
        ),
        (
            "write-offs",
            "SELECT CAST(COALESCE(SUM(-amount_minor), 0) AS BIGINT) FROM ledger WHERE kind = 'write-off' \
             AND entry_date >= $1 AND entry_date < $2 AND currency = $3",
        ),
        (
            "refunds",
            "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM refunds WHERE refund_date >= $1 \
             AND refund_date < $2 AND currency = $3",
        ),
    ] {
        let v: i64 = sqlx::query_scalar(sql).bind(&start).bind(&end).bind(currency).fetch_one(&db.pool).await?;
        if v != 0 {
            r.reductions.insert(key.into(), v);
        }
    }
    // Aging over customers who owe something.
    // Balances summed in Rust (128 bits): a customer whose ledger cannot
    // add up is left out of the aging and logged, never a failed report.
    let balances = super::common::ledger_balances(db, "SELECT customer_id FROM billing_accounts").await?;
    let mut owing: Vec<i64> = Vec::new();
    for (c, b) in balances {
        match b {
            Ok(b) if b > 0 => owing.push(c),
            Ok(_) => {}
            Err(e) => tracing::warn!(customer = c, error = %e, "the report leaves a customer out of the aging"),
        }
    }
    owing.sort_unstable();
    for c in owing {
        let b = match store::balance(db, c, as_of).await {
            Ok(b) if b.currency == currency => b,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(customer = c, error = %e, "the report leaves a customer out of the aging");
                continue;
            }
        };
        for (slot, v) in r.aging_minor.iter_mut().zip([
            b.current_minor,
            b.days_1_30_minor,
            b.days_31_60_minor,
            b.days_61_90_minor,
            b.over_90_minor,
        ]) {
            add_to(slot, v)?;
        }
    }
    // Churn: customers with a live subscription on the 1st; of them, those
    // with none left on the 1st of the next month.
    let at_start = live_on(db, &start).await?;
    let at_end: HashSet<i64> = live_on(db, &end).await?.into_iter().collect();
    r.customers_at_start = at_start.len() as i64;
    r.customers_lost = at_start.iter().filter(|c| !at_end.contains(c)).count() as i64;
    r.churn = if r.customers_at_start > 0 { r.customers_lost as f64 / r.customers_at_start as f64 } else { 0.0 };
    Ok(r)
}

/// An amount in the report's currency as the CSV writes it: `-0.99`, `45.00`,
/// `1234` for a currency without minor units (the sign always kept).
fn csv_amount(minor: i64, currency: &str) -> String {
    let cur = parse_currency(currency).unwrap_or(super::money::Currency::USD);
    Money::new(minor, cur).fmt_amount()
}

/// The report as CSV: `section,key,value` rows, every cell through the one
/// CSV rule ([`mast_text_core::csv`]: text quoted and formula-neutralised,
/// amounts and counts bare numbers with their sign), CRLF line ends (pure).
pub fn csv(r: &Report) -> String {
    let row =
        |section: &str, key: &str, value: String| format!("{},{},{}\r\n", csv::field(section), csv::field(key), value);
    let money = |m: i64| csv::number(&csv_amount(m, &r.currency));
    let mut out = csv::line(["section", "key", "value"]);
    out.push_str(&row("summary", "month", csv::field(&r.month)));
    out.push_str(&row("summary", "as_of", csv::field(&r.as_of)));
    out.push_str(&row("summary", "currency", csv::field(&r.currency)));
    out.push_str(&row("summary", "mrr", money(r.mrr_minor)));
    out.push_str(&row("summary", "active_subscriptions", csv::number(&r.active_subscriptions.to_string())));
    for (section, map) in [
        ("mrr_by_plan", &r.mrr_by_plan),
        ("mrr_by_site", &r.mrr_by_site),
        ("revenue_by_plan", &r.revenue_by_plan),
        ("revenue_by_site", &r.revenue_by_site),
        ("payments_by_method", &r.payments_by_method),
        ("reductions", &r.reductions),
    ] {
        for (k, v) in map {
            out.push_str(&row(section, k, money(*v)));
        }
    }
    for (k, v) in AGING_KEYS.iter().zip(r.aging_minor) {
        out.push_str(&row("ar_aging", k, money(v)));
    }
    out.push_str(&row("churn", "customers_at_start", csv::number(&r.customers_at_start.to_string())));
    out.push_str(&row("churn", "customers_lost", csv::number(&r.customers_lost.to_string())));
    out.push_str(&row("churn", "rate", csv::number(&format!("{:.4}", r.churn))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(line: &str) -> Vec<String> {
        // Enough of RFC 4180 for these rows: quoted cells without commas inside.
        line.split(',').map(|c| c.trim_matches('"').replace("\"\"", "\"")).collect()
    }

    #[test]
    fn csv_keeps_signs_and_neutralises_formulas() {
        let mut r = Report {
            month: "2026-03".into(),
            as_of: "2026-03-31".into(),
            currency: "USD".into(),
            ..Default::default()
        };
        r.mrr_minor = -99;
        r.mrr_by_plan.insert("=HYPERLINK(\"http://x\")".into(), 4500);
        r.mrr_by_site.insert("-2+3".into(), -1);
        r.payments_by_method.insert("@cash".into(), -12_345);
        r.aging_minor = [0, -5, 100, 0, 7];
        let csv = csv(&r);
        assert!(csv.starts_with("\"section\",\"key\",\"value\"\r\n"), "{csv}");
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert!(lines.contains(&"\"summary\",\"mrr\",-0.99"), "the sign of -0.99 is kept: {csv}");
        assert!(lines.contains(&"\"mrr_by_site\",\"'-2+3\",-0.01"), "{csv}");
        assert!(lines.contains(&"\"payments_by_method\",\"'@cash\",-123.45"), "{csv}");
        assert!(lines.contains(&"\"ar_aging\",\"1-30\",-0.05"), "{csv}");
        assert!(csv.contains("\"'=HYPERLINK(\"\"http://x\"\")\",45.00"), "{csv}");
        // No cell of any row starts with a formula trigger.
        for l in lines.iter().filter(|l| !l.is_empty()) {
            for c in cells(l) {
                assert!(!c.starts_with(['=', '+', '@', '\t', '\r']), "{l:?}");
                if let Some(rest) = c.strip_prefix('-') {
                    assert!(rest.chars().all(|ch| ch.is_ascii_digit() || ch == '.'), "only numbers: {l:?}");
                }
            }
        }
        assert_eq!(csv_amount(-99, "USD"), "-0.99");
        assert_eq!(csv_amount(-5, "JPY"), "-5");
    }

    #[test]
    fn bad_months_name_the_field() {
        assert_eq!(month_bounds("2026-13").unwrap_err().field(), Some("month"));
        assert_eq!(month_bounds("x").unwrap_err().field(), Some("month"));
        assert_eq!(month_bounds("2026-12").unwrap(), ("2026-12-01".into(), "2027-01-01".into()));
    }
}
