//! Nonblocking collectives in both flavours: many in flight at once, mixed with blocking
//! collectives and point-to-point, each checked against a naive reference; and the
//! location-carrying reductions on typed buffers.

use rmpi_collectives::{BufferCollectives, Buffers, Collectives, Located, MaxLoc, MinLoc, Sum};
use rmpi_core::{local, wait_all, Error};

fn value(rank: usize, i: usize) -> u64 {
    (rank as u64) * 1_000 + i as u64
}

#[test]
fn many_nonblocking_buffer_collectives_in_flight_at_once() {
    for n in [1, 2, 3, 5, 8] {
        let outcomes = local::run(n, |comm| async move {
            let (rank, size) = (comm.rank(), comm.size());
            let count = 1_001; // odd, and large enough to take several messages per algorithm
            let mine: Vec<u64> = (0..count).map(|i| value(rank, i)).collect();
            let root = size / 2;

            // Started in one order, completed in another, with blocking work between.
            let bcast = comm.ibcast_buf(
                if rank == root {
                    mine.clone()
                } else {
                    vec![0; count]
                },
                root,
            );
            let allreduce = comm.iallreduce_buf(mine.clone(), vec![0; count], Sum);
            let gather = comm.igather_buf(
                mine.clone(),
                vec![0; if rank == root { count * size } else { 0 }],
                root,
            );
            let alltoall_send: Vec<u64> = (0..size * 3).map(|i| value(rank, i)).collect();
            let alltoall = comm.ialltoall_buf(alltoall_send, vec![0; size * 3]);
            let scan = comm.iscan_buf(mine.clone(), vec![0; count], Sum);
            // A blocking collective called after them takes its place after them.
            let mut flag = [rank as u32];
            comm.bcast_buf(&mut flag, 0).await?;
            assert_eq!(flag, [0]);
            // Point-to-point on the same communicator meanwhile.
            comm.send(&rank, (rank + 1) % size, 5).await?;
            let from_left: usize = comm.recv((rank + size - 1) % size, 5).await?;
            assert_eq!(from_left, (rank + size - 1) % size);

            let scanned = scan.await?;
            let total: Vec<u64> = (0..count)
                .map(|i| (0..size).map(|r| value(r, i)).sum())
                .collect();
            let prefix: Vec<u64> = (0..count)
                .map(|i| (0..=rank).map(|r| value(r, i)).sum())
                .collect();
            assert_eq!(scanned.recv, prefix);
            assert_eq!(scanned.send, mine, "the send buffer comes back unchanged");

            let mut rest = wait_all([allreduce, gather, alltoall]).await?.into_iter();
            let (reduced, gathered, exchanged) = (
                rest.next().unwrap(),
                rest.next().unwrap(),
                rest.next().unwrap(),
            );
            assert_eq!(reduced.recv, total);
            if rank == root {
                let all: Vec<u64> = (0..size)
                    .flat_map(|r| (0..count).map(move |i| value(r, i)))
                    .collect();
                assert_eq!(gathered.recv, all);
            }
            let expected: Vec<u64> = (0..size)
                .flat_map(|s| (0..3).map(move |j| value(s, rank * 3 + j)))
                .collect();
            assert_eq!(exchanged.recv, expected);
            let root_data: Vec<u64> = (0..count).map(|i| value(root, i)).collect();
            assert_eq!(bcast.await?, root_data);
            Ok::<_, Error>(())
        });
        for (rank, outcome) in outcomes.into_iter().enumerate() {
            outcome.unwrap_or_else(|e| panic!("{n} ranks, rank {rank}: {e}"));
        }
    }
}

#[test]
fn nonblocking_v_variants_and_reduce_scatter() {
    let outcomes = local::run(4, |comm| async move {
        let (rank, size) = (comm.rank(), comm.size());
        // Member i owns i + 1 elements.
        let counts: Vec<usize> = (1..=size).collect();
        let displs: Vec<usize> = counts
            .iter()
            .scan(0, |at, c| {
                *at += c;
                Some(*at - c)
            })
            .collect();
        let total: usize = counts.iter().sum();
        let mine: Vec<i32> = (0..=rank as i32).map(|i| 10 * rank as i32 + i).collect();
        let everything: Vec<i32> = (0..size as i32)
            .flat_map(|r| (0..=r).map(move |i| 10 * r + i))
            .collect();

        let allgatherv =
            comm.iallgatherv_buf(mine.clone(), vec![0; total], counts.clone(), displs.clone());
        let gatherv = comm.igatherv_buf(
            mine.clone(),
            vec![0; total],
            counts.clone(),
            displs.clone(),
            3,
        );
        let scatterv = comm.iscatterv_buf(
            if rank == 1 {
                everything.clone()
            } else {
                Vec::new()
            },
            counts.clone(),
            displs.clone(),
            vec![0; rank + 1],
            1,
        );
        // Alltoallv: one element to every member, tagged with both ranks.
        let send: Vec<i32> = (0..size as i32).map(|d| 10 * rank as i32 + d).collect();
        let ones = vec![1; size];
        let packed: Vec<usize> = (0..size).collect();
        let alltoallv = comm.ialltoallv_buf(
            send,
            (ones.clone(), packed.clone()),
            vec![0; size],
            (ones, packed),
        );
        let reduce_scatter =
            comm.ireduce_scatter_buf((0..size as i32 * 2).collect(), vec![0; 2], Sum);

        let Buffers { recv: all, .. } = allgatherv.await?;
        assert_eq!(all, everything);
        let Buffers { recv: gathered, .. } = gatherv.await?;
        if rank == 3 {
            assert_eq!(gathered, everything);
        }
        assert_eq!(scatterv.await?.recv, mine);
        let expected: Vec<i32> = (0..size as i32).map(|s| 10 * s + rank as i32).collect();
        assert_eq!(alltoallv.await?.recv, expected);
        let part = reduce_scatter.await?.recv;
        assert_eq!(part, vec![4 * (2 * rank as i32), 4 * (2 * rank as i32 + 1)]);

        // Object flavour of the remaining nonblocking reductions.
        assert_eq!(comm.iscan(rank, Sum).await?, rank * (rank + 1) / 2);
        assert_eq!(
            comm.iexscan(1u32, Sum).await?,
            (rank > 0).then_some(rank as u32)
        );
        let ones = vec![1u32; size];
        assert_eq!(comm.ireduce_scatter(ones, Sum).await?, size as u32);
        Ok::<_, Error>(())
    });
    for (rank, outcome) in outcomes.into_iter().enumerate() {
        outcome.unwrap_or_else(|e| panic!("rank {rank}: {e}"));
    }
}

#[test]
fn minloc_and_maxloc_on_typed_buffers() {
    for n in [1, 3, 6, 7] {
        let outcomes = local::run(n, |comm| async move {
            let (rank, size) = (comm.rank(), comm.size());
            // Element i: a value that peaks and dips at ranks depending on i, with ties.
            let value = |r: usize, i: usize| ((r * 7 + i * 3) % 5) as f64;
            let mine: Vec<Located<f64, i64>> = (0..9)
                .map(|i| Located {
                    value: value(rank, i),
                    index: rank as i64,
                })
                .collect();
            let mut min = vec![Located::default(); 9];
            let mut max = vec![Located::default(); 9];
            comm.allreduce_buf(&mine, &mut min, MinLoc).await?;
            comm.reduce_buf(&mine, &mut max, MaxLoc, size - 1).await?;
            for i in 0..9 {
                let values: Vec<f64> = (0..size).map(|r| value(r, i)).collect();
                let lowest = values.iter().cloned().fold(f64::INFINITY, f64::min);
                let highest = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let first = |v: f64| values.iter().position(|&x| x == v).unwrap() as i64;
                assert_eq!(
                    min[i],
                    Located {
                        value: lowest,
                        index: first(lowest)
                    }
                );
                if rank == size - 1 {
                    assert_eq!(
                        max[i],
                        Located {
                            value: highest,
                            index: first(highest)
                        }
                    );
                }
            }
            Ok::<_, Error>(())
        });
        for (rank, outcome) in outcomes.into_iter().enumerate() {
            outcome.unwrap_or_else(|e| panic!("{n} ranks, rank {rank}: {e}"));
        }
    }
}
