//! Billing reports (shell, read-only): MRR by plan and by site, revenue
//! invoiced per month by plan and by site, payments received by method,
//! accounts receivable aging, and churn. Dates are `YYYY-MM-DD` strings
//! compared as text (ISO dates sort as dates). Amounts are minor units of
//! one currency (the operator's; multi-currency operators get one report
//! per currency).

use super::store;
use crate::db::{Db, StoreError};
use jiff::civil::Date;
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

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
    /// current, 1-30, 31-60, 61-90, over 90 days past due.
    pub aging_minor: [i64; 5],
    pub customers_at_start: i64,
    pub customers_lost: i64,
    /// customers lost in the month / customers at its start.
    pub churn: f64,
}

fn month_bounds(month: &str) -> Result<(String, String), StoreError> {
    let d = store::parse_date("month", &format!("{month}-01"))?;
    let next = if d.month() == 12 { Date::new(d.year() + 1, 1, 1) } else { Date::new(d.year(), d.month() + 1, 1) }
        .map_err(|e| StoreError::invalid_msg(format!("month: {e}")))?;
    Ok((super::period::iso_date::format(d), super::period::iso_date::format(next)))
}

/// The report for `month` (`YYYY-MM`) with MRR and aging as of `as_of`.
pub async fn report(db: &Db, month: &str, as_of: Date, currency: &str) -> Result<Report, StoreError> {
    let (start, end) = month_bounds(month)?;
    let today = super::period::iso_date::format(as_of);
    let mut r = Report { as_of: today.clone(), month: month.into(), currency: currency.into(), ..Default::default() };
    // MRR: each live subscription's current plan (latest change on or before today).
    let rows = sqlx::query(
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
    for row in &rows {
        let (plan, price, site): (String, i64, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        r.mrr_minor += price;
        *r.mrr_by_plan.entry(plan).or_default() += price;
        *r.mrr_by_site.entry(site).or_default() += price;
        r.active_subscriptions += 1;
    }
    // Revenue invoiced for periods starting in the month.
    let rows = sqlx::query(
        "SELECT COALESCE(p.name, '(one-time)'), COALESCE(st.name, '(no site)'), CAST(SUM(l.net_minor) AS BIGINT) \
         FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id JOIN customers c ON c.id = i.customer_id \
         LEFT JOIN plans p ON p.id = l.plan_id LEFT JOIN sites st ON st.id = c.site_id \
         WHERE i.period_start >= $1 AND i.period_start < $2 AND i.currency = $3 AND i.status <> 'void' \
         GROUP BY p.name, st.name",
    )
    .bind(&start)
    .bind(&end)
    .bind(currency)
    .fetch_all(&db.pool)
    .await?;
    for row in &rows {
        let (plan, site, v): (String, String, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        *r.revenue_by_plan.entry(plan).or_default() += v;
        *r.revenue_by_site.entry(site).or_default() += v;
    }
    let rows = sqlx::query(
        "SELECT method, CAST(SUM(amount_minor) AS BIGINT) FROM payments WHERE payment_date >= $1 AND payment_date < $2 \
         AND currency = $3 GROUP BY method",
    )
    .bind(&start)
    .bind(&end)
    .bind(currency)
    .fetch_all(&db.pool)
    .await?;
    for row in &rows {
        r.payments_by_method.insert(row.try_get(0)?, row.try_get(1)?);
    }
    // Aging over customers who owe something.
    let owing: Vec<i64> = sqlx::query(
        "SELECT customer_id FROM ledger WHERE currency = $1 GROUP BY customer_id HAVING SUM(amount_minor) > 0",
    )
    .bind(currency)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|row| row.try_get(0))
    .collect::<Result<_, _>>()?;
    for c in owing {
        let b = store::balance(db, c, as_of).await?;
        for (i, v) in [b.current_minor, b.days_1_30_minor, b.days_31_60_minor, b.days_61_90_minor, b.over_90_minor]
            .into_iter()
            .enumerate()
        {
            r.aging_minor[i] += v;
        }
    }
    // Churn: customers with a live subscription on the 1st; of them, those
    // with none left on the 1st of the next month.
    let live_on = |d: &str| {
        format!(
            "SELECT DISTINCT customer_id FROM subscriptions WHERE start_date <= '{d}' AND (end_date IS NULL OR end_date > '{d}')"
        )
    };
    let at_start: Vec<i64> = sqlx::query(sqlx::AssertSqlSafe(live_on(&start)))
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    let at_end: std::collections::HashSet<i64> = sqlx::query(sqlx::AssertSqlSafe(live_on(&end)))
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    r.customers_at_start = at_start.len() as i64;
    r.customers_lost = at_start.iter().filter(|c| !at_end.contains(c)).count() as i64;
    r.churn = if r.customers_at_start > 0 { r.customers_lost as f64 / r.customers_at_start as f64 } else { 0.0 };
    Ok(r)
}

/// The report as CSV: `section,key,value` rows (pure).
pub fn csv(r: &Report) -> String {
    let q =
        |s: &str| if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() };
    let money = |m: i64| format!("{}.{:02}", m / 100, (m % 100).abs());
    let mut out = format!(
        "section,key,value\nsummary,month,{}\nsummary,as_of,{}\nsummary,currency,{}\n",
        r.month, r.as_of, r.currency
    );
    out.push_str(&format!(
        "summary,mrr,{}\nsummary,active_subscriptions,{}\n",
        money(r.mrr_minor),
        r.active_subscriptions
    ));
    for (section, map) in [
        ("mrr_by_plan", &r.mrr_by_plan),
        ("mrr_by_site", &r.mrr_by_site),
        ("revenue_by_plan", &r.revenue_by_plan),
        ("revenue_by_site", &r.revenue_by_site),
        ("payments_by_method", &r.payments_by_method),
    ] {
        for (k, v) in map {
            out.push_str(&format!("{section},{},{}\n", q(k), money(*v)));
        }
    }
    for (k, v) in ["current", "1-30", "31-60", "61-90", "over-90"].iter().zip(r.aging_minor) {
        out.push_str(&format!("ar_aging,{k},{}\n", money(v)));
    }
    out.push_str(&format!(
        "churn,customers_at_start,{}\nchurn,customers_lost,{}\nchurn,rate,{:.4}\n",
        r.customers_at_start, r.customers_lost, r.churn
    ));
    out
}
