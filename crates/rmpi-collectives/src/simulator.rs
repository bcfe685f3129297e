//! Runs the members of a collective in memory, for tests: each member's next step either
//! can be taken now or waits for a message from one other member; messages between each
//! pair arrive in the order they were sent, and sends never wait. [`crate::schedule`] and
//! [`crate::fold`] run their plans on it.

use std::collections::VecDeque;

/// What a member's next step needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// It has no steps left.
    Done,
    /// It can be taken now (a send, or work on what the member holds).
    Ready,
    /// It receives from this member.
    Awaits(usize),
}

/// Messages in flight between every pair of `n` members, oldest first.
#[derive(Debug)]
pub(crate) struct Channels<M> {
    n: usize,
    queues: Vec<VecDeque<M>>,
}

impl<M> Channels<M> {
    /// Sends `message` from `from` to `to`; a send to itself or outside is a fault.
    pub(crate) fn send(&mut self, from: usize, to: usize, message: M) -> Result<(), String> {
        if to >= self.n || to == from {
            return Err(format!("rank {from} sends to rank {to}"));
        }
        self.queues[from * self.n + to].push_back(message);
        Ok(())
    }

    /// The oldest message from `from` to `to`; only called when [`Next::Awaits`] found one.
    pub(crate) fn recv(&mut self, from: usize, to: usize) -> M {
        self.queues[from * self.n + to]
            .pop_front()
            .expect("a member moves only when its message is there")
    }

    fn has(&self, from: usize, to: usize) -> bool {
        from < self.n && !self.queues[from * self.n + to].is_empty()
    }
}

/// The members of one run: what each needs next, and taking that step.
pub(crate) trait Members {
    /// What travels between members.
    type Message;
    /// How many members there are.
    fn count(&self) -> usize;
    /// What `rank`'s next step needs.
    fn next(&self, rank: usize) -> Next;
    /// Takes `rank`'s next step, which [`Members::next`] said can be taken.
    fn step(&mut self, rank: usize, channels: &mut Channels<Self::Message>) -> Result<(), String>;
    /// Describes `rank`'s next step, for a report of where it waits.
    fn describe(&self, rank: usize) -> String;
}

/// Moves the members until none can: `pick` chooses which of those that can move goes
/// next, so tests can try many interleavings. Fails, saying why, on a fault in a step, a
/// deadlock (members left waiting with none able to move), or a message nobody received.
pub(crate) fn drive<S: Members>(
    members: &mut S,
    mut pick: impl FnMut(usize) -> usize,
) -> Result<(), String> {
    let n = members.count();
    let mut channels = Channels {
        n,
        queues: (0..n * n).map(|_| VecDeque::new()).collect(),
    };
    loop {
        let movable: Vec<usize> = (0..n)
            .filter(|&rank| match members.next(rank) {
                Next::Done => false,
                Next::Ready => true,
                Next::Awaits(from) => channels.has(from, rank),
            })
            .collect();
        if movable.is_empty() {
            break;
        }
        let rank = movable[pick(movable.len()) % movable.len()];
        members.step(rank, &mut channels)?;
    }
    if let Some(rank) = (0..n).find(|&rank| members.next(rank) != Next::Done) {
        return Err(format!(
            "deadlock: rank {rank} waits at {}",
            members.describe(rank)
        ));
    }
    match channels.queues.iter().position(|queue| !queue.is_empty()) {
        Some(at) => Err(format!(
            "rank {} sent rank {} a message nobody received",
            at / n,
            at % n
        )),
        None => Ok(()),
    }
}
