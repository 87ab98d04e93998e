//! Which bytes of a segmented download are where: the ranges, who fetches each, how far
//! each got, and work stealing. Pure: no I/O, no threads (the engine holds it behind a
//! mutex), unit-tested on its own.
//!
//! Invariants: the parts are disjoint and cover `0..total`; a part's `done` never passes
//! its `end`; bytes `start..start + done` are on disk (`durable` of them synced).
//! Splitting only ever moves the end of a part down to a point past what its owner has
//! written, and appends the back half: a part's index never changes, so a worker holds
//! its part by index while others split.

/// One contiguous part of the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub start: u64,
    pub end: u64,
    /// Bytes from `start` written to the file.
    pub done: u64,
    /// Of `done`, bytes known to be on stable storage.
    pub durable: u64,
    /// The worker fetching it.
    pub owner: Option<usize>,
}

impl Part {
    /// The next byte to fetch.
    pub(crate) fn pos(&self) -> u64 {
        self.start + self.done
    }

    pub(crate) fn left(&self) -> u64 {
        self.end - self.pos()
    }
}

/// The whole download's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    parts: Vec<Part>,
    total: u64,
    min_split: u64,
}

impl Plan {
    /// A plan from recorded parts `(start, end, done, durable)`, trusting `done` when
    /// `trust_done` (same boot) and only `durable` otherwise. `None` when they do not
    /// cover `0..total` exactly (a control file for another length, or damaged).
    pub(crate) fn from_parts(
        recorded: &[(u64, u64, u64, u64)],
        total: u64,
        min_split: u64,
        trust_done: bool,
    ) -> Option<Plan> {
        let mut parts = Vec::with_capacity(recorded.len());
        let mut next = 0;
        for &(start, end, done, durable) in recorded {
            if start != next || end < start || durable > done || done > end - start {
                return None;
            }
            let done = if trust_done { done } else { durable };
            parts.push(Part {
                start,
                end,
                done,
                durable: durable.min(done),
                owner: None,
            });
            next = end;
        }
        (next == total).then_some(Plan {
            parts,
            total,
            min_split: min_split.max(1),
        })
    }

    /// A fresh plan: `have` bytes from 0 are on disk, the rest is to fetch.
    pub(crate) fn new(total: u64, have: u64, min_split: u64) -> Plan {
        let parts = vec![Part {
            start: 0,
            end: total,
            done: have.min(total),
            durable: 0,
            owner: None,
        }];
        Plan {
            parts,
            total,
            min_split: min_split.max(1),
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    #[cfg(test)]
    pub(crate) fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// How many parts there are (indices `0..count`).
    pub(crate) fn count(&self) -> usize {
        self.parts.len()
    }

    pub(crate) fn part(&self, i: usize) -> &Part {
        &self.parts[i]
    }

    /// Bytes on disk, over all parts.
    pub(crate) fn done(&self) -> u64 {
        self.parts.iter().map(|p| p.done).sum()
    }

    pub(crate) fn complete(&self) -> bool {
        self.parts.iter().all(|p| p.left() == 0)
    }

    /// The first byte not on disk: everything before it is (a single stream's offset).
    pub(crate) fn first_missing(&self) -> u64 {
        self.parts
            .iter()
            .filter(|p| p.left() > 0)
            .map(Part::pos)
            .min()
            .unwrap_or(self.total)
    }

    /// Claims no byte at or past `len` (the file's length).
    pub(crate) fn clamp_to(&mut self, len: u64) {
        for p in &mut self.parts {
            let have = len.saturating_sub(p.start).min(p.end - p.start);
            p.done = p.done.min(have);
            p.durable = p.durable.min(p.done);
        }
    }

    /// Splits the unowned work so that up to `n` workers can start at once: each piece
    /// at least `min_split`, the largest unfinished parts cut first.
    pub(crate) fn spread(&mut self, n: usize) {
        while self.parts.iter().filter(|p| p.left() > 0).count() < n {
            if self.split_largest(|_| true).is_none() {
                break;
            }
        }
    }

    /// Gives `worker` something to fetch: the first part nobody owns, else the back half
    /// of the part with the most left (aria2's rule), if that half is at least
    /// `min_split`. Returns the part's index.
    pub(crate) fn assign(&mut self, worker: usize) -> Option<usize> {
        let unowned = self
            .parts
            .iter()
            .enumerate()
            .filter(|(_, p)| p.owner.is_none() && p.left() > 0)
            .min_by_key(|(_, p)| p.start)
            .map(|(i, _)| i);
        let i = match unowned {
            Some(i) => i,
            None => self.split_largest(|p| p.owner.is_some())?,
        };
        self.parts[i].owner = Some(worker);
        Some(i)
    }

    /// Cuts the part with the most left in two (only parts `eligible` says may be cut);
    /// the back half is a new, unowned part. Returns its index.
    fn split_largest(&mut self, eligible: impl Fn(&Part) -> bool) -> Option<usize> {
        let (i, left) = self
            .parts
            .iter()
            .enumerate()
            .filter(|(_, p)| eligible(p))
            .map(|(i, p)| (i, p.left()))
            .max_by_key(|&(i, left)| (left, std::cmp::Reverse(self.parts[i].start)))?;
        let half = left / 2;
        if half < self.min_split || left - half < self.min_split {
            return None;
        }
        let cut = self.parts[i].end - half;
        let back = Part {
            start: cut,
            end: self.parts[i].end,
            done: 0,
            durable: 0,
            owner: None,
        };
        self.parts[i].end = cut;
        self.parts.push(back);
        Some(self.parts.len() - 1)
    }

    /// Records that the owner of part `i` wrote up to `pos` (clamped to the part's end,
    /// which a split may have moved below what the owner already wrote). Returns how
    /// far the part now goes: the owner stops there.
    pub(crate) fn advance(&mut self, i: usize, pos: u64) -> u64 {
        let p = &mut self.parts[i];
        let pos = pos.clamp(p.pos(), p.end);
        p.done = pos - p.start;
        p.end
    }

    /// The owner of part `i` stopped (done, failed or cancelled): someone else may take
    /// what is left.
    pub(crate) fn release(&mut self, i: usize) {
        self.parts[i].owner = None;
    }

    /// What a `snapshot` saw written is now on stable storage. Parts are matched by
    /// their start, which never changes (splits only add parts), so a snapshot taken
    /// before a sync stays valid whatever was split meanwhile.
    pub(crate) fn mark_durable(&mut self, snapshot: &[(u64, u64)]) {
        for p in &mut self.parts {
            if let Ok(k) = snapshot.binary_search_by_key(&p.start, |&(start, _)| start) {
                p.durable = p.durable.max(snapshot[k].1.min(p.done));
            }
        }
    }

    /// `(start, done)` of every part, sorted by start, to mark durable after a sync.
    pub(crate) fn snapshot(&self) -> Vec<(u64, u64)> {
        let mut s: Vec<_> = self.parts.iter().map(|p| (p.start, p.done)).collect();
        s.sort_unstable();
        s
    }

    /// The parts as recorded in the control file: `(start, end, done, durable)`.
    /// Adjacent finished parts are merged so the file stays small.
    pub(crate) fn to_parts(&self) -> Vec<(u64, u64, u64, u64)> {
        let mut sorted: Vec<&Part> = self.parts.iter().collect();
        sorted.sort_unstable_by_key(|p| p.start);
        let mut out: Vec<(u64, u64, u64, u64)> = Vec::new();
        for p in sorted {
            if let Some(last) = out.last_mut() {
                let last_full = last.2 == last.1 - last.0 && last.3 == last.2;
                let this_full = p.left() == 0 && p.durable == p.done;
                if last_full && this_full {
                    last.1 = p.end;
                    last.2 = last.1 - last.0;
                    last.3 = last.2;
                    continue;
                }
            }
            out.push((p.start, p.end, p.done, p.durable));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn check(plan: &Plan) {
        let mut next = 0;
        let mut parts = plan.parts().to_vec();
        parts.sort_by_key(|p| p.start);
        for p in &parts {
            assert_eq!(p.start, next, "{plan:?}");
            assert!(p.end >= p.start && p.done <= p.end - p.start && p.durable <= p.done);
            next = p.end;
        }
        assert_eq!(next, plan.total());
    }

    #[test]
    fn spreads_no_piece_below_min_split() {
        for (total, n, pieces) in [
            (0, 4, 1),
            (1, 4, 1),
            (MIB - 1, 4, 1),
            (2 * MIB - 1, 4, 1),
            (2 * MIB, 4, 2),
            (4 * MIB, 4, 4),
            (10 * MIB + 7, 8, 8),
            (3 * MIB, 8, 2),
            (100 * MIB, 32, 32),
        ] {
            let mut plan = Plan::new(total, 0, MIB);
            plan.spread(n);
            check(&plan);
            let live = plan.parts().iter().filter(|p| p.left() > 0).count();
            assert_eq!(live, pieces.min(total as usize), "{total} {n}: {plan:?}");
            for p in plan.parts() {
                assert!(
                    p.end - p.start >= MIB || plan.parts().len() == 1,
                    "{plan:?}"
                );
            }
        }
    }

    #[test]
    fn an_idle_worker_steals_the_back_half_of_the_largest_part() {
        let mut plan = Plan::new(8 * MIB, 0, MIB);
        plan.spread(2);
        assert_eq!(plan.assign(0), Some(0));
        assert_eq!(plan.assign(1), Some(1));
        // Worker 1 finishes its half; worker 0 is at 1 MiB of its 4.
        assert_eq!(plan.advance(1, 8 * MIB), 8 * MIB);
        plan.release(1);
        plan.advance(0, MIB);
        let stolen = plan.assign(1).unwrap();
        check(&plan);
        let p = plan.part(stolen).clone();
        assert_eq!((p.start, p.end), (MIB + 3 * MIB / 2, 4 * MIB));
        // The owner learns its new end when it next advances, even past it.
        assert_eq!(plan.advance(0, 3 * MIB), MIB + 3 * MIB / 2);
        assert_eq!(plan.part(0).done, MIB + 3 * MIB / 2);
        check(&plan);
    }

    #[test]
    fn no_steal_below_min_split_and_everything_ends() {
        let mut plan = Plan::new(3 * MIB, 0, MIB);
        plan.spread(8);
        let mut owned = Vec::new();
        for w in 0..8 {
            if let Some(i) = plan.assign(w) {
                owned.push((w, i));
            }
        }
        assert_eq!(owned.len(), 2, "{plan:?}");
        // Finishing everything in a bounded number of rounds, stealing as we go.
        for _round in 0..100 {
            if plan.complete() {
                break;
            }
            let (w, i) = owned.remove(0);
            let step = plan.part(i).pos() + MIB / 2;
            let end = plan.advance(i, step);
            if plan.part(i).pos() == end {
                plan.release(i);
                if let Some(j) = plan.assign(w) {
                    owned.push((w, j));
                }
            } else {
                owned.push((w, i));
            }
            check(&plan);
        }
        assert!(plan.complete(), "{plan:?}");
        assert_eq!(plan.done(), 3 * MIB);
    }

    #[test]
    fn records_round_trip_and_merge_finished_parts() {
        let mut plan = Plan::new(4 * MIB, 0, MIB);
        plan.spread(4);
        for i in 0..4 {
            plan.assign(i);
        }
        let at =
            |plan: &Plan, start: u64| plan.parts().iter().position(|p| p.start == start).unwrap();
        let (a, b, d) = (at(&plan, 0), at(&plan, MIB), at(&plan, 3 * MIB));
        plan.advance(a, MIB);
        plan.advance(b, 2 * MIB);
        plan.advance(d, 3 * MIB + 10);
        plan.mark_durable(&plan.snapshot());
        let parts = plan.to_parts();
        assert_eq!(parts[0], (0, 2 * MIB, 2 * MIB, 2 * MIB), "{parts:?}");
        let back = Plan::from_parts(&parts, 4 * MIB, MIB, true).unwrap();
        assert_eq!(back.done(), plan.done());
        assert_eq!(back.first_missing(), 2 * MIB);
        // After a reboot only durable bytes count.
        let parts = [(0, MIB, 500, 100), (MIB, 2 * MIB, 0, 0)];
        let p = Plan::from_parts(&parts, 2 * MIB, MIB, false).unwrap();
        assert_eq!(p.done(), 100);
        // Gaps, overlaps, a wrong total or impossible counts are refused.
        for bad in [
            vec![(0, MIB, 0, 0)],
            vec![(0, MIB, 0, 0), (MIB + 1, 2 * MIB, 0, 0)],
            vec![(0, MIB, MIB + 1, 0), (MIB, 2 * MIB, 0, 0)],
            vec![(0, MIB, 5, 6), (MIB, 2 * MIB, 0, 0)],
        ] {
            assert!(
                Plan::from_parts(&bad, 2 * MIB, MIB, true).is_none(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn recorded_parts_are_checked_one_by_one() {
        // An empty resource's plan, one empty part, round trips.
        let empty = Plan::new(0, 0, MIB);
        assert_eq!(empty.to_parts(), vec![(0, 0, 0, 0)]);
        assert!(Plan::from_parts(&empty.to_parts(), 0, MIB, true).is_some());
        for bad in [
            // A later part claiming more than its length.
            vec![(0, MIB, 0, 0), (MIB, 2 * MIB, MIB + 1, 0)],
            // A part that ends before it starts.
            vec![
                (0, MIB, 0, 0),
                (MIB, MIB - 1, 0, 0),
                (MIB - 1, 2 * MIB, 0, 0),
            ],
        ] {
            assert!(
                Plan::from_parts(&bad, 2 * MIB, MIB, true).is_none(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn first_missing_skips_finished_parts() {
        let parts = [(0, MIB, MIB, MIB), (MIB, 2 * MIB, 500, 500)];
        let p = Plan::from_parts(&parts, 2 * MIB, MIB, true).unwrap();
        assert_eq!(p.first_missing(), MIB + 500);
        let parts = [(0, MIB, 10, 10), (MIB, 2 * MIB, MIB, MIB)];
        let p = Plan::from_parts(&parts, 2 * MIB, MIB, true).unwrap();
        assert_eq!(p.first_missing(), 10);
        let parts = [(0, MIB, MIB, MIB), (MIB, 2 * MIB, MIB, MIB)];
        let p = Plan::from_parts(&parts, 2 * MIB, MIB, true).unwrap();
        assert_eq!(p.first_missing(), 2 * MIB);
    }

    #[test]
    fn clamp_to_claims_nothing_past_the_file() {
        let parts = [
            (0, MIB, MIB, MIB),
            (MIB, 2 * MIB, MIB, 100),
            (2 * MIB, 3 * MIB, 300, 300),
        ];
        let whole = Plan::from_parts(&parts, 3 * MIB, MIB, true).unwrap();
        // A file at least as long as every claim keeps them all.
        let mut p = whole.clone();
        p.clamp_to(4 * MIB);
        assert_eq!(p, whole);
        // Cut inside the second part: it keeps what is left, the third loses all.
        let mut p = whole.clone();
        p.clamp_to(MIB + 50);
        assert_eq!(
            p.to_parts(),
            vec![
                (0, MIB, MIB, MIB),
                (MIB, 2 * MIB, 50, 50),
                (2 * MIB, 3 * MIB, 0, 0)
            ]
        );
    }

    #[test]
    fn spread_counts_only_unfinished_parts() {
        let parts = [(0, MIB, MIB, MIB), (MIB, 5 * MIB, 0, 0)];
        let mut p = Plan::from_parts(&parts, 5 * MIB, MIB, true).unwrap();
        p.spread(2);
        check(&p);
        let live = p.parts().iter().filter(|p| p.left() > 0).count();
        assert_eq!(live, 2, "{p:?}");
    }

    #[test]
    fn a_released_part_is_the_next_one_given() {
        let mut plan = Plan::new(2 * MIB, 0, MIB);
        assert_eq!(plan.assign(0), Some(0));
        plan.release(0);
        assert_eq!(plan.assign(1), Some(0), "{plan:?}");
        assert_eq!(plan.part(0).owner, Some(1));
        assert_eq!(plan.parts().len(), 1, "nothing split: {plan:?}");
    }

    #[test]
    fn only_finished_and_synced_neighbours_are_merged() {
        let full = |a: u64, b: u64| (a, b, b - a, b - a);
        // Written but not all synced: merging would claim it synced.
        let parts = [(0, MIB, MIB, 100), full(MIB, 2 * MIB)];
        let p = Plan::from_parts(&parts, 2 * MIB, MIB, true).unwrap();
        assert_eq!(p.to_parts(), parts.to_vec());
        // Finished neighbours after an unfinished first part merge into one.
        let parts = [(0, MIB, 5, 5), full(MIB, 2 * MIB), full(2 * MIB, 3 * MIB)];
        let p = Plan::from_parts(&parts, 3 * MIB, MIB, true).unwrap();
        assert_eq!(p.to_parts(), vec![(0, MIB, 5, 5), full(MIB, 3 * MIB)]);
    }
}
