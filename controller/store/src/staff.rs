//! Staff accounts and their browser sessions. Owns tables `users`, `sessions`.
//!
//! Invariants: passwords are stored only as argon2id hashes (OWASP minimum:
//! 19 MiB, 2 passes, 1 lane); a session is stored only as the SHA-256 of its
//! cookie value, gets a fresh id at every login, and dies at logout, at its
//! idle or absolute timeout, and when its user is disabled.

use crate::db::{Db, StoreError, now_ms};
use crate::error::check_email;
use crate::fleet::{hash_secret, random_secret};
use serde::Serialize;

crate::text_enum! {
    /// The staff roles; least to most trusted is not implied: each sees its own part.
    pub enum Role (field "role") {
        Admin = "admin",
        Billing = "billing",
        Support = "support",
        Technician = "technician",
        ReadOnly = "read-only",
    }
}

pub(crate) fn check_password_policy(p: &str) -> Result<(), StoreError> {
    if p.chars().count() < 10 {
        return Err(StoreError::invalid("password", "must have at least 10 characters"));
    }
    if p.len() > 1024 {
        return Err(StoreError::invalid("password", "is too long (at most 1024 bytes)"));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub disabled: bool,
    pub created_ms: i64,
}

/// A `users` row as stored.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    email: String,
    role: Role,
    disabled_ms: Option<i64>,
    created_ms: i64,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> User {
        User { id: r.id, email: r.email, role: r.role, disabled: r.disabled_ms.is_some(), created_ms: r.created_ms }
    }
}

const USER_COLS: &str = "SELECT id, email, role, disabled_ms, created_ms FROM users";

/// Adds a staff user; a taken email is a [`StoreError::Conflict`].
pub async fn add_user(db: &Db, email: &str, role: Role, password: &str) -> Result<User, StoreError> {
    let email = email.trim().to_ascii_lowercase();
    check_email(&email)?;
    check_password_policy(password)?;
    let hash = crate::password::hash(password).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (email, role, password_hash, created_ms) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(&email)
    .bind(role)
    .bind(hash)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(format!("user {email} already exists"))
        }
        e => e.into(),
    })?;
    user(db, id).await?.ok_or_else(|| StoreError::Corrupt(format!("user {id} vanished after insert")))
}

pub async fn user(db: &Db, id: i64) -> Result<Option<User>, StoreError> {
    let sql = format!("{USER_COLS} WHERE id = $1");
    let r: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?;
    Ok(r.map(User::from))
}

pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("{USER_COLS} WHERE email = $1");
    let r: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(email.trim().to_ascii_lowercase())
        .fetch_optional(&db.pool)
        .await?;
    Ok(r.map(User::from))
}

pub async fn list_users(db: &Db) -> Result<Vec<User>, StoreError> {
    let sql = format!("{USER_COLS} ORDER BY email");
    let rows: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(User::from).collect())
}

pub async fn count_users(db: &Db) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM users").fetch_one(&db.pool).await?)
}

/// Checks a login; `None` for an unknown email, a wrong password or a
/// disabled account (the caller cannot tell which, by design).
pub async fn authenticate(db: &Db, email: &str, password: &str) -> Result<Option<User>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Login {
        #[sqlx(flatten)]
        user: UserRow,
        password_hash: String,
    }
    let r: Option<Login> =
        sqlx::query_as("SELECT id, email, role, disabled_ms, created_ms, password_hash FROM users WHERE email = $1")
            .bind(email.trim().to_ascii_lowercase())
            .fetch_optional(&db.pool)
            .await?;
    let Some(Login { user, password_hash: hash }) = r else {
        // The same work for an unknown email as for a wrong password.
        let _ = crate::password::verify(password, None).await;
        return Ok(None);
    };
    let user = User::from(user);
    let ok = crate::password::verify(password, Some(hash)).await;
    Ok((ok && !user.disabled).then_some(user))
}

pub async fn set_role(db: &Db, id: i64, role: Role) -> Result<bool, StoreError> {
    let n = sqlx::query("UPDATE users SET role = $1 WHERE id = $2").bind(role).bind(id).execute(&db.pool).await?;
    // A role change takes effect at once: end the user's sessions.
    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&db.pool).await?;
    Ok(n.rows_affected() == 1)
}

pub async fn set_disabled(db: &Db, id: i64, disabled: bool) -> Result<bool, StoreError> {
    let n = sqlx::query("UPDATE users SET disabled_ms = $1 WHERE id = $2")
        .bind(disabled.then(now_ms))
        .bind(id)
        .execute(&db.pool)
        .await?;
    if disabled {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&db.pool).await?;
    }
    Ok(n.rows_affected() == 1)
}

pub async fn set_password(db: &Db, id: i64, password: &str) -> Result<(), StoreError> {
    check_password_policy(password)?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(crate::password::hash(password).await?)
        .bind(id)
        .execute(&db.pool)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&db.pool).await?;
    Ok(())
}

/// Session timeouts.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle_ms: i64,
    pub absolute_ms: i64,
}

/// What to do with a stored session at `now` (staff and portal alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// Past a timeout (or its account is disabled): delete it.
    Expired,
    /// Valid; its last-seen stamp is over a minute old: touch it.
    Touch,
    /// Valid, seen recently: nothing to write.
    Fresh,
}

impl SessionPolicy {
    /// The timeout rule, pure.
    pub fn check(&self, created_ms: i64, last_seen_ms: i64, now: i64, disabled: bool) -> SessionCheck {
        if disabled || now - created_ms > self.absolute_ms || now - last_seen_ms > self.idle_ms {
            SessionCheck::Expired
        } else if now - last_seen_ms > 60_000 {
            SessionCheck::Touch
        } else {
            SessionCheck::Fresh
        }
    }
}

/// A live session: the user and the CSRF token bound to it.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf: String,
}

/// Starts a new session (always a fresh id) and returns the cookie value.
pub async fn create_session(db: &Db, user_id: i64, ip: Option<String>) -> Result<(String, String), StoreError> {
    let id = random_secret("");
    let csrf = random_secret("");
    let now = now_ms();
    sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf_token, created_ms, last_seen_ms, ip) VALUES ($1, $2, $3, $4, $4, $5)")
        .bind(hash_secret(&id))
        .bind(user_id)
        .bind(&csrf)
        .bind(now)
        .bind(ip)
        .execute(&db.pool)
        .await?;
    Ok((id, csrf))
}

/// Looks a session up, enforcing the timeouts and the user's status, and
/// touches it (at most once a minute, to keep writes down).
pub async fn session(db: &Db, cookie: &str, policy: SessionPolicy) -> Result<Option<Session>, StoreError> {
    let now = now_ms();
    #[derive(sqlx::FromRow)]
    struct Found {
        id_hash: String,
        csrf_token: String,
        created_ms: i64,
        last_seen_ms: i64,
        id: i64,
        email: String,
        role: Role,
        disabled_ms: Option<i64>,
        ucreated: i64,
    }
    let r: Option<Found> = sqlx::query_as(
        "SELECT s.id_hash, s.csrf_token, s.created_ms, s.last_seen_ms, u.id, u.email, u.role, u.disabled_ms, u.created_ms AS ucreated \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
    )
    .bind(hash_secret(cookie))
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = r else { return Ok(None) };
    match policy.check(r.created_ms, r.last_seen_ms, now, r.disabled_ms.is_some()) {
        SessionCheck::Expired => {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(&r.id_hash).execute(&db.pool).await?;
            return Ok(None);
        }
        SessionCheck::Touch => {
            sqlx::query("UPDATE sessions SET last_seen_ms = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(&r.id_hash)
                .execute(&db.pool)
                .await?;
        }
        SessionCheck::Fresh => {}
    }
    Ok(Some(Session {
        user: User { id: r.id, email: r.email, role: r.role, disabled: false, created_ms: r.ucreated },
        csrf: r.csrf_token,
    }))
}

pub async fn end_session(db: &Db, cookie: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(hash_secret(cookie)).execute(&db.pool).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_hash_with_argon2id_and_verify() {
        let h = crate::password::hash("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(crate::password::verify("correct horse battery", Some(h.clone())).await);
        assert!(!crate::password::verify("wrong horse battery", Some(h)).await);
    }

    #[test]
    fn session_timeouts() {
        let p = SessionPolicy { idle_ms: 3_600_000, absolute_ms: 43_200_000 };
        assert_eq!(p.check(0, 0, 30_000, false), SessionCheck::Fresh);
        assert_eq!(p.check(0, 0, 61_000, false), SessionCheck::Touch);
        assert_eq!(p.check(0, 0, 3_600_001, false), SessionCheck::Expired, "idle");
        assert_eq!(p.check(0, 43_000_000, 43_200_001, false), SessionCheck::Expired, "absolute");
        assert_eq!(p.check(0, 0, 1, true), SessionCheck::Expired, "disabled account");
    }

    #[test]
    fn roles_parse_and_policies_hold() {
        for &r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert_eq!(serde_json::to_string(&Role::ReadOnly).unwrap(), "\"read-only\"", "the API's text");
        let e = Role::parse("root").unwrap_err();
        assert_eq!(e.field(), Some("role"));
        assert_eq!(check_password_policy("short").unwrap_err().field(), Some("password"));
        assert_eq!(check_email("not-an-email").unwrap_err().field(), Some("email"));
        assert_eq!(check_email("a\0b@wisp.example").unwrap_err().field(), Some("email"));
        assert!(check_email("noc@wisp.example").is_ok());
    }

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/s.db", dir.path().display())).await.unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn typed_errors_and_a_corrupt_role() {
        let (_dir, db) = db().await;
        let u = add_user(&db, " NOC@wisp.example ", Role::Billing, "long enough password").await.unwrap();
        assert_eq!((u.email.as_str(), u.role, u.disabled), ("noc@wisp.example", Role::Billing, false));
        let dup = add_user(&db, "noc@wisp.example", Role::Admin, "long enough password").await.unwrap_err();
        assert!(matches!(dup, StoreError::Conflict(_)), "{dup:?}");
        let bad = add_user(&db, "nobody", Role::Admin, "long enough password").await.unwrap_err();
        assert_eq!(bad.field(), Some("email"));
        let short = add_user(&db, "x@wisp.example", Role::Admin, "short").await.unwrap_err();
        assert_eq!(short.field(), Some("password"));
        assert_eq!(authenticate(&db, "noc@wisp.example", "long enough password").await.unwrap().unwrap().id, u.id);
        let (sid, _) = create_session(&db, u.id, None).await.unwrap();
        let policy = SessionPolicy { idle_ms: 3_600_000, absolute_ms: 43_200_000 };
        assert_eq!(session(&db, &sid, policy).await.unwrap().unwrap().user.role, Role::Billing);

        // A role no variant names (a hand edit) is corrupt data, never a 400.
        sqlx::query("UPDATE users SET role = 'root' WHERE id = $1").bind(u.id).execute(&db.pool).await.unwrap();
        for e in [
            user(&db, u.id).await.unwrap_err(),
            list_users(&db).await.unwrap_err(),
            session(&db, &sid, policy).await.unwrap_err(),
            authenticate(&db, "noc@wisp.example", "long enough password").await.unwrap_err(),
        ] {
            assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
        }
    }
}
