//! The MPI features porters expect beyond point-to-point and collectives, each on several
//! rank counts against a reference worked out here: groups and communicators made from
//! them, `split_type`, Cartesian topologies, derived datatypes, matched probes,
//! cancellation, request completions and the clock. They run in one process over the
//! in-process transport, through the blocking API and the async one.

use std::collections::BTreeSet;

use rmpi::blocking::local;
use rmpi::datatype::Datatype;
use rmpi::group::GroupOrder;
use rmpi::prelude::*;
use rmpi::topology::{compute_dims, Cartesian};
use rmpi::SplitType;

const SIZES: [usize; 6] = [1, 2, 3, 4, 5, 8];

fn all_ok<T>(results: Vec<rmpi::Result<T>>) -> Vec<T> {
    results
        .into_iter()
        .enumerate()
        .map(|(rank, result)| result.unwrap_or_else(|e| panic!("rank {rank}: {e}")))
        .collect()
}

#[test]
fn groups_follow_set_algebra_and_make_communicators() {
    for n in SIZES {
        let got = all_ok(local::run(n, |comm| {
            let world = comm.group();
            let evens: Vec<usize> = (0..n).step_by(2).collect();
            let evens = world.incl(&evens)?;
            let odds = world.difference(&evens);
            // Evens then odds: the world's members, in its order only up to 2 ranks.
            let order = if n <= 2 {
                GroupOrder::Identical
            } else {
                GroupOrder::Similar
            };
            assert_eq!(evens.union(&odds).compare(&world), order);
            assert_eq!(evens.intersection(&odds).size(), 0);
            assert_eq!(world.excl(&[])?.compare(&world), GroupOrder::Identical);
            let reversed: Vec<usize> = (0..n).rev().collect();
            let reversed = world.incl(&reversed)?;
            let translated = world.translate_ranks(&[0], &reversed)?;
            assert_eq!(translated, [Some(n - 1)]);
            // Comm::create over everyone, in the group's (reversed) order.
            let backwards = comm.create(&reversed)?.expect("everyone is a member");
            assert_eq!(backwards.rank(), n - 1 - comm.rank());
            // Create_group by the members alone; the others go on without it.
            let mine = if comm.rank() % 2 == 0 { &evens } else { &odds };
            let sub = comm
                .create_group(mine, 3)?
                .expect("a member of its own half");
            let members = sub.allgather(comm.rank())?;
            Ok((sub.size(), members))
        }));
        for (rank, (size, members)) in got.into_iter().enumerate() {
            let expected: Vec<usize> = (0..n).filter(|r| r % 2 == rank % 2).collect();
            assert_eq!(
                (size, members),
                (expected.len(), expected),
                "{n} ranks, rank {rank}"
            );
        }
    }
}

#[test]
fn a_group_with_a_stranger_or_a_repeated_rank_is_refused() {
    let got = all_ok(local::run(2, |comm| {
        let sub = comm.split(Some(comm.rank() as u32), 0)?.expect("a colour");
        let outsider = comm.group(); // has a member sub does not
        let refused = sub.create_group(&outsider, 0).is_err();
        let twice = comm.group().incl(&[1, 1]).is_err();
        let out_of_range = comm.group().excl(&[2]).is_err();
        Ok(refused && twice && out_of_range)
    }));
    assert!(got.into_iter().all(|ok| ok));
}

#[test]
fn split_type_shared_puts_a_process_s_ranks_together() {
    for n in SIZES {
        let got = all_ok(local::run(n, |comm| {
            let node = comm.split_type(SplitType::Shared, -(comm.rank() as i32))?;
            Ok((node.size(), node.rank()))
        }));
        for (rank, (size, node_rank)) in got.into_iter().enumerate() {
            // One host; keys reverse the order.
            assert_eq!((size, node_rank), (n, n - 1 - rank));
        }
    }
}

#[test]
fn cartesian_shifts_and_subgrids_agree_with_the_grid_arithmetic() {
    for n in SIZES {
        for periodic in [false, true] {
            let dims = compute_dims(n, &[0, 0]).unwrap();
            let reference = Cartesian::new(&dims, &[periodic, false]).unwrap();
            let got = all_ok(local::run(n, |comm| {
                let grid = comm
                    .create_cart(&dims, &[periodic, false])?
                    .expect("on the grid");
                let shifts = (grid.cart_shift(0, 1)?, grid.cart_shift(1, -1)?);
                let row = grid.cart_sub(&[false, true])?;
                // Ranks in a row share the row coordinate; gather them to check.
                let row_members = row.allgather(grid.rank())?;
                // Neighbours exchange their ranks: each gets what shift says it should.
                let (from, to) = shifts.0;
                let one = Datatype::contiguous(1);
                let mut got = [usize::MAX];
                grid.sendrecv_typed(&[grid.rank()], &one, to, 0, &mut got, &one, from, 0)?;
                Ok((
                    grid.cart_coords()?,
                    shifts,
                    row_members,
                    from.map(|_| got[0]),
                ))
            }));
            for (rank, (coords, shifts, row_members, received)) in got.into_iter().enumerate() {
                assert_eq!(coords, reference.coords(rank).unwrap());
                assert_eq!(shifts.0, reference.shift(rank, 0, 1).unwrap());
                assert_eq!(shifts.1, reference.shift(rank, 1, -1).unwrap());
                let same_row: Vec<usize> = (0..n)
                    .filter(|&r| reference.coords(r).unwrap()[0] == coords[0])
                    .collect();
                assert_eq!(row_members, same_row, "{n} ranks, rank {rank}");
                assert_eq!(received, shifts.0 .0, "{n} ranks, rank {rank}");
            }
        }
    }
}

#[test]
fn neighbourhood_collectives_exchange_with_the_ranks_beside_each() {
    for n in SIZES {
        for periods in [[false, false], [true, false], [true, true]] {
            let dims = compute_dims(n, &[0, 0]).unwrap();
            let reference = Cartesian::new(&dims, &periods).unwrap();
            let got = all_ok(local::run(n, |comm| {
                let grid = comm.create_cart(&dims, &periods)?.expect("on the grid");
                let me = grid.rank();
                let gathered = grid.neighbor_allgather(me)?;
                // Block for slot s carries (sender, s).
                let tagged: Vec<(usize, usize)> = (0..4).map(|slot| (me, slot)).collect();
                let swapped = grid.neighbor_alltoall(tagged)?;
                let mut buf = [usize::MAX; 8];
                let send: Vec<usize> = (0..4).flat_map(|slot| [me, slot]).collect();
                grid.neighbor_alltoall_buf(&send, &mut buf)?;
                let mut all = [usize::MAX; 4];
                grid.neighbor_allgather_buf(&[me], &mut all)?;
                Ok((gathered, swapped, buf, all))
            }));
            for (rank, (gathered, swapped, buf, all)) in got.into_iter().enumerate() {
                let neighbours = reference.neighbours(rank).unwrap();
                let what = format!("{n} ranks, periods {periods:?}, rank {rank}");
                assert_eq!(gathered, neighbours, "{what}");
                for slot in 0..4 {
                    // What arrives in a slot was sent towards this rank: the opposite slot.
                    let expected = neighbours[slot].map(|from| (from, slot ^ 1));
                    assert_eq!(swapped[slot], expected, "{what}, slot {slot}");
                    let block =
                        (buf[2 * slot] != usize::MAX).then(|| (buf[2 * slot], buf[2 * slot + 1]));
                    assert_eq!(block, expected, "{what}, buffer slot {slot}");
                    let one = (all[slot] != usize::MAX).then_some(all[slot]);
                    assert_eq!(one, neighbours[slot], "{what}, allgather_buf slot {slot}");
                }
            }
        }
    }
}

#[test]
fn neighbourhood_collectives_need_a_grid() {
    let got = all_ok(local::run(2, |comm| {
        let refused = comm.neighbor_allgather(1u8);
        Ok(
            matches!(refused, Err(rmpi::Error::InvalidArgument(ref why)) if why.contains("Cartesian")),
        )
    }));
    assert!(got.into_iter().all(|ok| ok));
}

#[test]
fn ranks_past_the_grid_get_none_and_oversized_grids_are_refused() {
    let got = all_ok(local::run(5, |comm| {
        let on = comm.create_cart(&[2, 2], &[false, false])?.is_some();
        let too_big = comm.create_cart(&[3, 2], &[false, false]);
        Ok((on, too_big.is_err()))
    }));
    assert_eq!(
        got,
        [
            (true, true),
            (true, true),
            (true, true),
            (true, true),
            (false, true)
        ]
    );
}

#[test]
fn strided_columns_travel_between_ranks() {
    for n in [2, 3, 5] {
        let got = all_ok(local::run(n, |comm| {
            // Each rank holds a 4 x size array; rank r sends its column r to rank 0, which
            // places it as column r of its own array.
            let (rows, cols) = (4, comm.size());
            let mine: Vec<u32> = (0..rows * cols)
                .map(|i| (comm.rank() * 100 + i) as u32)
                .collect();
            let column = |c: usize| Datatype::vector(rows, 1, cols).map(|d| d.offset(c));
            if comm.rank() != 0 {
                comm.send_typed(&mine, &column(comm.rank())?, 0, 0)?;
                return Ok(Vec::new());
            }
            let mut assembled = mine.clone();
            for source in 1..comm.size() {
                comm.recv_typed(&mut assembled, &column(source)?, source, 0)?;
            }
            Ok(assembled)
        }));
        let expected: Vec<u32> = (0..4 * n).map(|i| ((i % n) * 100 + i) as u32).collect();
        assert_eq!(got[0], expected, "{n} ranks");
    }
}

#[test]
fn a_typed_receive_refuses_a_message_larger_than_its_selection() {
    let got = all_ok(local::run(2, |comm| {
        if comm.rank() == 0 {
            comm.send_buf(&[1u8, 2, 3], 1, 0)?;
            return Ok(true);
        }
        let two = Datatype::vector(2, 1, 4)?;
        let too_short = comm.recv_typed(&mut [0u8; 2], &two, 0, 0).is_err();
        let refused = comm.recv_typed(&mut [0u8; 8], &two, 0, 0);
        Ok(matches!(refused, Err(rmpi::Error::Truncated { .. })) && too_short)
    }));
    assert!(got.into_iter().all(|ok| ok));
}

#[test]
fn matched_probes_let_threads_share_a_communicator_without_stealing() {
    // Two threads of rank 1 each take messages by mprobe and then receive them; with
    // probe-then-recv they could receive each other's. Every message arrives exactly once.
    const COUNT: usize = 200;
    let got = all_ok(local::run(2, |comm| {
        if comm.rank() == 0 {
            for i in 0..COUNT {
                comm.send(&vec![i as u32; 1 + i % 7], 1, 0)?;
            }
            return Ok(BTreeSet::new());
        }
        let taken = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let comm = comm.clone();
                    scope.spawn(move || -> rmpi::Result<Vec<u32>> {
                        let mut mine = Vec::new();
                        for _ in 0..COUNT / 2 {
                            let message = comm.mprobe(0, 0)?;
                            let values: Vec<u32> = message.recv()?;
                            assert!(values.iter().all(|&v| v == values[0]));
                            mine.push(values[0]);
                        }
                        Ok(mine)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a worker"))
                .collect::<rmpi::Result<Vec<_>>>()
        })?;
        Ok(taken.into_iter().flatten().collect::<BTreeSet<u32>>())
    }));
    assert_eq!(got[1], (0..COUNT as u32).collect::<BTreeSet<u32>>());
}

#[test]
fn cancelled_receives_lose_nothing_and_completions_keep_indices() {
    for n in [2, 3, 5] {
        let got = all_ok(local::run(n, |comm| {
            if comm.rank() != 0 {
                comm.send(&comm.rank(), 0, 0)?;
                comm.barrier()?; // alive until rank 0 has cancelled
                comm.send(&(100 + comm.rank()), 0, 1)?;
                return Ok(Vec::new());
            }
            // A receive cancelled before its message came takes nothing: the message sent
            // after it goes to the next receive.
            assert!(comm.irecv::<usize>(rmpi::ANY_SOURCE, 1).cancel().is_none());
            let mut receives: Vec<_> = (1..comm.size())
                .map(|s| comm.irecv::<usize>(s, 0))
                .collect();
            let mut order = Vec::new();
            while order.len() < receives.len() {
                for (index, outcome) in rmpi::blocking::wait_some(&mut receives) {
                    let value = outcome?;
                    assert_eq!(value, index + 1, "indices stay put");
                    order.push(value);
                }
            }
            assert!(rmpi::blocking::wait_any(&mut receives).is_none());
            assert!(rmpi::blocking::test_any(&mut receives).is_none());
            comm.barrier()?;
            for _ in 1..comm.size() {
                order.push(comm.recv::<usize>(rmpi::ANY_SOURCE, 1)?);
            }
            order.sort();
            Ok(order)
        }));
        let expected: Vec<usize> = (1..n).chain(101..100 + n).collect();
        assert_eq!(got[0], expected);
    }
}

#[test]
fn persistent_requests_pass_a_token_round_a_ring_again_and_again() {
    for n in SIZES {
        let got = all_ok(local::run(n, |comm| {
            let (rank, size) = (comm.rank(), comm.size());
            let mut received = Vec::new();
            let mut send = comm.send_init(vec![0u64], (rank + 1) % size, 0);
            let mut recv = comm.recv_init(vec![0u64], (rank + size - 1) % size, 0);
            for round in 0..5u64 {
                send.buf_mut()[0] = round * 100 + rank as u64;
                let arriving = recv.start();
                send.start().wait()?;
                arriving.wait()?;
                received.push(recv.buf()[0]);
            }
            Ok(received)
        }));
        for (rank, received) in got.into_iter().enumerate() {
            let left = ((rank + n - 1) % n) as u64;
            let expected: Vec<u64> = (0..5).map(|round| round * 100 + left).collect();
            assert_eq!(received, expected, "{n} ranks, rank {rank}");
        }
    }
}

#[test]
fn alltoallw_transposes_a_matrix_of_strided_columns() {
    for n in [1, 2, 3, 5] {
        let got = all_ok(local::run(n, |comm| {
            // Rank r holds rows 2r and 2r+1 of a 2n x n matrix and sends column d of them
            // to rank d, which puts them at 2r and 2r+1: rank d ends with column d.
            let (rank, size) = (comm.rank(), comm.size());
            let block: Vec<usize> = (0..2 * size)
                .map(|i| (2 * rank + i / size) * 100 + i % size)
                .collect();
            let column = |d: usize| Datatype::vector(2, 1, size).map(|t| t.offset(d));
            let send_types = (0..size).map(column).collect::<rmpi::Result<Vec<_>>>()?;
            let recv_types: Vec<Datatype> = (0..size)
                .map(|s| Datatype::contiguous(2).offset(2 * s))
                .collect();
            let mut transposed = vec![usize::MAX; 2 * size];
            comm.alltoallw(&block, &send_types, &mut transposed, &recv_types)?;
            Ok(transposed)
        }));
        for (rank, transposed) in got.into_iter().enumerate() {
            // Column `rank` of the whole matrix: element (row, rank) for row 0..2n.
            let expected: Vec<usize> = (0..2 * n).map(|row| row * 100 + rank).collect();
            assert_eq!(transposed, expected, "{n} ranks, rank {rank}");
        }
    }
}

/// Padding everywhere: 1 + 8 + 2 + 3 * (4 + 1) bytes of fields.
#[derive(rmpi::datatype::Equivalence, Clone, Copy, Debug, PartialEq, Default)]
struct Padded {
    flag: bool,
    value: f64,
    small: u16,
    inner: [Inner; 3],
}

#[derive(rmpi::datatype::Equivalence, Clone, Copy, Debug, PartialEq, Default)]
struct Inner(f32, u8);

#[test]
fn structs_with_padding_travel_field_by_field() {
    use rmpi::datatype::Equivalence;
    assert_eq!(Padded::PACKED_SIZE, 1 + 8 + 2 + 3 * 5);
    let make = |rank: usize, i: usize| Padded {
        flag: (rank + i) % 2 == 0,
        value: rank as f64 + i as f64 / 8.0,
        small: (rank * 10 + i) as u16,
        inner: [Inner(i as f32, rank as u8); 3],
    };
    for n in [1, 2, 3, 5] {
        let got = all_ok(local::run(n, |comm| {
            let (rank, size) = (comm.rank(), comm.size());
            let mine: Vec<Padded> = (0..4).map(|i| make(rank, i)).collect();
            let right = (rank + 1) % size;
            let left = (rank + size - 1) % size;
            comm.send_packed(&mine, right, 0)?;
            let (theirs, status) = comm.recv_packed::<Padded>(left, 0)?;
            assert_eq!(status.bytes, 4 * Padded::PACKED_SIZE);
            // A message of the wrong length is refused, not misread.
            comm.send_buf(&[0u8; 5], right, 1)?;
            let refused = comm.recv_packed::<Padded>(left, 1);
            Ok((
                theirs,
                matches!(refused, Err(rmpi::Error::ElementMismatch { .. })),
            ))
        }));
        for (rank, (theirs, refused)) in got.into_iter().enumerate() {
            let left = (rank + n - 1) % n;
            assert_eq!(theirs, (0..4).map(|i| make(left, i)).collect::<Vec<_>>());
            assert!(refused);
        }
    }
}

#[test]
fn the_async_api_has_the_same_features() {
    let got = rmpi::local::run(4, |comm| async move {
        let grid = comm.create_cart(&[2, 2], &[true, true]).await?.unwrap();
        let (from, to) = grid.cart_shift(1, 1)?;
        let mut cells = [grid.rank() as i64, -1];
        let (own, halo) = (Datatype::contiguous(1), Datatype::contiguous(1).offset(1));
        grid.sendrecv_replace_typed(&mut cells, &own, to, 0, &halo, from, 0)
            .await?;
        let node = comm.split_type(SplitType::Shared, 0).await?;
        let message = comm.improbe(rmpi::ANY_SOURCE, 99)?;
        let total = node.allreduce(cells[1], Sum).await?;
        Ok::<_, rmpi::Error>((cells[1] as usize, from, message.is_none(), total))
    });
    for (rank, outcome) in got.into_iter().enumerate() {
        let (halo, from, none, total) = outcome.unwrap();
        assert_eq!(Some(halo), from, "rank {rank}");
        assert!(none);
        assert_eq!(total, 6);
    }
}

#[test]
fn the_clock_moves_forward_at_its_tick() {
    let start = rmpi::wtime();
    let later = rmpi::wtime();
    assert!(later >= start && rmpi::wtick() > 0.0);
    assert!(!rmpi::processor_name().is_empty());
}
