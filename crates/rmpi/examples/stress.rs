//! Every rank sends a stream of messages of random sizes (0 bytes to 2 MiB) to every other
//! rank, all at once, and checks every byte it receives and the order per sender, receiving
//! from any source; then does the same with typed-buffer sends, dropping some of them at
//! once and writing over their buffers; then sums buffers of random lengths with allreduce and broadcasts others
//! from random roots, checking every element:
//! `cargo rmpirun -n 4 --release --example stress [MESSAGES_PER_PEER]`.
//! The integration tests run it on each transport.

use rmpi::prelude::*;

/// A small deterministic generator (xorshift), so sender and receiver agree on sizes.
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Random {
        Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Mostly small sizes, some up to 256 KiB, a few up to 2 MiB.
    fn size(&mut self) -> usize {
        let limit = match self.next() % 10 {
            0 => 2 << 20,
            1..=3 => 256 << 10,
            _ => 4 << 10,
        };
        (self.next() % (limit as u64 + 1)) as usize
    }
}

fn sizes(from: usize, to: usize, count: usize) -> Vec<usize> {
    let mut random = Random::new((from * 1_000_003 + to) as u64);
    (0..count).map(|_| random.size()).collect()
}

/// Byte `k` of message `seq` from `from` to `to`.
fn byte(from: usize, to: usize, seq: usize, k: usize) -> u8 {
    let mix = (k as u64).wrapping_mul(0x2545_F491_4F6C_DD1D) ^ ((from * 31 + to * 7 + seq) as u64);
    (mix >> 29) as u8
}

/// Sends a typed buffer of random size to every other rank, `per_peer` each, all at once,
/// dropping every third send as soon as it is made and writing over its buffer, and
/// receives everything, from any source, checking every byte and the order per sender. A
/// large send is lent to its receiver, which reads it straight out of the sender's memory
/// where it can: a send dropped (or tired of waiting) must leave the receiver what the
/// buffer held, never what was written over it.
async fn buffer_sends(comm: &Comm, per_peer: usize) -> rmpi::Result<usize> {
    let (rank, size) = (comm.rank(), comm.size());
    let message = |from: usize, to: usize, seq: usize| -> Vec<u8> {
        let len = sizes(to, from, per_peer)[seq];
        (0..len)
            .map(|k| byte(from, to, seq + per_peer, k))
            .collect()
    };
    let peers: Vec<usize> = (0..size).filter(|&p| p != rank).collect();
    let dropped = |seq: usize, peer: usize| (seq + peer) % 3 == 0;
    let mut kept = Vec::new();
    for seq in 0..per_peer {
        for &peer in peers.iter().filter(|&&peer| !dropped(seq, peer)) {
            kept.push(message(rank, peer, seq));
        }
    }
    let mut kept_buffers = kept.iter();
    let mut requests = Vec::new();
    for seq in 0..per_peer {
        for &peer in &peers {
            if dropped(seq, peer) {
                let mut data = message(rank, peer, seq);
                drop(comm.isend_buf(&data, peer, 8));
                data.fill(0xEE);
            } else {
                let data = kept_buffers.next().expect("one kept buffer per send kept");
                requests.push(comm.isend_buf(data, peer, 8));
            }
        }
    }
    let mut next = vec![0usize; size];
    for _ in 0..per_peer * peers.len() {
        let status = comm.probe(ANY_SOURCE, 8).await?;
        let (from, seq) = (status.source, next[status.source]);
        next[from] += 1;
        let mut data = vec![0u8; status.bytes];
        comm.recv_into(&mut data, from, 8).await?;
        assert!(
            data == message(from, rank, seq),
            "typed-buffer message {seq} from {from} ({} bytes) is not what was sent",
            data.len()
        );
    }
    wait_all(requests).await?;
    Ok(per_peer * peers.len())
}

/// Element `i` of rank `rank`'s contribution to allreduce `round`.
fn element(rank: usize, round: usize, i: usize) -> u32 {
    (rank as u32).wrapping_mul(1_000_003) ^ (i as u32).wrapping_mul(7) ^ round as u32
}

/// Sums buffers of random lengths (up to 1.2 MiB) with every rank, checking every element.
/// Each rank scribbles over its buffers as soon as a sum returns, so a part lent to a peer
/// (see `rmpi::loan`) that was read after its lender moved on would show up as a wrong sum.
async fn allreduces(comm: &Comm, rounds: usize) -> rmpi::Result<usize> {
    let mut random = Random::new(comm.size() as u64);
    for round in 0..rounds {
        let len = (random.next() % (300 << 10)) as usize;
        let mine: Vec<u32> = (0..len).map(|i| element(comm.rank(), round, i)).collect();
        let mut sum = vec![0u32; len];
        comm.allreduce_buf(&mine, &mut sum, Sum).await?;
        for (i, &got) in sum.iter().enumerate() {
            let expected = (0..comm.size())
                .map(|r| element(r, round, i))
                .fold(0u32, u32::wrapping_add);
            assert_eq!(
                got, expected,
                "element {i} of allreduce {round} ({len} elements)"
            );
        }
        drop(mine);
        sum.fill(0xDEAD_BEEF);
    }
    Ok(rounds)
}

/// Broadcasts buffers of random lengths (up to 1.2 MiB) from random roots, back to back,
/// checking every element. The root scribbles over its buffer as soon as a broadcast
/// returns, so data read from it afterwards (lent, or fanned out before it was copied)
/// would show up as wrong elements.
async fn bcasts(comm: &Comm, rounds: usize) -> rmpi::Result<usize> {
    let mut random = Random::new(comm.size() as u64 + 1);
    for round in 0..rounds {
        let len = match random.next() % 3 {
            0 => random.next() % (1 << 10),
            1 => random.next() % (64 << 10),
            _ => random.next() % (300 << 10),
        } as usize;
        let root = (random.next() % comm.size() as u64) as usize;
        let mut buf: Vec<u32> = if comm.rank() == root {
            (0..len).map(|i| element(root, round, i)).collect()
        } else {
            vec![0; len]
        };
        comm.bcast_buf(&mut buf, root).await?;
        if comm.rank() == root {
            buf.fill(0xDEAD_BEEF);
            continue;
        }
        for (i, &got) in buf.iter().enumerate() {
            assert_eq!(
                got,
                element(root, round, i),
                "element {i} of bcast {round} from {root} ({len} elements)"
            );
        }
    }
    Ok(rounds)
}

fn main() -> rmpi::Result<()> {
    let per_peer: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    rmpi::run(|comm| async move {
        let (rank, size) = (comm.rank(), comm.size());
        // Send everything first: sends never block, whatever the sizes.
        for seq in 0..per_peer {
            for peer in (0..size).filter(|&p| p != rank) {
                let len = sizes(rank, peer, per_peer)[seq];
                let message: Vec<u8> = (0..len).map(|k| byte(rank, peer, seq, k)).collect();
                comm.send_vec(message, peer, 7).await?;
            }
        }
        let expected: Vec<Vec<usize>> = (0..size).map(|p| sizes(p, rank, per_peer)).collect();
        let mut next = vec![0usize; size];
        let (mut messages, mut bytes) = (0, 0);
        for _ in 0..per_peer * (size - 1) {
            let (data, status) = comm.recv_buf::<u8>(ANY_SOURCE, 7).await?;
            let from = status.source;
            let seq = next[from];
            next[from] += 1;
            assert_eq!(
                data.len(),
                expected[from][seq],
                "size of message {seq} from {from}"
            );
            for (k, &b) in data.iter().enumerate() {
                assert_eq!(
                    b,
                    byte(from, rank, seq, k),
                    "byte {k} of message {seq} from {from}"
                );
            }
            messages += 1;
            bytes += data.len();
        }
        let buffers = buffer_sends(&comm, per_peer).await?;
        let sums = allreduces(&comm, per_peer.min(10)).await?;
        let broadcasts = bcasts(&comm, per_peer.min(20)).await?;
        comm.barrier().await?;
        println!(
            "rank {rank}: {messages} messages, {bytes} bytes, {buffers} typed buffers, \
             {sums} allreduces, {broadcasts} bcasts, every byte checked"
        );
        Ok(())
    })
}
