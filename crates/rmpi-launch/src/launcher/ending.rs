//! How a rank ended, and which ending a failed job reports as its cause.

use std::time::Duration;

use tokio::time::Instant;

use crate::say;
use crate::spawn::Exit;

/// How soon after a rank failed a more telling ending counts as the cause.
pub(super) const CAUSE_WINDOW: Duration = Duration::from_millis(500);

/// How one rank ended.
#[derive(Debug, Clone)]
pub(super) struct Ending {
    pub(super) rank: usize,
    pub(super) pid: Option<u32>,
    pub(super) host: Option<String>,
    pub(super) exit: Exit,
    /// What the rank said of its failure: `Some(None)` one of its own, `Some(Some(r))`
    /// a reaction to rank `r`'s; `None` if it said nothing.
    pub(super) because_of: Option<Option<usize>>,
}

impl Ending {
    pub(super) fn describe(&self) -> String {
        let at = match (&self.pid, &self.host) {
            (Some(pid), Some(host)) => format!(" (pid {pid} on {host})"),
            (Some(pid), None) => format!(" (pid {pid})"),
            (None, Some(host)) => format!(" (on {host})"),
            (None, None) => String::new(),
        };
        match self.exit {
            Exit::Code(code) => format!("rank {}{at} exited with code {code}", self.rank),
            Exit::Signal(signal) => format!(
                "rank {}{at} was killed by signal {signal} ({})",
                self.rank,
                signal_name(signal)
            ),
            Exit::Lost => format!("rank {}{at} was lost with its host's proxy", self.rank),
        }
    }

    /// How much this ending says about what went wrong: a signal or a lost host most, then
    /// a failure the rank called its own or an exit code of its own, then the plain error
    /// code 1, and least a failure the rank said was a reaction to another rank's.
    pub(super) fn telling(&self) -> u8 {
        match (self.exit, self.because_of) {
            (Exit::Signal(_) | Exit::Lost, _) => 3,
            (_, Some(Some(other))) if other != self.rank => 0,
            (_, Some(_)) => 2,
            (Exit::Code(1), None) => 1,
            (Exit::Code(_), None) => 2,
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "unknown signal",
    }
}

/// Says which rank failed and how, once.
pub(super) fn announce(failure: &Option<(Ending, Instant)>, announced: &mut bool) {
    if let (Some((ending, _)), false) = (failure, *announced) {
        say(&ending.describe());
        *announced = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ending(exit: Exit, because_of: Option<Option<usize>>) -> Ending {
        Ending {
            rank: 2,
            pid: Some(41),
            host: None,
            exit,
            because_of,
        }
    }

    #[test]
    fn a_signal_says_more_than_a_reaction_to_another_rank() {
        let killed = ending(Exit::Signal(9), None);
        let reacted = ending(Exit::Code(1), Some(Some(0)));
        let plain = ending(Exit::Code(1), None);
        let own = ending(Exit::Code(1), Some(None));
        assert!(killed.telling() > own.telling());
        assert!(own.telling() > plain.telling());
        assert!(plain.telling() > reacted.telling());
        assert_eq!(
            killed.describe(),
            "rank 2 (pid 41) was killed by signal 9 (SIGKILL)"
        );
        assert_eq!(plain.describe(), "rank 2 (pid 41) exited with code 1");
    }
}
