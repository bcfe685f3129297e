//! Point-to-point semantics on the in-process transport: both flavours, requests, synchronous
//! sends, probes, and every error a user can cause.

use std::collections::BTreeMap;
use std::sync::Mutex;

mod common;
use common::all_ok;
use rmpi_core::{
    local, wait_all, wait_any, CollectiveComm, Comm, Error, Result, ANY_SOURCE, ANY_TAG,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Particle {
    id: u64,
    position: [f64; 3],
    label: Option<String>,
}

#[test]
fn objects_of_many_types_round_trip() {
    all_ok(local::run(2, |comm| async move {
        let particle = Particle {
            id: 7,
            position: [1.0, -2.5, 3.25],
            label: Some("electron".into()),
        };
        let table: BTreeMap<String, Vec<i64>> =
            [("a".to_string(), vec![1, 2]), ("b".to_string(), vec![])].into();
        if comm.rank() == 0 {
            comm.send(&particle, 1, 1).await?;
            comm.send(&table, 1, 2).await?;
            comm.send("a str slice", 1, 3).await?;
            comm.send(&(), 1, 4).await?;
        } else {
            assert_eq!(comm.recv::<Particle>(0, 1).await?, particle);
            assert_eq!(comm.recv::<BTreeMap<String, Vec<i64>>>(0, 2).await?, table);
            assert_eq!(comm.recv::<String>(0, 3).await?, "a str slice");
            let ((), status) = comm.recv_with_status::<()>(0, 4).await?;
            // The unit value encodes to nothing: the 8 bytes are its type fingerprint.
            assert_eq!((status.source, status.tag, status.bytes), (0, 4, 8));
        }
        Ok(())
    }));
}

#[test]
fn typed_buffers_round_trip() {
    // mpi4py: comm.Send([np.arange(10, dtype='i'), MPI.INT], dest=1, tag=11)
    all_ok(local::run(2, |comm| async move {
        if comm.rank() == 0 {
            let data: Vec<i32> = (0..10).collect();
            comm.send_buf(&data, 1, 11).await?;
            comm.send_vec(vec![1.5f64, 2.5, -0.0], 1, 12).await?;
            comm.send_buf::<u8>(&[], 1, 13).await?;
        } else {
            let mut data = [0i32; 10];
            let status = comm.recv_into(&mut data, 0, 11).await?;
            assert_eq!(data, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
            assert_eq!(status.count::<i32>(), Some(10));
            let (floats, _) = comm.recv_buf::<f64>(0, 12).await?;
            assert_eq!(floats, vec![1.5, 2.5, -0.0]);
            let (empty, status) = comm.recv_buf::<u32>(0, 13).await?;
            assert!(empty.is_empty());
            assert_eq!(status.bytes, 0);
        }
        Ok(())
    }));
}

#[test]
fn short_message_fills_the_front_of_a_larger_buffer() {
    all_ok(local::run(2, |comm| async move {
        if comm.rank() == 0 {
            comm.send_buf(&[7u16, 8, 9], 1, 0).await?;
        } else {
            let mut buf = [0u16; 5];
            let status = comm.recv_into(&mut buf, 0, 0).await?;
            assert_eq!(buf, [7, 8, 9, 0, 0]);
            assert_eq!(status.count::<u16>(), Some(3));
        }
        Ok(())
    }));
}

#[test]
fn truncation_is_an_error_with_both_sizes_and_consumes_the_message() {
    all_ok(local::run(2, |comm| async move {
        if comm.rank() == 0 {
            comm.send_buf(&[1i32; 10], 1, 5).await?;
            comm.send_buf(&[2i32; 3], 1, 5).await?;
        } else {
            let mut small = [0i32; 5];
            match comm.recv_into(&mut small, 0, 5).await {
                Err(Error::Truncated {
                    source_rank: 0,
                    tag: 5,
                    message_bytes: 40,
                    buffer_bytes: 20,
                }) => {}
                other => panic!("expected truncation, got {other:?}"),
            }
            assert_eq!(small, [0; 5], "nothing is written on truncation");
            let status = comm.recv_into(&mut small, 0, 5).await?;
            assert_eq!((small, status.bytes), ([2, 2, 2, 0, 0], 12));
        }
        Ok(())
    }));
}

#[test]
fn type_mismatches_are_errors() {
    all_ok(local::run(2, |comm| async move {
        if comm.rank() == 0 {
            comm.send_buf(&[1u8; 12], 1, 0).await?;
            comm.send(&3.5f64, 1, 1).await?;
            comm.send(&vec![1u64, 2, 3], 1, 2).await?;
        } else {
            match comm.recv_buf::<u64>(0, 0).await {
                Err(Error::ElementMismatch {
                    message_bytes: 12,
                    element_bytes: 8,
                    ..
                }) => {}
                other => panic!("expected element mismatch, got {other:?}"),
            }
            match comm.recv::<String>(0, 1).await {
                Err(Error::Decode {
                    source_rank: 0,
                    tag: 1,
                    ..
                }) => {}
                other => panic!("expected decode error, got {other:?}"),
            }
            assert!(matches!(
                comm.recv::<u8>(0, 2).await,
                Err(Error::Decode { .. })
            ));
        }
        Ok(())
    }));
}

#[test]
fn bad_ranks_and_tags_are_errors_not_panics() {
    all_ok(local::run(2, |comm| async move {
        let invalid_rank =
            |r: Result<()>| matches!(r, Err(Error::InvalidRank { rank: 5, size: 2 }));
        assert!(invalid_rank(comm.send(&1, 5, 0).await));
        assert!(invalid_rank(comm.ssend(&1, 5, 0).await));
        assert!(invalid_rank(comm.send_buf(&[1u8], 5, 0).await));
        assert!(matches!(
            comm.recv::<i32>(5, 0).await,
            Err(Error::InvalidRank { rank: 5, size: 2 })
        ));
        assert!(matches!(
            comm.send(&1, 0, -1).await,
            Err(Error::InvalidTag { tag: -1 })
        ));
        assert!(matches!(
            comm.recv::<i32>(0, -3).await,
            Err(Error::InvalidTag { tag: -3 })
        ));
        assert!(matches!(
            comm.iprobe(9, ANY_TAG),
            Err(Error::InvalidRank { .. })
        ));
        assert!(matches!(
            comm.irecv::<i32>(7, 0).await,
            Err(Error::InvalidRank { .. })
        ));
        assert!(matches!(
            comm.send_buf::<()>(&[(), ()], 0, 0).await,
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            comm.fan_out_buf(&[1u8], &[1, 5], 0),
            Err(Error::InvalidRank { rank: 5, size: 2 })
        ));
        assert!(matches!(
            comm.fan_out_buf(&[1u8], &[1, 1], 0),
            Err(Error::InvalidArgument(_))
        ));
        // The in-process transport has nothing to fan out into: it declines, sending nothing.
        assert!(!comm.fan_out_buf(&[1u8], &[1 - comm.rank()], 0)?);
        assert!(comm.iprobe(1 - comm.rank(), 0)?.is_none());
        Ok(())
    }));
}

#[test]
fn messages_between_a_pair_do_not_overtake() {
    all_ok(local::run(3, |comm| async move {
        const N: u32 = 200;
        match comm.rank() {
            0 | 2 => {
                for i in 0..N {
                    comm.send(&(comm.rank(), i), 1, (i % 3) as i32).await?;
                }
            }
            _ => {
                let mut next = [0u32; 3];
                for _ in 0..2 * N {
                    let ((from, i), status) = comm
                        .recv_with_status::<(usize, u32)>(ANY_SOURCE, ANY_TAG)
                        .await?;
                    assert_eq!(from, status.source);
                    assert_eq!(status.tag, (i % 3) as i32);
                    assert_eq!(i, next[from], "message from {from} overtaken");
                    next[from] += 1;
                }
            }
        }
        Ok(())
    }));
}

#[test]
fn tag_filters_pick_later_messages_and_keep_order_within_a_tag() {
    all_ok(local::run(2, |comm| async move {
        if comm.rank() == 0 {
            for (tag, value) in [(1, "a"), (2, "b"), (1, "c"), (2, "d")] {
                comm.send(value, 1, tag).await?;
            }
        } else {
            assert_eq!(comm.recv::<String>(0, 2).await?, "b");
            assert_eq!(comm.recv::<String>(0, 2).await?, "d");
            assert_eq!(comm.recv::<String>(0, ANY_TAG).await?, "a");
            assert_eq!(comm.recv::<String>(ANY_SOURCE, 1).await?, "c");
        }
        Ok(())
    }));
}

#[test]
fn nonblocking_requests_complete_together() {
    all_ok(local::run(4, |comm| async move {
        let (rank, size) = (comm.rank(), comm.size());
        // Everyone posts receives from everyone, then sends to everyone.
        let receives: Vec<_> = (0..size)
            .filter(|&p| p != rank)
            .map(|p| comm.irecv_with_status::<(usize, usize)>(p, 3))
            .collect();
        let sends: Vec<_> = (0..size)
            .filter(|&p| p != rank)
            .map(|p| comm.isend(&(rank, p), p, 3))
            .collect();
        wait_all(sends).await?;
        for ((from, to), status) in wait_all(receives).await? {
            assert_eq!((from, to), (status.source, rank));
        }
        Ok(())
    }));
}

#[test]
fn wait_any_and_test_report_completion() {
    all_ok(local::run(3, |comm| async move {
        match comm.rank() {
            0 => {
                let mut pending = vec![comm.irecv::<u8>(1, 0), comm.irecv::<u8>(2, 0)];
                // Nothing was sent yet: rank 2 waits for our go-ahead.
                assert!(pending[1].test().is_none());
                comm.send(&(), 2, 9).await?;
                let mut seen = Vec::new();
                while let Some((_, outcome)) = wait_any(&mut pending).await {
                    seen.push(outcome?);
                }
                seen.sort();
                assert_eq!(seen, vec![1, 2]);
                assert!(wait_any(&mut Vec::<rmpi_core::Request<u8>>::new())
                    .await
                    .is_none());
            }
            1 => comm.send(&1u8, 0, 0).await?,
            _ => {
                comm.recv::<()>(0, 9).await?;
                let mut request = comm.isend(&2u8, 0, 0);
                // An eager send completes at once; its outcome can be taken only once.
                assert!(matches!(request.test(), Some(Ok(()))));
                assert!(request.test().is_none() && request.is_taken());
            }
        }
        Ok(())
    }));
}

#[test]
fn test_polls_a_receive_to_completion() {
    all_ok(local::run(2, |comm| async move {
        if comm.rank() == 0 {
            comm.send(&42u32, 1, 0).await?;
        } else {
            let mut request = comm.irecv::<u32>(0, 0);
            let value = loop {
                if let Some(outcome) = request.test() {
                    break outcome?;
                }
                tokio::task::yield_now().await;
            };
            assert_eq!(value, 42);
            assert!(matches!(request.await, Err(Error::InvalidArgument(_))));
        }
        Ok(())
    }));
}

#[test]
fn ssend_completes_only_once_matched() {
    all_ok(local::run(2, |comm| async move {
        if comm.rank() == 0 {
            let mut sync = comm.issend(&"payload", 1, 0);
            // Rank 1 posts its receive only after our go-ahead, so this cannot be complete.
            for _ in 0..10 {
                assert!(sync.test().is_none());
                tokio::task::yield_now().await;
            }
            comm.send(&(), 1, 1).await?;
            sync.await?;
            let mut buf_sync = comm.issend_buf(&[5u64; 4], 1, 2);
            assert!(buf_sync.test().is_none());
            comm.send(&(), 1, 1).await?;
            buf_sync.await?;
        } else {
            comm.recv::<()>(0, 1).await?;
            assert_eq!(comm.recv::<String>(0, 0).await?, "payload");
            comm.recv::<()>(0, 1).await?;
            let mut buf = [0u64; 4];
            comm.recv_into(&mut buf, 0, 2).await?;
            assert_eq!(buf, [5; 4]);
        }
        Ok(())
    }));
}

#[test]
fn crossed_synchronous_sends_with_posted_receives_do_not_deadlock() {
    // Legal MPI: both ranks post a receive, then ssend to each other, then wait.
    all_ok(local::run(2, |comm| async move {
        let other = 1 - comm.rank();
        let incoming = comm.irecv::<usize>(other, 0);
        comm.ssend(&comm.rank(), other, 0).await?;
        assert_eq!(incoming.await?, other);
        Ok(())
    }));
}

#[test]
fn sendrecv_exchanges_around_a_ring() {
    all_ok(local::run(5, |comm| async move {
        let (rank, size) = (comm.rank(), comm.size());
        let (right, left) = ((rank + 1) % size, (rank + size - 1) % size);
        let (from_left, status) = comm.sendrecv::<_, usize>(&rank, right, 4, left, 4).await?;
        assert_eq!((from_left, status.source), (left, left));
        let mut got = [0u32; 2];
        comm.sendrecv_buf(&[rank as u32, 99], left, 5, &mut got, right, 5)
            .await?;
        assert_eq!(got, [right as u32, 99]);
        Ok(())
    }));
}

#[test]
fn probe_describes_without_receiving() {
    all_ok(local::run(2, |comm| async move {
        if comm.rank() == 0 {
            comm.recv::<()>(1, 0).await?; // rank 1 has probed for nothing yet
            comm.send_buf(&[1u32, 2, 3], 1, 8).await?;
        } else {
            assert_eq!(comm.iprobe(ANY_SOURCE, ANY_TAG)?, None);
            comm.send(&(), 0, 0).await?;
            let status = comm.probe(ANY_SOURCE, ANY_TAG).await?;
            assert_eq!((status.source, status.tag, status.bytes), (0, 8, 12));
            assert_eq!(comm.iprobe(0, 8)?, Some(status));
            let (values, _) = comm.recv_buf::<u32>(status.source, status.tag).await?;
            assert_eq!(values, vec![1, 2, 3]);
            assert_eq!(comm.iprobe(ANY_SOURCE, ANY_TAG)?, None);
        }
        Ok(())
    }));
}

#[test]
fn a_rank_can_message_itself() {
    all_ok(local::run(1, |comm| async move {
        comm.send(&"to me", 0, 1).await?;
        assert_eq!(comm.recv::<String>(0, 1).await?, "to me");
        let incoming = comm.irecv::<i32>(ANY_SOURCE, 2);
        comm.ssend(&5, 0, 2).await?;
        assert_eq!(incoming.await?, 5);
        let me = comm.comm_self();
        me.send_buf(&[1u8, 2], 0, 0).await?;
        assert_eq!(me.recv_buf::<u8>(0, 0).await?.0, vec![1, 2]);
        Ok(())
    }));
}

#[test]
fn a_dropped_receive_is_withdrawn() {
    all_ok(local::run(2, |comm| async move {
        if comm.rank() == 0 {
            comm.recv::<()>(1, 0).await?;
            comm.send(&"kept", 1, 5).await?;
        } else {
            drop(comm.irecv::<String>(0, 5));
            comm.send(&(), 0, 0).await?;
            assert_eq!(comm.recv::<String>(0, 5).await?, "kept");
        }
        Ok(())
    }));
}

#[test]
fn a_panicking_rank_is_reported_as_lost_not_hung() {
    let seen = Mutex::new(Vec::new());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        local::run(3, |comm: Comm| {
            let seen = &seen;
            async move {
                if comm.rank() == 1 {
                    panic!("rank 1 fails on purpose");
                }
                let error = match comm.rank() {
                    0 => comm.recv::<u8>(1, 0).await.unwrap_err(),
                    _ => comm.recv::<u8>(ANY_SOURCE, 0).await.unwrap_err(),
                };
                seen.lock()
                    .unwrap()
                    .push((comm.rank(), error.to_string(), error.peer()));
            }
        })
    }));
    assert!(outcome.is_err(), "the panic is resumed by run");
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (0, "lost contact with rank 1".to_string(), Some(1)),
            (2, "lost contact with rank 1".to_string(), Some(1)),
        ]
    );
}

#[test]
fn a_finished_rank_delivers_its_messages_then_errors_instead_of_hanging() {
    all_ok(local::run(3, |comm| async move {
        match comm.rank() {
            0 => {
                for i in 0..3 {
                    assert_eq!(comm.recv::<i32>(1, 0).await?, i);
                }
                assert!(matches!(
                    comm.recv::<i32>(1, 0).await,
                    Err(Error::PeerFinished { rank: 1 })
                ));
                assert!(matches!(
                    comm.ssend(&0, 1, 0).await,
                    Err(Error::PeerFinished { rank: 1 })
                ));
                comm.recv::<()>(2, 0).await?;
                // Both others are finished: a wildcard receive can never match.
                assert!(matches!(
                    comm.recv::<i32>(ANY_SOURCE, ANY_TAG).await,
                    Err(Error::PeerFinished { .. })
                ));
            }
            1 => {
                for i in 0..3 {
                    comm.send(&i, 0, 0).await?;
                }
            }
            _ => comm.send(&(), 0, 0).await?,
        }
        Ok(())
    }));
}

#[test]
fn ssend_to_a_rank_that_finishes_without_receiving_fails() {
    all_ok(local::run(2, |comm| async move {
        if comm.rank() == 0 {
            match comm.ssend(&1u8, 1, 0).await {
                Err(Error::PeerFinished { rank: 1 }) => {}
                other => panic!("expected PeerFinished, got {other:?}"),
            }
        }
        Ok(())
    }));
}
