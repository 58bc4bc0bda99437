//! Migration parity: the SQLite and PostgreSQL migrations are written twice
//! (only id columns and a few types differ), so this migrates a fresh
//! database of each and requires the same schema: the same tables, the same
//! columns with the same nullability, the same primary keys, and the same
//! indexes and unique constraints (by table, columns in order, uniqueness).

use mast_store::db::Db;
use mast_tests::PgDb;
use sqlx::Row;
use std::collections::BTreeSet;

/// (table, column, nullable)
type Columns = BTreeSet<(String, String, bool)>;
/// (table, columns in order, unique)
type Indexes = BTreeSet<(String, Vec<String>, bool)>;
/// (table, primary-key columns in order)
type Keys = BTreeSet<(String, Vec<String>)>;

/// (unique, primary, (position, column)...)
type IndexParts = (bool, bool, Vec<(i64, String)>);

#[derive(Debug, Default)]
struct Schema {
    tables: BTreeSet<String>,
    columns: Columns,
    keys: Keys,
    indexes: Indexes,
}

async fn sqlite_schema(db: &Db) -> anyhow::Result<Schema> {
    let mut s = Schema::default();
    let tables: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>(0))
    .collect::<Result<_, _>>()?;
    for t in tables {
        let mut pk: Vec<(i64, String)> = Vec::new();
        for r in sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT name, CAST(\"notnull\" AS BIGINT), CAST(pk AS BIGINT) FROM pragma_table_info('{t}')"
        )))
        .fetch_all(&db.pool)
        .await?
        {
            let (name, notnull, pkpos): (String, i64, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            // A primary-key column is never null, whatever the pragma says
            // about SQLite's rowid alias.
            s.columns.insert((t.clone(), name.clone(), notnull == 0 && pkpos == 0));
            if pkpos > 0 {
                pk.push((pkpos, name));
            }
        }
        pk.sort();
        s.keys.insert((t.clone(), pk.into_iter().map(|p| p.1).collect()));
        for r in sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT name, CAST(\"unique\" AS BIGINT), origin FROM pragma_index_list('{t}')"
        )))
        .fetch_all(&db.pool)
        .await?
        {
            let (idx, unique, origin): (String, i64, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if origin == "pk" {
                continue;
            }
            let cols: Vec<String> =
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT name FROM pragma_index_info('{idx}') ORDER BY seqno")))
                    .fetch_all(&db.pool)
                    .await?
                    .iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<Result<_, _>>()?;
            s.indexes.insert((t.clone(), cols, unique != 0));
        }
        s.tables.insert(t);
    }
    Ok(s)
}

/// The one deliberate difference: on PostgreSQL a partitioned table's
/// primary key holds its partition keys (migration 0033), which SQLite's
/// plain table does not need. The partitions themselves are not compared.
const PARTITION_KEYS: [(&str, &[&str]); 1] = [("samples", &["kind", "ts_ms"])];

/// The PostgreSQL schema as SQLite would have it: partitions left out, and
/// partition keys out of the primary keys ([`PARTITION_KEYS`]).
async fn postgres_schema(db: &Db) -> anyhow::Result<Schema> {
    let mut s = Schema::default();
    for r in sqlx::query(
        "SELECT CAST(c.table_name AS TEXT), CAST(c.column_name AS TEXT), CAST(c.is_nullable AS TEXT) \
         FROM information_schema.columns c JOIN pg_class t ON t.relname = c.table_name AND t.relkind IN ('r', 'p') \
         JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = c.table_schema \
         WHERE c.table_schema = 'public' AND c.table_name <> '_sqlx_migrations' AND NOT t.relispartition",
    )
    .fetch_all(&db.pool)
    .await?
    {
        let (t, c, n): (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        s.tables.insert(t.clone());
        s.columns.insert((t, c, n == "YES"));
    }
    // Every index with its key columns in order (unique constraints and
    // primary keys are indexes too; INCLUDE columns are stored, not keyed:
    // `indkey` counts from 0, its first `indnkeyatts` are the key).
    let rows = sqlx::query(
        "SELECT CAST(t.relname AS TEXT), CAST(i.relname AS TEXT), CAST(CASE WHEN ix.indisunique THEN 1 ELSE 0 END AS BIGINT), \
                CAST(CASE WHEN ix.indisprimary THEN 1 ELSE 0 END AS BIGINT), CAST(a.attname AS TEXT), \
                CAST(array_position(ix.indkey::int2[], a.attnum) AS BIGINT) \
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(ix.indkey) \
         WHERE n.nspname = 'public' AND t.relname <> '_sqlx_migrations' AND NOT t.relispartition \
           AND array_position(ix.indkey::int2[], a.attnum) < ix.indnkeyatts",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut by_index: std::collections::BTreeMap<(String, String), IndexParts> = Default::default();
    for r in rows {
        let (t, i, uniq, prim, col, pos): (String, String, i64, i64, String, i64) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?);
        let e = by_index.entry((t, i)).or_insert((uniq != 0, prim != 0, Vec::new()));
        e.2.push((pos, col));
    }
    for ((t, _), (unique, primary, mut cols)) in by_index {
        cols.sort();
        let cols: Vec<String> = cols.into_iter().map(|c| c.1).collect();
        if primary {
            let extra = PARTITION_KEYS.iter().find(|(pt, _)| *pt == t).map_or(&[][..], |(_, c)| *c);
            s.keys.insert((t, cols.into_iter().filter(|c| !extra.contains(&c.as_str())).collect()));
        } else {
            s.indexes.insert((t, cols, unique));
        }
    }
    // Tables without a primary key still appear (with no key columns), as
    // in the SQLite reading.
    for t in &s.tables {
        if !s.keys.iter().any(|(kt, _)| kt == t) {
            s.keys.insert((t.clone(), Vec::new()));
        }
    }
    // A primary-key column is never null.
    let keyed: BTreeSet<(String, String)> =
        s.keys.iter().flat_map(|(t, cols)| cols.iter().map(move |c| (t.clone(), c.clone()))).collect();
    s.columns = s.columns.into_iter().map(|(t, c, n)| (t.clone(), c.clone(), n && !keyed.contains(&(t, c)))).collect();
    Ok(s)
}

fn diff<T: Ord + std::fmt::Debug + Clone>(what: &str, a: &BTreeSet<T>, b: &BTreeSet<T>, out: &mut Vec<String>) {
    for x in a.difference(b) {
        out.push(format!("{what} only in SQLite: {x:?}"));
    }
    for x in b.difference(a) {
        out.push(format!("{what} only in PostgreSQL: {x:?}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_migrations_build_the_same_schema() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let lite = Db::connect(&format!("sqlite://{}/parity.db", dir.path().display())).await?;
    let Some(pg) = PgDb::create().await? else { return Ok(()) };
    let pgdb = Db::connect(&pg.url).await?;
    let a = sqlite_schema(&lite).await?;
    let b = postgres_schema(&pgdb).await?;
    assert!(a.tables.len() >= 40, "the migrations made only {} tables: {:?}", a.tables.len(), a.tables);
    eprintln!(
        "schema: {} tables, {} columns, {} keys, {} indexes",
        a.tables.len(),
        a.columns.len(),
        a.keys.len(),
        a.indexes.len()
    );
    let mut problems = Vec::new();
    diff("table", &a.tables, &b.tables, &mut problems);
    diff("column (table, name, nullable)", &a.columns, &b.columns, &mut problems);
    diff("primary key", &a.keys, &b.keys, &mut problems);
    diff("index (table, columns, unique)", &a.indexes, &b.indexes, &mut problems);
    assert!(problems.is_empty(), "the migrations differ:\n{}", problems.join("\n"));
    pgdb.pool.close().await;
    Ok(())
}

/// The comparison bites: a table, a nullability and an index that exist on
/// one side only are all reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_is_reported() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let lite = Db::connect(&format!("sqlite://{}/drift.db", dir.path().display())).await?;
    let Some(pg) = PgDb::create().await? else { return Ok(()) };
    let pgdb = Db::connect(&pg.url).await?;
    sqlx::query("CREATE TABLE drift_only_here (x TEXT NOT NULL)").execute(&lite.pool).await?;
    sqlx::query("CREATE INDEX drift_idx ON customers (name, email)").execute(&lite.pool).await?;
    sqlx::query("ALTER TABLE customers ALTER COLUMN email SET NOT NULL").execute(&pgdb.pool).await?;
    let a = sqlite_schema(&lite).await?;
    let b = postgres_schema(&pgdb).await?;
    let mut problems = Vec::new();
    diff("table", &a.tables, &b.tables, &mut problems);
    diff("column", &a.columns, &b.columns, &mut problems);
    diff("index", &a.indexes, &b.indexes, &mut problems);
    let all = problems.join("\n");
    assert!(all.contains("drift_only_here"), "{all}");
    assert!(all.contains("\"customers\", \"email\", true") && all.contains("\"customers\", \"email\", false"), "{all}");
    assert!(all.contains("[\"name\", \"email\"]"), "{all}");
    pgdb.pool.close().await;
    Ok(())
}
