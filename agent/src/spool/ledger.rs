//! Pure bookkeeping of the spool (no IO, no clock): which segments hold which
//! sample keys, what the controller acknowledged, what is deletable, what the
//! size cap forces out, and when a group commit is due. The file layer in
//! `spool/mod.rs` asks it what to do and reports back what happened.
//!
//! Model: samples have keys `(boot_epoch, seq)`, strictly increasing in append
//! order. A segment holds blocks; the ledger keeps, per segment, its size and
//! its keys as runs of consecutive seqs (corruption can split a run).
//! Invariants:
//! - a segment is deleted for acknowledgement only when it is sealed (not the
//!   one being written) and every key in it is at or below the ack;
//! - acks never move backwards;
//! - over the size cap, whole segments go oldest first, and every unacked key
//!   in them is reported as dropped: nothing leaves silently;
//! - after a reopen, writing starts in a fresh segment (an old tail is never
//!   appended to).

use std::collections::VecDeque;

pub type Key = (u64, u64);

/// Consecutive keys `(epoch, first_seq) ..= (epoch, first_seq + count - 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub epoch: u64,
    pub first_seq: u64,
    pub count: u64,
}

impl Run {
    pub fn last(&self) -> Key {
        (self.epoch, self.first_seq + self.count.saturating_sub(1))
    }
    /// The part of this run above `acked`, if any.
    pub fn after(&self, acked: Option<Key>) -> Option<Run> {
        let Some((e, s)) = acked else { return Some(*self) };
        if self.count == 0 || self.last() <= (e, s) {
            None
        } else if e < self.epoch || s < self.first_seq {
            Some(*self)
        } else {
            Some(Run { epoch: self.epoch, first_seq: s + 1, count: self.first_seq + self.count - (s + 1) })
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub id: u64,
    pub bytes: u64,
    pub runs: Vec<Run>,
}

impl Segment {
    pub fn last_key(&self) -> Option<Key> {
        self.runs.last().map(Run::last)
    }
    fn unacked(&self, acked: Option<Key>) -> Vec<Run> {
        self.runs.iter().filter_map(|r| r.after(acked)).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A segment is sealed once it reaches this size.
    pub segment_bytes: u64,
    /// Total size of all segments; beyond it the oldest segment is dropped.
    pub cap_bytes: u64,
    /// Group commit: flush when this many encoded bytes are pending...
    pub flush_bytes: u64,
    /// ...or when the oldest pending sample has waited this long.
    pub flush_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { segment_bytes: 8 << 20, cap_bytes: 1 << 30, flush_bytes: 64 << 10, flush_ms: 100 }
    }
}

/// Where the next block goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Append(u64),
    NewSegment(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    segments: VecDeque<Segment>,
    acked: Option<Key>,
    limits: Limits,
    /// The last segment may not be appended to (after reopen or a failed write).
    sealed: bool,
    next_id: u64,
}

impl Ledger {
    /// Rebuilds the ledger from the segments found on disk (in id order) and
    /// the persisted ack; returns it with the ids of segments already fully
    /// acknowledged (to delete).
    pub fn recover(segments: Vec<Segment>, acked: Option<Key>, limits: Limits) -> (Ledger, Vec<u64>) {
        let next_id = segments.iter().map(|s| s.id + 1).max().unwrap_or(1);
        let mut l = Ledger { segments: segments.into(), acked: None, limits, sealed: true, next_id };
        let gone = acked.map(|a| l.ack(a)).unwrap_or_default();
        (l, gone)
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter()
    }

    pub fn acked(&self) -> Option<Key> {
        self.acked
    }

    pub fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Keys appended and not yet acknowledged.
    pub fn backlog(&self) -> u64 {
        self.segments.iter().flat_map(|s| s.unacked(self.acked)).map(|r| r.count).sum()
    }

    /// Pure group-commit policy.
    pub fn flush_due(&self, pending_bytes: u64, oldest_pending_ms: Option<u64>, now_ms: u64) -> bool {
        pending_bytes >= self.limits.flush_bytes
            || oldest_pending_ms.is_some_and(|t| now_ms.saturating_sub(t) >= self.limits.flush_ms)
    }

    /// Decides where a block of `bytes` goes.
    pub fn place(&mut self, bytes: u64) -> Placement {
        match self.segments.back() {
            Some(s) if !self.sealed && (s.bytes == 0 || s.bytes + bytes <= self.limits.segment_bytes) => {
                Placement::Append(s.id)
            }
            _ => {
                let id = self.next_id;
                self.next_id += 1;
                Placement::NewSegment(id)
            }
        }
    }

    /// A block was written and synced: record it.
    pub fn committed(&mut self, placement: Placement, bytes: u64, run: Run) {
        match placement {
            Placement::NewSegment(id) => {
                self.segments.push_back(Segment { id, bytes: 0, runs: Vec::new() });
                self.sealed = false;
            }
            Placement::Append(id) => debug_assert_eq!(self.segments.back().map(|s| s.id), Some(id)),
        }
        let seg = self.segments.back_mut().expect("a segment was just placed");
        seg.bytes += bytes;
        if run.count == 0 {
            return;
        }
        match seg.runs.last_mut() {
            Some(r) if r.epoch == run.epoch && r.first_seq + r.count == run.first_seq => r.count += run.count,
            _ => seg.runs.push(run),
        }
    }

    /// A write failed: never append to that segment again (its tail may be torn).
    pub fn write_failed(&mut self, placement: Placement) {
        if let Placement::NewSegment(id) = placement {
            // The file may exist, empty or torn; track it so it gets cleaned up.
            self.segments.push_back(Segment { id, bytes: 0, runs: Vec::new() });
        }
        self.sealed = true;
    }

    /// Applies an acknowledgement; returns segments to delete. Older acks are ignored.
    pub fn ack(&mut self, key: Key) -> Vec<u64> {
        if self.acked.is_some_and(|a| a >= key) {
            return Vec::new();
        }
        self.acked = Some(key);
        let last = self.segments.len().saturating_sub(1);
        let sealed = self.sealed;
        let mut gone = Vec::new();
        let mut i = 0;
        self.segments.retain(|s| {
            let writable = i == last && !sealed;
            i += 1;
            let done = !writable && s.last_key().is_none_or(|k| k <= key);
            if done {
                gone.push(s.id);
            }
            !done
        });
        gone
    }

    /// Enforces the size cap: removes the oldest segments until under it,
    /// returning each removed segment's id and its unacknowledged runs.
    /// The segment being written is never removed.
    pub fn enforce_cap(&mut self) -> Vec<(u64, Vec<Run>)> {
        let mut out = Vec::new();
        while self.total_bytes() > self.limits.cap_bytes && self.segments.len() > 1 {
            let s = self.segments.pop_front().expect("len > 1");
            out.push((s.id, s.unacked(self.acked)));
        }
        out
    }

    /// Removes the oldest segment regardless of the cap (disk full).
    pub fn evict_oldest(&mut self) -> Option<(u64, Vec<Run>)> {
        if self.segments.len() <= 1 && !self.sealed {
            return None;
        }
        let s = self.segments.pop_front()?;
        Some((s.id, s.unacked(self.acked)))
    }

    /// A segment vanished or became unreadable: forget it, returning the
    /// unacknowledged runs it held (now lost).
    pub fn lose(&mut self, id: u64) -> Vec<Run> {
        let Some(pos) = self.segments.iter().position(|s| s.id == id) else {
            return Vec::new();
        };
        if pos + 1 == self.segments.len() {
            self.sealed = true;
        }
        let s = self.segments.remove(pos).expect("position exists");
        s.unacked(self.acked)
    }

    /// Segments that may hold keys after `after`, oldest first.
    pub fn segments_after(&self, after: Option<Key>) -> impl Iterator<Item = &Segment> {
        self.segments.iter().filter(move |s| match (s.last_key(), after) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(last), Some(a)) => last > a,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A simulated disk: per segment, its blocks and whether each is synced.
    /// The ledger drives it exactly as the file layer drives real files.
    #[derive(Default, Clone)]
    struct Disk {
        segs: BTreeMap<u64, Vec<(Run, u64)>>,
    }

    impl Disk {
        fn scan(&self) -> Vec<Segment> {
            self.segs
                .iter()
                .map(|(id, blocks)| {
                    let mut s = Segment { id: *id, bytes: 0, runs: Vec::new() };
                    for (run, bytes) in blocks {
                        s.bytes += bytes;
                        match s.runs.last_mut() {
                            Some(r) if r.epoch == run.epoch && r.first_seq + r.count == run.first_seq => {
                                r.count += run.count
                            }
                            _ => s.runs.push(*run),
                        }
                    }
                    s
                })
                .collect()
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(u8),
        Flush,
        Ack(u16),
        Crash,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => (1u8..40).prop_map(Op::Push),
            3 => Just(Op::Flush),
            2 => any::<u16>().prop_map(Op::Ack),
            1 => Just(Op::Crash),
        ]
    }

    struct Harness {
        ledger: Ledger,
        disk: Disk,
        acked_file: Option<Key>,
        epoch: u64,
        next_seq: u64,
        pending: u64,
        // model
        durable: Vec<Key>,
        acked: Option<Key>,
        dropped: Vec<Key>,
    }

    impl Harness {
        fn new(limits: Limits) -> Harness {
            Harness {
                ledger: Ledger::recover(Vec::new(), None, limits).0,
                disk: Disk::default(),
                acked_file: None,
                epoch: 1,
                next_seq: 0,
                pending: 0,
                durable: Vec::new(),
                acked: None,
                dropped: Vec::new(),
            }
        }

        fn flush(&mut self) {
            if self.pending == 0 {
                return;
            }
            let run = Run { epoch: self.epoch, first_seq: self.next_seq, count: self.pending };
            let bytes = 6 * self.pending + 12;
            let p = self.ledger.place(bytes);
            if let Placement::NewSegment(id) = p {
                self.disk.segs.insert(id, Vec::new());
            }
            let id = match p {
                Placement::Append(id) | Placement::NewSegment(id) => id,
            };
            self.disk.segs.get_mut(&id).expect("placed segment exists").push((run, bytes));
            self.ledger.committed(p, bytes, run);
            self.durable.extend((0..run.count).map(|i| (run.epoch, run.first_seq + i)));
            self.next_seq += self.pending;
            self.pending = 0;
            for (id, lost) in self.ledger.enforce_cap() {
                self.disk.segs.remove(&id);
                for r in lost {
                    self.dropped.extend((0..r.count).map(|i| (r.epoch, r.first_seq + i)));
                }
            }
        }
    }

    proptest! {
        // Each case runs up to 300 operations with a full re-scan after each;
        // 96 cases keep the suite quick under qemu too.
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Random push / flush / ack / crash+reopen sequences: the ledger's
        /// backlog always equals the model's durable, unacknowledged, undropped
        /// keys; every such key is on the simulated disk; reopening from disk
        /// gives the same answers; the cap holds after every flush.
        #[test]
        fn ledger_matches_model(ops in proptest::collection::vec(op(), 1..300), cap in 200u64..3000) {
            let limits = Limits { segment_bytes: 300, cap_bytes: cap, flush_bytes: 1 << 20, flush_ms: 100 };
            let mut h = Harness::new(limits);
            for op in ops {
                match op {
                    Op::Push(n) => h.pending += n as u64,
                    Op::Flush => h.flush(),
                    Op::Ack(pick) => {
                        // The controller only acks keys it received, i.e. durable ones.
                        if h.durable.is_empty() { continue; }
                        let k = h.durable[pick as usize % h.durable.len()];
                        for id in h.ledger.ack(k) {
                            h.disk.segs.remove(&id);
                        }
                        h.acked_file = Some(h.acked_file.map_or(k, |a| a.max(k)));
                        h.acked = h.acked_file;
                    }
                    Op::Crash => {
                        // Unflushed samples never got keys; the epoch moves on.
                        h.pending = 0;
                        let (ledger, gone) = Ledger::recover(h.disk.scan(), h.acked_file, limits);
                        h.ledger = ledger;
                        for id in gone {
                            h.disk.segs.remove(&id);
                        }
                        h.epoch += 1;
                        h.next_seq = 0;
                    }
                }
                let owed: Vec<Key> = h.durable.iter().copied()
                    .filter(|k| h.acked.is_none_or(|a| *k > a) && !h.dropped.contains(k))
                    .collect();
                prop_assert_eq!(h.ledger.backlog(), owed.len() as u64);
                let on_disk = h.disk.scan();
                for k in &owed {
                    prop_assert!(on_disk.iter().any(|s| s.runs.iter().any(|r| r.epoch == k.0 && r.first_seq <= k.1 && k.1 < r.first_seq + r.count)),
                        "unacked key {:?} is gone from disk", k);
                }
                let (reopened, _) = Ledger::recover(on_disk, h.acked_file, limits);
                prop_assert_eq!(reopened.backlog(), h.ledger.backlog());
                prop_assert!(h.ledger.total_bytes() <= cap.max(h.ledger.segments().last().map_or(0, |s| s.bytes)));
            }
        }
    }

    #[test]
    fn run_after_ack() {
        let r = Run { epoch: 2, first_seq: 10, count: 5 };
        assert_eq!(r.after(None), Some(r));
        assert_eq!(r.after(Some((1, 99))), Some(r));
        assert_eq!(r.after(Some((2, 12))), Some(Run { epoch: 2, first_seq: 13, count: 2 }));
        assert_eq!(r.after(Some((2, 14))), None);
        assert_eq!(r.after(Some((3, 0))), None);
    }

    #[test]
    fn group_commit_policy() {
        let (l, _) = Ledger::recover(Vec::new(), None, Limits { flush_bytes: 100, flush_ms: 100, ..Limits::default() });
        assert!(!l.flush_due(10, Some(1000), 1050));
        assert!(l.flush_due(10, Some(1000), 1100));
        assert!(l.flush_due(100, Some(1000), 1000));
        assert!(!l.flush_due(0, None, 5000));
    }
}
