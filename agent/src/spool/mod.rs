//! The agent's on-disk buffer: append-only segment files of checksummed
//! records, a ledger of what the controller acknowledged, and deletion of a
//! segment only once every record in it is acknowledged.
//!
//! On-disk layout (`<state>/spool/`):
//! - `NNNNNNNNNNNNNNNNNNNN.seg`: records `[len u32 LE][crc32 u32 LE][postcard Sample]`;
//!   one boot epoch per segment, rolled at `max_segment_bytes`.
//! - `acked`: `"<epoch> <seq>\n"`, replaced atomically. Not fsynced: losing
//!   it only means resending samples the controller then deduplicates.
//!
//! Durability: `append_batch` returns after `fdatasync`, so a sample handed
//! to the link has survived a power cut. Recovery: a torn tail of the last
//! segment is truncated; a corrupt record in an older segment ends that
//! segment (the rest is counted as corrupt). This is the spine's simple log;
//! the full spool (size cap, compact encoding, group commit timing) is its own
//! piece of work.

pub mod ledger;

use crate::identity::{StateError, io_err};
use ledger::{Key, Ledger, Segment};
use mast_shared::Sample;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAX_RECORD: usize = 64 * 1024;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    pub truncated_bytes: u64,
    pub corrupt_records: u64,
    pub segments: usize,
}

pub struct Spool {
    dir: PathBuf,
    ledger: Ledger,
    active: Option<File>,
    epoch: u64,
    next_seq: u64,
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// Parses records from a segment's bytes. Returns the samples and the offset
/// of the first byte that is not a whole valid record.
fn parse(bytes: &[u8]) -> (Vec<Sample>, usize) {
    let mut out = Vec::new();
    let mut off = 0;
    while bytes.len() - off >= 8 {
        let len = u32::from_le_bytes(bytes[off..off + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[off + 4..off + 8].try_into().expect("4 bytes"));
        if len == 0 || len > MAX_RECORD || bytes.len() - off - 8 < len {
            break;
        }
        let body = &bytes[off + 8..off + 8 + len];
        if crc32fast::hash(body) != crc {
            break;
        }
        match mast_shared::decode::<Sample>(body) {
            Ok(s) => out.push(s),
            Err(_) => break,
        }
        off += 8 + len;
    }
    (out, off)
}

impl Spool {
    /// Opens (recovering) the spool; new samples get `epoch` and seqs from 0.
    pub fn open(dir: &Path, epoch: u64, max_segment_bytes: u64) -> Result<(Spool, Recovery), StateError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let acked = std::fs::read_to_string(dir.join("acked")).ok().and_then(|s| {
            let mut it = s.split_whitespace().map(|v| v.parse::<u64>());
            Some((it.next()?.ok()?, it.next()?.ok()?))
        });
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
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&path)(e)),
            };
            let (samples, good) = parse(&bytes);
            if good < bytes.len() {
                if i + 1 == ids.len() {
                    // Torn tail from a crash mid-append: cut it off.
                    let f = OpenOptions::new().write(true).open(&path).map_err(io_err(&path))?;
                    f.set_len(good as u64).map_err(io_err(&path))?;
                    f.sync_all().map_err(io_err(&path))?;
                    rec.truncated_bytes += (bytes.len() - good) as u64;
                } else {
                    rec.corrupt_records += 1;
                }
            }
            let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
                let _ = std::fs::remove_file(&path);
                continue;
            };
            segments.push(Segment {
                id: *id,
                epoch: first.boot_epoch,
                first_seq: first.seq,
                last_seq: Some(last.seq),
                bytes: good as u64,
            });
        }
        rec.segments = segments.len();
        let mut ledger = Ledger::new(segments, None, max_segment_bytes);
        if let Some(a) = acked {
            for id in ledger.ack(a) {
                let _ = std::fs::remove_file(seg_path(dir, id));
            }
        }
        Ok((
            Spool {
                dir: dir.to_owned(),
                ledger,
                active: None,
                epoch,
                next_seq: 0,
            },
            rec,
        ))
    }

    /// Appends samples (assigning their keys) and syncs them to disk.
    pub fn append_batch(
        &mut self,
        make: impl IntoIterator<Item = (i64, mast_shared::SampleBody)>,
    ) -> Result<usize, StateError> {
        let mut n = 0;
        let mut buf = Vec::new();
        for (ts_ms, body) in make {
            let sample = Sample {
                boot_epoch: self.epoch,
                seq: self.next_seq,
                ts_ms,
                body,
            };
            let enc = postcard::to_stdvec(&sample).expect("samples serialize");
            let rec_len = 8 + enc.len() as u64;
            if self.active.is_none() || self.ledger.needs_new_segment(self.epoch, rec_len) {
                self.flush_buf(&mut buf)?;
                self.roll()?;
            }
            buf.extend_from_slice(&(enc.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(&enc).to_le_bytes());
            buf.extend_from_slice(&enc);
            self.ledger.appended(self.next_seq, rec_len);
            self.next_seq += 1;
            n += 1;
        }
        self.flush_buf(&mut buf)?;
        if let Some(f) = &self.active {
            f.sync_data().map_err(io_err(&self.dir))?;
        }
        Ok(n)
    }

    fn flush_buf(&mut self, buf: &mut Vec<u8>) -> Result<(), StateError> {
        if let Some(f) = &mut self.active
            && !buf.is_empty()
        {
            f.write_all(buf).map_err(io_err(&self.dir))?;
            buf.clear();
        }
        Ok(())
    }

    fn roll(&mut self) -> Result<(), StateError> {
        if let Some(f) = self.active.take() {
            f.sync_data().map_err(io_err(&self.dir))?;
        }
        let id = self.ledger.next_segment_id();
        let path = seg_path(&self.dir, id);
        let f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))?;
        self.ledger.open_segment(id, self.epoch, self.next_seq);
        self.active = Some(f);
        Ok(())
    }

    /// Up to `max` samples after `after` (all unacked ones when `None`).
    pub fn read_after(&self, after: Option<Key>, max: usize) -> Result<Vec<Sample>, StateError> {
        let after = match (after, self.ledger.acked()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let mut out = Vec::new();
        for seg in self.ledger.segments_after(after) {
            let path = seg_path(&self.dir, seg.id);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                // A segment deleted under us: skip it rather than stall forever.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&path)(e)),
            };
            let (samples, _) = parse(&bytes);
            for s in samples {
                if after.is_none_or(|a| (s.boot_epoch, s.seq) > a) {
                    out.push(s);
                    if out.len() >= max {
                        return Ok(out);
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
        let gone = self.ledger.ack(key);
        let p = self.dir.join("acked");
        let tmp = self.dir.join("acked.tmp");
        std::fs::write(&tmp, format!("{} {}\n", key.0, key.1)).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &p).map_err(io_err(&p))?;
        for id in gone {
            let _ = std::fs::remove_file(seg_path(&self.dir, id));
        }
        Ok(())
    }

    pub fn acked(&self) -> Option<Key> {
        self.ledger.acked()
    }

    pub fn backlog(&self) -> u64 {
        self.ledger.backlog()
    }

    pub fn segment_count(&self) -> usize {
        self.ledger.segments().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mast_shared::SampleBody;

    fn ping(i: u8) -> (i64, SampleBody) {
        (
            i as i64,
            SampleBody::Ping {
                target: [127, 0, 0, i].into(),
                rtt_us: Some(i as u32),
            },
        )
    }

    #[test]
    fn append_read_ack_delete_and_reopen() {
        let d = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(d.path(), 1, 200).unwrap();
        s.append_batch((0..20).map(ping)).unwrap();
        assert_eq!(s.backlog(), 20);
        assert!(s.segment_count() > 1, "small segments roll");
        let first = s.read_after(None, 5).unwrap();
        assert_eq!(first.iter().map(|x| x.seq).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        s.ack((1, 9)).unwrap();
        assert_eq!(s.backlog(), 10);
        assert_eq!(s.read_after(None, 100).unwrap().first().map(|x| x.seq), Some(10));
        drop(s);
        // restart: new epoch, old unacked samples still there
        let (mut s, rec) = Spool::open(d.path(), 2, 200).unwrap();
        assert_eq!(
            rec,
            Recovery {
                truncated_bytes: 0,
                corrupt_records: 0,
                segments: rec.segments
            }
        );
        assert_eq!(s.backlog(), 10);
        s.append_batch((0..3).map(ping)).unwrap();
        let all = s.read_after(None, 100).unwrap();
        assert_eq!(all.len(), 13);
        assert_eq!((all[10].boot_epoch, all[10].seq), (2, 0));
    }

    #[test]
    fn torn_tail_is_truncated() {
        let d = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(d.path(), 1, 1 << 20).unwrap();
        s.append_batch((0..5).map(ping)).unwrap();
        drop(s);
        let seg = std::fs::read_dir(d.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| e.path().extension().is_some_and(|x| x == "seg"))
            .unwrap()
            .path();
        let len = std::fs::metadata(&seg).unwrap().len();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 3).unwrap();
        let (s, rec) = Spool::open(d.path(), 2, 1 << 20).unwrap();
        assert!(rec.truncated_bytes > 0);
        assert_eq!(s.backlog(), 4);
    }
}
