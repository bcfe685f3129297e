//! A deterministic simulator of a job's matching cores ([`State`]), with no transport, no
//! threads and no clock. Ranks post receives and send (plain or synchronous) in program
//! order; the simulator delivers frames pair by pair in random interleavings (so any
//! delay a network could cause), may lose a rank part-way, and may withdraw receives. A
//! reference model of MPI matching, told every step, says what each receive, each
//! synchronous send and each unexpected queue must hold after it, and the run is checked
//! against it step by step.
//!
//! Each schedule comes from one seed: a failure names it, and `SIMULATION_SEED=N cargo test
//! -p rmpi-core simulation` runs that seed alone.

use std::collections::VecDeque;

use bytes::Bytes;

use super::arrival::{Arrival, Awaited};
use super::state::{Outbox, State};
use crate::error::Error;
use crate::frame::{Frame, FrameKind, Header};
use crate::matching::{Pattern, PostId};
use crate::payload::Payload;
use crate::transport::Event;

/// SplitMix64: small, fast and the same everywhere, so a seed always means one schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn percent(&mut self, chance: u64) -> bool {
        self.next() % 100 < chance
    }
}

const CONTEXTS: u64 = 2;
const TAGS: i32 = 3;

/// One operation of a rank's program; all are nonblocking, posted in program order.
#[derive(Debug, Clone, Copy)]
enum Op {
    Send {
        dest: usize,
        context: u64,
        tag: i32,
        sync: bool,
    },
    Recv {
        source: Option<usize>,
        context: u64,
        tag: Option<i32>,
    },
}

/// What travels between two ranks, in order.
enum Item {
    Frame(Frame),
    /// The sender was lost: the last thing its peers hear from it.
    Lost,
}

/// What the model says a receive or synchronous send has come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pending,
    /// The message with this id.
    Matched(u64),
    /// Failed: this rank was lost.
    Failed(usize),
    Withdrawn,
}

#[derive(Debug)]
struct ModelRecv {
    rank: usize,
    context: u64,
    source: Option<usize>,
    tag: Option<i32>,
    outcome: Outcome,
}

#[derive(Debug, Clone, Copy)]
struct ModelMsg {
    id: u64,
    from: usize,
    context: u64,
    tag: i32,
    /// When it arrived at its receiver (set by [`Model::arrive`]).
    arrived: u64,
}

#[derive(Debug)]
struct ModelSync {
    rank: usize,
    dest: usize,
    msg: u64,
    /// `Matched(msg)` once acknowledged.
    outcome: Outcome,
}

/// MPI matching the plain way: lists searched in order.
struct Model {
    recvs: Vec<ModelRecv>,
    syncs: Vec<ModelSync>,
    /// Per rank, receives still posted, in posting order (indices into `recvs`).
    posted: Vec<Vec<usize>>,
    /// Per rank, messages that arrived unmatched, in arrival order.
    unexpected: Vec<Vec<ModelMsg>>,
    /// Per rank, the ranks it has learned were lost, in the order it learned it.
    lost: Vec<Vec<usize>>,
    /// Messages matched so far, by id.
    matched: std::collections::HashSet<u64>,
    /// Every message that arrived, by id, and how many have.
    arrivals: std::collections::HashMap<u64, ModelMsg>,
}

impl Model {
    fn fits(recv: &ModelRecv, msg: &ModelMsg) -> bool {
        recv.context == msg.context
            && recv.source.is_none_or(|s| s == msg.from)
            && recv.tag.is_none_or(|t| t == msg.tag)
    }

    fn arrive(&mut self, rank: usize, mut msg: ModelMsg) {
        msg.arrived = self.arrivals.len() as u64;
        self.arrivals.insert(msg.id, msg);
        if self.hand_to_posted(rank, &msg) {
            self.matched.insert(msg.id);
        } else {
            self.unexpected[rank].push(msg);
        }
    }

    /// Hands `msg` to the first receive posted at `rank` that it fits, if one does.
    fn hand_to_posted(&mut self, rank: usize, msg: &ModelMsg) -> bool {
        let found = self.posted[rank]
            .iter()
            .position(|&r| Self::fits(&self.recvs[r], msg));
        let Some(at) = found else {
            return false;
        };
        let r = self.posted[rank].remove(at);
        self.recvs[r].outcome = Outcome::Matched(msg.id);
        true
    }

    /// A receive that had matched message `id` was withdrawn: the message goes to the first
    /// receive still posted that it fits, or back into the unexpected queue where it
    /// arrived.
    fn give_back(&mut self, rank: usize, id: u64) {
        let msg = self.arrivals[&id];
        if !self.hand_to_posted(rank, &msg) {
            let queue = &mut self.unexpected[rank];
            let at = queue
                .iter()
                .position(|m| m.arrived > msg.arrived)
                .unwrap_or(queue.len());
            queue.insert(at, msg);
        }
    }

    /// Why a receive at `rank` from `source` can never be satisfied, if it cannot: the
    /// source was lost, or (a wildcard) any rank was.
    fn doomed(&self, rank: usize, source: Option<usize>) -> Option<usize> {
        match source {
            Some(s) => self.lost[rank].contains(&s).then_some(s),
            // The engine names the first lost member in rank order.
            None => self.lost[rank].iter().copied().min(),
        }
    }

    fn post(&mut self, recv: ModelRecv) -> usize {
        let rank = recv.rank;
        let index = self.recvs.len();
        let found = self.unexpected[rank]
            .iter()
            .position(|msg| Self::fits(&recv, msg));
        let outcome = match found {
            Some(at) => {
                let msg = self.unexpected[rank].remove(at);
                self.matched.insert(msg.id);
                Outcome::Matched(msg.id)
            }
            None => match self.doomed(rank, recv.source) {
                Some(lost) => Outcome::Failed(lost),
                None => {
                    self.posted[rank].push(index);
                    Outcome::Pending
                }
            },
        };
        self.recvs.push(ModelRecv { outcome, ..recv });
        index
    }

    fn learn_lost(&mut self, rank: usize, lost: usize) {
        self.lost[rank].push(lost);
        let mut still = Vec::new();
        for &r in &self.posted[rank] {
            match self.doomed(rank, self.recvs[r].source) {
                Some(why) => self.recvs[r].outcome = Outcome::Failed(why),
                None => still.push(r),
            }
        }
        self.posted[rank] = still;
        for sync in &mut self.syncs {
            if sync.rank == rank && sync.dest == lost && sync.outcome == Outcome::Pending {
                sync.outcome = Outcome::Failed(lost);
            }
        }
    }
}

/// A rank in the simulation: its matching core and what its program has left to do.
struct Rank {
    state: State,
    program: VecDeque<Op>,
    alive: bool,
    /// Its receives: engine id and model index.
    recvs: Vec<(PostId, usize)>,
    /// Its synchronous sends: engine id and model index.
    syncs: Vec<(u64, usize)>,
}

struct Simulation {
    rng: Rng,
    ranks: Vec<Rank>,
    /// `channels[from][to]`: what is on its way, in order.
    channels: Vec<Vec<VecDeque<Item>>>,
    model: Model,
    next_msg: u64,
    /// Where to lose a rank: (after this many steps, which rank).
    loss: Option<(usize, usize)>,
}

fn header(kind: FrameKind, context: u64, source: usize, tag: i32, sync_id: u64) -> Header {
    Header {
        kind,
        context,
        source: source as u32,
        tag,
        sync_id,
        len: 0,
    }
}

impl Simulation {
    fn new(seed: u64) -> Simulation {
        let mut rng = Rng(seed);
        let size = 2 + rng.below(4);
        let mut ranks = Vec::new();
        for _ in 0..size {
            let ops = rng.below(13);
            let mut program = VecDeque::new();
            for _ in 0..ops {
                let context = rng.next() % CONTEXTS;
                let op = if rng.percent(50) {
                    Op::Send {
                        dest: rng.below(size),
                        context,
                        tag: rng.below(TAGS as usize) as i32,
                        sync: rng.percent(30),
                    }
                } else {
                    Op::Recv {
                        source: (!rng.percent(30)).then(|| rng.below(size)),
                        context,
                        tag: (!rng.percent(30)).then(|| rng.below(TAGS as usize) as i32),
                    }
                };
                program.push_back(op);
            }
            ranks.push(Rank {
                state: State::default(),
                program,
                alive: true,
                recvs: Vec::new(),
                syncs: Vec::new(),
            });
        }
        let loss = rng.percent(30).then(|| (rng.below(40), rng.below(size)));
        Simulation {
            channels: (0..size)
                .map(|_| (0..size).map(|_| VecDeque::new()).collect())
                .collect(),
            model: Model {
                recvs: Vec::new(),
                syncs: Vec::new(),
                posted: vec![Vec::new(); size],
                unexpected: vec![Vec::new(); size],
                lost: vec![Vec::new(); size],
                matched: Default::default(),
                arrivals: Default::default(),
            },
            ranks,
            rng,
            next_msg: 0,
            loss,
        }
    }

    fn size(&self) -> usize {
        self.ranks.len()
    }

    /// Runs the schedule to its end, checking after every step.
    fn run(&mut self) -> Result<(), String> {
        for step in 0.. {
            if let Some((at, rank)) = self.loss {
                if step >= at {
                    self.loss = None;
                    self.lose(rank);
                }
            }
            let mut choices = Vec::new();
            for (r, rank) in self.ranks.iter().enumerate() {
                if rank.alive && !rank.program.is_empty() {
                    choices.push((r, None));
                }
            }
            for from in 0..self.size() {
                for to in 0..self.size() {
                    if !self.channels[from][to].is_empty() {
                        choices.push((to, Some(from)));
                    }
                }
            }
            if choices.is_empty() {
                return self.check();
            }
            match choices[self.rng.below(choices.len())] {
                (rank, None) if self.rng.percent(5) => self.withdraw_one(rank),
                (rank, None) => self.perform(rank),
                (to, Some(from)) => self.deliver(from, to),
            }
            self.check()
                .map_err(|e| format!("after step {step}: {e}"))?;
        }
        unreachable!()
    }

    fn send_out(&mut self, from: usize, outbox: Outbox) {
        for (to, frame) in outbox {
            if self.ranks[to].alive {
                self.channels[from][to].push_back(Item::Frame(frame));
            }
        }
    }

    fn perform(&mut self, r: usize) {
        let op = self.ranks[r].program.pop_front().expect("a rank with work");
        match op {
            Op::Send {
                dest,
                context,
                tag,
                sync,
            } => {
                if self.model.lost[r].contains(&dest) {
                    // The engine refuses a send to a rank it knows is gone.
                    return;
                }
                let id = self.next_msg;
                self.next_msg += 1;
                let (kind, sync_id) = match sync {
                    false => (FrameKind::Data, 0),
                    true => {
                        let sync_id = self.ranks[r].state.start_sync(dest);
                        self.ranks[r].syncs.push((sync_id, self.model.syncs.len()));
                        self.model.syncs.push(ModelSync {
                            rank: r,
                            dest,
                            msg: id,
                            outcome: Outcome::Pending,
                        });
                        (FrameKind::SyncData, sync_id)
                    }
                };
                let frame = Frame::new(
                    header(kind, context, r, tag, sync_id),
                    Bytes::copy_from_slice(&id.to_le_bytes()),
                );
                if self.ranks[dest].alive {
                    self.channels[r][dest].push_back(Item::Frame(frame));
                }
            }
            Op::Recv {
                source,
                context,
                tag,
            } => {
                let pattern = Pattern {
                    context,
                    source: source.map(|s| s as u32),
                    tag,
                };
                let awaited = match source {
                    Some(s) => Awaited::Rank(s),
                    None => Awaited::AnyOf((0..self.size()).collect()),
                };
                let mut outbox = Outbox::new();
                let id = self.ranks[r].state.post_recv(pattern, awaited, &mut outbox);
                let index = self.model.post(ModelRecv {
                    rank: r,
                    context,
                    source,
                    tag,
                    outcome: Outcome::Pending,
                });
                self.ranks[r].recvs.push((id, index));
                self.send_out(r, outbox);
            }
        }
    }

    /// Withdraws one of `r`'s receives that is pending or has matched a message its
    /// caller has not taken, as dropping its future does: a matched message goes back.
    fn withdraw_one(&mut self, r: usize) {
        let open: Vec<(PostId, usize)> = self.ranks[r]
            .recvs
            .iter()
            .copied()
            .filter(|&(_, m)| {
                let outcome = self.model.recvs[m].outcome;
                matches!(outcome, Outcome::Pending | Outcome::Matched(_))
            })
            .collect();
        if open.is_empty() {
            return;
        }
        let (id, m) = open[self.rng.below(open.len())];
        self.ranks[r].state.cancel_recv(id, None);
        let was = std::mem::replace(&mut self.model.recvs[m].outcome, Outcome::Withdrawn);
        self.model.posted[r].retain(|&p| p != m);
        if let Outcome::Matched(msg) = was {
            self.model.give_back(r, msg);
        }
    }

    fn deliver(&mut self, from: usize, to: usize) {
        let item = self.channels[from][to]
            .pop_front()
            .expect("a channel with items");
        let mut outbox = Outbox::new();
        match item {
            Item::Frame(frame) => {
                let header = frame.header;
                match header.kind {
                    FrameKind::SyncAck => {
                        let acked = self.ranks[to].syncs.iter().find(|s| s.0 == header.sync_id);
                        if let Some(&(_, m)) = acked {
                            let sync = &mut self.model.syncs[m];
                            if sync.outcome == Outcome::Pending {
                                sync.outcome = Outcome::Matched(sync.msg);
                            }
                        }
                    }
                    _ => {
                        let id = u64::from_le_bytes(frame.payload[..8].try_into().expect("8"));
                        self.model.arrive(
                            to,
                            ModelMsg {
                                id,
                                from,
                                context: header.context,
                                tag: header.tag,
                                arrived: 0,
                            },
                        );
                    }
                }
                self.ranks[to]
                    .state
                    .handle(Event::Frame { from, frame }, &mut outbox);
            }
            Item::Lost => {
                self.model.learn_lost(to, from);
                self.ranks[to]
                    .state
                    .handle(Event::PeerLost { rank: from }, &mut outbox);
            }
        }
        self.send_out(to, outbox);
    }

    /// Rank `k` dies: what it sent still arrives, then its peers learn it is gone; what
    /// was on its way to it is lost with it.
    fn lose(&mut self, k: usize) {
        if !self.ranks[k].alive {
            return;
        }
        self.ranks[k].alive = false;
        for r in 0..self.size() {
            self.channels[r][k].clear();
            if r != k && self.ranks[r].alive {
                self.channels[k][r].push_back(Item::Lost);
            }
        }
    }

    /// The engine's state against the model's, for every live rank.
    fn check(&self) -> Result<(), String> {
        for (r, rank) in self.ranks.iter().enumerate().filter(|(_, r)| r.alive) {
            for &(id, m) in &rank.recvs {
                let want = self.model.recvs[m].outcome;
                let got = match rank.state.recvs.outcome_of(id) {
                    None => Outcome::Withdrawn,
                    Some(outcome) => match outcome {
                        None => Outcome::Pending,
                        Some(Ok(arrival)) => Outcome::Matched(message_id(arrival)?),
                        Some(Err(Error::PeerLost { rank })) => Outcome::Failed(*rank),
                        Some(Err(other)) => {
                            return Err(format!("rank {r}: receive failed: {other}"))
                        }
                    },
                };
                if got != want {
                    let recv = &self.model.recvs[m];
                    return Err(format!(
                        "rank {r}: receive {recv:?} got {got:?}, model says {want:?}"
                    ));
                }
            }
            for &(id, m) in &rank.syncs {
                let sync = &self.model.syncs[m];
                let got = match rank.state.syncs.get(&id).map(|w| &w.outcome) {
                    None | Some(None) => Outcome::Pending,
                    Some(Some(Ok(()))) => Outcome::Matched(sync.msg),
                    Some(Some(Err(Error::PeerLost { rank }))) => Outcome::Failed(*rank),
                    Some(Some(Err(other))) => {
                        return Err(format!("rank {r}: ssend failed: {other}"))
                    }
                };
                if got != sync.outcome {
                    return Err(format!("rank {r}: ssend {sync:?} got {got:?}"));
                }
                if got == Outcome::Matched(sync.msg) && !self.model.matched.contains(&sync.msg) {
                    return Err(format!(
                        "rank {r}: ssend {sync:?} completed before a receive matched it"
                    ));
                }
            }
            let unexpected = rank.state.matcher.unexpected_len();
            if unexpected != self.model.unexpected[r].len() {
                return Err(format!(
                    "rank {r}: {unexpected} unexpected messages, model says {:?}",
                    self.model.unexpected[r]
                ));
            }
        }
        Ok(())
    }
}

fn message_id(arrival: &Arrival) -> Result<u64, String> {
    match &arrival.payload {
        Payload::Here(bytes) if bytes.len() == 8 => {
            Ok(u64::from_le_bytes(bytes[..].try_into().expect("8 bytes")))
        }
        other => Err(format!("unexpected payload {other:?}")),
    }
}

#[test]
fn random_schedules_match_as_the_model_says() {
    let seeds: Vec<u64> = match std::env::var("SIMULATION_SEED") {
        Ok(seed) => vec![seed.parse().expect("SIMULATION_SEED is a number")],
        Err(_) => (0..20_000).collect(),
    };
    let started = std::time::Instant::now();
    for &seed in &seeds {
        if let Err(failure) = Simulation::new(seed).run() {
            panic!("seed {seed}: {failure}\n(rerun it alone with SIMULATION_SEED={seed})");
        }
    }
    eprintln!("{} schedules in {:?}", seeds.len(), started.elapsed());
}
