//! One customer's invoice draft for one billing period: prorated recurring
//! lines, one-time charges, discounts, per-line taxes, credits and totals.
//! The same function is the preview and the real run.

use super::catalog::{Catalog, TaxClassId};
use super::error::{BillingError, Result};
use super::money::{Currency, Money, RoundingMode};
use super::period::{DateRange, iso_date, julian_day};
use super::proration::{ProratedPart, Subscription, SubscriptionId, prorate};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Id of a customer.
pub type CustomerId = u64;
/// Id of a [`OneTimeCharge`].
pub type ChargeId = u64;
/// Id of a [`Discount`].
pub type DiscountId = u64;

/// What a one-time charge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChargeKind {
    /// Installation work.
    Installation,
    /// Equipment sold (CPE, router).
    Equipment,
    /// A fee (late fee, reconnection fee, truck roll).
    Fee,
    /// A refundable deposit: a liability, not revenue, so it is **never
    /// discounted nor taxed**, whatever its tax class says.
    Deposit,
    /// Anything else.
    Other,
}

/// A charge billed once, on the first invoice whose period ends after its date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeCharge {
    /// Unique per customer.
    pub id: ChargeId,
    /// When it was incurred; it waits for a later invoice if on or after the period's end.
    #[serde(with = "iso_date")]
    pub date: Date,
    /// What it is.
    pub kind: ChargeKind,
    /// The invoice line's text.
    pub description: String,
    /// Never negative (a refund or goodwill is a credit, not a negative charge).
    pub amount: Money,
    /// `None` = untaxed.
    pub tax_class: Option<TaxClassId>,
}

/// Which lines a discount applies to (deposits never get a discount).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DiscountTarget {
    /// Every line.
    All,
    /// Every recurring line.
    AllRecurring,
    /// The recurring lines of one subscription.
    Subscription(SubscriptionId),
    /// One one-time charge.
    Charge(ChargeId),
}

/// How much a discount takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DiscountValue {
    /// A percentage of each targeted line's remaining net amount, in basis
    /// points (1000 = 10 %), rounded with [`InvoiceRules::discount_rounding`].
    PercentBp(u32),
    /// A fixed amount per invoice (not prorated), taken from the targeted
    /// lines in line order until used up; whatever no line can absorb is
    /// dropped (it never makes a line negative, nor carries over).
    Fixed(Money),
}

/// A discount active for this invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discount {
    /// Unique per invoice; discounts apply in id order, each on what the
    /// earlier ones left.
    pub id: DiscountId,
    /// For the invoice (`Loyalty 10 %`).
    pub description: String,
    /// Which lines.
    pub target: DiscountTarget,
    /// How much.
    pub value: DiscountValue,
}

/// Everything the draft of one customer's invoice for one period depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceInput {
    /// The customer.
    pub customer_id: CustomerId,
    /// The invoice currency: every amount involved must be in it.
    pub currency: Currency,
    /// The billing period (see [`super::period::period_containing`]).
    pub period: DateRange,
    /// A tax-exempt customer (charity, government) pays no tax on any line.
    pub tax_exempt: bool,
    /// The customer's subscriptions (ids unique).
    pub subscriptions: Vec<Subscription>,
    /// One-time charges not yet invoiced (ids unique).
    pub charges: Vec<OneTimeCharge>,
    /// Discounts active for this period (ids unique).
    pub discounts: Vec<Discount>,
    /// Credit on the customer's account (non-negative) to apply to this invoice.
    pub credit_available: Money,
}

/// Operator choices that are not per tax class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRules {
    /// Rounding of percentage discounts (default half-even).
    pub discount_rounding: RoundingMode,
}

/// What a line bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LineKind {
    /// A run of days of a subscription on a plan.
    Recurring { subscription: SubscriptionId, plan: u64 },
    /// A one-time charge.
    OneTime { charge: ChargeId, kind: ChargeKind },
}

/// One invoice line. `net = amount - discount`, `tax` is on `net`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// What it bills.
    pub kind: LineKind,
    /// `Home 25/5 Mbps, 1-14 Mar (14/31 days)` or the charge's description.
    pub description: String,
    /// The days billed (recurring lines only).
    pub range: Option<DateRange>,
    /// Before discounts.
    pub amount: Money,
    /// Sum of the discounts on this line (0 ≤ discount ≤ amount).
    pub discount: Money,
    /// `amount - discount`.
    pub net: Money,
    /// The tax class it was taxed under (`None`: untaxed).
    pub tax_class: Option<TaxClassId>,
    /// Its tax, all components, each rounded on this line.
    pub tax: Money,
}

/// One tax component summed over the invoice, for the tax summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxLine {
    /// The class.
    pub class: TaxClassId,
    /// The component's index in its class.
    pub component: u32,
    /// The component's name.
    pub name: String,
    /// Its rate.
    pub rate_bp: u32,
    /// Sum of the net amounts of the lines it applied to.
    pub base: Money,
    /// Sum of its per-line taxes.
    pub tax: Money,
}

/// The idempotency key of a regular invoice: one per customer and period
/// start. The shell keeps a unique index on it, so re-running a run (after a
/// crash or twice by mistake) skips customers already invoiced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InvoiceKey {
    /// The customer.
    pub customer_id: CustomerId,
    /// The first day of the period.
    #[serde(with = "iso_date")]
    pub period_start: Date,
}

impl fmt::Display for InvoiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.customer_id, iso_date::format(self.period_start))
    }
}

/// A computed invoice, not yet numbered or stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceDraft {
    /// The idempotency key.
    pub key: InvoiceKey,
    /// The period.
    pub period: DateRange,
    /// The one currency of every amount below.
    pub currency: Currency,
    /// Recurring lines by (subscription id, first day), then one-time
    /// charges by (date, id).
    pub lines: Vec<InvoiceLine>,
    /// Tax summary by (class, component).
    pub taxes: Vec<TaxLine>,
    /// Sum of line amounts before discounts.
    pub gross: Money,
    /// Sum of line discounts.
    pub discount_total: Money,
    /// Sum of line net amounts (`gross - discount_total`).
    pub subtotal: Money,
    /// Sum of line taxes.
    pub tax_total: Money,
    /// `subtotal + tax_total`.
    pub total: Money,
    /// `min(credit_available, total)`.
    pub credits_applied: Money,
    /// `total - credits_applied`.
    pub amount_due: Money,
    /// FNV-1a 64 of everything above (stable across builds and platforms):
    /// tells the shell whether a re-computation still matches what was stored.
    pub content_hash: u64,
}

impl InvoiceDraft {
    /// No line at all (the shell usually skips storing these).
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

fn check_currency(m: Money, c: Currency) -> Result<()> {
    if m.currency != c {
        return Err(BillingError::CurrencyMismatch { left: c, right: m.currency });
    }
    Ok(())
}

fn unique<T>(items: &[T], id: impl Fn(&T) -> u64) -> Result<()> {
    let mut ids: Vec<u64> = items.iter().map(id).collect();
    ids.sort_unstable();
    match ids.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(BillingError::DuplicateId(w[0])),
        None => Ok(()),
    }
}

fn targets(t: DiscountTarget, k: LineKind) -> bool {
    match (t, k) {
        (_, LineKind::OneTime { kind: ChargeKind::Deposit, .. }) => false,
        (DiscountTarget::All, _) => true,
        (DiscountTarget::AllRecurring, LineKind::Recurring { .. }) => true,
        (DiscountTarget::Subscription(s), LineKind::Recurring { subscription, .. }) => s == subscription,
        (DiscountTarget::Charge(c), LineKind::OneTime { charge, .. }) => c == charge,
        _ => false,
    }
}

/// Computes the invoice draft of `input` against `catalog`.
///
/// Deterministic: the same input (in any list order) gives the same draft,
/// byte for byte, and the same [`InvoiceDraft::content_hash`].
pub fn draft(input: &InvoiceInput, catalog: &Catalog, rules: &InvoiceRules) -> Result<InvoiceDraft> {
    let cur = input.currency;
    let period = input.period;
    if period.is_empty() {
        return Err(BillingError::InvalidRange { start: period.start(), end: period.end() });
    }
    unique(&input.subscriptions, |s| s.id)?;
    unique(&input.charges, |c| c.id)?;
    unique(&input.discounts, |d| d.id)?;
    check_currency(input.credit_available, cur)?;
    if input.credit_available.is_negative() {
        return Err(BillingError::Negative { what: "credit available" });
    }

    // Recurring lines.
    let mut parts: Vec<ProratedPart> = Vec::with_capacity(input.subscriptions.len() * 2);
    for s in &input.subscriptions {
        prorate(s, catalog, period, &mut parts)?;
    }
    parts.sort_unstable_by_key(|p| (p.subscription, p.range.start()));
    let mut lines: Vec<InvoiceLine> = Vec::with_capacity(parts.len() + input.charges.len());
    let zero = Money::zero(cur);
    for p in &parts {
        check_currency(p.amount, cur)?;
        let plan = catalog.plan(p.plan)?;
        lines.push(InvoiceLine {
            kind: LineKind::Recurring { subscription: p.subscription, plan: p.plan },
            description: format!("{}, {} ({}/{} days)", plan.title(), p.range.label(), p.range.days(), p.period_days),
            range: Some(p.range),
            amount: p.amount,
            discount: zero,
            net: p.amount,
            tax_class: Some(plan.tax_class),
            tax: zero,
        });
    }

    // One-time charges due by the end of the period.
    let mut charges: Vec<&OneTimeCharge> = input.charges.iter().filter(|c| c.date < period.end()).collect();
    charges.sort_unstable_by_key(|c| (c.date, c.id));
    for c in charges {
        check_currency(c.amount, cur)?;
        if c.amount.is_negative() {
            return Err(BillingError::Negative { what: "one-time charge" });
        }
        let tax_class = match c.kind {
            ChargeKind::Deposit => None,
            _ => c.tax_class,
        };
        if let Some(t) = tax_class {
            catalog.tax_class(t)?;
        }
        lines.push(InvoiceLine {
            kind: LineKind::OneTime { charge: c.id, kind: c.kind },
            description: c.description.clone(),
            range: None,
            amount: c.amount,
            discount: zero,
            net: c.amount,
            tax_class,
            tax: zero,
        });
    }

    // Discounts, in id order, each on what the earlier ones left.
    let mut discounts: Vec<&Discount> = input.discounts.iter().collect();
    discounts.sort_unstable_by_key(|d| d.id);
    for d in discounts {
        match d.value {
            DiscountValue::PercentBp(bp) => {
                if bp > 10_000 {
                    return Err(BillingError::InvalidRate(bp));
                }
                for l in lines.iter_mut().filter(|l| targets(d.target, l.kind)) {
                    let off = l.net.percent_bp(i64::from(bp), rules.discount_rounding)?.min(l.net)?;
                    l.discount = l.discount.checked_add(off)?;
                    l.net = l.net.checked_sub(off)?;
                }
            }
            DiscountValue::Fixed(amount) => {
                check_currency(amount, cur)?;
                if amount.is_negative() {
                    return Err(BillingError::Negative { what: "fixed discount" });
                }
                let mut left = amount;
                for l in lines.iter_mut().filter(|l| targets(d.target, l.kind)) {
                    let off = left.min(l.net)?;
                    l.discount = l.discount.checked_add(off)?;
                    l.net = l.net.checked_sub(off)?;
                    left = left.checked_sub(off)?;
                }
            }
        }
    }

    // Taxes: per line, per component, each rounded on the line.
    let mut taxes: Vec<TaxLine> = Vec::new();
    for l in lines.iter_mut() {
        let Some(class_id) = l.tax_class else { continue };
        if input.tax_exempt {
            continue;
        }
        let class = catalog.tax_class(class_id)?;
        for (i, comp) in class.components.iter().enumerate() {
            let t = l.net.percent_bp(i64::from(comp.rate_bp), class.rounding)?;
            l.tax = l.tax.checked_add(t)?;
            let i = i as u32;
            match taxes.iter_mut().find(|x| x.class == class_id && x.component == i) {
                Some(x) => {
                    x.base = x.base.checked_add(l.net)?;
                    x.tax = x.tax.checked_add(t)?;
                }
                None => taxes.push(TaxLine {
                    class: class_id,
                    component: i,
                    name: comp.name.clone(),
                    rate_bp: comp.rate_bp,
                    base: l.net,
                    tax: t,
                }),
            }
        }
    }
    taxes.sort_unstable_by_key(|t| (t.class, t.component));

    let gross = Money::sum(cur, lines.iter().map(|l| l.amount))?;
    let discount_total = Money::sum(cur, lines.iter().map(|l| l.discount))?;
    let subtotal = Money::sum(cur, lines.iter().map(|l| l.net))?;
    let tax_total = Money::sum(cur, lines.iter().map(|l| l.tax))?;
    let total = subtotal.checked_add(tax_total)?;
    let credits_applied = input.credit_available.min(total)?;
    let amount_due = total.checked_sub(credits_applied)?;
    let mut d = InvoiceDraft {
        key: InvoiceKey { customer_id: input.customer_id, period_start: period.start() },
        period,
        currency: cur,
        lines,
        taxes,
        gross,
        discount_total,
        subtotal,
        tax_total,
        total,
        credits_applied,
        amount_due,
        content_hash: 0,
    };
    d.content_hash = content_hash(&d);
    Ok(d)
}

/// FNV-1a, 64 bits: tiny, stable, good enough to detect a changed draft
/// (not a defence against someone forging one).
struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn date(&mut self, d: Date) {
        self.u64(julian_day(d) as u64);
    }
    fn money(&mut self, m: Money) {
        self.bytes(m.currency.code().as_bytes());
        self.u64(m.minor as u64);
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.bytes(s.as_bytes());
    }
}

/// The [`InvoiceDraft::content_hash`] of a draft (ignoring the field itself).
pub fn content_hash(d: &InvoiceDraft) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.u64(d.key.customer_id);
    h.date(d.period.start());
    h.date(d.period.end());
    h.bytes(d.currency.code().as_bytes());
    h.u64(u64::from(d.currency.exponent()));
    h.u64(d.lines.len() as u64);
    for l in &d.lines {
        match l.kind {
            LineKind::Recurring { subscription, plan } => {
                h.u64(1);
                h.u64(subscription);
                h.u64(plan);
            }
            LineKind::OneTime { charge, kind } => {
                h.u64(2);
                h.u64(charge);
                h.u64(kind as u64);
            }
        }
        h.str(&l.description);
        if let Some(r) = l.range {
            h.date(r.start());
            h.date(r.end());
        }
        for m in [l.amount, l.discount, l.net, l.tax] {
            h.money(m);
        }
        h.u64(l.tax_class.map_or(u64::MAX, |t| t));
    }
    h.u64(d.taxes.len() as u64);
    for t in &d.taxes {
        h.u64(t.class);
        h.u64(u64::from(t.component));
        h.str(&t.name);
        h.u64(u64::from(t.rate_bp));
        h.money(t.base);
        h.money(t.tax);
    }
    for m in [d.gross, d.discount_total, d.subtotal, d.tax_total, d.total, d.credits_applied, d.amount_due] {
        h.money(m);
    }
    h.0
}

#[cfg(test)]
mod tests;
