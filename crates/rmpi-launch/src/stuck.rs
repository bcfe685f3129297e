//! A rank tells `rmpirun` when it is stuck, and in what, for the launcher's deadlock
//! reports.
//!
//! A thread of the rank's own looks at what the program waits for (a
//! [`Watch`], armed while no message reaches the rank) every
//! [`TICK`]. The rank is stuck when its program
//! has waited for [`STUCK_AFTER`] with the same operations pending, no message reaching the
//! rank and the process using little CPU (so a rank computing in one task while another
//! waits is not taken for stuck). It then sends `rmpi_waiting` with its waits, and
//! `rmpi_running` once it moves again; the launcher alone decides whether the whole job is
//! stuck. Only `rmpirun` hears these (other launchers do not know them).
//!
//! On the wire, a [`Stuck`] is one line: `cmd=rmpi_waiting count=N more=M w0=TEXT a0=RANKS
//! ...`, each wait as its description (escaped, see [`crate::pmi::escape`]) and the world
//! ranks it waits for (`0-3,5`); at most [`MAX_LISTED`] waits, and how many more.

use std::time::{Duration, Instant};

use rmpi_core::waits::{Snapshot, Wait, Watch};

use crate::pmi::{escape, unescape, Message, MAX_LINE};

/// How often a rank looks at what it waits for.
pub const TICK: Duration = Duration::from_millis(100);

/// How long a rank waits, with nothing moving, before it says it is stuck.
pub const STUCK_AFTER: Duration = Duration::from_millis(500);

/// The most waits one report lists (the line has to stay short); the rest are counted.
pub const MAX_LISTED: usize = 16;

/// One wait as the launcher hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// What the rank waits in: `recv from rank 1, tag 11, on world, at src/main.rs:9:5`.
    pub what: String,
    /// The world ranks it waits for.
    pub awaits: Vec<usize>,
}

/// What a stuck rank reports: its waits, oldest first, and how many were left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    /// The waits listed.
    pub waits: Vec<Waiting>,
    /// Waits not listed.
    pub more: usize,
}

impl Stuck {
    /// The report of `waits`.
    pub fn of(waits: &[Wait]) -> Stuck {
        Stuck {
            waits: waits
                .iter()
                .take(MAX_LISTED)
                .map(|wait| Waiting {
                    what: wait.to_string(),
                    awaits: wait.awaits.clone(),
                })
                .collect(),
            more: waits.len().saturating_sub(MAX_LISTED),
        }
    }

    /// The `rmpi_waiting` message saying this, in one line the launcher reads whole
    /// ([`MAX_LINE`]): waits that do not fit are counted with the rest.
    pub fn to_message(&self) -> Message {
        let mut fields = Vec::new();
        // Room for the command, the counts and the line's end.
        let mut room = MAX_LINE - 64;
        for (i, wait) in self.waits.iter().enumerate() {
            let what = (format!("w{i}"), escape(&wait.what));
            let awaits = (format!("a{i}"), ranges(&wait.awaits));
            let len = what.0.len() + what.1.len() + awaits.0.len() + awaits.1.len() + 4;
            if len > room {
                break;
            }
            room -= len;
            fields.extend([what, awaits]);
        }
        let count = fields.len() / 2;
        let more = self.more + self.waits.len() - count;
        let mut message = Message::new(
            "rmpi_waiting",
            [
                ("count", count.to_string().as_str()),
                ("more", more.to_string().as_str()),
            ],
        );
        message.fields.extend(fields);
        message
    }

    /// Reads an `rmpi_waiting` message from a job of `size` ranks.
    pub fn from_message(message: &Message, size: usize) -> Result<Stuck, String> {
        let number = |key: &str| -> Result<usize, String> {
            let text = message.field(key).ok_or(format!("no {key}"))?;
            text.parse()
                .map_err(|_| format!("{key}={text} is not a count"))
        };
        let count = number("count")?.min(MAX_LISTED);
        let more = number("more")?;
        let mut waits = Vec::with_capacity(count);
        for i in 0..count {
            let field = |key: String| message.field(&key).ok_or(format!("no {key}"));
            let what = field(format!("w{i}"))?;
            let what = unescape(what).ok_or(format!("w{i}={what} is not escaped text"))?;
            let awaits = parse_ranges(field(format!("a{i}"))?, size)?;
            waits.push(Waiting { what, awaits });
        }
        Ok(Stuck { waits, more })
    }
}

/// `ranks` (ascending) as `0-3,5`; `-` for none.
fn ranges(ranks: &[usize]) -> String {
    let mut sorted = ranks.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        parts.push(match j > i {
            true => format!("{}-{}", sorted[i], sorted[j]),
            false => sorted[i].to_string(),
        });
        i = j + 1;
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(",")
    }
}

/// The ranks [`ranges`] wrote, each below `size`.
fn parse_ranges(text: &str, size: usize) -> Result<Vec<usize>, String> {
    if text == "-" {
        return Ok(Vec::new());
    }
    let bad = || format!("{text:?} is not a list of ranks below {size}");
    let mut ranks = Vec::new();
    for part in text.split(',') {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let first: usize = first.parse().map_err(|_| bad())?;
        let last: usize = last.parse().map_err(|_| bad())?;
        if first > last || last >= size {
            return Err(bad());
        }
        ranks.extend(first..=last);
    }
    Ok(ranks)
}

/// Whether a rank is stuck, from what it waits for over time.
#[derive(Debug, Default)]
pub struct Judge {
    /// The last look: the rank's progress, its CPU time, and when.
    last: Option<(u64, Duration, Instant)>,
    /// No message reached the rank between the last two looks.
    quiet: bool,
    still_since: Option<Instant>,
}

impl Judge {
    /// Takes a look: `snapshot` of the waits, the process's CPU time `cpu`, and `now`; the
    /// waits if the rank is stuck.
    pub fn look(&mut self, snapshot: Snapshot, cpu: Duration, now: Instant) -> Option<Vec<Wait>> {
        let last = self.last.replace((snapshot.progress, cpu, now));
        self.quiet = last.is_some_and(|(progress, _, _)| progress == snapshot.progress);
        let moved = match last {
            None => true,
            // Busy: more than a quarter of a core since the last look.
            Some((_, used, at)) => {
                !self.quiet || cpu.saturating_sub(used) * 4 > now.duration_since(at)
            }
        };
        if moved || snapshot.waits.is_empty() {
            self.still_since = None;
            return None;
        }
        let since = *self.still_since.get_or_insert(now);
        (now.duration_since(since) >= STUCK_AFTER).then_some(snapshot.waits)
    }

    /// Whether no message reached the rank between the last two looks.
    pub fn quiet(&self) -> bool {
        self.quiet
    }
}

/// This process's CPU time so far.
fn cpu_time() -> Duration {
    let spent = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(spent.tv_sec as u64, spent.tv_nsec as u32)
}

/// Starts telling `rmpirun` (if it started this process) when this rank is stuck and in
/// what; under other launchers, or alone, it does nothing.
pub fn report_to_launcher(watch: Watch) {
    if !crate::pmi_client::under_rmpirun() {
        return;
    }
    let started = std::thread::Builder::new()
        .name("rmpi-stuck".into())
        .spawn(move || {
            let mut judge = Judge::default();
            let mut told: Option<Stuck> = None;
            loop {
                std::thread::sleep(TICK);
                let Some(snapshot) = watch.snapshot() else {
                    return; // the rank has finished
                };
                let stuck = judge
                    .look(snapshot, cpu_time(), Instant::now())
                    .map(|waits| Stuck::of(&waits));
                // Operations list themselves only while nothing reaches the rank.
                watch.arm(judge.quiet());
                if stuck == told {
                    continue;
                }
                let message = match &stuck {
                    Some(stuck) => stuck.to_message(),
                    None => Message::new("rmpi_running", []),
                };
                let ack = format!("{}_ack", message.cmd);
                if crate::pmi_client::tell_rmpirun(&message, &ack).is_err() {
                    return;
                }
                told = stuck;
            }
        });
    if let Err(error) = started {
        tracing::debug!("cannot watch for deadlocks: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpi_core::waits::{Operation, Peer};

    #[test]
    fn rank_lists_survive_the_wire() {
        for ranks in [vec![], vec![3], vec![0, 1, 2, 3, 5], vec![7, 2, 3]] {
            let mut sorted = ranks.clone();
            sorted.sort_unstable();
            assert_eq!(parse_ranges(&ranges(&ranks), 8), Ok(sorted));
        }
        assert!(parse_ranges("0-8", 8).is_err());
        assert!(parse_ranges("3-1", 8).is_err());
        assert!(parse_ranges("x", 8).is_err());
    }

    #[test]
    fn a_report_survives_the_wire() {
        let stuck = Stuck {
            waits: vec![Waiting {
                what: "recv from rank 1, tag 11, on world, at src/my main.rs:9:5".into(),
                awaits: vec![1],
            }],
            more: 2,
        };
        let line = stuck.to_message().to_line();
        let message = Message::parse(line.trim_end()).unwrap();
        assert_eq!(Stuck::from_message(&message, 4), Ok(stuck));
        // However many waits on however many ranks, the line fits the launcher's limit.
        let crowd = Stuck {
            waits: vec![
                Waiting {
                    what: "barrier, on world.split#0(colour 0), at src/main.rs:1:1".into(),
                    awaits: (0..4096).step_by(2).collect(),
                };
                MAX_LISTED
            ],
            more: 5,
        };
        let line = crowd.to_message().to_line();
        assert!(line.len() <= MAX_LINE, "{}", line.len());
        let read = Stuck::from_message(&Message::parse(line.trim_end()).unwrap(), 4096).unwrap();
        assert_eq!(read.waits.len() + read.more, MAX_LISTED + 5);
        let mut broken = message.clone();
        broken.fields.retain(|(key, _)| key != "a0");
        assert!(Stuck::from_message(&broken, 4).is_err());
    }

    #[test]
    fn a_rank_is_stuck_only_when_nothing_moves_for_a_while() {
        let wait = |progress| Snapshot {
            progress,
            waits: vec![],
        };
        let mut judge = Judge::default();
        let t0 = Instant::now();
        // Waiting for nothing is never stuck.
        assert!(judge.look(wait(1), Duration::ZERO, t0).is_none());
        // Messages moving, or the CPU busy, restart the clock.
        let snapshot = Snapshot {
            progress: 1,
            waits: vec![Wait {
                operation: Operation::point_to_point("recv", Peer::From(1), Some(0)),
                communicator: "world".into(),
                awaits: vec![1],
                peer_in_world: None,
                location: std::panic::Location::caller(),
            }],
        };
        let at = |ms| t0 + Duration::from_millis(ms);
        let cpu = Duration::from_millis(1);
        assert!(judge.look(snapshot.clone(), cpu, at(100)).is_none());
        assert!(judge.look(snapshot.clone(), cpu, at(400)).is_none());
        let busy = cpu + Duration::from_millis(90);
        assert!(judge.look(snapshot.clone(), busy, at(700)).is_none());
        assert!(judge.look(snapshot.clone(), busy, at(800)).is_none());
        assert!(judge.look(snapshot.clone(), busy, at(1300)).is_some());
        let moved = Snapshot {
            progress: snapshot.progress + 1,
            ..snapshot.clone()
        };
        assert!(judge.look(moved, busy, at(1400)).is_none());
    }
}
