//! A collective that fails at one member fails everywhere instead of hanging, and a
//! nonblocking collective progresses while its caller does point-to-point work.

use std::future::Future;
use std::sync::Mutex;

use rmpi_collectives::{
    Algorithms, AllreduceAlgorithm, BcastAlgorithm, BufferCollectives, Collectives, Sum,
};
use rmpi_core::{local, Comm, Error, ANY_SOURCE};

#[test]
fn a_root_outside_the_communicator_fails_everywhere() {
    let outcomes = local::run(3, |comm| async move { comm.bcast(Some(1u8), 7).await });
    for outcome in outcomes {
        assert!(matches!(
            outcome,
            Err(Error::InvalidRank { rank: 7, size: 3 })
        ));
    }
}

#[test]
fn a_bad_root_argument_fails_every_member() {
    // The root's vector has the wrong length: it fails before sending anything, and every
    // other member learns why instead of waiting.
    let outcomes = local::run(5, |comm| async move {
        let values = (comm.rank() == 2).then(|| vec![1u32; 3]);
        comm.scatter(values, 2).await
    });
    for (rank, outcome) in outcomes.into_iter().enumerate() {
        match (rank, outcome) {
            (2, Err(Error::InvalidArgument(reason))) => {
                assert!(reason.contains("3 elements"), "{reason}")
            }
            (_, Err(Error::CollectiveFailed { rank: 2, reason })) => {
                assert!(reason.contains("3 elements"))
            }
            (rank, other) => panic!("rank {rank}: unexpected {other:?}"),
        }
    }

    let outcomes = local::run(4, |comm| async move { comm.bcast::<String>(None, 1).await });
    for (rank, outcome) in outcomes.into_iter().enumerate() {
        let failed_at = match outcome {
            Err(Error::CollectiveFailed { rank, .. }) => rank,
            Err(Error::InvalidArgument(_)) => rank,
            other => panic!("rank {rank}: unexpected {other:?}"),
        };
        assert_eq!(failed_at, 1);
    }
}

#[test]
fn a_member_with_a_wrong_buffer_fails_and_nobody_hangs() {
    // Short broadcasts carry the data in the header's message, long ones send it apart:
    // from the parent, or (flat) from the root, which must not let the members it sent
    // the header mistake an abort for their data when its send to the failed one fails.
    // A wrong buffer may also take the other path than the root's: short for long data,
    // long for short.
    for algorithm in BcastAlgorithm::ALL.iter().copied().map(Some).chain([None]) {
        for (right, wrong) in [(10, 9), (10, 300), (10_000, 9_999), (10_000, 10)] {
            let outcomes = local::run(5, |comm| async move {
                let len = if comm.rank() == 3 { wrong } else { right };
                let mut buf = vec![comm.rank() as u64; len];
                let bcast = Algorithms {
                    bcast: algorithm,
                    ..Algorithms::default()
                };
                comm.with_algorithms(bcast).bcast_buf(&mut buf, 0).await?;
                // Those whose part completed carry on: a second collective still works for
                // them only if everyone reached it, so stop here.
                Ok::<_, Error>(buf)
            });
            for (rank, outcome) in outcomes.into_iter().enumerate() {
                match (rank, outcome) {
                    (3, Err(Error::InvalidArgument(_))) => {}
                    (3, other) => panic!("{algorithm:?}: rank 3 should fail, got {other:?}"),
                    (_, Ok(buf)) => assert_eq!(buf, vec![0; right]),
                    (_, Err(Error::CollectiveFailed { rank: 3, .. })) => {}
                    (rank, other) => panic!("{algorithm:?}: rank {rank}: unexpected {other:?}"),
                }
            }
        }
    }
}

/// Members choose long allreduces' algorithms apart (by what the job agreed at start, unless
/// told otherwise): members told to choose differently get an error naming a mismatch, and
/// nobody hangs.
#[test]
fn members_that_choose_different_allreduces_fail_instead_of_hanging() {
    for n in [2, 3, 4, 5, 8] {
        let outcomes = local::run(n, |comm| async move {
            let algorithm = match comm.rank() % 2 {
                0 => AllreduceAlgorithm::Rabenseifner,
                _ => AllreduceAlgorithm::SegmentOwners,
            };
            let chosen = Algorithms {
                allreduce: Some(algorithm),
                ..Algorithms::default()
            };
            let mine = vec![1u32; 100_003];
            let mut sum = vec![0u32; mine.len()];
            comm.with_algorithms(chosen)
                .allreduce_buf(&mine, &mut sum, Sum)
                .await
                .map(|()| sum.iter().all(|&x| x == n as u32))
        });
        let failed = outcomes.iter().filter(|outcome| outcome.is_err()).count();
        assert!(failed > 0, "{n} ranks: {outcomes:?}");
        for (rank, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                Ok(right) => assert!(right, "{n} ranks, rank {rank}: a wrong sum"),
                // The failure named is a size that did not match, or a member that left
                // (done with what it took for its part) while another still waited for it.
                Err(Error::CollectiveFailed { reason, .. }) => assert!(
                    reason.contains("bytes") || reason.contains("finished while"),
                    "{n} ranks, rank {rank}: {reason:.200}"
                ),
                Err(Error::Truncated { .. } | Error::InvalidArgument(_)) => {}
                Err(Error::PeerFinished { .. }) => {}
                Err(other) => panic!("{n} ranks, rank {rank}: unexpected {other:?}"),
            }
        }
    }
}

/// A flat broadcast's root sends the data to every member even when a send to one fails:
/// the others were sent the header, and must not take the abort that follows for data.
#[test]
fn a_flat_bcast_root_sends_the_data_past_a_member_that_left() {
    let outcomes = local::run(5, |comm| async move {
        let leaver = 3;
        if comm.rank() == leaver {
            return comm.send(&(), 0, 1).await.map(|()| Vec::new());
        }
        if comm.rank() == 0 {
            // Make sure the root knows rank 3 left before it sends anything to it.
            comm.recv::<()>(leaver, 1).await?;
            let gone = comm.recv::<()>(leaver, 1).await;
            assert!(
                matches!(gone, Err(Error::PeerFinished { rank: 3 })),
                "{gone:?}"
            );
        }
        let mut buf = vec![comm.rank() as u64; 10_000];
        let flat = Algorithms {
            bcast: Some(BcastAlgorithm::Flat),
            ..Algorithms::default()
        };
        comm.with_algorithms(flat).bcast_buf(&mut buf, 0).await?;
        Ok::<_, Error>(buf)
    });
    for (rank, outcome) in outcomes.into_iter().enumerate() {
        match (rank, outcome) {
            (0, Err(error)) => assert_eq!(error.peer(), Some(3), "{error:?}"),
            (1 | 2 | 4, Ok(buf)) => assert!(buf.iter().all(|&x| x == 0), "rank {rank}"),
            (1 | 2 | 4, Err(error)) => panic!("rank {rank}: {error:?}"),
            (3, Ok(_)) => {}
            (rank, other) => panic!("rank {rank}: unexpected {:?}", other.map(|b| b.len())),
        }
    }
}

/// Runs `part` on every rank of a 6-rank job but rank 4, which dies at the start, and
/// returns what each survivor's part returned, by rank.
fn survivors_of_rank_4<T: Send, F: Future<Output = T>>(
    part: impl Fn(Comm) -> F + Sync,
) -> Vec<(usize, T)> {
    let seen = Mutex::new(Vec::new());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        local::run(6, |comm: Comm| {
            let (seen, part) = (&seen, &part);
            async move {
                if comm.rank() == 4 {
                    panic!("rank 4 dies before the collective");
                }
                let rank = comm.rank();
                let value = part(comm).await;
                seen.lock().unwrap().push((rank, value));
            }
        })
    }));
    assert!(outcome.is_err());
    let mut seen = seen.into_inner().unwrap();
    seen.sort_by_key(|(rank, _)| *rank);
    seen
}

#[test]
fn a_member_that_dies_fails_the_collective_everywhere() {
    let seen =
        survivors_of_rank_4(
            |comm| async move { comm.allreduce(1u32, Sum).await.unwrap_err().peer() },
        );
    // Every survivor reports an error naming the dead rank, directly or through an abort.
    assert_eq!(
        seen,
        vec![
            (0, Some(4)),
            (1, Some(4)),
            (2, Some(4)),
            (3, Some(4)),
            (5, Some(4))
        ]
    );
}

/// Every bcast algorithm returns at every survivor when a member dies: with the data (a flat
/// broadcast's members need nothing from the dead one), or with an error naming it.
#[test]
fn a_member_that_dies_never_hangs_a_bcast() {
    for algorithm in BcastAlgorithm::ALL.iter().copied() {
        let seen = survivors_of_rank_4(|comm| async move {
            let mut buf = vec![comm.rank() as u32; 50_000];
            let chosen = Algorithms {
                bcast: Some(algorithm),
                ..Algorithms::default()
            };
            let done = comm.with_algorithms(chosen).bcast_buf(&mut buf, 0).await;
            (done.map_err(|e| e.peer()), buf.iter().all(|&x| x == 0))
        });
        assert_eq!(seen.len(), 5, "{algorithm:?}: a survivor did not return");
        for (rank, (done, data_arrived)) in seen {
            match done {
                Ok(()) => assert!(
                    data_arrived,
                    "{algorithm:?}: rank {rank} returned without data"
                ),
                Err(peer) => assert_eq!(peer, Some(4), "{algorithm:?}: rank {rank}"),
            }
        }
    }
}

#[test]
fn ibcast_progresses_while_the_caller_does_point_to_point() {
    let outcomes = local::run(4, |comm| async move {
        let (rank, size) = (comm.rank(), comm.size());
        let payload: Vec<u64> = (0..200_000).collect();
        if rank == 0 {
            let bcast = comm.ibcast(Some(payload.clone()), 0);
            let mut total = 0;
            // The root only receives here; the others await the broadcast before they
            // send, so this finishes only if the broadcast moves on its own meanwhile.
            for _ in 1..size {
                total += comm.recv::<usize>(ANY_SOURCE, 0).await?;
            }
            assert_eq!(total, 1 + 2 + 3);
            assert_eq!(bcast.await?, payload);
        } else {
            let mut bcast = comm.ibcast::<Vec<u64>>(None, 0);
            // Point-to-point on the same tag as the collective's, in flight at the same time.
            let right = 1 + rank % (size - 1);
            let left = 1 + (rank + size - 3) % (size - 1);
            comm.send(&rank, right, 0).await?;
            assert_eq!(comm.recv::<usize>(left, 0).await?, left);
            let received = loop {
                if let Some(done) = bcast.test() {
                    break done?;
                }
                tokio::task::yield_now().await;
            };
            assert_eq!(received, payload);
            comm.send(&rank, 0, 0).await?;
        }
        let sum = comm.iallreduce(rank, Sum).await?;
        assert_eq!(sum, 6);
        Ok::<_, Error>(())
    });
    for (rank, outcome) in outcomes.into_iter().enumerate() {
        outcome.unwrap_or_else(|e| panic!("rank {rank}: {e}"));
    }
}
