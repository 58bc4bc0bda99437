//! Settings saved in the browser (`settings`): `MAST_*` name → value, the
//! same names as the environment overrides of the config file. The
//! controller reads them when it starts (between the config file and the
//! environment); which names may be saved is the app's business
//! (`mast_app::config::BROWSER_KEYS`). Also the operator's logo
//! (`company_logo`, one row), which the caller checks before saving.

use crate::db::{Db, StoreError, now_ms};
use std::collections::BTreeMap;

/// Every saved setting.
pub async fn all(db: &Db) -> Result<BTreeMap<String, String>, StoreError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT key, value FROM settings ORDER BY key").fetch_all(&db.pool).await?;
    Ok(rows.into_iter().collect())
}

/// Saves `changes` in one transaction: `Some(value)` sets a name, `None`
/// removes it (the config file's value counts again).
pub async fn save(db: &Db, changes: &[(&str, Option<String>)], who: &str) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let now = now_ms();
    for (key, value) in changes {
        sqlx::query("DELETE FROM settings WHERE key = $1").bind(key).execute(&mut *tx).await?;
        if let Some(v) = value {
            sqlx::query("INSERT INTO settings (key, value, updated_ms, updated_by) VALUES ($1, $2, $3, $4)")
                .bind(key)
                .bind(v)
                .bind(now)
                .bind(who)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The operator's logo: `(content type, bytes)`, if one was uploaded.
pub async fn logo(db: &Db) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT content_type, data FROM company_logo WHERE id = 1").fetch_optional(&db.pool).await?;
    Ok(row.and_then(|(t, d)| hex::decode(d).ok().map(|b| (t, b))))
}

/// Which logo is stored, cheaply: `(updated_ms, length)`, or `None`. A
/// change of either means a new logo (for caches of the decoded one).
pub async fn logo_version(db: &Db) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(sqlx::query_as("SELECT updated_ms, CAST(LENGTH(data) AS BIGINT) FROM company_logo WHERE id = 1")
        .fetch_optional(&db.pool)
        .await?)
}

/// Replaces the logo (`None`: removes it).
pub async fn set_logo(db: &Db, logo: Option<(&str, &[u8])>, who: &str) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM company_logo WHERE id = 1").execute(&mut *tx).await?;
    if let Some((content_type, bytes)) = logo {
        sqlx::query(
            "INSERT INTO company_logo (id, content_type, data, updated_ms, updated_by) VALUES (1, $1, $2, $3, $4)",
        )
        .bind(content_type)
        .bind(hex::encode(bytes))
        .bind(now_ms())
        .bind(who)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn saved_settings_replace_and_remove_in_one_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/s.db", dir.path().display())).await.unwrap();
        assert!(all(&db).await.unwrap().is_empty());
        save(&db, &[("MAST_SMTP_HOST", Some("mail.example".into())), ("MAST_SMTP_PORT", Some("25".into()))], "a")
            .await
            .unwrap();
        save(&db, &[("MAST_SMTP_PORT", None), ("MAST_SMTP_HOST", Some("smtp.example".into()))], "b").await.unwrap();
        let got = all(&db).await.unwrap();
        assert_eq!(got, BTreeMap::from([("MAST_SMTP_HOST".to_string(), "smtp.example".to_string())]));
        assert_eq!(logo(&db).await.unwrap(), None);
        set_logo(&db, Some(("image/png", &[0x89, b'P', 0, 255])), "a").await.unwrap();
        set_logo(&db, Some(("image/jpeg", &[0xFF, 0xD8])), "a").await.unwrap();
        assert_eq!(logo(&db).await.unwrap(), Some(("image/jpeg".to_string(), vec![0xFF, 0xD8])));
        assert_eq!(logo_version(&db).await.unwrap().map(|v| v.1), Some(4), "hex of two bytes");
        set_logo(&db, None, "a").await.unwrap();
        assert_eq!(logo(&db).await.unwrap(), None);
        assert_eq!(logo_version(&db).await.unwrap(), None);
    }
}
