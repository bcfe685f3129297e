//! Every collective, in both flavours and with every algorithm, checked against a naive
//! reference on 1 to 9 in-process ranks, every root, and sizes from 0 bytes to over 1 MiB
//! with odd element counts.

use bytemuck::{Pod, Zeroable};
use rmpi_collectives::{
    Algorithms, AllgatherAlgorithm, AllreduceAlgorithm, AlltoallAlgorithm, BarrierAlgorithm,
    BcastAlgorithm, BufferCollectives, Collectives, Max, Min, Prod, Sum, UserOp,
};
use rmpi_core::{local, Comm, Result};

/// Element counts of u32: 0 bytes, tiny, odd, around the algorithm thresholds, over 1 MiB.
const COUNTS: &[usize] = &[0, 1, 7, 3_001, 262_147];

/// Rank `rank`'s data: distinct per rank, element and salt.
fn data(rank: usize, count: usize, salt: u32) -> Vec<u32> {
    (0..count)
        .map(|i| (rank as u32).wrapping_mul(1_000_003) ^ (i as u32).wrapping_mul(7) ^ salt)
        .collect()
}

fn run_all(
    n: usize,
    program: impl Fn(Comm) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>
        + Sync,
) {
    for (rank, outcome) in local::run(n, &program).into_iter().enumerate() {
        outcome.unwrap_or_else(|e| panic!("{n} ranks: rank {rank} failed: {e}"));
    }
}

fn tuned(
    comm: &Comm,
    bcast: BcastAlgorithm,
    allgather: AllgatherAlgorithm,
    allreduce: AllreduceAlgorithm,
) -> impl Collectives + use<> {
    comm.with_algorithms(Algorithms {
        bcast: Some(bcast),
        allgather: Some(allgather),
        allreduce: Some(allreduce),
        ..Algorithms::default()
    })
}

#[test]
fn bcast_every_algorithm_root_and_size() {
    for n in 1..=9 {
        run_all(n, |comm| {
            Box::pin(async move {
                for &algorithm in BcastAlgorithm::ALL {
                    let c = tuned(
                        &comm,
                        algorithm,
                        AllgatherAlgorithm::Ring,
                        AllreduceAlgorithm::RecursiveDoubling,
                    );
                    for root in 0..comm.size() {
                        for &count in COUNTS {
                            let expected = data(root, count, 1);
                            let mut buf = if comm.rank() == root {
                                expected.clone()
                            } else {
                                vec![0; count]
                            };
                            c.bcast_buf(&mut buf, root).await?;
                            assert_eq!(buf, expected, "{algorithm:?} root {root} count {count}");
                        }
                        let value = (comm.rank() == root).then(|| format!("from {root}"));
                        assert_eq!(c.bcast(value, root).await?, format!("from {root}"));
                    }
                    // Large objects take the scatter-allgather path when the root picks it.
                    let big = (comm.rank() == 0).then(|| data(0, 100_001, 2));
                    assert_eq!(c.bcast(big, 0).await?, data(0, 100_001, 2));
                }
                // And the default choice.
                let value = (comm.rank() == 0).then(|| data(0, 50_000, 3));
                assert_eq!(comm.bcast(value, 0).await?, data(0, 50_000, 3));
                Ok(())
            })
        });
    }
}

#[test]
fn scatter_and_gather_every_root_and_size() {
    for n in 1..=9 {
        run_all(n, |comm| {
            Box::pin(async move {
                let (rank, size) = (comm.rank(), comm.size());
                for root in 0..size {
                    for &count in COUNTS {
                        // Scatter: the root's buffer is every rank's part in order.
                        let all: Vec<u32> = (0..size).flat_map(|r| data(r, count, 4)).collect();
                        let send = if rank == root {
                            all.clone()
                        } else {
                            Vec::new()
                        };
                        let mut part = vec![0; count];
                        comm.scatter_buf(&send, &mut part, root).await?;
                        assert_eq!(
                            part,
                            data(rank, count, 4),
                            "scatter root {root} count {count}"
                        );

                        // Gather it back.
                        let mut gathered = if rank == root {
                            vec![0; count * size]
                        } else {
                            Vec::new()
                        };
                        comm.gather_buf(&part, &mut gathered, root).await?;
                        if rank == root {
                            assert_eq!(gathered, all, "gather root {root} count {count}");
                        }
                    }
                    // Objects of different sizes per rank.
                    let values = (rank == root)
                        .then(|| (0..size).map(|r| "x".repeat(r * 3)).collect::<Vec<_>>());
                    assert_eq!(comm.scatter(values, root).await?, "x".repeat(rank * 3));
                    let gathered = comm.gather(vec![rank; rank], root).await?;
                    let expected =
                        (rank == root).then(|| (0..size).map(|r| vec![r; r]).collect::<Vec<_>>());
                    assert_eq!(gathered, expected);
                }
                Ok(())
            })
        });
    }
}

#[test]
fn allgather_every_algorithm_and_size() {
    for n in 1..=9 {
        run_all(n, |comm| {
            Box::pin(async move {
                let (rank, size) = (comm.rank(), comm.size());
                for &algorithm in AllgatherAlgorithm::ALL {
                    let c = tuned(
                        &comm,
                        BcastAlgorithm::Binomial,
                        algorithm,
                        AllreduceAlgorithm::RecursiveDoubling,
                    );
                    for &count in COUNTS {
                        if count * size > 1 << 20 && algorithm != AllgatherAlgorithm::Ring {
                            continue; // over 1 MiB in total: only the ring is used there
                        }
                        let mut all = vec![0; count * size];
                        c.allgather_buf(&data(rank, count, 5), &mut all).await?;
                        let expected: Vec<u32> =
                            (0..size).flat_map(|r| data(r, count, 5)).collect();
                        assert_eq!(all, expected, "{algorithm:?} count {count}");
                    }
                    let words = c.allgather(format!("rank {rank}")).await?;
                    assert_eq!(
                        words,
                        (0..size).map(|r| format!("rank {r}")).collect::<Vec<_>>()
                    );
                }
                Ok(())
            })
        });
    }
}

#[test]
fn reductions_every_algorithm_root_and_size() {
    for n in 1..=9 {
        run_all(n, |comm| {
            Box::pin(async move {
                let (rank, size) = (comm.rank(), comm.size());
                // Element-wise wrapping sum of ranks 0..upto.
                let reference = |count: usize, upto: usize| -> Vec<u32> {
                    (0..upto).fold(vec![0u32; count], |acc, r| {
                        acc.iter()
                            .zip(data(r, count, 6))
                            .map(|(a, b)| a.wrapping_add(b))
                            .collect()
                    })
                };
                for &count in COUNTS {
                    let mine = data(rank, count, 6);
                    let total = reference(count, size);
                    for root in 0..size {
                        let mut out = vec![0; count];
                        comm.reduce_buf(&mine, &mut out, Sum, root).await?;
                        if rank == root {
                            assert_eq!(out, total, "reduce root {root} count {count}");
                        }
                    }
                    for &algorithm in AllreduceAlgorithm::ALL {
                        let c = tuned(
                            &comm,
                            BcastAlgorithm::Binomial,
                            AllgatherAlgorithm::Ring,
                            algorithm,
                        );
                        let mut out = vec![0; count];
                        c.allreduce_buf(&mine, &mut out, Sum).await?;
                        assert_eq!(out, total, "allreduce {algorithm:?} count {count}");
                    }
                    let mut out = vec![0; count];
                    comm.scan_buf(&mine, &mut out, Sum).await?;
                    assert_eq!(out, reference(count, rank + 1), "scan count {count}");
                    let mut out = vec![u32::MAX; count];
                    comm.exscan_buf(&mine, &mut out, Sum).await?;
                    if rank > 0 {
                        assert_eq!(out, reference(count, rank), "exscan count {count}");
                    } else {
                        assert!(
                            out.iter().all(|&x| x == u32::MAX),
                            "exscan leaves rank 0 alone"
                        );
                    }
                }
                // The other built-in operations, on objects.
                let r = rank as i64 - 3;
                assert_eq!(comm.allreduce(r, Max).await?, size as i64 - 4);
                assert_eq!(comm.allreduce(r, Min).await?, -3);
                assert_eq!(
                    comm.allreduce(r + 10, Prod).await?,
                    (0..size as i64).map(|x| x + 7).product::<i64>()
                );
                assert_eq!(
                    comm.reduce(1.5f64, Sum, size - 1).await?,
                    (rank == size - 1).then_some(1.5 * size as f64)
                );
                assert_eq!(comm.scan(1u8, Sum).await?, rank as u8 + 1);
                assert_eq!(
                    comm.exscan(1u8, Sum).await?,
                    (rank > 0).then_some(rank as u8)
                );
                Ok(())
            })
        });
    }
}

/// A 2×2 matrix: multiplication is associative but not commutative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
struct Mat([u32; 4]);

fn mul(a: &Mat, b: &Mat) -> Mat {
    let [a, b] = [a.0, b.0];
    Mat([
        a[0].wrapping_mul(b[0])
            .wrapping_add(a[1].wrapping_mul(b[2])),
        a[0].wrapping_mul(b[1])
            .wrapping_add(a[1].wrapping_mul(b[3])),
        a[2].wrapping_mul(b[0])
            .wrapping_add(a[3].wrapping_mul(b[2])),
        a[2].wrapping_mul(b[1])
            .wrapping_add(a[3].wrapping_mul(b[3])),
    ])
}

#[test]
fn non_commutative_operations_reduce_in_rank_order() {
    for n in 1..=9 {
        run_all(n, |comm| {
            Box::pin(async move {
                let (rank, size) = (comm.rank(), comm.size());
                let concat = || UserOp::non_commutative(|a: &String, b: &String| format!("{a}{b}"));
                let digits = |upto: usize| (0..upto).map(|r| r.to_string()).collect::<String>();
                for root in 0..size {
                    let reduced = comm.reduce(rank.to_string(), concat(), root).await?;
                    assert_eq!(reduced, (rank == root).then(|| digits(size)), "root {root}");
                }
                for &algorithm in AllreduceAlgorithm::ALL {
                    let c = tuned(
                        &comm,
                        BcastAlgorithm::Binomial,
                        AllgatherAlgorithm::Ring,
                        algorithm,
                    );
                    assert_eq!(
                        c.allreduce(rank.to_string(), concat()).await?,
                        digits(size),
                        "{algorithm:?}"
                    );
                }
                assert_eq!(
                    comm.scan(rank.to_string(), concat()).await?,
                    digits(rank + 1)
                );
                assert_eq!(
                    comm.exscan(rank.to_string(), concat()).await?,
                    (rank > 0).then(|| digits(rank))
                );

                // Element-wise on typed buffers: a product of matrices, one per rank.
                let matrix = |r: usize| Mat([r as u32 + 1, 2, 3, r as u32 * 5]);
                let mine = [matrix(rank), matrix(rank + 10)];
                let ordered = |upto: usize, k: usize| {
                    (0..upto)
                        .map(|r| matrix(r + k))
                        .reduce(|a, b| mul(&a, &b))
                        .unwrap()
                };
                let op = || UserOp::non_commutative(mul);
                for &algorithm in AllreduceAlgorithm::ALL {
                    let c = tuned(
                        &comm,
                        BcastAlgorithm::Binomial,
                        AllgatherAlgorithm::Ring,
                        algorithm,
                    );
                    let mut out = [Mat([0; 4]); 2];
                    c.allreduce_buf(&mine, &mut out, op()).await?;
                    assert_eq!(out, [ordered(size, 0), ordered(size, 10)], "{algorithm:?}");
                }
                for root in 0..size {
                    let mut out = [Mat([0; 4]); 2];
                    comm.reduce_buf(&mine, &mut out, op(), root).await?;
                    if rank == root {
                        assert_eq!(
                            out,
                            [ordered(size, 0), ordered(size, 10)],
                            "reduce root {root}"
                        );
                    }
                }
                let mut out = [Mat([0; 4]); 2];
                comm.scan_buf(&mine, &mut out, op()).await?;
                assert_eq!(out[0], ordered(rank + 1, 0));
                Ok(())
            })
        });
    }
}

/// No member leaves a barrier before every member arrived: each counts its arrival before
/// the barrier, and finds every arrival counted after it (the last member to arrive is
/// held up a while, so that one leaving early would find it missing).
#[test]
fn barrier_holds_every_member_until_all_arrive() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    for &algorithm in BarrierAlgorithm::ALL {
        for n in 1..=9 {
            let arrived = Arc::new(AtomicUsize::new(0));
            run_all(n, move |comm| {
                let arrived = arrived.clone();
                Box::pin(async move {
                    let c = comm.with_algorithms(Algorithms {
                        barrier: Some(algorithm),
                        ..Algorithms::default()
                    });
                    let late = (comm.size() - 1) / 2;
                    for round in 1..=3 {
                        if comm.rank() == late {
                            std::thread::sleep(std::time::Duration::from_millis(5));
                        }
                        arrived.fetch_add(1, Ordering::SeqCst);
                        c.barrier().await?;
                        assert_eq!(
                            arrived.load(Ordering::SeqCst),
                            round * comm.size(),
                            "{algorithm:?} on {n} ranks, round {round}"
                        );
                        // Nobody counts the next round's arrival before all checked this one.
                        c.barrier().await?;
                    }
                    Ok(())
                })
            });
        }
    }
}

#[test]
fn alltoall_every_algorithm_and_size() {
    for n in 1..=9 {
        run_all(n, |comm| {
            Box::pin(async move {
                let (rank, size) = (comm.rank(), comm.size());
                // Part d of rank r's buffer is data(r * 100 + d).
                let part_of =
                    |from: usize, to: usize, count: usize| data(from * 100 + to, count, 8);
                for &algorithm in AlltoallAlgorithm::ALL {
                    let c = comm.with_algorithms(Algorithms {
                        alltoall: Some(algorithm),
                        ..Algorithms::default()
                    });
                    for &count in COUNTS {
                        if count * size * size > 4 << 20 {
                            continue; // keep the largest case near 1 MiB per rank
                        }
                        let send: Vec<u32> =
                            (0..size).flat_map(|d| part_of(rank, d, count)).collect();
                        let mut recv = vec![0; count * size];
                        c.alltoall_buf(&send, &mut recv).await?;
                        let expected: Vec<u32> =
                            (0..size).flat_map(|s| part_of(s, rank, count)).collect();
                        assert_eq!(recv, expected, "{algorithm:?} count {count}");
                    }
                    let words = c
                        .alltoall((0..size).map(|d| format!("{rank}->{d}")).collect())
                        .await?;
                    assert_eq!(
                        words,
                        (0..size)
                            .map(|s| format!("{s}->{rank}"))
                            .collect::<Vec<_>>()
                    );
                }
                Ok(())
            })
        });
    }
}

#[test]
fn v_variants_and_reduce_scatter_match_the_reference() {
    for n in 1..=9 {
        run_all(n, |comm| {
            Box::pin(async move {
                let (rank, size) = (comm.rank(), comm.size());
                // Member i owns 2i+1 elements (odd counts, all different), packed with a gap.
                let counts: Vec<usize> = (0..size).map(|i| 2 * i + 1).collect();
                let displs: Vec<usize> = counts
                    .iter()
                    .scan(0, |at, c| {
                        let d = *at;
                        *at += c + 3;
                        Some(d)
                    })
                    .collect();
                let extent = displs[size - 1] + counts[size - 1];
                let mine = data(rank, counts[rank], 9);
                let mut layout = vec![0u32; extent];
                for r in 0..size {
                    layout[displs[r]..displs[r] + counts[r]]
                        .copy_from_slice(&data(r, counts[r], 9));
                }
                for root in 0..size {
                    let mut part = vec![0; counts[rank]];
                    comm.scatterv_buf(&layout, &counts, &displs, &mut part, root)
                        .await?;
                    assert_eq!(part, mine, "scatterv root {root}");
                    let mut gathered = vec![0; if rank == root { extent } else { 0 }];
                    comm.gatherv_buf(&mine, &mut gathered, &counts, &displs, root)
                        .await?;
                    if rank == root {
                        assert_eq!(gathered, layout, "gatherv root {root}");
                    }
                }
                let mut all = vec![0; extent];
                comm.allgatherv_buf(&mine, &mut all, &counts, &displs)
                    .await?;
                assert_eq!(all, layout);

                // alltoallv: rank r sends (d + 1) elements to d; receives (r + 1) from each.
                let send_counts: Vec<usize> = (0..size).map(|d| d + 1).collect();
                let send_displs: Vec<usize> = (0..size).map(|d| d * (d + 1) / 2).collect();
                let send: Vec<u32> = (0..size)
                    .flat_map(|d| data(rank * 100 + d, d + 1, 10))
                    .collect();
                let recv_counts = vec![rank + 1; size];
                let recv_displs: Vec<usize> = (0..size).map(|s| s * (rank + 1)).collect();
                let mut recv = vec![0; size * (rank + 1)];
                comm.alltoallv_buf(
                    &send,
                    &send_counts,
                    &send_displs,
                    &mut recv,
                    &recv_counts,
                    &recv_displs,
                )
                .await?;
                let expected: Vec<u32> = (0..size)
                    .flat_map(|s| data(s * 100 + rank, rank + 1, 10))
                    .collect();
                assert_eq!(recv, expected);

                // reduce_scatter: sum of everyone's vector, part `rank` here.
                for &count in &[0usize, 5, 40_001] {
                    let send = data(rank, count * size, 11);
                    let mut recv = vec![0; count];
                    comm.reduce_scatter_buf(&send, &mut recv, Sum).await?;
                    let total = (0..size).fold(vec![0u32; count * size], |acc, r| {
                        acc.iter()
                            .zip(data(r, count * size, 11))
                            .map(|(a, b)| a.wrapping_add(b))
                            .collect()
                    });
                    assert_eq!(
                        recv,
                        total[rank * count..(rank + 1) * count],
                        "reduce_scatter count {count}"
                    );
                }
                let mine: Vec<String> = (0..size).map(|i| format!("{rank}:{i} ")).collect();
                let concat = UserOp::non_commutative(|a: &String, b: &String| format!("{a}{b}"));
                let expected: String = (0..size).map(|r| format!("{r}:{rank} ")).collect();
                assert_eq!(comm.reduce_scatter(mine, concat).await?, expected);
                Ok(())
            })
        });
    }
}
