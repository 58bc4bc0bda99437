//! Support tickets. Owns tables `tickets`, `ticket_customers` and
//! `ticket_events` (the timeline: customer words, public replies, internal
//! notes, status and assignment changes, system events).
//!
//! Staff open tickets (phone calls are entered by staff); every outage
//! incident opens exactly one ticket (source `outage`, `incident_id` unique)
//! listing the affected customers, updated as the incident grows and
//! resolved with the outage's duration when service returns — see
//! [`outage_opened`] and friends, called by `monitoring::outages` inside the
//! transaction that stores the incident. State changes go through the pure
//! [`lifecycle`]. Public staff replies are mailed to the customer through
//! the outbox (threaded: `[#T-123]` in the subject, `In-Reply-To` the
//! customer's last mail) in the reply's own transaction; time spent waiting
//! on the customer is recorded in `ticket_pauses` for the SLA clocks
//! ([`sla`], [`escalation`]); [`groups`] and [`canned`] replies; email
//! intake in [`email`].

pub mod canned;
pub mod email;
pub mod escalation;
pub mod groups;
pub use mast_ops_core::{lifecycle, sla};

use crate::customers::{check_line, check_text};
use crate::db::{Db, StoreError, Tx, now_ms};
use crate::outbox::{self as notify, Channel, Channels};
use lifecycle::{Action, State, Status};
use serde::Serialize;

crate::text_enum! {
    /// How urgent a ticket is (the SLA targets are per priority).
    pub enum Priority (field "priority") {
        Low = "low",
        Normal = "normal",
        High = "high",
        Urgent = "urgent",
    }
}

crate::text_enum! {
    /// What a ticket is about.
    pub enum Category (field "category") {
        Connectivity = "connectivity",
        Outage = "outage",
        Billing = "billing",
        Installation = "installation",
        Equipment = "equipment",
        Other = "other",
    }
}

crate::text_enum! {
    /// Where a ticket came from (`outage`: opened by an incident, never by
    /// a person).
    pub enum Source (field "source") {
        Staff = "staff",
        Phone = "phone",
        Email = "email",
        Portal = "portal",
        Outage = "outage",
    }
}

crate::text_enum! {
    /// What a timeline entry is.
    pub enum EventKind (field "kind") {
        /// The customer's words (mail, portal, a call logged by staff).
        Customer = "customer",
        /// A staff reply the customer sees (and is mailed).
        Public = "public",
        /// A note only staff see.
        Internal = "internal",
        Status = "status",
        Assign = "assign",
        System = "system",
    }
}

crate::text_enum! {
    /// The stored form of [`lifecycle::Status`] (the pure core has no sqlx):
    /// a mirror with the same texts, converted both ways; [`Ticket::status`]
    /// is the lifecycle's own type.
    pub enum TicketStatus (field "status") {
        Open = "open",
        InProgress = "in-progress",
        Waiting = "waiting",
        Resolved = "resolved",
        Closed = "closed",
    }
}

impl From<TicketStatus> for Status {
    fn from(s: TicketStatus) -> Status {
        match s {
            TicketStatus::Open => Status::Open,
            TicketStatus::InProgress => Status::InProgress,
            TicketStatus::Waiting => Status::Waiting,
            TicketStatus::Resolved => Status::Resolved,
            TicketStatus::Closed => Status::Closed,
        }
    }
}

impl From<Status> for TicketStatus {
    fn from(s: Status) -> TicketStatus {
        match s {
            Status::Open => TicketStatus::Open,
            Status::InProgress => TicketStatus::InProgress,
            Status::Waiting => TicketStatus::Waiting,
            Status::Resolved => TicketStatus::Resolved,
            Status::Closed => TicketStatus::Closed,
        }
    }
}

/// The longest subject and body.
pub(crate) const MAX_SUBJECT: usize = 200;
pub(crate) const MAX_BODY: usize = 20_000;

/// A ticket as staff open it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    pub subject: String,
    #[serde(default)]
    pub customer_id: Option<i64>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    /// `staff` (default), `phone`, `email` or `portal`.
    #[serde(default)]
    pub source: Option<String>,
    /// What the customer reported (the first entry of the timeline).
    #[serde(default)]
    pub body: String,
    /// Who wrote in, for an email from an address no customer has (set by
    /// email intake, not by the API).
    #[serde(skip)]
    pub requester_email: Option<String>,
}

/// A closed-set input: the default when absent or blank, else one of the
/// values (the error names the field and lists them).
fn pick<T: Copy>(v: &Option<String>, default: T, parse: fn(&str) -> Result<T, StoreError>) -> Result<T, StoreError> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => parse(s),
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Ticket {
    pub id: i64,
    pub subject: String,
    pub customer_id: Option<i64>,
    pub customer: Option<String>,
    #[sqlx(try_from = "TicketStatus")]
    pub status: Status,
    pub priority: Priority,
    pub category: Category,
    pub source: Source,
    pub assignee_id: Option<i64>,
    pub assignee: Option<String>,
    pub group_id: Option<i64>,
    #[sqlx(rename = "group_name")]
    pub group: Option<String>,
    /// Who wrote in, for email tickets from an address no customer has.
    pub requester_email: Option<String>,
    pub incident_id: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub first_response_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    pub closed_ms: Option<i64>,
    /// Business time to the first response / to resolution (SLA calendar;
    /// waiting and maintenance excluded), stamped by the SLA worker.
    pub first_response_business_ms: Option<i64>,
    pub resolution_business_ms: Option<i64>,
    /// Customers affected (outage tickets), besides `customer_id`.
    #[sqlx(rename = "affected")]
    pub affected_customers: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Event {
    pub ts_ms: i64,
    pub author: String,
    pub kind: EventKind,
    pub body: String,
}

const COLS: &str = "t.id, t.subject, t.customer_id, c.name AS customer, t.status, t.priority, t.category, t.source, \
    t.assignee_id, u.email AS assignee, t.group_id, g.name AS group_name, t.requester_email, t.incident_id, t.created_ms, \
    t.updated_ms, t.first_response_ms, t.resolved_ms, t.closed_ms, t.first_response_business_ms, t.resolution_business_ms, \
    (SELECT CAST(COUNT(*) AS BIGINT) FROM ticket_customers x WHERE x.ticket_id = t.id) AS affected \
    FROM tickets t LEFT JOIN customers c ON c.id = t.customer_id LEFT JOIN users u ON u.id = t.assignee_id \
    LEFT JOIN staff_groups g ON g.id = t.group_id";

/// How tickets reach people: the outbox channels and our mail domain
/// (for Message-IDs).
#[derive(Debug, Clone)]
pub struct Desk {
    pub notify: Channels,
    pub mail_domain: String,
}

impl Default for Desk {
    fn default() -> Self {
        Desk { notify: Channels::default(), mail_domain: "localhost".into() }
    }
}

impl Desk {
    /// The domain of an address like `Support <support@isp.example>`.
    pub fn domain_of(from: &str) -> String {
        let addr = from.rsplit('<').next().unwrap_or(from).trim_end_matches('>');
        addr.rsplit_once('@').map(|(_, d)| d.trim().to_string()).filter(|d| !d.is_empty()).unwrap_or("localhost".into())
    }
}

/// The subject token that threads mail into a ticket.
pub(crate) fn token(id: i64) -> String {
    format!("[#T-{id}]")
}

pub(crate) async fn event(
    tx: &mut Tx<'_>,
    ticket: i64,
    author: &str,
    kind: EventKind,
    body: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO ticket_events (ticket_id, ts_ms, author, kind, body) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(ticket)
    .bind(now_ms())
    .bind(author)
    .bind(kind)
    .bind(body)
    .fetch_one(&mut **tx)
    .await?)
}

/// Queues a staff reply to whoever the ticket belongs to (customer email or
/// requester), threaded on their last mail; records its Message-ID.
async fn mail_reply(tx: &mut Tx<'_>, desk: &Desk, t: &Ticket, event_id: i64, body: &str) -> Result<bool, StoreError> {
    if !desk.notify.has(Channel::Email) {
        return Ok(false);
    }
    let customer_email: Option<String> = match t.customer_id {
        Some(c) => sqlx::query_scalar::<_, Option<String>>("SELECT email FROM customers WHERE id = $1")
            .bind(c)
            .fetch_optional(&mut **tx)
            .await?
            .flatten(),
        None => None,
    };
    let Some(to) = customer_email.or_else(|| t.requester_email.clone()).filter(|e| !e.is_empty()) else {
        return Ok(false);
    };
    let last_in: Option<String> = sqlx::query_scalar(
        "SELECT message_id FROM ticket_mail WHERE ticket_id = $1 AND direction = 'in' ORDER BY ts_ms DESC LIMIT 1",
    )
    .bind(t.id)
    .fetch_optional(&mut **tx)
    .await?;
    // Stored bare (no angle brackets), written in brackets.
    let message_id = format!("mast.ticket.{}.{}@{}", t.id, event_id, desk.mail_domain);
    let mut headers = std::collections::BTreeMap::new();
    headers.insert("Message-ID".to_string(), format!("<{message_id}>"));
    if let Some(m) = last_in {
        headers.insert("In-Reply-To".to_string(), format!("<{m}>"));
        headers.insert("References".to_string(), format!("<{m}>"));
    }
    let subject = t.subject.trim_start_matches("Re: ");
    let m = notify::Message {
        dedup: format!("ticket:{}:reply:{event_id}", t.id),
        channel: Channel::Email,
        recipient: to,
        subject: format!("Re: {subject} {}", token(t.id)),
        body: format!("{body}\n\n-- \nReply to this email to add to ticket #{}.\n", t.id),
        headers,
        customer_id: t.customer_id,
        ticket_id: Some(t.id),
    };
    let queued = notify::enqueue(tx, &m).await?;
    sqlx::query(
        "INSERT INTO ticket_mail (message_id, ticket_id, direction, ts_ms) VALUES ($1, $2, 'out', $3) \
         ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(&message_id)
    .bind(t.id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(queued)
}

/// Opens a ticket. Errors name the field: `subject`, `body`, `priority`,
/// `category`, `source`, `customer_id`.
pub async fn create(db: &Db, t: &NewTicket, author: &str) -> Result<Ticket, StoreError> {
    check_line("subject", &t.subject, MAX_SUBJECT)?;
    let subject = t.subject.trim();
    if subject.is_empty() {
        return Err(StoreError::invalid("subject", "give a subject (1-200 characters)"));
    }
    check_text("body", &t.body, MAX_BODY)?;
    let priority = pick(&t.priority, Priority::Normal, Priority::parse)?;
    let category = pick(&t.category, Category::Connectivity, Category::parse)?;
    let source = pick(&t.source, Source::Staff, Source::parse)?;
    if source == Source::Outage {
        return Err(StoreError::invalid("source", "outage tickets are opened by incidents"));
    }
    if let Some(c) = t.customer_id
        && crate::customers::get(db, c).await?.is_none()
    {
        return Err(StoreError::invalid("customer_id", format!("no customer {c}")));
    }
    let now = now_ms();
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tickets (subject, customer_id, status, priority, category, source, created_ms, updated_ms, \
         requester_email) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id",
    )
    .bind(subject)
    .bind(t.customer_id)
    .bind(TicketStatus::Open)
    .bind(priority)
    .bind(category)
    .bind(source)
    .bind(now)
    .bind(&t.requester_email)
    .fetch_one(&mut *tx)
    .await?;
    let body = t.body.trim();
    if !body.is_empty() {
        event(&mut tx, id, author, EventKind::Customer, body).await?;
    }
    tx.commit().await?;
    get(db, id).await?.ok_or_else(|| StoreError::Corrupt("ticket vanished".into()))
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Ticket>, StoreError> {
    let sql = format!("SELECT {COLS} WHERE t.id = $1");
    Ok(sqlx::query_as::<_, Ticket>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?)
}

pub async fn events(db: &Db, id: i64) -> Result<Vec<Event>, StoreError> {
    Ok(sqlx::query_as::<_, Event>(
        "SELECT ts_ms, author, kind, body FROM ticket_events WHERE ticket_id = $1 ORDER BY ts_ms, id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?)
}

/// Affected customers of an outage ticket: (id, name).
pub async fn affected(db: &Db, id: i64) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT c.id, c.name FROM ticket_customers x JOIN customers c ON c.id = x.customer_id WHERE x.ticket_id = $1 ORDER BY c.name",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?)
}

/// The statuses of active tickets, as SQL.
const ACTIVE: &str = "('open', 'in-progress', 'waiting')";

/// Active tickets (open, in progress, waiting) or all; newest first.
pub async fn list(db: &Db, active_only: bool, limit: i64, offset: i64) -> Result<Vec<Ticket>, StoreError> {
    let filter = if active_only { format!("WHERE t.status IN {ACTIVE}") } else { String::new() };
    let sql = format!("SELECT {COLS} {filter} ORDER BY t.updated_ms DESC, t.id DESC LIMIT $1 OFFSET $2");
    Ok(sqlx::query_as::<_, Ticket>(sqlx::AssertSqlSafe(sql)).bind(limit).bind(offset).fetch_all(&db.pool).await?)
}

/// How many tickets [`list`] pages through.
pub async fn count(db: &Db, active_only: bool) -> Result<i64, StoreError> {
    let filter = if active_only { format!("WHERE status IN {ACTIVE}") } else { String::new() };
    let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM tickets {filter}");
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&db.pool).await?)
}

/// A customer's tickets: their own and the outage tickets that affected them.
pub async fn for_customer(db: &Db, customer_id: i64) -> Result<Vec<Ticket>, StoreError> {
    let sql = format!(
        "SELECT {COLS} WHERE t.customer_id = $1 OR t.id IN (SELECT ticket_id FROM ticket_customers WHERE customer_id = $1) \
         ORDER BY t.created_ms DESC LIMIT 200"
    );
    Ok(sqlx::query_as::<_, Ticket>(sqlx::AssertSqlSafe(sql)).bind(customer_id).fetch_all(&db.pool).await?)
}

pub async fn count_active(db: &Db) -> Result<i64, StoreError> {
    count(db, true).await
}

fn state_of(t: &Ticket) -> State {
    State {
        status: t.status,
        first_response_ms: t.first_response_ms,
        resolved_ms: t.resolved_ms,
        closed_ms: t.closed_ms,
    }
}

/// Applies an action with an optional text (a reply, a note; field
/// `body`). A refused transition is an `Invalid` error naming no field
/// (the state is the problem, not an input); a concurrent change makes the
/// update miss and is a `Conflict`.
pub async fn act(
    db: &Db,
    desk: &Desk,
    id: i64,
    action: Action,
    body: &str,
    author: &str,
) -> Result<Ticket, StoreError> {
    check_text("body", body, MAX_BODY)?;
    let t = get(db, id).await?.ok_or_else(|| StoreError::NotFound(format!("no ticket {id}")))?;
    let body = body.trim();
    if matches!(action, Action::StaffReply | Action::Note | Action::CustomerReply) && body.is_empty() {
        return Err(StoreError::invalid("body", "write something"));
    }
    let now = now_ms();
    let next = lifecycle::apply(state_of(&t), action, now).map_err(|e| StoreError::invalid("", e.to_string()))?;
    let mut tx = db.begin().await?;
    let n = sqlx::query(
        "UPDATE tickets SET status = $1, first_response_ms = $2, resolved_ms = $3, closed_ms = $4, updated_ms = $5 \
         WHERE id = $6 AND status = $7",
    )
    .bind(TicketStatus::from(next.status))
    .bind(next.first_response_ms)
    .bind(next.resolved_ms)
    .bind(next.closed_ms)
    .bind(now)
    .bind(id)
    .bind(TicketStatus::from(t.status))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::Conflict("the ticket changed meanwhile; reload it".into()));
    }
    let kind = match action {
        Action::StaffReply => EventKind::Public,
        Action::Note => EventKind::Internal,
        Action::CustomerReply => EventKind::Customer,
        _ => EventKind::Status,
    };
    let text = if kind == EventKind::Status {
        let mut s = format!("{} → {}", t.status.as_str(), next.status.as_str());
        if !body.is_empty() {
            s.push_str(": ");
            s.push_str(body);
        }
        s
    } else {
        body.to_string()
    };
    let event_id = event(&mut tx, id, author, kind, &text).await?;
    // The SLA clocks stop while the ticket waits on the customer.
    if next.status == Status::Waiting && t.status != Status::Waiting {
        sqlx::query("INSERT INTO ticket_pauses (ticket_id, from_ms, reason) VALUES ($1, $2, 'waiting')")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    } else if t.status == Status::Waiting && next.status != Status::Waiting {
        sqlx::query("UPDATE ticket_pauses SET to_ms = $1 WHERE ticket_id = $2 AND to_ms IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if action == Action::StaffReply {
        mail_reply(&mut tx, desk, &t, event_id, body).await?;
    }
    tx.commit().await?;
    get(db, id).await?.ok_or_else(|| StoreError::Corrupt("ticket vanished".into()))
}

/// Assigns to a staff group (by id) or to none; an unknown group is
/// `Invalid` naming the form field `group`.
pub async fn assign_group(db: &Db, id: i64, group: Option<i64>, author: &str) -> Result<Ticket, StoreError> {
    let name = match group {
        None => "no group".to_string(),
        Some(g) => groups::get(db, g).await?.ok_or_else(|| StoreError::invalid("group", format!("no group {g}")))?.name,
    };
    set_owner(db, id, Owner::Group(group), &format!("group {name}"), author).await
}

/// Who a ticket is assigned to: a person or a group (each optional).
enum Owner {
    User(Option<i64>),
    Group(Option<i64>),
}

/// Sets the assignee or the group and records it on the timeline.
async fn set_owner(db: &Db, id: i64, owner: Owner, what: &str, author: &str) -> Result<Ticket, StoreError> {
    let (sql, value) = match owner {
        Owner::User(u) => ("UPDATE tickets SET assignee_id = $1, updated_ms = $2 WHERE id = $3", u),
        Owner::Group(g) => ("UPDATE tickets SET group_id = $1, updated_ms = $2 WHERE id = $3", g),
    };
    let mut tx = db.begin().await?;
    let n = sqlx::query(sql).bind(value).bind(now_ms()).bind(id).execute(&mut *tx).await?.rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("no ticket {id}")));
    }
    event(&mut tx, id, author, EventKind::Assign, what).await?;
    tx.commit().await?;
    get(db, id).await?.ok_or_else(|| StoreError::Corrupt("ticket vanished".into()))
}

/// Waiting-on-customer pauses of a ticket: (from, to; open = i64::MAX).
pub(crate) async fn pauses(db: &Db, id: i64) -> Result<Vec<(i64, i64)>, StoreError> {
    let rows: Vec<(i64, Option<i64>)> =
        sqlx::query_as("SELECT from_ms, to_ms FROM ticket_pauses WHERE ticket_id = $1 ORDER BY from_ms")
            .bind(id)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.into_iter().map(|(from, to)| (from, to.unwrap_or(i64::MAX))).collect())
}

/// Assigns to a staff member (by id) or to nobody; an unknown or disabled
/// user is `Invalid` naming the form field `user`.
pub async fn assign(db: &Db, id: i64, user_id: Option<i64>, author: &str) -> Result<Ticket, StoreError> {
    let who = match user_id {
        None => "nobody".to_string(),
        Some(u) => sqlx::query_scalar::<_, String>("SELECT email FROM users WHERE id = $1 AND disabled_ms IS NULL")
            .bind(u)
            .fetch_optional(&db.pool)
            .await?
            .ok_or_else(|| StoreError::invalid("user", format!("no active user {u}")))?,
    };
    set_owner(db, id, Owner::User(user_id), &format!("assigned to {who}"), author).await
}

/// The ticket an incident opened, if any.
pub async fn of_incident(db: &Db, incident_id: i64) -> Result<Option<i64>, StoreError> {
    let r: Option<(i64,)> = sqlx::query_as("SELECT id FROM tickets WHERE incident_id = $1")
        .bind(incident_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(r.map(|(id,)| id))
}

// --- outage tickets (called inside the incident transaction) ----------------

async fn customers_of_incident(tx: &mut Tx<'_>, incident_id: i64) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT cd.customer_id FROM incident_devices x JOIN devices d ON d.id = x.device_id \
         JOIN customer_devices cd ON cd.mac = d.mac WHERE x.incident_id = $1 ORDER BY cd.customer_id",
    )
    .bind(incident_id)
    .fetch_all(&mut **tx)
    .await?)
}

async fn ticket_of_incident(tx: &mut Tx<'_>, incident_id: i64) -> Result<Option<(i64, Status)>, StoreError> {
    let r: Option<(i64, TicketStatus)> = sqlx::query_as("SELECT id, status FROM tickets WHERE incident_id = $1")
        .bind(incident_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(r.map(|(id, s)| (id, s.into())))
}

/// Brings the incident's ticket's affected customers up to date; returns
/// how many there are now.
async fn sync_customers(tx: &mut Tx<'_>, ticket: i64, incident_id: i64) -> Result<usize, StoreError> {
    let now: Vec<i64> = customers_of_incident(tx, incident_id).await?;
    sqlx::query("DELETE FROM ticket_customers WHERE ticket_id = $1").bind(ticket).execute(&mut **tx).await?;
    for c in &now {
        sqlx::query("INSERT INTO ticket_customers (ticket_id, customer_id) VALUES ($1, $2)")
            .bind(ticket)
            .bind(c)
            .execute(&mut **tx)
            .await?;
    }
    Ok(now.len())
}

/// An incident opened (or was reopened): its one ticket exists, is open,
/// and lists the affected customers. Idempotent.
pub async fn outage_opened(tx: &mut Tx<'_>, incident_id: i64, subject: &str) -> Result<i64, StoreError> {
    let now = now_ms();
    let ticket = match ticket_of_incident(tx, incident_id).await? {
        Some((t, status)) => {
            if !status.is_active() {
                sqlx::query(
                    "UPDATE tickets SET status = $1, resolved_ms = NULL, closed_ms = NULL, updated_ms = $2 WHERE id = $3",
                )
                .bind(TicketStatus::Open)
                .bind(now)
                .bind(t)
                .execute(&mut **tx)
                .await?;
                event(tx, t, "mast", EventKind::System, "The outage is back (flapping): reopened.").await?;
            }
            t
        }
        None => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO tickets (subject, status, priority, category, source, incident_id, created_ms, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
            )
            .bind(subject)
            .bind(TicketStatus::Open)
            .bind(Priority::High)
            .bind(Category::Outage)
            .bind(Source::Outage)
            .bind(incident_id)
            .bind(now)
            .fetch_one(&mut **tx)
            .await?;
            let text = format!("Opened automatically for incident #{incident_id}: {subject}.");
            event(tx, id, "mast", EventKind::System, &text).await?;
            id
        }
    };
    sync_customers(tx, ticket, incident_id).await?;
    Ok(ticket)
}

/// The incident's devices changed: refresh the affected customers.
pub async fn outage_updated(tx: &mut Tx<'_>, incident_id: i64) -> Result<Option<i64>, StoreError> {
    let ticket = ticket_of_incident(tx, incident_id).await?;
    if let Some((t, _)) = ticket {
        let n = sync_customers(tx, t, incident_id).await?;
        sqlx::query("UPDATE tickets SET updated_ms = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(t)
            .execute(&mut **tx)
            .await?;
        event(tx, t, "mast", EventKind::System, &format!("Affected customers now: {n}.")).await?;
    }
    Ok(ticket.map(|t| t.0))
}

/// Service returned (or the incident merged into another): resolve the
/// ticket with the reason. Idempotent.
pub async fn outage_resolved(tx: &mut Tx<'_>, incident_id: i64, why: &str) -> Result<Option<i64>, StoreError> {
    let ticket = ticket_of_incident(tx, incident_id).await?;
    if let Some((t, status)) = ticket
        && status.is_active()
    {
        let now = now_ms();
        sqlx::query("UPDATE tickets SET status = $1, resolved_ms = $2, updated_ms = $2 WHERE id = $3")
            .bind(TicketStatus::Resolved)
            .bind(now)
            .bind(t)
            .execute(&mut **tx)
            .await?;
        event(tx, t, "mast", EventKind::System, why).await?;
    }
    Ok(ticket.map(|t| t.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn staff_ticket_lifecycle_on_a_real_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        let cu = crate::customers::create(
            &db,
            &crate::customers::CustomerInput { name: "Ada".into(), ..Default::default() },
        )
        .await
        .unwrap();
        let new = NewTicket {
            subject: "Slow in the evening".into(),
            customer_id: Some(cu.id),
            source: Some("phone".into()),
            body: "Netflix buffers after 8 pm".into(),
            ..Default::default()
        };
        let t = create(&db, &new, "noc@x").await.unwrap();
        assert_eq!((t.status, t.priority.as_str(), t.source.as_str()), (Status::Open, "normal", "phone"));
        assert_eq!(t.category, Category::Connectivity);
        assert!(
            act(&db, &Desk::default(), t.id, Action::StaffReply, "  ", "noc@x").await.is_err(),
            "an empty reply is refused"
        );
        let t = act(&db, &Desk::default(), t.id, Action::StaffReply, "Checking your radio's signal", "noc@x")
            .await
            .unwrap();
        assert_eq!(t.status, Status::InProgress);
        assert!(t.first_response_ms.is_some());
        let e = act(&db, &Desk::default(), t.id, Action::Close, "", "noc@x").await.unwrap_err().to_string();
        assert!(e.contains("in-progress ticket cannot be closed"), "{e}");
        let t = act(&db, &Desk::default(), t.id, Action::Resolve, "Realigned the CPE", "tech@x").await.unwrap();
        assert_eq!(t.status, Status::Resolved);
        let ev = events(&db, t.id).await.unwrap();
        let kinds: Vec<&str> = ev.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["customer", "public", "status"]);
        assert_eq!(for_customer(&db, cu.id).await.unwrap().len(), 1);
        assert_eq!(count_active(&db).await.unwrap(), 0);
        assert_eq!(pauses(&db, t.id).await.unwrap(), vec![], "never waited");
        for (bad, field) in [
            (NewTicket { subject: " ".into(), ..Default::default() }, "subject"),
            (NewTicket { subject: "x".into(), priority: Some("panic".into()), ..Default::default() }, "priority"),
            (NewTicket { subject: "x".into(), category: Some("weather".into()), ..Default::default() }, "category"),
            (NewTicket { subject: "x".into(), source: Some("outage".into()), ..Default::default() }, "source"),
            (NewTicket { subject: "x".into(), customer_id: Some(999), ..Default::default() }, "customer_id"),
            (NewTicket { subject: "a\0b".into(), ..Default::default() }, "subject"),
            (NewTicket { subject: "two\nlines".into(), ..Default::default() }, "subject"),
            (NewTicket { subject: "s".repeat(201), ..Default::default() }, "subject"),
            (NewTicket { subject: "x".into(), body: "nul \0 here".into(), ..Default::default() }, "body"),
            (NewTicket { subject: "x".into(), body: "b".repeat(20_001), ..Default::default() }, "body"),
        ] {
            let e = create(&db, &bad, "noc@x").await.unwrap_err();
            assert!(matches!(e, StoreError::Invalid { .. }), "{bad:?}: {e:?}");
            assert_eq!(e.field(), Some(field), "{bad:?}: {e}");
        }
        let e = act(&db, &Desk::default(), t.id, Action::Note, "a\0b", "noc@x").await.unwrap_err();
        assert_eq!(e.field(), Some("body"), "a NUL in a note is a 400, not a database error");
        assert!(matches!(
            act(&db, &Desk::default(), 999, Action::Note, "x", "noc@x").await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(assign(&db, t.id, Some(999), "noc@x").await.unwrap_err().field(), Some("user"));
        assert!(matches!(assign(&db, 999, None, "noc@x").await, Err(StoreError::NotFound(_))));
        assert_eq!(count(&db, false).await.unwrap(), 1);
        assert_eq!(count(&db, true).await.unwrap(), 0);
    }

    #[test]
    fn enums_are_closed_sets_and_the_status_mirror_matches_the_lifecycle() {
        for s in Status::ALL {
            let stored = TicketStatus::from(s);
            assert_eq!(stored.as_str(), s.as_str());
            assert_eq!(Status::from(stored), s);
        }
        assert_eq!(TicketStatus::ALL.len(), Status::ALL.len());
        let texts = |all: &[&'static str]| all.join(",");
        assert_eq!(texts(&Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>()), "low,normal,high,urgent");
        assert_eq!(
            texts(&Category::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>()),
            "connectivity,outage,billing,installation,equipment,other"
        );
        assert_eq!(
            texts(&Source::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>()),
            "staff,phone,email,portal,outage"
        );
        assert_eq!(Priority::parse("panic").unwrap_err().field(), Some("priority"));
        assert_eq!(Category::parse("x").unwrap_err().field(), Some("category"));
        assert_eq!(Source::parse("x").unwrap_err().field(), Some("source"));
        assert_eq!(EventKind::parse("x").unwrap_err().field(), Some("kind"));
        assert_eq!(serde_json::to_value(Status::from(TicketStatus::InProgress)).unwrap(), "in-progress");
    }

    #[tokio::test]
    async fn corrupt_stored_values_are_corrupt_not_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        let t = create(&db, &NewTicket { subject: "x".into(), body: "y".into(), ..Default::default() }, "noc")
            .await
            .unwrap();
        sqlx::query("UPDATE tickets SET status = 'limbo' WHERE id = $1").bind(t.id).execute(&db.pool).await.unwrap();
        assert!(matches!(get(&db, t.id).await, Err(StoreError::Corrupt(_))));
        assert!(matches!(list(&db, false, 10, 0).await, Err(StoreError::Corrupt(_))));
        let e = act(&db, &Desk::default(), t.id, Action::Start, "", "noc").await.unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
        sqlx::query("UPDATE tickets SET status = 'open', priority = 'meh' WHERE id = $1")
            .bind(t.id)
            .execute(&db.pool)
            .await
            .unwrap();
        assert!(matches!(get(&db, t.id).await, Err(StoreError::Corrupt(_))));
        sqlx::query("UPDATE tickets SET priority = 'low' WHERE id = $1").bind(t.id).execute(&db.pool).await.unwrap();
        assert_eq!(get(&db, t.id).await.unwrap().unwrap().priority, Priority::Low);
        sqlx::query("UPDATE ticket_events SET kind = 'gossip'").execute(&db.pool).await.unwrap();
        assert!(matches!(events(&db, t.id).await, Err(StoreError::Corrupt(_))));
    }

    #[tokio::test]
    async fn replies_are_mailed_threaded_waiting_pauses_and_groups() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        let cu = crate::customers::create(
            &db,
            &crate::customers::CustomerInput {
                name: "Ada".into(),
                email: Some("ada@example.org".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let desk = Desk {
            notify: Channels { email: true, webhook: false, staff_webhook: false },
            mail_domain: "isp.example".into(),
        };
        let t = create(
            &db,
            &NewTicket { subject: "No internet".into(), customer_id: Some(cu.id), ..Default::default() },
            "x",
        )
        .await
        .unwrap();
        // The customer's mail that opened the thread.
        sqlx::query("INSERT INTO ticket_mail (message_id, ticket_id, direction, ts_ms) VALUES ('abc@mail.example', $1, 'in', 1)")
            .bind(t.id)
            .execute(&db.pool)
            .await
            .unwrap();
        act(&db, &desk, t.id, Action::Note, "internal only", "noc@x").await.unwrap();
        act(&db, &desk, t.id, Action::StaffReply, "Please power-cycle the radio", "noc@x").await.unwrap();
        let out = notify::recent(&db, false, 10).await.unwrap();
        assert_eq!(out.len(), 1, "a note is never mailed; the reply is");
        let m = &out[0];
        assert_eq!(m.recipient, "ada@example.org");
        assert_eq!(m.subject, format!("Re: No internet [#T-{}]", t.id));
        assert_eq!(m.headers.get("In-Reply-To").map(String::as_str), Some("<abc@mail.example>"));
        let mid = m.headers.get("Message-ID").unwrap();
        assert!(mid.starts_with(&format!("<mast.ticket.{}.", t.id)) && mid.ends_with("@isp.example>"), "{mid}");
        assert!(m.body.starts_with("Please power-cycle the radio"));
        // Waiting on the customer pauses the clocks until they answer.
        act(&db, &desk, t.id, Action::WaitForCustomer, "", "noc@x").await.unwrap();
        let p = pauses(&db, t.id).await.unwrap();
        assert_eq!((p.len(), p[0].1), (1, i64::MAX), "an open pause");
        act(&db, &desk, t.id, Action::CustomerReply, "done, still down", "ada").await.unwrap();
        let p = pauses(&db, t.id).await.unwrap();
        assert!(p[0].1 >= p[0].0 && p[0].1 != i64::MAX, "closed when the customer replied: {p:?}");
        // Groups.
        let g = groups::create(&db, "NOC", Some("noc@isp.example")).await.unwrap();
        assert!(groups::create(&db, "NOC", None).await.is_err(), "names are unique");
        let t = assign_group(&db, t.id, Some(g.id), "lead@x").await.unwrap();
        assert_eq!(t.group.as_deref(), Some("NOC"));
        assert!(assign_group(&db, t.id, Some(999), "lead@x").await.is_err());
        assert_eq!(assign_group(&db, t.id, Some(999), "lead@x").await.unwrap_err().field(), Some("group"));
        // Without an email transport nothing is queued.
        act(&db, &Desk::default(), t.id, Action::StaffReply, "again", "noc@x").await.unwrap();
        assert_eq!(notify::recent(&db, false, 10).await.unwrap().len(), 1);
    }
}
