//! Pure bookkeeping of the spool: which segments exist, what the controller
//! acknowledged, what may be deleted and how much is still owed. No IO and no
//! clock; the file layer in `spool/mod.rs` drives it.
//!
//! Model: records carry keys `(boot_epoch, seq)`, strictly increasing in
//! append order. A segment holds records of one boot epoch with consecutive
//! seqs. Invariants: a segment is deletable only when it is sealed (not the
//! active one) and every record in it is acknowledged; acks never move back.

pub type Key = (u64, u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub id: u64,
    pub epoch: u64,
    pub first_seq: u64,
    /// `None` while the segment holds no record.
    pub last_seq: Option<u64>,
    pub bytes: u64,
}

impl Segment {
    pub fn last_key(&self) -> Option<Key> {
        self.last_seq.map(|s| (self.epoch, s))
    }
    fn records_after(&self, acked: Option<Key>) -> u64 {
        let Some(last) = self.last_seq else { return 0 };
        match acked {
            Some((e, _)) if e > self.epoch => 0,
            Some((e, s)) if e == self.epoch && s >= self.first_seq => last.saturating_sub(s),
            _ => last - self.first_seq + 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    segments: Vec<Segment>,
    acked: Option<Key>,
    max_segment_bytes: u64,
}

impl Ledger {
    /// `segments` in id order, as recovered from disk.
    pub fn new(segments: Vec<Segment>, acked: Option<Key>, max_segment_bytes: u64) -> Ledger {
        Ledger {
            segments,
            acked,
            max_segment_bytes,
        }
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn acked(&self) -> Option<Key> {
        self.acked
    }

    pub fn next_segment_id(&self) -> u64 {
        self.segments.last().map_or(1, |s| s.id + 1)
    }

    /// Whether a record of `bytes` for `epoch` needs a fresh segment first.
    pub fn needs_new_segment(&self, epoch: u64, bytes: u64) -> bool {
        match self.segments.last() {
            None => true,
            Some(s) => s.epoch != epoch || (s.last_seq.is_some() && s.bytes + bytes > self.max_segment_bytes),
        }
    }

    pub fn open_segment(&mut self, id: u64, epoch: u64, first_seq: u64) {
        debug_assert!(self.segments.last().is_none_or(|s| s.id < id));
        self.segments.push(Segment {
            id,
            epoch,
            first_seq,
            last_seq: None,
            bytes: 0,
        });
    }

    /// Records an appended record in the active segment.
    pub fn appended(&mut self, seq: u64, bytes: u64) {
        if let Some(s) = self.segments.last_mut() {
            s.last_seq = Some(seq);
            s.bytes += bytes;
        }
    }

    /// Applies an acknowledgement; returns the ids of segments now deletable.
    /// An ack at or below the current one changes nothing.
    pub fn ack(&mut self, key: Key) -> Vec<u64> {
        if self.acked.is_some_and(|a| a >= key) {
            return Vec::new();
        }
        self.acked = Some(key);
        let active = self.segments.last().map(|s| s.id);
        let mut gone = Vec::new();
        self.segments.retain(|s| {
            let done = Some(s.id) != active && s.last_key().is_none_or(|k| k <= key);
            if done {
                gone.push(s.id);
            }
            !done
        });
        gone
    }

    /// Records appended and not yet acknowledged.
    pub fn backlog(&self) -> u64 {
        self.segments.iter().map(|s| s.records_after(self.acked)).sum()
    }

    /// Ids of segments that may hold records after `after`, in order.
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

    #[derive(Debug, Clone)]
    enum Op {
        Append(u16),
        Ack(u16),
        Restart,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1u16..200).prop_map(Op::Append),
            2 => any::<u16>().prop_map(Op::Ack),
            1 => Just(Op::Restart),
        ]
    }

    proptest! {
        /// Against a model that keeps every key: the backlog equals the keys
        /// above the ack, and no segment holding an unacked key is deleted.
        #[test]
        fn ledger_matches_model(ops in proptest::collection::vec(op(), 1..200)) {
            let mut l = Ledger::new(Vec::new(), None, 1000);
            let mut model: Vec<Key> = Vec::new();
            let mut epoch = 1;
            let mut seq = 0;
            let mut acked: Option<Key> = None;
            for op in ops {
                match op {
                    Op::Append(bytes) => {
                        if l.needs_new_segment(epoch, bytes as u64) {
                            let id = l.next_segment_id();
                            l.open_segment(id, epoch, seq);
                        }
                        l.appended(seq, bytes as u64);
                        model.push((epoch, seq));
                        seq += 1;
                    }
                    Op::Ack(pick) => {
                        if model.is_empty() { continue; }
                        let k = model[pick as usize % model.len()];
                        l.ack(k);
                        acked = Some(acked.map_or(k, |a: Key| a.max(k)));
                    }
                    Op::Restart => { epoch += 1; seq = 0; }
                }
                let owed: Vec<Key> = model.iter().copied().filter(|k| acked.is_none_or(|a| *k > a)).collect();
                prop_assert_eq!(l.backlog(), owed.len() as u64);
                for k in &owed {
                    prop_assert!(l.segments().iter().any(|s| s.epoch == k.0 && s.first_seq <= k.1 && s.last_seq.is_some_and(|x| x >= k.1)),
                        "unacked key {:?} lost its segment", k);
                }
            }
        }
    }
}
