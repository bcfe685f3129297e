//! A soak: every rank takes part in round after round of random traffic until the job has
//! sent MESSAGES point-to-point messages, checking every byte against a model of what was
//! sent and MPI's ordering rules (messages from one sender arrive in the order sent), and
//! that nothing is left over once a communicator is done (no duplicates):
//! `cargo rmpirun -n 16 --release --example soak [MESSAGES] [SEED]`.
//!
//! Each round, every rank draws the same pattern from the seed (so all agree without
//! talking): point-to-point bursts of 0 B - 4 MiB messages in four flavours (objects, typed
//! buffers, nonblocking, synchronous) received from any source with any tag, or from each
//! sender in turn through posted requests; every collective, objects and typed buffers,
//! the variable-count ones included, from random roots; nonblocking collectives started
//! together and overlapped with point-to-point;
//! and all of it again on communicators made by `dup` and `split`. At the end rank 0 prints
//! what moved, how long it took, and each rank's peak memory. The integration tests run a
//! short form on each transport; BENCHMARKS.md records the last long one.

use std::time::Instant;

use rmpi::prelude::*;

/// A small deterministic generator (xorshift): every rank draws the same numbers from the
/// same seed.
#[derive(Clone)]
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Random {
        let mut random = Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        random.next();
        random
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Mostly small messages, some of tens of KiB, a few of up to 4 MiB.
    fn size(&mut self) -> usize {
        let limit = match self.below(100) {
            0 => 4 << 20,
            1..=9 => 64 << 10,
            _ => 1 << 10,
        };
        self.below(limit + 1)
    }
}

/// Byte `k` of message `seq` from world rank `from` to `to` in `round`.
fn byte(round: u64, from: usize, to: usize, seq: usize, k: usize) -> u8 {
    let mix = (k as u64).wrapping_mul(0x2545_F491_4F6C_DD1D)
        ^ round.wrapping_mul(0x9E37_79B9)
        ^ ((from * 131 + to * 7 + seq) as u64);
    (mix >> 29) as u8
}

/// How a point-to-point message travels.
#[derive(Clone, Copy, Debug)]
enum Flavour {
    Object,
    Buffer,
    Nonblocking,
    Synchronous,
}

/// One message of a burst, as every rank computes it from the round's seed.
#[derive(Clone, Copy, Debug)]
struct Planned {
    from: usize,
    to: usize,
    tag: i32,
    len: usize,
    flavour: Flavour,
    /// Its place among the messages from `from` to `to` this round.
    seq: usize,
}

/// The messages of a burst on `comm`: each member sends 1-8 to random others.
fn plan_burst(random: &mut Random, size: usize) -> Vec<Planned> {
    let mut planned = Vec::new();
    let mut seqs = vec![0usize; size * size];
    for from in 0..size {
        for _ in 0..1 + random.below(8) {
            let to = (from + 1 + random.below(size - 1)) % size;
            let flavour = match random.below(4) {
                0 => Flavour::Object,
                1 => Flavour::Buffer,
                2 => Flavour::Nonblocking,
                _ => Flavour::Synchronous,
            };
            let seq = seqs[from * size + to];
            seqs[from * size + to] += 1;
            let (tag, len) = (random.below(4) as i32, random.size());
            planned.push(Planned {
                from,
                to,
                tag,
                len,
                flavour,
                seq,
            });
        }
    }
    planned
}

/// What a soak has moved so far, on one rank.
#[derive(Default)]
struct Moved {
    messages: u64,
    bytes: u64,
    collectives: u64,
}

/// A burst of point-to-point messages on `comm`: sends all of this rank's (nonblocking
/// and synchronous ones as requests), receives everything meant for it, either from any
/// source with any tag (probing first to learn which message it is) or through receives
/// posted for each sender in turn, and checks every byte and the order per sender.
async fn burst(
    comm: &Comm,
    round: u64,
    random: &mut Random,
    moved: &mut Moved,
) -> rmpi::Result<()> {
    let (rank, size) = (comm.rank(), comm.size());
    if size < 2 {
        return Ok(());
    }
    let planned = plan_burst(random, size);
    let any_source = random.below(2) == 0;
    let data = |m: &Planned| -> Vec<u8> {
        (0..m.len)
            .map(|k| byte(round, m.from, m.to, m.seq, k))
            .collect()
    };
    let mine: Vec<(Planned, Vec<u8>)> = planned
        .iter()
        .filter(|m| m.from == rank)
        .map(|m| (*m, data(m)))
        .collect();
    let mut requests = Vec::new();
    for (m, bytes) in &mine {
        match m.flavour {
            Flavour::Object => comm.send(bytes, m.to, m.tag).await?,
            Flavour::Buffer => comm.send_buf(bytes, m.to, m.tag).await?,
            Flavour::Nonblocking => requests.push(comm.isend_buf(bytes, m.to, m.tag)),
            Flavour::Synchronous => requests.push(comm.issend_buf(bytes, m.to, m.tag)),
        }
        moved.messages += 1;
        moved.bytes += bytes.len() as u64;
    }
    // What comes to this rank, by sender, in the order sent.
    let incoming: Vec<Vec<Planned>> = (0..size)
        .map(|from| {
            planned
                .iter()
                .filter(|m| m.from == from && m.to == rank)
                .copied()
                .collect()
        })
        .collect();
    let check = |m: &Planned, got: &[u8]| {
        assert!(
            got.len() == m.len
                && got
                    .iter()
                    .enumerate()
                    .all(|(k, &b)| b == byte(round, m.from, m.to, m.seq, k)),
            "round {round} on {}: message {m:?} arrived as {} other bytes",
            comm.name(),
            got.len()
        );
    };
    if any_source {
        let mut next = vec![0usize; size];
        for _ in 0..incoming.iter().map(Vec::len).sum::<usize>() {
            let status = comm.probe(ANY_SOURCE, ANY_TAG).await?;
            let m = incoming[status.source][next[status.source]];
            next[status.source] += 1;
            assert_eq!(status.tag, m.tag, "{m:?}");
            let got = match m.flavour {
                Flavour::Object => comm.recv::<Vec<u8>>(m.from, m.tag).await?,
                _ => comm.recv_buf::<u8>(m.from, m.tag).await?.0,
            };
            check(&m, &got);
        }
    } else {
        for from in (0..size).filter(|&f| f != rank) {
            // One buffer per typed-buffer message, in order; receives posted in the order
            // the messages were sent, whatever their flavour.
            let mut buffers: Vec<Vec<u8>> = incoming[from]
                .iter()
                .filter(|m| !matches!(m.flavour, Flavour::Object))
                .map(|m| vec![0; m.len])
                .collect();
            let mut objects = Vec::new();
            let mut posted = Vec::new();
            let mut free = buffers.iter_mut();
            for m in &incoming[from] {
                match m.flavour {
                    Flavour::Object => {
                        objects.push(comm.irecv_with_status::<Vec<u8>>(from, ANY_TAG))
                    }
                    _ => {
                        let buf = free.next().expect("one buffer per typed-buffer message");
                        posted.push(comm.irecv_into(buf, from, ANY_TAG));
                    }
                }
            }
            let statuses = wait_all(posted).await?;
            let objects = wait_all(objects).await?;
            let (mut buffered, mut objects) = (statuses.iter().zip(&buffers), objects.iter());
            for m in &incoming[from] {
                match m.flavour {
                    Flavour::Object => {
                        let (got, status) = objects.next().expect("one object per message");
                        assert_eq!(status.tag, m.tag, "{m:?}");
                        check(m, got);
                    }
                    _ => {
                        let (status, got) = buffered.next().expect("one buffer per message");
                        assert_eq!(status.tag, m.tag, "{m:?}");
                        check(m, got);
                    }
                }
            }
        }
    }
    wait_all(requests).await?;
    Ok(())
}

/// Element `i` of member `rank`'s contribution to a collective of `round`.
fn element(round: u64, rank: usize, i: usize) -> u64 {
    (rank as u64).wrapping_mul(1_000_003) ^ (i as u64).wrapping_mul(7) ^ round
}

/// Member `rank`'s first `n` elements in `round`.
fn contribution(round: u64, rank: usize, n: usize) -> Vec<u64> {
    (0..n).map(|i| element(round, rank, i)).collect()
}

/// Elements `from..from + n` summed (wrapping) over `members`.
fn sums(round: u64, members: std::ops::Range<usize>, from: usize, n: usize) -> Vec<u64> {
    (from..from + n)
        .map(|i| {
            members
                .clone()
                .map(|r| element(round, r, i))
                .fold(0u64, u64::wrapping_add)
        })
        .collect()
}

/// One collective of each kind, in both flavours, on `comm`, from random roots, checking
/// every result against what the members contributed.
async fn collectives(
    comm: &Comm,
    round: u64,
    random: &mut Random,
    moved: &mut Moved,
) -> rmpi::Result<()> {
    let (rank, size) = (comm.rank(), comm.size());
    let root = random.below(size);
    // Up to 256 KiB per member: an allgather holds every member's.
    let len = random.size().min(256 << 10) / 8;
    // Member r's contribution.
    let of = |r: usize| contribution(round, r, len);
    // Objects.
    let value = comm.bcast((rank == root).then(|| of(root)), root).await?;
    assert_eq!(value, of(root), "bcast {round} from {root}");
    let gathered = comm.gather(rank as u64 + round, root).await?;
    if rank == root {
        assert_eq!(
            gathered,
            Some((0..size as u64).map(|r| r + round).collect())
        );
    }
    let scattered = comm
        .scatter(
            (rank == root).then(|| (0..size as u64).map(|r| r * round).collect()),
            root,
        )
        .await?;
    assert_eq!(scattered, rank as u64 * round);
    let all = comm.allgather(rank).await?;
    assert_eq!(all, (0..size).collect::<Vec<_>>());
    let swapped = comm
        .alltoall((0..size).map(|to| (rank, to)).collect())
        .await?;
    assert_eq!(
        swapped,
        (0..size).map(|from| (from, rank)).collect::<Vec<_>>()
    );
    let total = comm.allreduce(rank as u64, Sum).await?;
    assert_eq!(total, (0..size as u64).sum::<u64>());
    let prefix = comm.scan(rank as u64 + 1, Sum).await?;
    assert_eq!(prefix, (1..=rank as u64 + 1).sum::<u64>());
    // Typed buffers.
    let mut buf = if rank == root { of(root) } else { vec![0; len] };
    comm.bcast_buf(&mut buf, root).await?;
    assert!(buf == of(root), "bcast_buf {round} from {root}");
    let mut summed = vec![0u64; len];
    comm.allreduce_buf(&of(rank), &mut summed, Sum).await?;
    assert!(
        summed == sums(round, 0..size, 0, len),
        "allreduce_buf {round}"
    );
    let mut reduced = vec![0u64; len];
    comm.reduce_buf(&of(rank), &mut reduced, Sum, root).await?;
    if rank == root {
        assert!(
            reduced == sums(round, 0..size, 0, len),
            "reduce_buf {round}"
        );
    }
    let mut scanned = vec![0u64; len];
    comm.scan_buf(&of(rank), &mut scanned, Sum).await?;
    assert!(
        scanned == sums(round, 0..rank + 1, 0, len),
        "scan_buf {round}"
    );
    let mut everyone = vec![0u64; len * size];
    comm.allgather_buf(&of(rank), &mut everyone).await?;
    for r in 0..size {
        assert!(
            everyone[r * len..(r + 1) * len] == of(r),
            "allgather_buf {round}"
        );
    }
    comm.barrier().await?;
    moved.collectives += 13;
    Ok(())
}

/// The other collectives, each once, in both flavours where rmpi has both: rooted
/// reductions, exclusive scans, reduce-scatter, the typed-buffer scatter, gather and
/// all-to-all, and the variable-count ones (member `r` contributing `r + 1` blocks).
async fn more_collectives(
    comm: &Comm,
    round: u64,
    random: &mut Random,
    moved: &mut Moved,
) -> rmpi::Result<()> {
    let (rank, size) = (comm.rank(), comm.size());
    let root = random.below(size);
    let block = 1 + random.size().min(64 << 10) / 8;
    // Objects.
    let total = comm.reduce(rank as u64, Sum, root).await?;
    assert_eq!(
        total,
        (rank == root).then(|| (0..size as u64).sum()),
        "reduce {round}"
    );
    let before = comm.exscan(rank as u64 + 1, Sum).await?;
    assert_eq!(
        before,
        (rank > 0).then(|| (1..=rank as u64).sum()),
        "exscan {round}"
    );
    let mine = comm
        .reduce_scatter((0..size).map(|to| element(round, rank, to)).collect(), Sum)
        .await?;
    assert_eq!(
        mine,
        sums(round, 0..size, rank, 1)[0],
        "reduce_scatter {round}"
    );
    // Typed buffers: member r's elements are element(round, r, i).
    let mut part = vec![0u64; block];
    let whole = if rank == root {
        contribution(round, root, block * size)
    } else {
        Vec::new()
    };
    comm.scatter_buf(&whole, &mut part, root).await?;
    assert!(
        part == contribution(round, root, block * size)[rank * block..(rank + 1) * block],
        "scatter_buf {round}"
    );
    let mut gathered = vec![0u64; if rank == root { block * size } else { 0 }];
    comm.gather_buf(&contribution(round, rank, block), &mut gathered, root)
        .await?;
    if rank == root {
        for r in 0..size {
            assert!(
                gathered[r * block..(r + 1) * block] == contribution(round, r, block),
                "gather_buf {round}"
            );
        }
    }
    let mut swapped = vec![0u64; block * size];
    comm.alltoall_buf(&contribution(round, rank, block * size), &mut swapped)
        .await?;
    for r in 0..size {
        assert!(
            swapped[r * block..(r + 1) * block]
                == contribution(round, r, block * size)[rank * block..(rank + 1) * block],
            "alltoall_buf {round}"
        );
    }
    let mut prefix = vec![0u64; block];
    comm.exscan_buf(&contribution(round, rank, block), &mut prefix, Sum)
        .await?;
    if rank > 0 {
        assert!(
            prefix == sums(round, 0..rank, 0, block),
            "exscan_buf {round}"
        );
    }
    let mut scattered = vec![0u64; block];
    comm.reduce_scatter_buf(
        &contribution(round, rank, block * size),
        &mut scattered,
        Sum,
    )
    .await?;
    assert!(
        scattered == sums(round, 0..size, rank * block, block),
        "reduce_scatter_buf {round}"
    );
    // Variable counts: member r has r + 1 elements.
    let counts: Vec<usize> = (1..=size).collect();
    let displs: Vec<usize> = (0..size).map(|r| r * (r + 1) / 2).collect();
    let mut all = vec![0u64; size * (size + 1) / 2];
    comm.allgatherv_buf(
        &contribution(round, rank, rank + 1),
        &mut all,
        &counts,
        &displs,
    )
    .await?;
    for r in 0..size {
        assert!(
            all[displs[r]..displs[r] + counts[r]] == contribution(round, r, r + 1),
            "allgatherv_buf {round}"
        );
    }
    let mut gatheredv = vec![0u64; if rank == root { all.len() } else { 0 }];
    comm.gatherv_buf(
        &contribution(round, rank, rank + 1),
        &mut gatheredv,
        &counts,
        &displs,
        root,
    )
    .await?;
    if rank == root {
        assert!(gatheredv == all, "gatherv_buf {round}");
    }
    let mut partv = vec![0u64; rank + 1];
    let source = if rank == root {
        all.clone()
    } else {
        Vec::new()
    };
    comm.scatterv_buf(&source, &counts, &displs, &mut partv, root)
        .await?;
    assert!(
        partv == contribution(round, rank, rank + 1),
        "scatterv_buf {round}"
    );
    // Member r sends r + 1 elements to each; receives from member s its s + 1.
    let send_counts = vec![rank + 1; size];
    let send_displs: Vec<usize> = (0..size).map(|to| to * (rank + 1)).collect();
    let sent: Vec<u64> = (0..size)
        .flat_map(|to| contribution(round, rank * size + to, rank + 1))
        .collect();
    let mut got = vec![0u64; size * (size + 1) / 2];
    comm.alltoallv_buf(
        &sent,
        &send_counts,
        &send_displs,
        &mut got,
        &counts,
        &displs,
    )
    .await?;
    for from in 0..size {
        assert!(
            got[displs[from]..displs[from] + counts[from]]
                == contribution(round, from * size + rank, from + 1),
            "alltoallv_buf {round}"
        );
    }
    moved.collectives += 12;
    Ok(())
}

/// Nonblocking collectives started together, a burst of point-to-point while they run,
/// then their results checked.
async fn overlapped(
    comm: &Comm,
    round: u64,
    random: &mut Random,
    moved: &mut Moved,
) -> rmpi::Result<()> {
    let (rank, size) = (comm.rank(), comm.size());
    let root = random.below(size);
    let bcast = comm.ibcast((rank == root).then_some(round), root);
    let total = comm.iallreduce(rank as u64, Sum);
    let gathered = comm.iallgather(rank);
    burst(comm, round, random, moved).await?;
    assert_eq!(bcast.await?, round);
    assert_eq!(total.await?, (0..size as u64).sum::<u64>());
    assert_eq!(gathered.await?, (0..size).collect::<Vec<_>>());
    moved.collectives += 3;
    Ok(())
}

/// One round of pattern `pattern` on `comm`.
async fn round_on(
    comm: &Comm,
    pattern: usize,
    round: u64,
    random: &mut Random,
    moved: &mut Moved,
) -> rmpi::Result<()> {
    match pattern {
        0 | 1 => burst(comm, round, random, moved).await,
        2 => collectives(comm, round, random, moved).await,
        3 => more_collectives(comm, round, random, moved).await,
        _ => overlapped(comm, round, random, moved).await,
    }
}

/// Checks that no message is left over on `comm` once every member is done with it: a
/// duplicate would be.
async fn nothing_left(comm: &Comm) -> rmpi::Result<()> {
    comm.barrier().await?;
    if let Some(status) = comm.iprobe(ANY_SOURCE, ANY_TAG)? {
        panic!(
            "a message is left over on {} after every one sent was received (a duplicate?): \
             {status:?}",
            comm.name()
        );
    }
    Ok(())
}

/// This process's peak resident memory, in KiB (Linux's `VmHWM`).
fn peak_memory_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() -> rmpi::Result<()> {
    let mut args = std::env::args().skip(1);
    let target: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    rmpi::run(|world| async move {
        let started = Instant::now();
        let mut moved = Moved::default();
        let mut round = 0u64;
        // Every rank counts the whole job's messages alike, from the shared plan.
        let mut job_messages = 0u64;
        while job_messages < target {
            round += 1;
            let mut random = Random::new(seed ^ round.wrapping_mul(0x5851_F42D_4C95_7F2D));
            let pattern = random.below(6);
            let before = moved.messages;
            match random.below(3) {
                0 => round_on(&world, pattern, round, &mut random, &mut moved).await?,
                1 => {
                    let dup = world.dup();
                    round_on(&dup, pattern, round, &mut random, &mut moved).await?;
                    nothing_left(&dup).await?;
                }
                _ => {
                    let colours = 1 + random.below(3) as u32;
                    let colour = world.rank() as u32 % colours;
                    let part = world.split(Some(colour), -(world.rank() as i32)).await?;
                    let part = part.expect("every rank has a colour");
                    // Each part draws its own round from the shared generator's state.
                    let mut mine = random.clone();
                    round_on(&part, pattern, round, &mut mine, &mut moved).await?;
                    nothing_left(&part).await?;
                }
            }
            let sent_here = moved.messages - before;
            job_messages += world.allreduce(sent_here, Sum).await?;
        }
        nothing_left(&world).await?;
        let seconds = started.elapsed().as_secs_f64();
        let bytes = world.reduce(moved.bytes, Sum, 0).await?;
        let memory = world.gather(peak_memory_kib(), 0).await?;
        if let (Some(bytes), Some(mut memory)) = (bytes, memory) {
            memory.sort_unstable();
            let mib = |kib: u64| kib as f64 / 1024.0;
            println!(
                "soak: {job_messages} messages ({:.1} MiB) and {} collectives per rank in {round} \
                 rounds on {} ranks, {seconds:.1} s; peak memory per rank {:.1}-{:.1} MiB \
                 (median {:.1})",
                bytes as f64 / (1 << 20) as f64,
                moved.collectives,
                world.size(),
                mib(memory[0]),
                mib(memory[memory.len() - 1]),
                mib(memory[memory.len() / 2]),
            );
        }
        Ok(())
    })
}
