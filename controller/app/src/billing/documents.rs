//! Invoice documents (shell): an invoice from the database as the PDF
//! renderer's [`InvoiceDocument`], rendered to PDF, and queued for email.
//! The operator's details ([`Operator`]) come from the `[operator]` settings;
//! the logo from the settings page, decoded once per upload ([`LogoCache`]).

use super::pdf::{DocLine, InvoiceDocument, Logo, Party};
use super::store::{self, InvoiceRow};
use crate::db::{Db, StoreError};
use std::sync::{Arc, Mutex};

/// The operator's details printed on every invoice.
#[derive(Debug, Clone, Default)]
pub struct Operator {
    pub name: String,
    pub address: Vec<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tax_id: Option<String>,
    pub payment_instructions: Vec<String>,
    /// Shared by every clone: one decoded logo per process.
    pub logo: LogoCache,
}

/// The stored logo, decoded: a run mailing thousands of invoices decodes it
/// once, and again only after an upload (its version changes).
#[derive(Clone, Default)]
pub struct LogoCache(Arc<Mutex<Option<Cached>>>);

/// The logo's version (`updated_ms`, stored length) and what it decoded to.
type Cached = ((i64, i64), Option<Arc<Logo>>);

impl std::fmt::Debug for LogoCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogoCache")
    }
}

impl LogoCache {
    /// The current logo, or `None` (none uploaded, or one that does not
    /// decode: an invoice is never held up by its logo).
    pub async fn get(&self, db: &Db) -> Result<Option<Arc<Logo>>, StoreError> {
        let Some(version) = mast_store::settings::logo_version(db).await? else { return Ok(None) };
        if let Some((v, logo)) = self.0.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && *v == version
        {
            return Ok(logo.clone());
        }
        let logo = match mast_store::settings::logo(db).await? {
            Some((_, bytes)) => match Logo::decode(&bytes) {
                Ok(l) => Some(Arc::new(l)),
                Err(e) => {
                    tracing::warn!(error = %e, "the stored logo does not decode; invoices go out without it");
                    None
                }
            },
            None => None,
        };
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((version, logo.clone()));
        Ok(logo)
    }
}

fn money(minor: i64, currency: &str) -> Result<String, StoreError> {
    Ok(super::money::Money::new(minor, store::currency(currency)?).to_string())
}

pub async fn invoice(db: &Db, id: i64) -> Result<Option<InvoiceRow>, StoreError> {
    store::invoice(db, id).await
}

/// The invoice as a document for the renderer.
pub async fn document(db: &Db, op: &Operator, inv: &InvoiceRow) -> Result<InvoiceDocument, StoreError> {
    let c = crate::customers::get(db, inv.customer_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("invoice {} names no customer", inv.number)))?;
    let lines = store::invoice_lines(db, inv.id).await?;
    let cur = inv.currency.as_str();
    let mut doc_lines = Vec::with_capacity(lines.len());
    let mut discount = 0i64;
    for l in &lines {
        discount = discount
            .checked_add(l.discount_minor)
            .ok_or_else(|| StoreError::Corrupt(format!("discounts of invoice {} overflow", inv.number)))?;
        doc_lines.push(DocLine {
            description: l.description.clone(),
            detail: (l.discount_minor != 0)
                .then(|| format!("discount {}", money(-l.discount_minor, cur).unwrap_or_default())),
            amount: money(l.net_minor, cur)?,
        });
    }
    let mut taxes = Vec::new();
    for t in store::invoice_taxes(db, inv.id).await? {
        let bp = t.rate_bp;
        taxes.push((format!("{} {}.{:02} %", t.name, bp / 100, bp % 100), money(t.tax_minor, cur)?));
    }
    let credits = inv.credits_applied_minor;
    let mut customer_lines: Vec<String> = c.address.iter().cloned().collect();
    customer_lines.push(format!("Customer #{}", c.id));
    Ok(InvoiceDocument {
        logo: op.logo.get(db).await?,
        operator: Party {
            name: op.name.clone(),
            lines: op.address.clone(),
            email: op.email.clone(),
            phone: op.phone.clone(),
            tax_id: op.tax_id.clone(),
        },
        customer: Party {
            name: c.name.clone(),
            lines: customer_lines,
            email: c.email.clone(),
            phone: c.phone.clone(),
            tax_id: None,
        },
        number: inv.number.clone(),
        issue_date: inv.issue_date.clone(),
        due_date: inv.due_date.clone(),
        period: period_label(&inv.period_start, &inv.period_end),
        lines: doc_lines,
        subtotal: money(inv.subtotal_minor, cur)?,
        discounts: (discount != 0).then(|| money(-discount, cur)).transpose()?,
        taxes,
        total: money(inv.total_minor, cur)?,
        credits_applied: (credits != 0).then(|| money(-credits, cur)).transpose()?,
        previous_balance: None,
        amount_due: money(inv.amount_due_minor, cur)?,
        payment_reference: inv.payment_reference.clone().unwrap_or_else(|| store::payment_reference(inv.customer_id)),
        payment_instructions: op.payment_instructions.clone(),
        notes: vec![format!(
            "Questions about this invoice? Reply to our email or call {}.",
            op.phone.as_deref().unwrap_or("us")
        )],
        ..Default::default()
    })
}

/// A credit note as a document for the same renderer: its lines are what
/// it takes back of the invoice (net, with the tax of those lines), titled
/// and labelled as a credit note, pointing at the invoice it credits.
pub async fn credit_note_document(
    db: &Db,
    op: &Operator,
    note: &store::CreditNoteRow,
) -> Result<InvoiceDocument, StoreError> {
    let inv = store::invoice(db, note.invoice_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("credit note {} names no invoice", note.number)))?;
    let mut doc = document(db, op, &inv).await?;
    let cur = note.currency.as_str();
    let lines = store::credit_note_lines(db, note.id).await?;
    doc.number = note.number.clone();
    doc.issue_date = note.issue_date.clone();
    doc.due_date = inv.number.clone();
    doc.lines = lines
        .iter()
        .map(|l| {
            Ok(DocLine {
                description: l.description.clone(),
                detail: (l.tax_minor != 0).then(|| format!("tax {}", money(l.tax_minor, cur).unwrap_or_default())),
                amount: money(l.net_minor, cur)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    doc.subtotal = money(note.net_minor, cur)?;
    doc.discounts = None;
    doc.taxes = if note.tax_minor != 0 { vec![("Tax".into(), money(note.tax_minor, cur)?)] } else { Vec::new() };
    doc.total = money(note.total_minor, cur)?;
    doc.credits_applied = None;
    doc.amount_due = money(-note.total_minor, cur)?;
    doc.payment_instructions = Vec::new();
    doc.notes = vec![format!("Reason: {}", note.reason)];
    let l = &mut doc.labels;
    l.invoice =
        if note.kind == store::CreditNoteKind::Void { "CREDIT NOTE (VOID)".into() } else { "CREDIT NOTE".into() };
    l.invoice_number = "Credit note no.".into();
    l.due_date = "For invoice".into();
    l.amount_due = "Credited".into();
    l.pay_by = "Credited against invoice".into();
    Ok(doc)
}

/// A credit note as PDF bytes.
pub async fn credit_note_pdf(db: &Db, op: &Operator, note: &store::CreditNoteRow) -> Result<Vec<u8>, StoreError> {
    let doc = credit_note_document(db, op, note).await?;
    super::pdf::render(&doc).map_err(|e| StoreError::Corrupt(format!("credit note {} as PDF: {e}", note.number)))
}

/// The invoice as PDF bytes.
pub async fn pdf(db: &Db, op: &Operator, inv: &InvoiceRow) -> Result<Vec<u8>, StoreError> {
    let doc = document(db, op, inv).await?;
    super::pdf::render(&doc).map_err(|e| StoreError::Corrupt(format!("invoice {} as PDF: {e}", inv.number)))
}

/// Queues an email with its PDF for every invoice of the last 7 days not
/// mailed yet (the customer has an address; email is configured); the
/// outbox renders the PDF when it sends. Idempotent. Returns how many.
pub async fn queue_new_invoices(db: &Db, channels: mast_store::outbox::Channels) -> Result<usize, StoreError> {
    use mast_store::outbox::{Channel, Message, enqueue};
    if !channels.has(Channel::Email) {
        return Ok(0);
    }
    let since = crate::db::now_ms() - 7 * 86_400_000;
    let rows = store::invoices_to_mail(db, since).await?;
    let mut tx = db.begin().await?;
    let mut n = 0;
    for r in rows {
        let amount = money(r.amount_due_minor, &r.currency)?;
        let mut headers = std::collections::BTreeMap::new();
        headers.insert("invoice_id".to_string(), r.id.to_string());
        headers.insert("event".to_string(), "invoice".to_string());
        let (id, number, name, due) = (r.id, &r.number, &r.name, &r.due_date);
        let m = Message {
            dedup: format!("invoice:{id}:email"),
            channel: Channel::Email,
            recipient: r.email.clone(),
            subject: format!("Invoice {number}"),
            body: format!(
                "Hello {name},\n\nyour invoice {number} is attached: {amount}, due {due}.\n\
                 Payment reference: {}\n\nYou can also see it and pay in your customer portal.\n",
                r.payment_reference.clone().unwrap_or_default()
            ),
            headers,
            customer_id: Some(r.customer_id),
            ticket_id: None,
        };
        n += usize::from(enqueue(&mut tx, &m).await?);
    }
    tx.commit().await?;
    if n > 0 {
        tracing::info!(invoices = n, "invoice emails queued");
    }
    Ok(n)
}

/// A stored period `[start, end)` as people read it, with the year:
/// `1-31 Dec 2026`, `15 Dec 2026-14 Jan 2027`.
pub fn period_label(start: &str, end_exclusive: &str) -> String {
    let (Ok(s), Ok(e)) = (store::parse_date("period", start), store::parse_date("period", end_exclusive)) else {
        return format!("{start} – {end_exclusive}");
    };
    let Ok(r) = super::period::DateRange::new(s, e) else { return format!("{start} – {end_exclusive}") };
    let last = e.yesterday().unwrap_or(e);
    let label = r.label();
    if s.year() == last.year() {
        format!("{label} {}", last.year())
    } else {
        // "15 Dec-14 Jan" gets both years.
        match label.split_once('-') {
            Some((a, b)) => format!("{a} {}-{b} {}", s.year(), last.year()),
            None => format!("{label} {}", last.year()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn periods_read_inclusive_with_years() {
        assert_eq!(super::period_label("2026-12-01", "2027-01-01"), "1-31 Dec 2026");
        assert_eq!(super::period_label("2026-12-15", "2027-01-15"), "15 Dec 2026-14 Jan 2027");
        assert_eq!(super::period_label("2026-11-03", "2026-12-03"), "3 Nov-2 Dec 2026");
        assert_eq!(super::period_label("bad", "2026-12-03"), "bad – 2026-12-03");
    }
}
