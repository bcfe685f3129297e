//! Property test: random schedules of sends, receives and probes, with `ANY_SOURCE`/`ANY_TAG`,
//! synchronous sends, two communicators and undersized buffers, run on 2 to 8 in-process ranks
//! and checked delivery by delivery against a reference model of MPI matching.
//!
//! The schedule runs in phases separated by barriers (on a communicator of their own):
//!
//! 1. every rank pre-posts nonblocking receives, each from a specific source;
//! 2. every rank sends its messages (plain or synchronous, on world or on a dup);
//! 3. every rank runs its receive and probe operations, then receives whatever is left.
//!
//! After the barrier in front of phase 3 every message has arrived, so the model can say
//! exactly which messages may satisfy each operation: for each source, the earliest one that
//! fits (non-overtaking). A receive from a specific source has one candidate; a wildcard
//! receive may take any source's candidate, and the model then follows the choice made.

use std::collections::VecDeque;

use proptest::prelude::*;
use rmpi_core::{local, wait_all, Comm, Error, Source, TagFilter, ANY_SOURCE, ANY_TAG};

const TAGS: i32 = 3;
const MAX_LEN: usize = 32;

#[derive(Debug, Clone)]
struct Message {
    src: usize,
    dst: usize,
    on_dup: bool,
    tag: i32,
    len: usize,
    sync: bool,
}

#[derive(Debug, Clone, Copy)]
struct Filter {
    on_dup: bool,
    source: Option<usize>,
    tag: Option<i32>,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Recv {
        filter: Filter,
        capacity: usize,
    },
    /// `iprobe` with the filter, then a receive of exactly what it reported.
    ProbeThenRecv {
        filter: Filter,
    },
}

#[derive(Debug, Clone)]
struct Schedule {
    size: usize,
    messages: Vec<Message>,
    /// Per rank: pre-posted receives (specific source) with their buffer capacity.
    preposted: Vec<Vec<(Filter, usize)>>,
    /// Per rank: operations after all messages have arrived.
    ops: Vec<Vec<Op>>,
}

/// The bytes of the `seq`-th message sent by `src`: distinct per message.
fn payload(src: usize, seq: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (src * 31 + seq * 7 + i) as u8).collect()
}

fn filter(size: usize, specific: bool) -> impl Strategy<Value = Filter> {
    (
        any::<bool>(),
        if specific {
            (0..size).prop_map(Some).boxed()
        } else {
            proptest::option::weighted(0.5, 0..size).boxed()
        },
        proptest::option::weighted(0.6, 0..TAGS),
    )
        .prop_map(|(on_dup, source, tag)| Filter {
            on_dup,
            source,
            tag,
        })
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (2usize..=8).prop_flat_map(|size| {
        let message = (
            0..size,
            0..size,
            any::<bool>(),
            0..TAGS,
            0..=MAX_LEN,
            proptest::bool::weighted(0.25),
        )
            .prop_map(|(src, dst, on_dup, tag, len, sync)| Message {
                src,
                dst,
                on_dup,
                tag,
                len,
                sync,
            });
        let capacity = prop_oneof![3 => Just(MAX_LEN), 1 => 0..MAX_LEN];
        let prepost = proptest::collection::vec((filter(size, true), capacity.clone()), 0..4);
        let op = prop_oneof![
            3 => (filter(size, false), capacity).prop_map(|(filter, capacity)| Op::Recv { filter, capacity }),
            1 => filter(size, false).prop_map(|filter| Op::ProbeThenRecv { filter }),
        ];
        (
            proptest::collection::vec(message, 0..40),
            proptest::collection::vec(prepost, size),
            proptest::collection::vec(proptest::collection::vec(op, 0..12), size),
        )
            .prop_map(move |(messages, preposted, ops)| Schedule {
                size,
                messages,
                preposted,
                ops,
            })
    })
}

/// A message as the model of one receiver holds it.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    src: usize,
    tag: i32,
    bytes: Vec<u8>,
}

/// The reference model of one receiver: per (communicator, source), the messages that arrived
/// and were not received yet, in send order.
struct Model {
    queues: Vec<[VecDeque<Expected>; 2]>,
}

impl Model {
    fn candidates(&self, filter: Filter) -> Vec<Expected> {
        let sources: Vec<usize> = match filter.source {
            Some(s) => vec![s],
            None => (0..self.queues.len()).collect(),
        };
        sources
            .into_iter()
            .filter_map(|s| {
                self.queues[s][filter.on_dup as usize]
                    .iter()
                    .find(|m| filter.tag.is_none_or(|t| t == m.tag))
                    .cloned()
            })
            .collect()
    }

    fn remove(&mut self, on_dup: bool, message: &Expected) {
        let queue = &mut self.queues[message.src][on_dup as usize];
        let at = queue
            .iter()
            .position(|m| m == message)
            .expect("candidate is queued");
        queue.remove(at);
    }

    fn is_empty(&self) -> bool {
        self.queues.iter().flatten().all(VecDeque::is_empty)
    }
}

fn source(filter: Filter) -> Source {
    filter.source.map_or(ANY_SOURCE, Source::Rank)
}

fn tag(filter: Filter) -> TagFilter {
    filter.tag.map_or(ANY_TAG, TagFilter::Tag)
}

/// Every rank sends a token to every other and hears from every other: afterwards, every
/// frame sent before the barrier has reached its destination's matching engine.
async fn barrier(comm: &Comm) {
    for peer in (0..comm.size()).filter(|&p| p != comm.rank()) {
        comm.send(&(), peer, 0).await.unwrap();
    }
    for peer in (0..comm.size()).filter(|&p| p != comm.rank()) {
        comm.recv::<()>(peer, 0).await.unwrap();
    }
}

/// Checks one receive's outcome against the candidates; returns the message it took.
fn check_recv(
    rank: usize,
    candidates: &[Expected],
    outcome: Result<rmpi_core::Status, Error>,
    buf: &[u8],
    capacity: usize,
) -> Expected {
    match outcome {
        Ok(status) => {
            let m = candidates
                .iter()
                .find(|m| m.src == status.source)
                .unwrap_or_else(|| {
                    panic!(
                        "rank {rank}: got a message from {} that no model allows",
                        status.source
                    )
                });
            assert_eq!(
                (status.tag, status.bytes),
                (m.tag, m.bytes.len()),
                "rank {rank}"
            );
            assert!(
                m.bytes.len() <= capacity,
                "rank {rank}: oversize message not refused"
            );
            assert_eq!(
                &buf[..status.bytes],
                &m.bytes[..],
                "rank {rank}: payload differs"
            );
            m.clone()
        }
        Err(Error::Truncated {
            source_rank,
            tag,
            message_bytes,
            buffer_bytes,
        }) => {
            let m = candidates
                .iter()
                .find(|m| m.src == source_rank)
                .unwrap_or_else(|| {
                    panic!("rank {rank}: truncated message from unexpected {source_rank}")
                });
            assert_eq!(
                (tag, message_bytes, buffer_bytes),
                (m.tag, m.bytes.len(), capacity)
            );
            assert!(message_bytes > capacity);
            m.clone()
        }
        Err(other) => panic!("rank {rank}: unexpected error {other}"),
    }
}

async fn run_rank(world: Comm, schedule: &Schedule) {
    let rank = world.rank();
    let dup = world.dup();
    let sync = world.dup();
    let comm = |on_dup: bool| if on_dup { &dup } else { &world };

    // The model: which messages reach this rank, per source in send order, and what each
    // pre-posted receive should get.
    let mut model = Model {
        queues: (0..schedule.size).map(|_| Default::default()).collect(),
    };
    let mut seq = vec![0usize; schedule.size];
    let mut preposted_expect: Vec<Option<Expected>> = vec![None; schedule.preposted[rank].len()];
    for m in &schedule.messages {
        let bytes = payload(m.src, seq[m.src], m.len);
        seq[m.src] += 1;
        if m.dst != rank {
            continue;
        }
        let expected = Expected {
            src: m.src,
            tag: m.tag,
            bytes,
        };
        let taker = schedule.preposted[rank]
            .iter()
            .enumerate()
            .position(|(i, (f, _))| {
                preposted_expect[i].is_none()
                    && f.on_dup == m.on_dup
                    && f.source == Some(m.src)
                    && f.tag.is_none_or(|t| t == m.tag)
            });
        match taker {
            Some(i) => preposted_expect[i] = Some(expected),
            None => model.queues[m.src][m.on_dup as usize].push_back(expected),
        }
    }

    // Phase 1: pre-post.
    let mut buffers: Vec<Vec<u8>> = schedule.preposted[rank]
        .iter()
        .map(|&(_, capacity)| vec![0u8; capacity])
        .collect();
    let mut requests: Vec<_> = schedule.preposted[rank]
        .iter()
        .zip(buffers.iter_mut())
        .map(|(&(f, _), buf)| comm(f.on_dup).irecv_into(buf.as_mut_slice(), source(f), tag(f)))
        .collect();
    barrier(&sync).await;

    // Phase 2: send.
    let outgoing: Vec<(&Message, Vec<u8>)> = schedule
        .messages
        .iter()
        .filter(|m| m.src == rank)
        .enumerate()
        .map(|(seq, m)| (m, payload(rank, seq, m.len)))
        .collect();
    let mut synchronous = Vec::new();
    for (m, bytes) in &outgoing {
        let c = comm(m.on_dup);
        if m.sync {
            synchronous.push(c.issend_buf(bytes, m.dst, m.tag));
        } else {
            c.send_buf(bytes, m.dst, m.tag).await.unwrap();
        }
    }
    barrier(&sync).await;

    // Every message has arrived: pre-posted receives are complete exactly as modelled.
    let mut outcomes = Vec::new();
    for (request, expected) in requests.iter_mut().zip(&preposted_expect) {
        let outcome = request.test();
        assert_eq!(
            outcome.is_some(),
            expected.is_some(),
            "rank {rank}: pre-posted completion"
        );
        outcomes.push(outcome);
    }
    drop(requests); // withdraws the receives that matched nothing
    for (i, outcome) in outcomes.into_iter().enumerate() {
        if let (Some(outcome), Some(expected)) = (outcome, &preposted_expect[i]) {
            let capacity = schedule.preposted[rank][i].1;
            check_recv(
                rank,
                std::slice::from_ref(expected),
                outcome,
                &buffers[i],
                capacity,
            );
        }
    }

    // Phase 3: receives and probes against the model.
    for op in &schedule.ops[rank] {
        match *op {
            Op::Recv { filter, capacity } => {
                let candidates = model.candidates(filter);
                let c = comm(filter.on_dup);
                if candidates.is_empty() {
                    assert_eq!(
                        c.iprobe(source(filter), tag(filter)).unwrap(),
                        None,
                        "rank {rank}"
                    );
                    continue;
                }
                let mut buf = vec![0u8; capacity];
                let outcome = c.recv_into(&mut buf, source(filter), tag(filter)).await;
                let taken = check_recv(rank, &candidates, outcome, &buf, capacity);
                model.remove(filter.on_dup, &taken);
            }
            Op::ProbeThenRecv { filter } => {
                let candidates = model.candidates(filter);
                let c = comm(filter.on_dup);
                let Some(status) = c.iprobe(source(filter), tag(filter)).unwrap() else {
                    assert!(
                        candidates.is_empty(),
                        "rank {rank}: probe missed an arrived message"
                    );
                    continue;
                };
                let m = candidates
                    .iter()
                    .find(|m| m.src == status.source)
                    .expect("probe reports a candidate")
                    .clone();
                assert_eq!((status.tag, status.bytes), (m.tag, m.bytes.len()));
                let (bytes, got) = c.recv_buf::<u8>(status.source, status.tag).await.unwrap();
                assert_eq!(
                    (bytes, got),
                    (m.bytes.clone(), status),
                    "rank {rank}: probe then recv"
                );
                model.remove(filter.on_dup, &m);
            }
        }
    }

    // Drain: whatever is left arrives in an order the model allows, then nothing is left.
    for on_dup in [false, true] {
        let any = Filter {
            on_dup,
            source: None,
            tag: None,
        };
        loop {
            let candidates = model.candidates(any);
            if candidates.is_empty() {
                break;
            }
            let mut buf = vec![0u8; MAX_LEN];
            let outcome = comm(on_dup).recv_into(&mut buf, ANY_SOURCE, ANY_TAG).await;
            let taken = check_recv(rank, &candidates, outcome, &buf, MAX_LEN);
            model.remove(on_dup, &taken);
        }
        assert_eq!(comm(on_dup).iprobe(ANY_SOURCE, ANY_TAG).unwrap(), None);
    }
    assert!(model.is_empty());

    // Every synchronous send was matched by now (or is about to be).
    wait_all(synchronous).await.unwrap();
    barrier(&sync).await;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn deliveries_follow_mpi_matching(schedule in schedule()) {
        let schedule = &schedule;
        local::run(schedule.size, |world| run_rank(world, schedule));
    }
}
