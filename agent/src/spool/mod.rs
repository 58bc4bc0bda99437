//! The agent's spool: every sample the agent takes is kept on disk until the
//! controller has acknowledged it, through backhaul outages, crashes and
//! power cuts. This doc is the spool's design spec.
//!
//! ## On-disk layout (`<state>/spool/`)
//! - `NNNNNNNNNNNNNNNNNNNN.seg`: segment files, append-only, a sequence of
//!   blocks `["MSB1"][len u32 LE][crc32c u32 LE][payload]`. A block is one
//!   group commit: samples of one boot epoch with consecutive seqs, encoded by
//!   [`codec`] (about 5-6 bytes per ping sample). A segment is sealed at
//!   `segment_bytes`, and after every restart writing starts a new segment.
//! - `acked`: `"<epoch> <seq>"`, the controller's last acknowledgement,
//!   replaced atomically. Not fsynced: if it is lost or stale, samples are
//!   resent and the controller drops the duplicates.
//! - `drops`: the ranges of keys lost (size cap, disk full, corruption,
//!   deleted segment), kept so they are reported to the controller and a gap
//!   in the stored sequence is always explained.
//!
//! ## Writing: group commit
//! Samples are pushed into memory and written as one block with one
//! `fdatasync` when [`ledger::Limits::flush_bytes`] are pending or the oldest
//! pending sample is [`ledger::Limits::flush_ms`] old (default 64 KiB / 100 ms).
//! A sample gets its `(boot_epoch, seq)` key and counts as appended
//! (`mast_agent_spool_appended_total`) only once its block is synced; only
//! then can it be sent.
//!
//! ## Deleting
//! A sealed segment is deleted when every key in it is acknowledged. Over
//! `cap_bytes` (default 1 GiB, sized for an SD card) the oldest segment is
//! deleted whether acknowledged or not, and its unacknowledged keys are
//! counted as dropped and reported. If a write fails (disk full), the oldest
//! segment is dropped the same way and the write retried later; samples wait
//! in memory up to `MAX_PENDING`, beyond which the oldest unkeyed samples are
//! dropped (counted; they never had keys, so they leave no gap).
//!
//! ## Recovery and the worst case
//! On open every segment is scanned. A block whose declared length runs past
//! the end of the newest segment is a torn write (never synced, never
//! reported): it is truncated. A block with a bad checksum anywhere else is
//! corrupt: it is skipped (the scan resynchronises on the next magic),
//! counted, and the keys it held are reported as dropped. A segment that
//! vanishes is likewise reported as dropped. The worst case after a power cut
//! is therefore the samples of the last unsynced group commit (at most
//! `flush_ms` of probing), which were never counted as appended; on a failing
//! disk it is whatever the disk destroyed, always counted and reported.
//! Recovery never blocks: unreadable files are dropped with a log line.

pub mod codec;
pub mod ledger;

use crate::identity::{StateError, io_err};
use ledger::{Key, Ledger, Limits, Placement, Run, Segment};
use mast_shared::{DropReason, DroppedRange, Sample, SampleBody};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: [u8; 4] = *b"MSB1";
const HEADER: usize = 12;
const MAX_BLOCK: usize = 16 << 20;
/// Samples kept in memory while the disk refuses writes.
pub const MAX_PENDING: usize = 200_000;
const MAX_DROP_RANGES: usize = 1000;
/// Rough encoded size of a sample, for the group-commit byte threshold.
const EST_SAMPLE_BYTES: u64 = 6;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    pub segments: usize,
    pub truncated_bytes: u64,
    pub corrupt_blocks: u64,
    pub lost_keys: u64,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    /// Samples durably appended (synced) since start.
    pub appended: u64,
    /// Samples dropped since start (cap, disk full, corruption, memory bound).
    pub dropped: u64,
    /// Corrupt blocks found since start.
    pub corrupt: u64,
    /// Samples acknowledged by the controller since start.
    pub acked: u64,
    pub write_errors: u64,
}

/// One valid block found by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    pub offset: usize,
    pub len: usize,
    pub run: Run,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    pub blocks: Vec<BlockRef>,
    /// End of the last valid block.
    pub good_end: usize,
    /// Blocks with a bad checksum or header followed by more data.
    pub corrupt: u64,
    /// Whether the bytes after `good_end` look like a torn final write.
    pub torn_tail: bool,
}

/// Finds the valid blocks in a segment's bytes (pure).
pub fn scan(bytes: &[u8]) -> Scan {
    let mut out = Scan::default();
    let mut off = 0;
    while bytes.len() - off >= HEADER {
        if bytes[off..off + 4] == MAGIC {
            let len = u32::from_le_bytes(bytes[off + 4..off + 8].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().expect("4 bytes"));
            if len <= MAX_BLOCK && bytes.len() - off - HEADER >= len {
                let payload = &bytes[off + HEADER..off + HEADER + len];
                if crc32c::crc32c(payload) == crc
                    && let Ok((epoch, first_seq, count)) = codec::block_header(payload)
                {
                    out.blocks.push(BlockRef { offset: off, len: HEADER + len, run: Run { epoch, first_seq, count } });
                    off += HEADER + len;
                    out.good_end = off;
                    continue;
                }
            } else if len <= MAX_BLOCK && next_magic(bytes, off + 1).is_none() {
                // Declared length runs past the end and nothing follows: a torn write.
                out.torn_tail = true;
                return out;
            }
            out.corrupt += 1;
        }
        match next_magic(bytes, off + 1) {
            Some(p) => off = p,
            None => break,
        }
    }
    if out.good_end < bytes.len() && !out.torn_tail {
        // Trailing bytes that are not a block: a torn header, or garbage.
        out.torn_tail = bytes.len() - out.good_end < HEADER || out.corrupt == 0;
    }
    out
}

fn next_magic(bytes: &[u8], from: usize) -> Option<usize> {
    bytes.get(from..)?.windows(4).position(|w| w == MAGIC).map(|p| p + from)
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn runs_of(s: &Scan) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for b in &s.blocks {
        match runs.last_mut() {
            Some(r) if r.epoch == b.run.epoch && r.first_seq + r.count == b.run.first_seq => r.count += b.run.count,
            _ => runs.push(b.run),
        }
    }
    runs
}

pub struct Spool {
    dir: PathBuf,
    ledger: Ledger,
    epoch: u64,
    next_seq: u64,
    active: Option<(u64, File)>,
    pending: Vec<(i64, SampleBody)>,
    pending_since_ms: Option<u64>,
    drops: Vec<DroppedRange>,
    drops_changed: bool,
    pub counters: Counters,
}

impl Spool {
    /// Opens and recovers the spool in `dir`; new samples get `epoch`.
    pub fn open(dir: &Path, epoch: u64, limits: Limits) -> Result<(Spool, Recovery), StateError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let acked = std::fs::read_to_string(dir.join("acked")).ok().and_then(|s| {
            let mut it = s.split_whitespace().map(|v| v.parse::<u64>());
            Some((it.next()?.ok()?, it.next()?.ok()?))
        });
        let mut drops: Vec<DroppedRange> =
            std::fs::read(dir.join("drops")).ok().and_then(|b| postcard::from_bytes(&b).ok()).unwrap_or_default();
        let mut ids: Vec<u64> = std::fs::read_dir(dir)
            .map_err(io_err(dir))?
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
            .collect();
        ids.sort_unstable();
        let mut rec = Recovery::default();
        let mut segments = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let path = seg_path(dir, *id);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unreadable spool segment dropped");
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
            };
            let s = scan(&bytes);
            rec.corrupt_blocks += s.corrupt;
            if s.good_end < bytes.len() {
                if s.torn_tail && i + 1 == ids.len() {
                    rec.truncated_bytes += (bytes.len() - s.good_end) as u64;
                } else {
                    rec.corrupt_blocks += u64::from(s.corrupt == 0);
                }
                // Cut the damage off so later appends never follow garbage.
                if let Ok(f) = OpenOptions::new().write(true).open(&path) {
                    let _ = f.set_len(s.good_end as u64).and_then(|_| f.sync_all());
                }
            }
            let runs = runs_of(&s);
            if runs.is_empty() {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            segments.push(Segment { id: *id, bytes: s.good_end as u64, runs });
        }
        rec.segments = segments.len();
        // Gaps between what is on disk and what was acknowledged are lost keys.
        let mut expect: Option<Key> = acked.map(|(e, s)| (e, s + 1));
        for r in segments.iter().flat_map(|s| s.runs.iter()) {
            let gap = match expect {
                Some((e, s)) if e == r.epoch && r.first_seq > s => Some((s, r.first_seq - 1)),
                Some((e, _)) if r.epoch > e && r.first_seq > 0 => Some((0, r.first_seq - 1)),
                None if r.first_seq > 0 => Some((0, r.first_seq - 1)),
                _ => None,
            };
            if let Some((first, last)) = gap {
                rec.lost_keys += last - first + 1;
                push_drop(
                    &mut drops,
                    DroppedRange { boot_epoch: r.epoch, first_seq: first, last_seq: last, reason: DropReason::Corrupt },
                );
            }
            expect = Some((r.epoch, r.first_seq + r.count));
        }
        let (ledger, gone) = Ledger::recover(segments, acked, limits);
        for id in gone {
            let _ = std::fs::remove_file(seg_path(dir, id));
        }
        let spool = Spool {
            dir: dir.to_owned(),
            ledger,
            epoch,
            next_seq: 0,
            active: None,
            pending: Vec::new(),
            pending_since_ms: None,
            drops,
            drops_changed: rec.lost_keys > 0,
            counters: Counters { corrupt: rec.corrupt_blocks, dropped: rec.lost_keys, ..Counters::default() },
        };
        Ok((spool, rec))
    }

    /// Buffers a sample in memory; it becomes durable at the next flush.
    pub fn push(&mut self, ts_ms: i64, body: SampleBody, now_ms: u64) {
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
            self.counters.dropped += 1;
        }
        self.pending.push((ts_ms, body));
        self.pending_since_ms.get_or_insert(now_ms);
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn flush_due(&self, now_ms: u64) -> bool {
        self.ledger.flush_due(self.pending.len() as u64 * EST_SAMPLE_BYTES, self.pending_since_ms, now_ms)
    }

    /// Writes pending samples as one block and syncs it. Returns how many
    /// became durable. On error the samples stay pending (and the oldest
    /// segment is dropped if the disk is full), so the caller just retries.
    pub fn flush(&mut self) -> Result<usize, StateError> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        let n = self.pending.len();
        let payload = codec::encode_block(self.epoch, self.next_seq, &self.pending);
        let mut block = Vec::with_capacity(HEADER + payload.len());
        block.extend_from_slice(&MAGIC);
        block.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        block.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        block.extend_from_slice(&payload);
        let placement = self.ledger.place(block.len() as u64);
        match self.write_block(placement, &block) {
            Ok(()) => {
                self.ledger.committed(
                    placement,
                    block.len() as u64,
                    Run { epoch: self.epoch, first_seq: self.next_seq, count: n as u64 },
                );
                self.next_seq += n as u64;
                self.counters.appended += n as u64;
                self.pending.clear();
                self.pending_since_ms = None;
                for (id, lost) in self.ledger.enforce_cap() {
                    self.discard(id, lost, DropReason::SpoolFull);
                }
                self.save_drops();
                Ok(n)
            }
            Err(e) => {
                self.counters.write_errors += 1;
                self.ledger.write_failed(placement);
                self.active = None;
                let disk_full = matches!(&e, StateError::Io { source, .. } if source.raw_os_error() == Some(28));
                if disk_full && let Some((id, lost)) = self.ledger.evict_oldest() {
                    self.discard(id, lost, DropReason::DiskFull);
                    self.save_drops();
                }
                Err(e)
            }
        }
    }

    fn write_block(&mut self, placement: Placement, block: &[u8]) -> Result<(), StateError> {
        if let Placement::NewSegment(id) = placement {
            if let Some((_, f)) = self.active.take() {
                f.sync_data().map_err(io_err(&self.dir))?;
            }
            let path = seg_path(&self.dir, id);
            let f = OpenOptions::new().create(true).append(true).open(&path).map_err(io_err(&path))?;
            File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io_err(&self.dir))?;
            self.active = Some((id, f));
        }
        let (_, f) = self.active.as_mut().ok_or_else(|| StateError::Io {
            path: self.dir.clone(),
            source: std::io::Error::other("no active segment"),
        })?;
        f.write_all(block).map_err(io_err(&self.dir))?;
        f.sync_data().map_err(io_err(&self.dir))
    }

    fn discard(&mut self, id: u64, lost: Vec<Run>, reason: DropReason) {
        let _ = std::fs::remove_file(seg_path(&self.dir, id));
        for r in lost {
            self.counters.dropped += r.count;
            push_drop(
                &mut self.drops,
                DroppedRange { boot_epoch: r.epoch, first_seq: r.first_seq, last_seq: r.last().1, reason },
            );
            self.drops_changed = true;
        }
        tracing::warn!(segment = id, ?reason, "spool segment dropped");
    }

    fn save_drops(&mut self) {
        if !self.drops_changed {
            return;
        }
        let bytes = postcard::to_stdvec(&self.drops).expect("drops serialize");
        let tmp = self.dir.join("drops.tmp");
        if std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, self.dir.join("drops"))).is_ok() {
            self.drops_changed = false;
        }
    }

    /// Up to `max` durable samples after `after` (after the ack when `None`).
    pub fn read_after(&mut self, after: Option<Key>, max: usize) -> Result<Vec<Sample>, StateError> {
        let after = match (after, self.ledger.acked()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let mut out = Vec::new();
        let ids: Vec<u64> = self.ledger.segments_after(after).map(|s| s.id).collect();
        for id in ids {
            let path = seg_path(&self.dir, id);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    // Deleted or unreadable under us: report, never stall on it.
                    tracing::warn!(path = %path.display(), error = %e, "spool segment unreadable");
                    let lost = self.ledger.lose(id);
                    if self.active.as_ref().is_some_and(|(a, _)| *a == id) {
                        self.active = None;
                    }
                    self.discard(id, lost, DropReason::Corrupt);
                    self.save_drops();
                    continue;
                }
            };
            for b in scan(&bytes).blocks {
                if after.is_some_and(|a| b.run.last() <= a) {
                    continue;
                }
                let Ok(samples) = codec::decode_block(&bytes[b.offset + HEADER..b.offset + b.len]) else {
                    continue;
                };
                for s in samples {
                    if after.is_none_or(|a| (s.boot_epoch, s.seq) > a) {
                        out.push(s);
                        if out.len() >= max {
                            return Ok(out);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Records an acknowledgement and deletes fully acknowledged segments.
    pub fn ack(&mut self, key: Key) -> Result<(), StateError> {
        if self.ledger.acked().is_some_and(|a| a >= key) {
            return Ok(());
        }
        let before = self.ledger.backlog();
        for id in self.ledger.ack(key) {
            let _ = std::fs::remove_file(seg_path(&self.dir, id));
        }
        self.counters.acked += before - self.ledger.backlog();
        let tmp = self.dir.join("acked.tmp");
        std::fs::write(&tmp, format!("{} {}\n", key.0, key.1)).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, self.dir.join("acked")).map_err(io_err(&self.dir))
    }

    pub fn acked(&self) -> Option<Key> {
        self.ledger.acked()
    }

    pub fn backlog(&self) -> u64 {
        self.ledger.backlog()
    }

    pub fn disk_bytes(&self) -> u64 {
        self.ledger.total_bytes()
    }

    pub fn segment_count(&self) -> usize {
        self.ledger.segments().count()
    }

    /// Every range of keys lost so far (bounded), for the controller.
    pub fn drops(&self) -> &[DroppedRange] {
        &self.drops
    }
}

/// The keys held by valid blocks in a spool directory, read without
/// changing anything (for inspection and for the fault tests' checker).
pub fn durable_runs(dir: &Path) -> Vec<Run> {
    let mut ids: Vec<u64> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".seg")?.parse().ok()).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids.iter()
        .filter_map(|id| std::fs::read(seg_path(dir, *id)).ok())
        .flat_map(|b| scan(&b).blocks.into_iter().map(|b| b.run).collect::<Vec<_>>())
        .collect()
}

fn push_drop(drops: &mut Vec<DroppedRange>, d: DroppedRange) {
    if let Some(last) = drops.last_mut()
        && last.boot_epoch == d.boot_epoch
        && last.reason == d.reason
        && last.last_seq + 1 == d.first_seq
    {
        last.last_seq = d.last_seq;
        return;
    }
    if drops.contains(&d) {
        return;
    }
    drops.push(d);
    if drops.len() > MAX_DROP_RANGES {
        drops.remove(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping(i: u32) -> SampleBody {
        SampleBody::Ping { target: std::net::IpAddr::from((0x0a000000u32 + i).to_be_bytes()), rtt_us: Some(100 + i) }
    }

    fn limits(segment_bytes: u64, cap_bytes: u64) -> Limits {
        Limits { segment_bytes, cap_bytes, flush_bytes: 1 << 20, flush_ms: 100 }
    }

    fn fill(s: &mut Spool, blocks: u32, per: u32) {
        for b in 0..blocks {
            for i in 0..per {
                s.push(1000 + b as i64, ping(i), 0);
            }
            s.flush().unwrap();
        }
    }

    fn segs(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn append_read_ack_delete_and_reopen() {
        let d = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(d.path(), 1, limits(300, 1 << 20)).unwrap();
        fill(&mut s, 10, 20);
        assert_eq!(s.backlog(), 200);
        assert!(s.segment_count() > 1, "small segments roll");
        let first = s.read_after(None, 5).unwrap();
        assert_eq!(first.iter().map(|x| x.seq).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        assert_eq!(first[0].body, ping(0));
        s.ack((1, 99)).unwrap();
        assert_eq!(s.backlog(), 100);
        assert_eq!(s.read_after(None, 1000).unwrap().first().map(|x| x.seq), Some(100));
        drop(s);
        let (mut s, rec) = Spool::open(d.path(), 2, limits(300, 1 << 20)).unwrap();
        assert_eq!((rec.corrupt_blocks, rec.truncated_bytes, rec.lost_keys), (0, 0, 0));
        assert_eq!(s.backlog(), 100);
        fill(&mut s, 1, 3);
        let all = s.read_after(None, 1000).unwrap();
        assert_eq!(all.len(), 103);
        assert_eq!((all[100].boot_epoch, all[100].seq), (2, 0));
    }

    #[test]
    fn torn_tail_is_truncated_and_not_counted_as_loss() {
        let d = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(d.path(), 1, limits(1 << 20, 1 << 30)).unwrap();
        fill(&mut s, 3, 10);
        drop(s);
        let seg = segs(d.path()).pop().unwrap();
        let len = std::fs::metadata(&seg).unwrap().len();
        OpenOptions::new().write(true).open(&seg).unwrap().set_len(len - 7).unwrap();
        let (mut s, rec) = Spool::open(d.path(), 2, limits(1 << 20, 1 << 30)).unwrap();
        assert!(rec.truncated_bytes > 0);
        assert_eq!(rec.corrupt_blocks, 0);
        assert_eq!(s.backlog(), 20);
        assert_eq!(s.read_after(None, 100).unwrap().len(), 20);
    }

    #[test]
    fn corrupt_block_is_skipped_counted_and_reported() {
        let d = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(d.path(), 1, limits(1 << 20, 1 << 30)).unwrap();
        fill(&mut s, 3, 10);
        drop(s);
        let seg = segs(d.path()).pop().unwrap();
        let mut bytes = std::fs::read(&seg).unwrap();
        let second = scan(&bytes).blocks[1];
        bytes[second.offset + HEADER + 5] ^= 0x40; // flip a bit inside the second block
        std::fs::write(&seg, &bytes).unwrap();
        let (mut s, rec) = Spool::open(d.path(), 2, limits(1 << 20, 1 << 30)).unwrap();
        assert_eq!(rec.corrupt_blocks, 1);
        assert_eq!(rec.lost_keys, 10);
        let got: Vec<u64> = s.read_after(None, 100).unwrap().iter().map(|x| x.seq).collect();
        assert_eq!(got, (0..10).chain(20..30).collect::<Vec<_>>());
        assert_eq!(
            s.drops(),
            &[DroppedRange { boot_epoch: 1, first_seq: 10, last_seq: 19, reason: DropReason::Corrupt }]
        );
        // A damaged length prefix is skipped too.
        drop(s);
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[4] ^= 0xff;
        std::fs::write(&seg, &bytes).unwrap();
        let (mut s, rec) = Spool::open(d.path(), 3, limits(1 << 20, 1 << 30)).unwrap();
        assert!(rec.corrupt_blocks >= 1);
        assert_eq!(s.read_after(None, 100).unwrap().first().map(|x| x.seq), Some(20));
    }

    #[test]
    fn size_cap_drops_oldest_and_reports_exactly() {
        let d = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(d.path(), 1, limits(400, 1000)).unwrap();
        fill(&mut s, 40, 20);
        assert!(s.disk_bytes() <= 1000 + 400);
        let kept = s.backlog();
        assert_eq!(kept + s.counters.dropped, 800, "every sample is either kept or counted dropped");
        let dropped: u64 = s.drops().iter().map(|d| d.last_seq - d.first_seq + 1).sum();
        assert_eq!(dropped, s.counters.dropped);
        assert_eq!(s.read_after(None, 10_000).unwrap().len() as u64, kept);
    }

    #[test]
    fn deleted_segment_is_reported_not_fatal() {
        let d = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(d.path(), 1, limits(300, 1 << 20)).unwrap();
        fill(&mut s, 10, 20);
        let victim = segs(d.path())[1].clone();
        std::fs::remove_file(&victim).unwrap();
        let got = s.read_after(None, 10_000).unwrap();
        let lost: u64 = s.drops().iter().map(|d| d.last_seq - d.first_seq + 1).sum();
        assert_eq!(got.len() as u64 + lost, 200);
        assert_eq!(s.backlog(), got.len() as u64);
    }
}
