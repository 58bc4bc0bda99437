//! Storing an agent's sample batch (part of `monitoring`; writes `samples`,
//! `devices`' "last" columns, `interface_rates`, `link_samples`,
//! `delivery_counts`, `rollup_marks` and the agent's ack columns).
//!
//! A batch is stored in one transaction in three passes: every sample's row
//! is decided first (device lookups through the link's cache; inventory
//! records and station rows applied as before), the keys already stored
//! are read (an index range per agent and boot epoch) and the others
//! inserted (multi-row `VALUES` on SQLite, unnested column arrays on
//! PostgreSQL), and only the new ones take effect,
//! folded per device into set-based statements (`UPDATE ... FROM (VALUES
//! ...)`, both engines). The rollup mark is a row per agent, so concurrent
//! links never wait on one global row.
//!
//! Invariants: a sample is stored at most once per `(agent_id, boot_epoch,
//! seq)`, also when one batch holds a key twice; a device's "last" columns
//! only move forward in time; the function returns after the commit, so the
//! caller may acknowledge the batch's last key.

use super::links;
use super::{
    KIND_DISCARDED, KIND_IFRATE, KIND_INVENTORY, KIND_LINK, KIND_PING, KIND_SNMP, KIND_STATION, KIND_UPLINK,
    SnmpStatus, correlator, device_id, inventory, snmp_outcome_code,
};
use crate::db::{Backend, Db, StoreError, Tx, now_ms};
use mast_shared::{Sample, SampleBody, SnmpOutcome, StationSample};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::IpAddr;

/// Result of storing one batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stored {
    pub inserted: u64,
    pub duplicates: u64,
    /// Reachability seen in the newly stored samples (not in duplicates), for
    /// outage correlation: (device, probe, time, ok).
    pub observations: Vec<(i64, correlator::Probe, i64, bool)>,
    /// Newest sample time in the batch.
    pub newest_ms: Option<i64>,
    /// Samples stamped beyond now + [`MAX_CLOCK_SKEW_MS`] (or before 1970):
    /// kept for the delivery accounting, applied to nothing.
    pub future: u64,
}

/// How far ahead of the controller's clock a sample may be stamped (an
/// agent clock slightly fast); later stamps are not believed: they would
/// pin a device's "last seen" forever.
pub const MAX_CLOCK_SKEW_MS: i64 = 10 * 60_000;

/// Rows per multi-row statement: 1,000 samples (8 binds each) stay far
/// under SQLite's 32,766 and PostgreSQL's 65,535 binds.
const CHUNK: usize = 1_000;

/// Rows per statement on PostgreSQL (arrays: no bind limit; bigger
/// statements only make the server's work less even).
const PG_CHUNK: usize = 10_000;

/// A sample's key: agent, boot epoch, sequence number.
type Key = (i64, i64, i64);

/// A sample's row in `samples`, decided before anything is inserted.
struct Row<'a> {
    agent: i64,
    s: &'a Sample,
    kind: i64,
    device: Option<i64>,
    ts: i64,
    rtt: Option<i64>,
    value: Option<i64>,
}

impl Row<'_> {
    fn key(&self) -> Key {
        (self.agent, self.s.boot_epoch as i64, self.s.seq as i64)
    }
}

/// Stores a batch in one transaction. Returns only after commit, so the
/// caller may acknowledge the batch's last key.
pub async fn store_samples(
    db: &Db,
    agent_id: u64,
    site_id: i64,
    samples: &[Sample],
    device_ids: &mut HashMap<IpAddr, i64>,
) -> Result<Stored, StoreError> {
    let mut one = [Batch { agent_id, site_id, samples, device_ids }];
    Ok(store_batches(db, &mut one).await?.pop().unwrap_or_default())
}

/// One agent's batch for [`store_batches`].
pub struct Batch<'a> {
    pub agent_id: u64,
    pub site_id: i64,
    pub samples: &'a [Sample],
    /// The link's device cache (address → device id).
    pub device_ids: &'a mut HashMap<IpAddr, i64>,
}

/// Stores several agents' batches in one transaction (a group commit: one
/// commit, and the rows of all of them in the same statements). Returns
/// what each stored, in order, only after the commit. An error fails them
/// all: the caller stores them one by one then, so one bad batch does not
/// stop the others.
pub async fn store_batches(db: &Db, batches: &mut [Batch<'_>]) -> Result<Vec<Stored>, StoreError> {
    store_batches_in(db.begin().await?, db.backend, batches).await
}

/// [`store_batches`] in `tx` (begun by [`Db::begin`] or [`Db::begin_on`]),
/// which it commits.
pub async fn store_batches_in(
    mut tx: Tx<'_>,
    backend: Backend,
    batches: &mut [Batch<'_>],
) -> Result<Vec<Stored>, StoreError> {
    let mut rows = Vec::with_capacity(batches.len());
    for b in batches.iter_mut() {
        rows.push(decide_rows(&mut tx, b.agent_id as i64, b.site_id, b.samples, b.device_ids).await?);
    }
    let mut new_keys = insert_rows(&mut tx, backend, &rows).await?;
    let mut out = Vec::with_capacity(batches.len());
    let mut fold = DeviceFold::default();
    for (b, rows) in batches.iter_mut().zip(&rows) {
        let agent_id = b.agent_id as i64;
        out.push(apply_new(&mut tx, backend, agent_id, b.site_id, rows, &mut new_keys, b.device_ids, &mut fold).await?);
        if let Some(last) = b.samples.last() {
            sqlx::query("UPDATE agents SET last_ack_epoch = $1, last_ack_seq = $2, last_seen_ms = $3 WHERE id = $4")
                .bind(last.boot_epoch as i64)
                .bind(last.seq as i64)
                .bind(now_ms())
                .bind(agent_id)
                .execute(&mut *tx)
                .await?;
        }
    }
    fold.write(&mut tx, backend).await?;
    tx.commit().await?;
    Ok(out)
}

/// Pass 1: every sample's row. Samples stamped too far in the future are
/// kept (their key is accounted for, so no false data loss) but applied to
/// nothing: no device, no "last seen", no rollup.
async fn decide_rows<'a>(
    tx: &mut Tx<'_>,
    agent: i64,
    site_id: i64,
    samples: &'a [Sample],
    device_ids: &mut HashMap<IpAddr, i64>,
) -> Result<Vec<Row<'a>>, StoreError> {
    let latest_believable = now_ms().saturating_add(MAX_CLOCK_SKEW_MS);
    let mut rows = Vec::with_capacity(samples.len());
    for s in samples {
        if s.ts_ms > latest_believable || s.ts_ms < 0 {
            let ts = s.ts_ms.clamp(0, latest_believable);
            rows.push(Row { agent, s, kind: KIND_DISCARDED, device: None, ts, rtt: None, value: None });
            continue;
        }
        let (kind, device, rtt, value) = match &s.body {
            SampleBody::Ping { target, rtt_us } => {
                (KIND_PING, Some(cached_device(tx, device_ids, site_id, *target).await?), *rtt_us, None)
            }
            SampleBody::Uplink { up } => (KIND_UPLINK, None, None, Some(i64::from(*up))),
            SampleBody::Snmp(p) => (
                KIND_SNMP,
                Some(cached_device(tx, device_ids, site_id, p.target).await?),
                Some(p.duration_ms.saturating_mul(1000)),
                Some(snmp_outcome_code(p.outcome)),
            ),
            SampleBody::Station(st) => (
                KIND_STATION,
                inventory::station_seen(tx, site_id, st, s.ts_ms).await?,
                None,
                st.signal_dbm.map(i64::from),
            ),
            SampleBody::IfRate(r) => (
                KIND_IFRATE,
                Some(cached_device(tx, device_ids, site_id, r.target).await?),
                None,
                Some(r.if_index.into()),
            ),
            SampleBody::Inventory(rec) => {
                (KIND_INVENTORY, inventory::apply_record(tx, site_id, rec, s.ts_ms).await?, None, None)
            }
            SampleBody::Link(l) => match l.station {
                Some(mac) => {
                    let st = StationSample {
                        ap: l.device,
                        mac,
                        signal_dbm: l.metrics.signal_dbm,
                        quality_pct: l.metrics.quality_pct,
                        tx_rate_kbps: l.metrics.tx_rate_kbps,
                        rx_rate_kbps: l.metrics.rx_rate_kbps,
                        distance_m: l.metrics.distance_m,
                    };
                    (
                        KIND_STATION,
                        inventory::station_seen(tx, site_id, &st, s.ts_ms).await?,
                        None,
                        l.metrics.signal_dbm.map(i64::from),
                    )
                }
                None => (
                    KIND_LINK,
                    Some(cached_device(tx, device_ids, site_id, l.device).await?),
                    None,
                    l.metrics.signal_dbm.map(i64::from),
                ),
            },
        };
        rows.push(Row { agent, s, kind, device, ts: s.ts_ms, rtt: rtt.map(i64::from), value });
    }
    Ok(rows)
}

/// `rows` tuples of `width` binds: `($1, $2, ...), ($n+1, ...)` on
/// PostgreSQL, `(?, ?, ...), ...` on SQLite (whose sqlx driver resolves
/// numbered binds in time quadratic in their number: a 1,000-row insert
/// is ten times slower with `$n` than with `?`, measured).
fn values_list(backend: Backend, rows: usize, width: usize) -> String {
    let mut sql = String::with_capacity(rows * width * 6);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            let sep = if c == 0 { "" } else { ", " };
            match backend {
                Backend::Postgres => {
                    let _ = write!(sql, "{sep}${}", r * width + c + 1);
                }
                Backend::Sqlite => {
                    sql.push_str(sep);
                    sql.push('?');
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// Pass 2: the rows of every batch inserted; the keys that were new (a
/// key stored before, or twice in this batch, is not new the second time).
///
/// The keys already stored are read first, one index range per agent and
/// boot epoch in the group (almost always none: duplicates come only from
/// a batch sent again after a lost ack), and only the others are inserted,
/// without `RETURNING` (returning a thousand rows per statement cost more
/// than the insert itself on SQLite) and without a savepoint per chunk
/// (its statement journal showed in SQLite's profile). Each chunk's rows
/// affected must then be all of it; fewer (on PostgreSQL: a unique
/// violation) means another writer stored one of these keys meanwhile
/// (possible only on PostgreSQL, by another controller), and the group
/// fails with a conflict for the caller to store again, when the read sees
/// that writer's rows.
async fn insert_rows(tx: &mut Tx<'_>, backend: Backend, batches: &[Vec<Row<'_>>]) -> Result<HashSet<Key>, StoreError> {
    let all: Vec<&Row<'_>> = batches.iter().flatten().collect();
    let stored = stored_keys(tx, backend, &all).await?;
    let mut new = HashSet::with_capacity(all.len());
    let fresh: Vec<&Row<'_>> = all.into_iter().filter(|r| !stored.contains(&r.key()) && new.insert(r.key())).collect();
    let per_statement = match backend {
        Backend::Sqlite => CHUNK,
        Backend::Postgres => PG_CHUNK,
    };
    for chunk in fresh.chunks(per_statement) {
        let inserted = match insert_chunk(backend, chunk).execute(&mut **tx).await {
            Ok(done) => done.rows_affected(),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => 0,
            Err(e) => return Err(e.into()),
        };
        if inserted != chunk.len() as u64 {
            return Err(StoreError::Conflict(format!(
                "{} samples: some were stored meanwhile by another writer",
                chunk.len()
            )));
        }
    }
    Ok(new)
}

/// The keys among `rows` already in `samples`: per agent and boot epoch,
/// the stored sequence numbers between the rows' first and last (an index
/// range), or, when the rows' numbers are sparse in a wide range (a range
/// read could return far more than the batch), those numbers by list.
async fn stored_keys(tx: &mut Tx<'_>, backend: Backend, rows: &[&Row<'_>]) -> Result<HashSet<Key>, StoreError> {
    let mut seqs: HashMap<(i64, i64), Vec<i64>> = HashMap::new();
    for r in rows {
        let (agent, epoch, seq) = r.key();
        seqs.entry((agent, epoch)).or_default().push(seq);
    }
    let mut stored = HashSet::new();
    for ((agent, epoch), mut list) in seqs {
        list.sort_unstable();
        list.dedup();
        let (first, last) = (list[0], list[list.len() - 1]);
        let found: Vec<i64> = if (last - first) as u128 <= 4 * list.len() as u128 + 64 {
            sqlx::query_scalar(
                "SELECT seq FROM samples WHERE agent_id = $1 AND boot_epoch = $2 AND seq >= $3 AND seq <= $4",
            )
            .bind(agent)
            .bind(epoch)
            .bind(first)
            .bind(last)
            .fetch_all(&mut **tx)
            .await?
        } else {
            let mut found = Vec::new();
            for part in list.chunks(CHUNK) {
                let marks = match backend {
                    Backend::Postgres => (0..part.len()).map(|i| format!("${}", i + 3)).collect::<Vec<_>>().join(", "),
                    Backend::Sqlite => vec!["?"; part.len()].join(", "),
                };
                let sql = match backend {
                    Backend::Postgres => {
                        format!("SELECT seq FROM samples WHERE agent_id = $1 AND boot_epoch = $2 AND seq IN ({marks})")
                    }
                    Backend::Sqlite => {
                        format!("SELECT seq FROM samples WHERE agent_id = ? AND boot_epoch = ? AND seq IN ({marks})")
                    }
                };
                let mut q =
                    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).persistent(false).bind(agent).bind(epoch);
                for s in part {
                    q = q.bind(*s);
                }
                found.extend(q.fetch_all(&mut **tx).await?);
            }
            found
        };
        stored.extend(found.into_iter().map(|seq| (agent, epoch, seq)));
    }
    Ok(stored)
}

/// The insert of `chunk`: a multi-row `VALUES ... ON CONFLICT DO NOTHING`
/// on SQLite (which then needs no statement journal); on PostgreSQL one
/// array per column, unnested (one parse and plan whatever the rows, where
/// a `VALUES` list of 8,000 binds cost the server most of the ingest's
/// time), and a plain insert: the keys were read first, and `ON CONFLICT`
/// would probe the primary key once more per row (measured: a tenth of
/// the server's time); a key stored meanwhile fails the statement with a
/// unique violation instead. The arrays go as text in PostgreSQL's array
/// syntax (sqlx's `Any` driver binds no arrays) and are cast by the server.
fn insert_chunk<'q>(
    backend: Backend,
    chunk: &[&Row<'_>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    const COLUMNS: &str = "INSERT INTO samples (agent_id, boot_epoch, seq, kind, device_id, ts_ms, rtt_us, value)";
    match backend {
        Backend::Postgres => {
            let mut cols: [String; 8] = Default::default();
            for c in &mut cols {
                c.reserve(chunk.len() * 8 + 2);
                c.push('{');
            }
            for (i, r) in chunk.iter().enumerate() {
                let values = [
                    Some(r.agent),
                    Some(r.s.boot_epoch as i64),
                    Some(r.s.seq as i64),
                    Some(r.kind),
                    r.device,
                    Some(r.ts),
                    r.rtt,
                    r.value,
                ];
                for (c, v) in cols.iter_mut().zip(values) {
                    if i > 0 {
                        c.push(',');
                    }
                    match v {
                        Some(v) => {
                            let _ = write!(c, "{v}");
                        }
                        None => c.push_str("NULL"),
                    }
                }
            }
            let sql = format!(
                "{COLUMNS} SELECT * FROM UNNEST({})",
                (1..=8).map(|i| format!("CAST(${i} AS BIGINT[])")).collect::<Vec<_>>().join(", ")
            );
            cols.into_iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, mut c| {
                c.push('}');
                q.bind(c)
            })
        }
        Backend::Sqlite => {
            let sql = format!("{COLUMNS} VALUES {} ON CONFLICT DO NOTHING", values_list(backend, chunk.len(), 8));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(chunk.len() == CHUNK);
            for r in chunk {
                q = q
                    .bind(r.agent)
                    .bind(r.s.boot_epoch as i64)
                    .bind(r.s.seq as i64)
                    .bind(r.kind)
                    .bind(r.device)
                    .bind(r.ts)
                    .bind(r.rtt)
                    .bind(r.value);
            }
            q
        }
    }
}

/// What a group's new samples change on their devices, folded per device
/// over every batch of the group and written once ([`DeviceFold::write`]):
/// a device pinged in several batches of a group is updated once.
#[derive(Default)]
struct DeviceFold {
    /// Newest ping per device: (ts, rtt).
    latest: HashMap<i64, (i64, Option<i64>)>,
    /// Newest answered ping per device.
    last_ok: HashMap<i64, i64>,
    /// Newest SNMP poll per device: (ts, status, uptime).
    snmp: HashMap<i64, (i64, SnmpStatus, Option<i64>)>,
    /// The signal an AP last reported for a station, in batch order.
    signal: HashMap<i64, Option<i64>>,
}

impl DeviceFold {
    async fn write(self, tx: &mut Tx<'_>, backend: Backend) -> Result<(), StoreError> {
        update_devices(tx, backend, &self.latest, &self.last_ok).await?;
        for (id, (ts, status, uptime)) in self.snmp {
            sqlx::query(
                "UPDATE devices SET snmp_outcome = $1, snmp_ms = $2, uptime_s = COALESCE($3, uptime_s) \
                 WHERE id = $4 AND (snmp_ms IS NULL OR snmp_ms <= $2)",
            )
            .bind(status)
            .bind(ts)
            .bind(uptime)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        }
        for (id, dbm) in self.signal {
            sqlx::query("UPDATE devices SET signal_dbm = $1 WHERE id = $2")
                .bind(dbm)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

/// Pass 3: what the new samples of one batch change (the devices' part
/// folded into `fold`, written once per group).
#[allow(clippy::too_many_arguments)]
async fn apply_new(
    tx: &mut Tx<'_>,
    backend: Backend,
    agent_id: i64,
    site_id: i64,
    rows: &[Row<'_>],
    new_keys: &mut HashSet<Key>,
    device_ids: &mut HashMap<IpAddr, i64>,
    fold: &mut DeviceFold,
) -> Result<Stored, StoreError> {
    let mut stored = Stored::default();
    let DeviceFold { latest, last_ok, snmp, signal } = fold;
    let mut rates: Vec<[i64; 5]> = Vec::new();
    let mut oldest_ping: Option<i64> = None;
    // per boot epoch: first and last new seq, how many new
    let mut per_epoch: HashMap<u64, (u64, u64, i64)> = HashMap::new();
    for r in rows {
        let s = r.s;
        if !new_keys.remove(&(agent_id, s.boot_epoch as i64, s.seq as i64)) {
            stored.duplicates += 1;
            continue;
        }
        stored.inserted += 1;
        let e = per_epoch.entry(s.boot_epoch).or_insert((s.seq, s.seq, 0));
        e.0 = e.0.min(s.seq);
        e.1 = e.1.max(s.seq);
        e.2 += 1;
        if r.kind == KIND_DISCARDED {
            stored.future += 1;
            continue;
        }
        stored.newest_ms = Some(stored.newest_ms.map_or(s.ts_ms, |n: i64| n.max(s.ts_ms)));
        let Some(id) = r.device else { continue };
        match &s.body {
            SampleBody::Ping { rtt_us, .. } => {
                stored.observations.push((id, correlator::Probe::Ping, s.ts_ms, rtt_us.is_some()));
                oldest_ping = Some(oldest_ping.map_or(s.ts_ms, |o: i64| o.min(s.ts_ms)));
                let e = latest.entry(id).or_insert((s.ts_ms, r.rtt));
                if s.ts_ms >= e.0 {
                    *e = (s.ts_ms, r.rtt);
                }
                if rtt_us.is_some() {
                    let ok = last_ok.entry(id).or_insert(s.ts_ms);
                    *ok = (*ok).max(s.ts_ms);
                }
            }
            SampleBody::Snmp(p) => {
                stored.observations.push((id, correlator::Probe::Snmp, s.ts_ms, p.outcome == SnmpOutcome::Ok));
                let now = (s.ts_ms, SnmpStatus::from(p.outcome), p.uptime_s.map(i64::from));
                let e = snmp.entry(id).or_insert(now);
                if s.ts_ms >= e.0 {
                    // a later poll's uptime, or the earlier one's if it had none
                    *e = (now.0, now.1, now.2.or(e.2));
                }
            }
            SampleBody::Station(st) => {
                signal.insert(id, st.signal_dbm.map(i64::from));
            }
            SampleBody::Link(l) => {
                let via = match l.station {
                    Some(_) => {
                        // The signal the AP reports is the one staff know a CPE by.
                        signal.insert(id, l.metrics.signal_dbm.map(i64::from));
                        Some(cached_device(tx, device_ids, site_id, l.device).await?)
                    }
                    None => None,
                };
                links::record(tx, id, via, l, s.ts_ms).await?;
            }
            SampleBody::IfRate(rt) => rates.push([
                id,
                i64::from(rt.if_index),
                s.ts_ms,
                rt.in_bps.min(i64::MAX as u64) as i64,
                rt.out_bps.min(i64::MAX as u64) as i64,
            ]),
            SampleBody::Uplink { .. } | SampleBody::Inventory(_) => {}
        }
    }
    for chunk in rates.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO interface_rates (device_id, if_index, ts_ms, in_bps, out_bps) VALUES {} ON CONFLICT DO NOTHING",
            values_list(backend, chunk.len(), 5)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for r in chunk {
            q = r.iter().fold(q, |q, v| q.bind(*v));
        }
        q.execute(&mut **tx).await?;
    }
    // Delivery accounting (survives sample retention) and the rollup mark.
    for (epoch, (first, last, n)) in per_epoch {
        sqlx::query(
            "INSERT INTO delivery_counts (agent_id, boot_epoch, first_seq, last_seq, stored) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (agent_id, boot_epoch) DO UPDATE SET stored = delivery_counts.stored + excluded.stored, \
             first_seq = CASE WHEN excluded.first_seq < delivery_counts.first_seq THEN excluded.first_seq ELSE delivery_counts.first_seq END, \
             last_seq = CASE WHEN excluded.last_seq > delivery_counts.last_seq THEN excluded.last_seq ELSE delivery_counts.last_seq END",
        )
        .bind(agent_id)
        .bind(epoch as i64)
        .bind(first as i64)
        .bind(last as i64)
        .bind(n)
        .execute(&mut **tx)
        .await?;
    }
    if let Some(oldest) = oldest_ping {
        crate::rollup::mark(tx, agent_id, oldest).await?;
    }
    Ok(stored)
}

/// The ping columns of every device the batch pinged, in two statements
/// (each moves only forward in time).
async fn update_devices(
    tx: &mut Tx<'_>,
    backend: Backend,
    latest: &HashMap<i64, (i64, Option<i64>)>,
    last_ok: &HashMap<i64, i64>,
) -> Result<(), StoreError> {
    let latest: Vec<_> = latest.iter().collect();
    for chunk in latest.chunks(CHUNK) {
        let sql = format!(
            "UPDATE devices SET last_sample_ms = v.column2, last_rtt_us = v.column3 FROM (VALUES {}) AS v \
             WHERE devices.id = v.column1 AND (devices.last_sample_ms IS NULL OR devices.last_sample_ms <= v.column2)",
            values_list(backend, chunk.len(), 3)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for (id, (ts, rtt)) in chunk {
            q = q.bind(**id).bind(*ts).bind(*rtt);
        }
        q.execute(&mut **tx).await?;
    }
    let ok: Vec<_> = last_ok.iter().collect();
    for chunk in ok.chunks(CHUNK) {
        let sql = format!(
            "UPDATE devices SET last_ok_ms = v.column2 FROM (VALUES {}) AS v \
             WHERE devices.id = v.column1 AND (devices.last_ok_ms IS NULL OR devices.last_ok_ms < v.column2)",
            values_list(backend, chunk.len(), 2)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for (id, ts) in chunk {
            q = q.bind(**id).bind(**ts);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn cached_device(
    tx: &mut Tx<'_>,
    cache: &mut HashMap<IpAddr, i64>,
    site_id: i64,
    addr: IpAddr,
) -> Result<i64, StoreError> {
    if let Some(id) = cache.get(&addr) {
        return Ok(*id);
    }
    let id = device_id(tx, site_id, addr).await?;
    cache.insert(addr, id);
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::add_site;
    use mast_shared::{IfRate, SnmpPoll};

    #[test]
    fn values_lists_number_every_bind_once() {
        assert_eq!(values_list(Backend::Postgres, 1, 2), "($1, $2)");
        assert_eq!(values_list(Backend::Postgres, 2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values_list(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }

    fn ping(seq: u64, ts_ms: i64, target: &str, rtt_us: Option<u32>) -> Sample {
        Sample { boot_epoch: 1, seq, ts_ms, body: SampleBody::Ping { target: target.parse().unwrap(), rtt_us } }
    }

    async fn device_row(db: &Db, addr: &str) -> (Option<i64>, Option<i64>, Option<i64>, Option<String>) {
        sqlx::query_as("SELECT last_sample_ms, last_rtt_us, last_ok_ms, snmp_outcome FROM devices WHERE addr = $1")
            .bind(addr)
            .fetch_one(&db.pool)
            .await
            .unwrap()
    }

    async fn count(db: &Db, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&db.pool).await.unwrap()
    }

    /// A batch is stored once per key (a key twice in one batch, a batch
    /// sent again), its effects taken from the new samples only, folded
    /// per device, and only forward in time; each agent marks its own
    /// rollup row, which a pass takes and clears.
    #[tokio::test]
    async fn batches_store_each_key_once_and_fold_their_effects_per_device() {
        let (_d, db) = crate::test_db().await;
        let site = add_site(&db, "fold", &[], 30_000, 1_000).await.unwrap();
        let now = now_ms() - 60_000;
        let mut ids = HashMap::new();
        let snmp = Sample {
            boot_epoch: 1,
            seq: 5,
            ts_ms: now + 4,
            body: SampleBody::Snmp(SnmpPoll {
                target: "10.0.0.2".parse().unwrap(),
                outcome: SnmpOutcome::Ok,
                uptime_s: Some(77),
                rebooted: false,
                duration_ms: 12,
            }),
        };
        let rate = Sample {
            boot_epoch: 1,
            seq: 6,
            ts_ms: now + 4,
            body: SampleBody::IfRate(IfRate {
                target: "10.0.0.2".parse().unwrap(),
                if_index: 3,
                in_bps: 10,
                out_bps: 20,
            }),
        };
        let batch = vec![
            ping(1, now, "10.0.0.1", Some(900)),
            ping(2, now + 2, "10.0.0.1", None),
            ping(3, now + 1, "10.0.0.2", Some(700)),
            ping(3, now + 1, "10.0.0.2", Some(700)), // the same key again
            ping(4, now + 3, "10.0.0.2", Some(500)),
            snmp,
            rate,
        ];
        let s = store_samples(&db, 1, site.id, &batch, &mut ids).await.unwrap();
        assert_eq!((s.inserted, s.duplicates), (6, 1));
        assert_eq!(s.observations.len(), 5, "four pings and one SNMP poll, the repeated key not twice");
        assert_eq!(s.newest_ms, Some(now + 4));
        // .1: newest ping unanswered; last answer the older one.
        assert_eq!(device_row(&db, "10.0.0.1").await, (Some(now + 2), None, Some(now), None));
        assert_eq!(device_row(&db, "10.0.0.2").await, (Some(now + 3), Some(500), Some(now + 3), Some("ok".into())));
        assert_eq!(count(&db, "SELECT COUNT(*) FROM samples").await, 6);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM interface_rates").await, 1);
        assert_eq!(count(&db, "SELECT CAST(SUM(stored) AS BIGINT) FROM delivery_counts").await, 6);

        // The same batch again: nothing new, nothing moves.
        let again = store_samples(&db, 1, site.id, &batch, &mut ids).await.unwrap();
        assert_eq!((again.inserted, again.duplicates, again.observations.len()), (0, 7, 0));
        assert_eq!(count(&db, "SELECT CAST(SUM(stored) AS BIGINT) FROM delivery_counts").await, 6);
        // Sent again with one sample more: only that one is new.
        let mut more = batch.clone();
        more.push(ping(8, now + 5, "10.0.0.1", Some(400)));
        let m = store_samples(&db, 1, site.id, &more, &mut ids).await.unwrap();
        assert_eq!((m.inserted, m.duplicates, m.observations.len()), (1, 7, 1));
        assert_eq!(device_row(&db, "10.0.0.1").await, (Some(now + 5), Some(400), Some(now + 5), None));
        assert_eq!(count(&db, "SELECT CAST(SUM(stored) AS BIGINT) FROM delivery_counts").await, 7);
        // An older batch (a spool drained late) never rolls a device back.
        store_samples(&db, 1, site.id, &[ping(7, now - 50_000, "10.0.0.2", Some(100))], &mut ids).await.unwrap();
        assert_eq!(device_row(&db, "10.0.0.2").await.0, Some(now + 3));

        // Another agent on the same site: its own mark; a pass takes both.
        store_samples(&db, 2, site.id, &[ping(1, now - 90_000, "10.0.0.3", Some(300))], &mut HashMap::new())
            .await
            .unwrap();
        let marks: Vec<(i64, i64)> =
            sqlx::query_as("SELECT agent_id, dirty_from_ms FROM rollup_marks ORDER BY agent_id")
                .fetch_all(&db.pool)
                .await
                .unwrap();
        assert_eq!(marks, vec![(1, now - 50_000), (2, now - 90_000)]);
        let keep = crate::rollup::Retention { raw_days: 30, five_min_days: 180, hourly_days: 1800 };
        let pass = crate::rollup::run_once(&db, now_ms(), keep).await.unwrap();
        assert!(pass.recomputed_from.is_some_and(|f| f <= now - 90_000));
        assert_eq!(count(&db, "SELECT COUNT(*) FROM rollup_marks").await, 0);
        assert_eq!(
            count(&db, "SELECT CAST(SUM(n) AS BIGINT) FROM sample_rollups WHERE width_ms = 300000").await,
            7,
            "every new ping in a 5-minute bucket"
        );
        // Nothing new: the next pass recomputes nothing.
        assert_eq!(crate::rollup::run_once(&db, now_ms(), keep).await.unwrap().recomputed_from, None);
    }

    /// The batches of one group fold their effects on devices together: a
    /// device in several of them ends at the newest ping of all, whatever
    /// the batches' order.
    #[tokio::test]
    async fn a_group_folds_device_effects_across_its_batches() {
        let (_d, db) = crate::test_db().await;
        let site = add_site(&db, "group", &[], 30_000, 1_000).await.unwrap();
        let now = now_ms() - 60_000;
        let newer = [ping(1, now + 10, "10.0.0.1", None), ping(2, now + 5, "10.0.0.1", Some(600))];
        let older = [ping(1, now, "10.0.0.1", Some(900)), ping(2, now + 1, "10.0.0.2", Some(800))];
        let (mut a, mut b) = (HashMap::new(), HashMap::new());
        let mut group = [
            Batch { agent_id: 1, site_id: site.id, samples: &newer, device_ids: &mut a },
            Batch { agent_id: 2, site_id: site.id, samples: &older, device_ids: &mut b },
        ];
        let out = store_batches(&db, &mut group).await.unwrap();
        assert_eq!(out.iter().map(|s| s.inserted).collect::<Vec<_>>(), [2, 2]);
        assert_eq!(device_row(&db, "10.0.0.1").await, (Some(now + 10), None, Some(now + 5), None));
        assert_eq!(device_row(&db, "10.0.0.2").await, (Some(now + 1), Some(800), Some(now + 1), None));
    }

    /// Another writer (on PostgreSQL, another controller) stores one of a
    /// batch's keys while the batch is being stored: the batch fails with
    /// a conflict and keeps nothing; stored again, that key is a duplicate
    /// and the rest are new.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_key_stored_meanwhile_by_another_writer_is_a_conflict_then_a_duplicate() {
        let Some(db) = crate::test_pg().await else { return };
        let site = add_site(&db, "race", &[], 30_000, 1_000).await.unwrap();
        let now = now_ms() - 60_000;
        let batch: Vec<Sample> = (1..=3).map(|seq| ping(seq, now + seq as i64, "10.0.0.1", Some(100))).collect();
        let mut other = db.begin().await.unwrap();
        // the same sample (a key carries its kind and time: on PostgreSQL
        // they are part of the partitioned table's primary key)
        sqlx::query("INSERT INTO samples (agent_id, boot_epoch, seq, kind, ts_ms) VALUES (1, 1, 2, $1, $2)")
            .bind(KIND_PING)
            .bind(now + 2)
            .execute(&mut *other)
            .await
            .unwrap();
        let store = {
            let db = db.clone();
            let batch = batch.clone();
            tokio::spawn(async move { store_samples(&db, 1, site.id, &batch, &mut HashMap::new()).await })
        };
        // The batch's insert waits on the other writer's uncommitted key.
        let mut waited = 0;
        while count(
            &db,
            "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        )
        .await
            == 0
        {
            waited += 1;
            assert!(waited < 200, "the batch never waited on the other writer");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        other.commit().await.unwrap();
        let err = store.await.unwrap().unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert_eq!(count(&db, "SELECT COUNT(*) FROM samples").await, 1, "the failed batch kept nothing");
        let s = store_samples(&db, 1, site.id, &batch, &mut HashMap::new()).await.unwrap();
        assert_eq!((s.inserted, s.duplicates), (2, 1));
        assert_eq!(count(&db, "SELECT CAST(SUM(stored) AS BIGINT) FROM delivery_counts").await, 2);
    }

    /// A batch whose keys are few in a wide range (read by list, not by
    /// range) is told from the stored ones all the same.
    #[tokio::test]
    async fn sparse_keys_are_checked_one_by_one() {
        let (_d, db) = crate::test_db().await;
        let site = add_site(&db, "sparse", &[], 30_000, 1_000).await.unwrap();
        let now = now_ms() - 60_000;
        let mut ids = HashMap::new();
        let first = [ping(10, now, "10.0.0.1", Some(1)), ping(1_000_000, now + 1, "10.0.0.1", Some(2))];
        let s = store_samples(&db, 1, site.id, &first, &mut ids).await.unwrap();
        assert_eq!((s.inserted, s.duplicates), (2, 0));
        let mut again = first.to_vec();
        again.push(ping(500_000, now + 2, "10.0.0.1", Some(3)));
        let s = store_samples(&db, 1, site.id, &again, &mut ids).await.unwrap();
        assert_eq!((s.inserted, s.duplicates), (1, 2));
        assert_eq!(count(&db, "SELECT COUNT(*) FROM samples").await, 3);
    }
}
