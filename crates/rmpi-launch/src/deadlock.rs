//! What `rmpirun` knows of its ranks' waits, and the deadlock report it prints from it.
//!
//! Ranks say when they are stuck and in what ([`crate::stuck`]); the [`Board`] keeps the
//! latest word of each. When every rank still running has been stuck for the quiet period
//! (`--deadlock-after`), nothing can move any more: the launcher prints, per rank, what it
//! waits for and where the program called it, and the cycle of ranks waiting on each other
//! when there is one. The same table is printed on `--timeout` and when the user sends
//! SIGQUIT (Ctrl-\) to `rmpirun`.

use std::time::{Duration, Instant};

use crate::stuck::Stuck;

/// The latest word of each rank.
///
/// ```
/// use std::time::{Duration, Instant};
/// use rmpi_launch::deadlock::Board;
/// let mut board = Board::new(2);
/// let (alive, quiet) = ([true, true], Duration::ZERO);
/// assert_eq!(board.deadlocked_at(&alive, quiet), None); // nobody is stuck yet
/// board.ended(1, Instant::now());
/// assert_eq!(board.deadlocked_at(&[true, false], quiet), None);
/// ```
#[derive(Debug)]
pub struct Board {
    ranks: Vec<Option<(Stuck, Instant)>>,
    /// When a rank last ended: the job changed, and what the others said before may be
    /// about to change too (a rank told it is moving again a moment after it moved).
    ended_at: Option<Instant>,
    /// A deadlock was reported and nothing has moved since.
    reported: bool,
}

impl Board {
    /// A board for a job of `size` ranks, none of them stuck.
    ///
    /// ```
    /// let board = rmpi_launch::deadlock::Board::new(4);
    /// assert!(!board.reported());
    /// ```
    pub fn new(size: usize) -> Board {
        Board {
            ranks: vec![None; size],
            ended_at: None,
            reported: false,
        }
    }

    /// Takes a rank's word: stuck in what (`Some`), or moving again.
    pub fn tell(&mut self, rank: usize, stuck: Option<Stuck>, now: Instant) {
        let Some(slot) = self.ranks.get_mut(rank) else {
            return;
        };
        if stuck.is_none() {
            self.reported = false;
        }
        *slot = stuck.map(|stuck| (stuck, now));
    }

    /// A rank has ended, at `now`: it waits for nothing.
    pub fn ended(&mut self, rank: usize, now: Instant) {
        if let Some(slot) = self.ranks.get_mut(rank) {
            *slot = None;
            self.ended_at = Some(now);
        }
    }

    /// When the job is deadlocked: the moment every rank in `alive` has been stuck for
    /// `quiet` (and no rank has ended for as long); `None` while some live rank is not
    /// stuck (or nobody is alive).
    pub fn deadlocked_at(&self, alive: &[bool], quiet: Duration) -> Option<Instant> {
        if !alive.contains(&true) {
            return None;
        }
        let mut latest = self.ended_at;
        for (rank, &live) in alive.iter().enumerate() {
            if live {
                let (_, since) = self.ranks.get(rank)?.as_ref()?;
                latest = latest.max(Some(*since));
            }
        }
        latest.map(|since| since + quiet)
    }

    /// Whether the deadlock was reported already (and nothing moved since).
    pub fn reported(&self) -> bool {
        self.reported
    }

    /// The deadlock report: its lines, for a job whose live ranks are `alive`.
    pub fn deadlock_report(&mut self, alive: &[bool], quiet: Duration) -> Vec<String> {
        self.reported = true;
        let mut lines = vec![format!(
            "deadlock: every rank has been waiting for at least {:.1} s and no message is \
             moving",
            quiet.as_secs_f64()
        )];
        lines.extend(self.table(alive));
        lines.push(
            "  the job goes on waiting: end it with Ctrl-C (rmpirun --timeout ends it by \
             itself)"
                .into(),
        );
        lines
    }

    /// One line per live rank and wait: what it waits for, or that it is not stuck; then
    /// the cycle they form, if there is one.
    pub fn table(&self, alive: &[bool]) -> Vec<String> {
        let mut lines = Vec::new();
        for (rank, &live) in alive.iter().enumerate() {
            if !live {
                continue;
            }
            match self.ranks.get(rank).and_then(Option::as_ref) {
                None => lines.push(format!(
                    "  rank {rank}: not stuck (computing, or waiting for under a second)"
                )),
                Some((stuck, _)) => {
                    for (i, wait) in stuck.waits.iter().enumerate() {
                        let lead = if i == 0 { "waits in" } else { "     and" };
                        lines.push(format!("  rank {rank}: {lead} {}", wait.what));
                    }
                    if stuck.more > 0 {
                        lines.push(format!("  rank {rank}:      and {} more", stuck.more));
                    }
                }
            }
        }
        if let Some(cycle) = self.cycle(alive) {
            let path: Vec<String> = cycle.iter().map(|r| format!("rank {r}")).collect();
            lines.push(format!(
                "  cycle: {} (each waits for the next)",
                path.join(" -> ")
            ));
        }
        lines
    }

    /// A cycle of live ranks each waiting for the next, first rank repeated at the end;
    /// the shortest found from the lowest rank on it.
    pub fn cycle(&self, alive: &[bool]) -> Option<Vec<usize>> {
        let waits_for = |rank: usize| -> Vec<usize> {
            let mut next: Vec<usize> = match self.ranks.get(rank).and_then(Option::as_ref) {
                Some((stuck, _)) => stuck
                    .waits
                    .iter()
                    .flat_map(|w| w.awaits.iter().copied())
                    .filter(|&r| alive.get(r).copied().unwrap_or(false))
                    .collect(),
                None => Vec::new(),
            };
            next.sort_unstable();
            next.dedup();
            next
        };
        // Breadth-first from each rank back to itself gives the shortest cycle through it.
        let mut best: Option<Vec<usize>> = None;
        for start in (0..alive.len()).filter(|&r| alive[r]) {
            let mut parent: Vec<Option<usize>> = vec![None; alive.len()];
            let mut queue = std::collections::VecDeque::from([start]);
            let mut seen = vec![false; alive.len()];
            seen[start] = true;
            'search: while let Some(rank) = queue.pop_front() {
                for next in waits_for(rank) {
                    if next == start {
                        // Back from `rank` to `start` along the search, then forwards.
                        let mut path = vec![rank];
                        let mut at = rank;
                        while let Some(previous) = parent[at] {
                            path.push(previous);
                            at = previous;
                        }
                        path.reverse();
                        path.push(start);
                        if best.as_ref().is_none_or(|b| path.len() < b.len()) {
                            best = Some(path);
                        }
                        break 'search;
                    }
                    if !seen[next] {
                        seen[next] = true;
                        parent[next] = Some(rank);
                        queue.push_back(next);
                    }
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stuck::Waiting;

    fn stuck(what: &str, awaits: &[usize]) -> Option<Stuck> {
        Some(Stuck {
            waits: vec![Waiting {
                what: what.into(),
                awaits: awaits.to_vec(),
            }],
            more: 0,
        })
    }

    #[test]
    fn every_live_rank_stuck_is_a_deadlock_after_the_quiet_period() {
        let t0 = Instant::now();
        let quiet = Duration::from_secs(2);
        let mut board = Board::new(3);
        let alive = [true, true, true];
        board.tell(0, stuck("recv from rank 1", &[1]), t0);
        board.tell(
            1,
            stuck("recv from rank 0", &[0]),
            t0 + Duration::from_secs(1),
        );
        assert_eq!(
            board.deadlocked_at(&alive, quiet),
            None,
            "rank 2 is running"
        );
        // Rank 2 finished: the other two are all that is left, and must stay stuck for
        // the quiet period after that too.
        board.ended(2, t0 + Duration::from_secs(2));
        let alive = [true, true, false];
        assert_eq!(
            board.deadlocked_at(&alive, quiet),
            Some(t0 + Duration::from_secs(4))
        );
        let report = board.deadlock_report(&alive, quiet).join("\n");
        assert!(
            report.contains("rank 0: waits in recv from rank 1"),
            "{report}"
        );
        assert!(
            report.contains("rank 1: waits in recv from rank 0"),
            "{report}"
        );
        assert!(
            report.contains("cycle: rank 0 -> rank 1 -> rank 0"),
            "{report}"
        );
        assert!(board.reported());
        // A rank that moves again clears the report.
        board.tell(1, None, t0);
        assert!(!board.reported());
        assert_eq!(board.deadlocked_at(&alive, quiet), None);
    }

    #[test]
    fn the_cycle_reads_in_the_direction_of_waiting() {
        let t0 = Instant::now();
        let mut board = Board::new(4);
        // 0 waits for 2, 2 for 3, 3 for 0; rank 1 waits for 0 but is on no cycle.
        board.tell(0, stuck("recv", &[2]), t0);
        board.tell(1, stuck("recv", &[0]), t0);
        board.tell(2, stuck("recv", &[3]), t0);
        board.tell(3, stuck("recv", &[0]), t0);
        assert_eq!(board.cycle(&[true; 4]), Some(vec![0, 2, 3, 0]));
        // A wildcard or collective waits for many: the shortest cycle is named.
        board.tell(0, stuck("recv from any rank", &[1, 2, 3]), t0);
        assert_eq!(board.cycle(&[true; 4]), Some(vec![0, 1, 0]));
        // No cycle among ranks waiting for one that is not stuck.
        let mut board = Board::new(3);
        board.tell(0, stuck("recv", &[2]), t0);
        board.tell(1, stuck("recv", &[2]), t0);
        assert_eq!(board.cycle(&[true; 3]), None);
    }
}
