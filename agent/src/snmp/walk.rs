//! Walking several columns of a table at once with GETBULK (pure state
//! machine: the shell sends [`TableWalk::next_request`] and feeds the reply
//! back). A column ends when the agent leaves its subtree, answers
//! endOfMibView or an exception, or stops making progress; a walk ends when
//! every column has, or at the row cap (a looping agent cannot hold us).

use super::value::Value;
use std::collections::BTreeMap;

/// Rows by index (the OID arcs after the column), one slot per column.
pub type Rows = BTreeMap<Vec<u32>, Vec<Option<Value>>>;

#[derive(Debug, Clone)]
pub struct TableWalk {
    columns: Vec<Vec<u32>>,
    cursors: Vec<Vec<u32>>,
    done: Vec<bool>,
    rows: Rows,
    max_rows: usize,
    /// The agent returned OIDs out of order (a broken agent); the walk was cut.
    pub non_increasing: bool,
    /// The row cap was hit.
    pub truncated: bool,
    /// Varbinds received that belonged to the table.
    pub varbinds: usize,
}

/// What one reply did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Every requested repetition was present.
    pub full: bool,
    /// At least one column advanced.
    pub progressed: bool,
}

impl TableWalk {
    pub fn new(columns: &[&[u32]], max_rows: usize) -> TableWalk {
        TableWalk {
            columns: columns.iter().map(|c| c.to_vec()).collect(),
            cursors: columns.iter().map(|c| c.to_vec()).collect(),
            done: vec![columns.is_empty(); columns.len()],
            rows: Rows::new(),
            max_rows,
            non_increasing: false,
            truncated: false,
            varbinds: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.done.iter().all(|d| *d)
    }

    /// Column positions still being walked, and the OIDs to continue from.
    pub fn next_request(&self) -> (Vec<usize>, Vec<Vec<u32>>) {
        let active: Vec<usize> = (0..self.columns.len()).filter(|j| !self.done[*j]).collect();
        let oids = active.iter().map(|j| self.cursors[*j].clone()).collect();
        (active, oids)
    }

    /// Rows seen so far (for a max-repetitions hint on the next poll).
    pub fn row_count(&self) -> usize {
        self.rows.len()
    }

    /// Feeds the varbinds of a GETBULK (non-repeaters 0) or GETNEXT reply
    /// for the columns `requested` (as returned by `next_request`), asked
    /// with `repetitions`.
    pub fn feed(&mut self, requested: &[usize], repetitions: u32, varbinds: Vec<(Vec<u32>, Value)>) -> Fed {
        let n = requested.len();
        let full = n > 0 && varbinds.len() >= n.saturating_mul(repetitions as usize);
        let mut progressed = false;
        if n == 0 {
            return Fed { full, progressed };
        }
        if varbinds.is_empty() {
            for j in requested {
                self.done[*j] = true;
            }
            return Fed { full, progressed };
        }
        let ncols = self.columns.len();
        for (k, (oid, val)) in varbinds.into_iter().enumerate() {
            let Some(&j) = requested.get(k % n) else { break };
            if self.done[j] {
                continue;
            }
            let col = &self.columns[j];
            let in_subtree = oid.len() > col.len() && oid.starts_with(col);
            if !in_subtree || matches!(val, Value::EndOfMibView | Value::NoSuchObject | Value::NoSuchInstance) {
                self.done[j] = true;
                continue;
            }
            if oid <= self.cursors[j] {
                self.non_increasing = true;
                self.done[j] = true;
                continue;
            }
            let index = oid[col.len()..].to_vec();
            if !self.rows.contains_key(&index) && self.rows.len() >= self.max_rows {
                self.truncated = true;
                self.done.iter_mut().for_each(|d| *d = true);
                break;
            }
            self.rows.entry(index).or_insert_with(|| vec![None; ncols])[j] = Some(val);
            self.cursors[j] = oid;
            self.varbinds += 1;
            progressed = true;
        }
        if !progressed {
            // Nothing usable for any requested column: stop rather than ask again.
            for j in requested {
                self.done[*j] = true;
            }
        }
        Fed { full, progressed }
    }

    pub fn into_rows(self) -> Rows {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const IF_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 2];
    const IF_TYPE: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 3];

    fn at(col: &[u32], idx: u32) -> Vec<u32> {
        let mut o = col.to_vec();
        o.push(idx);
        o
    }

    /// A sorted MIB and a GETBULK over it, as an agent would answer.
    fn bulk(mib: &BTreeMap<Vec<u32>, Value>, oids: &[Vec<u32>], reps: u32) -> Vec<(Vec<u32>, Value)> {
        let mut cur: Vec<Vec<u32>> = oids.to_vec();
        let mut out = Vec::new();
        for _ in 0..reps {
            for c in cur.iter_mut() {
                match mib
                    .range::<Vec<u32>, _>((std::ops::Bound::Excluded(c.clone()), std::ops::Bound::Unbounded))
                    .next()
                {
                    Some((o, v)) => {
                        out.push((o.clone(), v.clone()));
                        *c = o.clone();
                    }
                    None => out.push((c.clone(), Value::EndOfMibView)),
                }
            }
        }
        out
    }

    fn if_mib(n: u32) -> BTreeMap<Vec<u32>, Value> {
        let mut mib = BTreeMap::new();
        for i in 1..=n {
            mib.insert(at(IF_DESCR, i), Value::Str(format!("eth{i}").into_bytes()));
            mib.insert(at(IF_TYPE, i), Value::Int(6));
        }
        mib.insert(vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 4, 1], Value::Int(1500));
        mib
    }

    fn run(mib: &BTreeMap<Vec<u32>, Value>, cols: &[&[u32]], reps: u32) -> (TableWalk, usize) {
        let mut w = TableWalk::new(cols, 10_000);
        let mut requests = 0;
        while !w.is_done() {
            let (active, oids) = w.next_request();
            let reply = bulk(mib, &oids, reps);
            w.feed(&active, reps, reply);
            requests += 1;
            assert!(requests < 1000);
        }
        (w, requests)
    }

    #[test]
    fn two_columns_stop_at_end_of_table() {
        let mib = if_mib(9);
        let (w, requests) = run(&mib, &[IF_DESCR, IF_TYPE], 4);
        assert_eq!(requests, 3, "9 rows at 4 a request: 4 + 4 + 1 (then the next column)");
        let rows = w.into_rows();
        assert_eq!(rows.len(), 9);
        assert_eq!(rows[&vec![3]][0], Some(Value::Str(b"eth3".to_vec())));
        assert_eq!(rows[&vec![9]][1], Some(Value::Int(6)));
    }

    #[test]
    fn end_of_mib_and_empty_table() {
        let mut mib = BTreeMap::new();
        mib.insert(at(IF_DESCR, 1), Value::Str(b"lo".to_vec()));
        let (w, _) = run(&mib, &[IF_DESCR], 10);
        assert_eq!(w.row_count(), 1);
        let (w, requests) = run(&mib, &[&[1, 3, 6, 1, 2, 1, 17, 4, 3, 1, 2]], 10);
        assert_eq!((w.row_count(), requests), (0, 1));
    }

    #[test]
    fn exceptions_and_loops_end_columns() {
        let mut w = TableWalk::new(&[IF_DESCR], 100);
        let f = w.feed(&[0], 5, vec![(IF_DESCR.to_vec(), Value::NoSuchObject)]);
        assert!(w.is_done() && !f.progressed);
        // An agent that answers the same OID again is cut off.
        let mut w = TableWalk::new(&[IF_DESCR], 100);
        w.feed(&[0], 2, vec![(at(IF_DESCR, 1), Value::Int(1)), (at(IF_DESCR, 2), Value::Int(2))]);
        assert!(!w.is_done());
        w.feed(&[0], 2, vec![(at(IF_DESCR, 1), Value::Int(1))]);
        assert!(w.is_done() && w.non_increasing);
        // A reply with nothing in it ends the walk.
        let mut w = TableWalk::new(&[IF_DESCR, IF_TYPE], 100);
        w.feed(&[0, 1], 5, vec![]);
        assert!(w.is_done());
    }

    #[test]
    fn row_cap() {
        let mib = if_mib(50);
        let mut w = TableWalk::new(&[IF_DESCR], 10);
        while !w.is_done() {
            let (a, o) = w.next_request();
            w.feed(&a, 7, bulk(&mib, &o, 7));
        }
        assert!(w.truncated);
        assert_eq!(w.row_count(), 10);
    }

    proptest! {
        /// Whatever the table size, column count and repetitions, a walk
        /// returns exactly the table and terminates.
        #[test]
        fn walk_equals_table(rows in 0u32..60, reps in 1u32..30, sparse in proptest::collection::vec(any::<bool>(), 60)) {
            let mut mib = BTreeMap::new();
            for i in 1..=rows {
                mib.insert(at(IF_DESCR, i), Value::Int(i64::from(i)));
                if sparse[i as usize % 60] {
                    mib.insert(at(IF_TYPE, i), Value::Int(6));
                }
            }
            let (w, requests) = run(&mib, &[IF_DESCR, IF_TYPE], reps);
            prop_assert!(requests as u32 <= rows / reps + 3);
            let got = w.into_rows();
            prop_assert_eq!(got.len() as u32, rows);
            for (idx, vals) in got {
                let i = idx[0];
                prop_assert_eq!(vals[0].clone(), Some(Value::Int(i64::from(i))));
                prop_assert_eq!(vals[1].is_some(), sparse[i as usize % 60]);
            }
        }

        /// Arbitrary replies never panic and never loop forever.
        #[test]
        fn garbage_replies_terminate(replies in proptest::collection::vec(
            proptest::collection::vec((proptest::collection::vec(0u32..12, 0..14), any::<bool>()), 0..12), 1..50)) {
            let mut w = TableWalk::new(&[IF_DESCR, IF_TYPE], 100);
            for reply in replies {
                if w.is_done() { break; }
                let (a, _) = w.next_request();
                let vbs = reply.into_iter().map(|(mut o, end)| {
                    let mut full = IF_DESCR.to_vec();
                    full.append(&mut o);
                    (full, if end { Value::EndOfMibView } else { Value::Int(1) })
                }).collect();
                w.feed(&a, 3, vbs);
            }
        }
    }
}
