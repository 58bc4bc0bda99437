//! The customer portal's accounts: logins, sessions and magic links. Owns
//! `portal_logins`, `portal_sessions` and `portal_magic_links`. Pages are in
//! `web::portal`.
//!
//! A customer gets a login when staff invite them (their email address is the
//! login) or set a password for them. They sign in with the password or with
//! an emailed **magic link**: single use, valid 15 minutes, consumed by a
//! POST from a confirmation page (mail scanners that prefetch links do not
//! use it up). Only SHA-256 hashes of session ids and link tokens are
//! stored; passwords are argon2id like staff passwords. Sessions follow the
//! staff session policy (idle and absolute timeouts) and carry their own
//! CSRF token.

use crate::customers::check_line;
use crate::db::{Db, StoreError, now_ms};
use crate::fleet::{hash_secret, random_secret};
use crate::staff::{SessionCheck, SessionPolicy, check_password_policy};
use mast_text_core::input::MAX_EMAIL;

/// How long a magic link works.
const MAGIC_LINK_MS: i64 = 15 * 60 * 1000;

/// A signed-in customer.
#[derive(Debug, Clone)]
pub struct PortalSession {
    pub customer_id: i64,
    /// The customer's name (for the page header).
    pub name: String,
    pub csrf: String,
}

/// A session as stored, with what the policy needs.
#[derive(sqlx::FromRow)]
struct SessionRow {
    id_hash: String,
    customer_id: i64,
    name: Option<String>,
    csrf_token: String,
    created_ms: i64,
    last_seen_ms: i64,
    disabled_ms: Option<i64>,
}

fn normalise(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

/// Gives a customer a login (their email address); returns it. Idempotent.
pub async fn enable(db: &Db, customer_id: i64) -> Result<String, StoreError> {
    let c = crate::customers::get(db, customer_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no customer {customer_id}")))?;
    let email = c
        .email
        .as_deref()
        .map(normalise)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| StoreError::invalid("email", "the customer has no email address to sign in with"))?;
    let now = now_ms();
    let clash: Option<i64> =
        sqlx::query_scalar("SELECT customer_id FROM portal_logins WHERE email = $1 AND customer_id <> $2")
            .bind(&email)
            .bind(customer_id)
            .fetch_optional(&db.pool)
            .await?;
    if clash.is_some() {
        return Err(StoreError::Conflict(format!("another customer already signs in as {email}")));
    }
    sqlx::query(
        "INSERT INTO portal_logins (customer_id, email, created_ms, updated_ms) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (customer_id) DO UPDATE SET email = excluded.email, disabled_ms = NULL, updated_ms = excluded.updated_ms",
    )
    .bind(customer_id)
    .bind(&email)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(email)
}

/// Changes the customer's own password: when one is set, `current` must
/// match it (`Invalid` naming `current_password` otherwise); then as
/// [`set_password`].
pub async fn change_password(db: &Db, customer_id: i64, current: &str, password: &str) -> Result<(), StoreError> {
    let stored: Option<Option<String>> =
        sqlx::query_scalar("SELECT password_hash FROM portal_logins WHERE customer_id = $1 AND disabled_ms IS NULL")
            .bind(customer_id)
            .fetch_optional(&db.pool)
            .await?;
    let Some(stored) = stored else {
        return Err(StoreError::NotFound(format!("customer {customer_id} has no portal login")));
    };
    if let Some(hash) = stored
        && !crate::password::verify(current, Some(hash)).await
    {
        return Err(StoreError::invalid("current_password", "is not your current password"));
    }
    set_password(db, customer_id, password).await
}

/// Whether the customer has a password (else they signed in with a link).
pub async fn has_password(db: &Db, customer_id: i64) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM portal_logins WHERE customer_id = $1 AND password_hash IS NOT NULL",
    )
    .bind(customer_id)
    .fetch_one(&db.pool)
    .await?;
    Ok(n > 0)
}

/// Sets (or replaces) the password; ends the customer's other sessions.
/// A password that breaks the policy is `Invalid` naming `password`.
pub async fn set_password(db: &Db, customer_id: i64, password: &str) -> Result<(), StoreError> {
    check_password_policy(password).map_err(|e| match e {
        StoreError::Invalid { reason, .. } => StoreError::invalid("password", reason),
        e => e,
    })?;
    let hash = crate::password::hash(password).await?;
    let n = sqlx::query("UPDATE portal_logins SET password_hash = $1, updated_ms = $2 WHERE customer_id = $3")
        .bind(hash)
        .bind(now_ms())
        .bind(customer_id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("customer {customer_id} has no portal login yet")));
    }
    sqlx::query("DELETE FROM portal_sessions WHERE customer_id = $1").bind(customer_id).execute(&db.pool).await?;
    Ok(())
}

/// The customer whose login and password these are (constant work either
/// way). An address with control characters is `Invalid` (field `email`).
pub async fn authenticate(db: &Db, email: &str, password: &str) -> Result<Option<i64>, StoreError> {
    check_line("email", email, MAX_EMAIL)?;
    let r: Option<(i64, Option<String>)> =
        sqlx::query_as("SELECT customer_id, password_hash FROM portal_logins WHERE email = $1 AND disabled_ms IS NULL")
            .bind(normalise(email))
            .fetch_optional(&db.pool)
            .await?;
    let (id, hash) = match r {
        Some((id, hash)) => (Some(id), hash),
        None => (None, None),
    };
    let ok = crate::password::verify(password, hash).await;
    Ok(id.filter(|_| ok))
}

pub async fn has_login(db: &Db, customer_id: i64) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT email FROM portal_logins WHERE customer_id = $1 AND disabled_ms IS NULL")
        .bind(customer_id)
        .fetch_optional(&db.pool)
        .await?)
}

/// A new session; returns (cookie value, CSRF token).
pub async fn create_session(db: &Db, customer_id: i64) -> Result<(String, String), StoreError> {
    let id = random_secret("");
    let csrf = random_secret("");
    sqlx::query(
        "INSERT INTO portal_sessions (id_hash, customer_id, csrf_token, created_ms, last_seen_ms) VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(hash_secret(&id))
    .bind(customer_id)
    .bind(&csrf)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok((id, csrf))
}

pub async fn session(db: &Db, cookie: &str, policy: SessionPolicy) -> Result<Option<PortalSession>, StoreError> {
    let now = now_ms();
    let r = sqlx::query_as::<_, SessionRow>(
        "SELECT s.id_hash, s.customer_id, c.name, s.csrf_token, s.created_ms, s.last_seen_ms, l.disabled_ms \
         FROM portal_sessions s LEFT JOIN portal_logins l ON l.customer_id = s.customer_id \
         LEFT JOIN customers c ON c.id = s.customer_id WHERE s.id_hash = $1",
    )
    .bind(hash_secret(cookie))
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = r else { return Ok(None) };
    let id_hash = &r.id_hash;
    match policy.check(r.created_ms, r.last_seen_ms, now, r.disabled_ms.is_some()) {
        SessionCheck::Expired => {
            sqlx::query("DELETE FROM portal_sessions WHERE id_hash = $1").bind(id_hash).execute(&db.pool).await?;
            return Ok(None);
        }
        SessionCheck::Touch => {
            sqlx::query("UPDATE portal_sessions SET last_seen_ms = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(id_hash)
                .execute(&db.pool)
                .await?;
        }
        SessionCheck::Fresh => {}
    }
    let name = r.name.unwrap_or_else(|| format!("customer {}", r.customer_id));
    Ok(Some(PortalSession { customer_id: r.customer_id, name, csrf: r.csrf_token }))
}

pub async fn end_session(db: &Db, cookie: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM portal_sessions WHERE id_hash = $1").bind(hash_secret(cookie)).execute(&db.pool).await?;
    Ok(())
}

/// For a known login, a fresh magic-link token (returned once, stored
/// hashed) and the customer; `None` for an unknown address. An address
/// with control characters is `Invalid` (field `email`).
pub async fn issue_magic_link(db: &Db, email: &str) -> Result<Option<(i64, String)>, StoreError> {
    check_line("email", email, MAX_EMAIL)?;
    let customer: Option<i64> =
        sqlx::query_scalar("SELECT customer_id FROM portal_logins WHERE email = $1 AND disabled_ms IS NULL")
            .bind(normalise(email))
            .fetch_optional(&db.pool)
            .await?;
    let Some(customer) = customer else { return Ok(None) };
    let token = random_secret("");
    let now = now_ms();
    let mut tx = db.begin().await?;
    // Touching the login first locks it (a row lock on PostgreSQL; SQLite
    // serializes writers anyway): concurrent requests for one account take
    // turns, so each sees the link the previous one made.
    sqlx::query("UPDATE portal_logins SET updated_ms = $1 WHERE customer_id = $2")
        .bind(now)
        .bind(customer)
        .execute(&mut *tx)
        .await?;
    // One live link per account: a new one retires the older ones.
    sqlx::query("UPDATE portal_magic_links SET used_ms = $1 WHERE customer_id = $2 AND used_ms IS NULL")
        .bind(now)
        .bind(customer)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO portal_magic_links (token_hash, customer_id, created_ms, expires_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(hash_secret(&token))
    .bind(customer)
    .bind(now)
    .bind(now + MAGIC_LINK_MS)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some((customer, token)))
}

/// Consumes a magic link: the customer, if it is known, unused and fresh.
pub async fn use_magic_link(db: &Db, token: &str) -> Result<Option<i64>, StoreError> {
    let now = now_ms();
    let n = sqlx::query(
        "UPDATE portal_magic_links SET used_ms = $1 WHERE token_hash = $2 AND used_ms IS NULL AND expires_ms > $1",
    )
    .bind(now)
    .bind(hash_secret(token))
    .execute(&db.pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Ok(None);
    }
    Ok(sqlx::query_scalar("SELECT customer_id FROM portal_magic_links WHERE token_hash = $1")
        .bind(hash_secret(token))
        .fetch_optional(&db.pool)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn logins_passwords_sessions_and_single_use_links() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/p.db", dir.path().display())).await.unwrap();
        let input = |name: &str, email: Option<&str>| crate::customers::CustomerInput {
            name: name.into(),
            email: email.map(String::from),
            ..Default::default()
        };
        let ada = crate::customers::create(&db, &input("Ada", Some("Ada@Example.org"))).await.unwrap();
        let bob = crate::customers::create(&db, &input("Bob", None)).await.unwrap();
        assert_eq!(enable(&db, bob.id).await.unwrap_err().field(), Some("email"), "no email, no login");
        assert!(matches!(enable(&db, 999).await, Err(StoreError::NotFound(_))));
        assert_eq!(enable(&db, ada.id).await.unwrap(), "ada@example.org");
        assert_eq!(authenticate(&db, "ada@example.org", "").await.unwrap(), None, "no password set yet");
        assert_eq!(set_password(&db, ada.id, "short").await.unwrap_err().field(), Some("password"));
        assert!(matches!(set_password(&db, bob.id, "a long enough passphrase").await, Err(StoreError::NotFound(_))));
        set_password(&db, ada.id, "a long enough passphrase").await.unwrap();
        assert_eq!(authenticate(&db, " ADA@example.org ", "a long enough passphrase").await.unwrap(), Some(ada.id));
        assert_eq!(authenticate(&db, "ada@example.org", "wrong passphrase!!").await.unwrap(), None);
        let policy = SessionPolicy { idle_ms: 60_000, absolute_ms: 3_600_000 };
        let (sid, csrf) = create_session(&db, ada.id).await.unwrap();
        let s = session(&db, &sid, policy).await.unwrap().unwrap();
        assert_eq!((s.customer_id, s.name.as_str(), s.csrf), (ada.id, "Ada", csrf));
        assert_eq!(authenticate(&db, "ada\0@example.org", "x").await.unwrap_err().field(), Some("email"));
        assert_eq!(issue_magic_link(&db, "ada@example.org\0").await.unwrap_err().field(), Some("email"));
        assert!(session(&db, "forged", policy).await.unwrap().is_none());
        assert_eq!(issue_magic_link(&db, "nobody@example.org").await.unwrap(), None);
        let (c, token) = issue_magic_link(&db, "ada@example.org").await.unwrap().unwrap();
        assert_eq!(c, ada.id);
        assert_eq!(use_magic_link(&db, &token).await.unwrap(), Some(ada.id));
        assert_eq!(use_magic_link(&db, &token).await.unwrap(), None, "single use");
        let (_, old) = issue_magic_link(&db, "ada@example.org").await.unwrap().unwrap();
        sqlx::query("UPDATE portal_magic_links SET expires_ms = 0").execute(&db.pool).await.unwrap();
        assert_eq!(use_magic_link(&db, &old).await.unwrap(), None, "expired");
        set_password(&db, ada.id, "another long passphrase").await.unwrap();
        assert!(session(&db, &sid, policy).await.unwrap().is_none(), "a new password ends sessions");
    }
}
