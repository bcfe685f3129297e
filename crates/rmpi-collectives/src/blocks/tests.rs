//! Every block planner, run in memory for every communicator size from 1 to 64 and every
//! root, under several interleavings: each member ends with what the reference says.

use rmpi_core::Bytes;

use super::*;
use crate::schedule::simulate;

const SIZES: std::ops::RangeInclusive<usize> = 1..=64;

/// Interleavings: always the first member that can move, always the last, and two
/// pseudo-random orders.
fn orders() -> Vec<Box<dyn FnMut(usize) -> usize>> {
    let random = |seed: u64| {
        let mut state = seed;
        Box::new(move |choices: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % choices
        }) as Box<dyn FnMut(usize) -> usize>
    };
    vec![
        Box::new(|_| 0),
        Box::new(|choices| choices - 1),
        random(1),
        random(0x5eed),
    ]
}

/// Block contents that say where they come from, of a size that differs by origin.
fn block(label: String) -> Bytes {
    Bytes::from(label.repeat(1 + label.len() % 3))
}

fn own(rank: usize) -> Bytes {
    block(format!("r{rank}"))
}

fn between(from: usize, to: usize) -> Bytes {
    block(format!("{from}>{to}"))
}

/// Runs the part `plan` gives each of `n` members with `inputs`, in every order, and checks
/// the outputs against `expected`.
fn check(
    what: &str,
    n: usize,
    plan: impl Fn(usize) -> Schedule,
    inputs: impl Fn(usize) -> Vec<Bytes>,
    expected: impl Fn(usize) -> Vec<Bytes>,
) {
    let schedules: Vec<Schedule> = (0..n).map(&plan).collect();
    for (order, pick) in orders().into_iter().enumerate() {
        let outputs = simulate(&schedules, (0..n).map(&inputs).collect(), pick)
            .unwrap_or_else(|fault| panic!("{what}, {n} ranks, order {order}: {fault}"));
        for (rank, output) in outputs.into_iter().enumerate() {
            assert_eq!(output, expected(rank), "{what}, {n} ranks, rank {rank}");
        }
    }
}

#[test]
fn barriers_complete_for_every_size() {
    for n in SIZES {
        for algorithm in [BarrierAlgorithm::Dissemination, BarrierAlgorithm::Flat] {
            let what = format!("{algorithm:?} barrier");
            let plan = |rank| plan_barrier(rank, n, algorithm);
            check(&what, n, plan, |_| vec![], |_| vec![]);
        }
    }
}

/// A barrier must not let any member out before every member is in: no member's last
/// step may complete before every other member has taken its first.
#[test]
fn no_member_leaves_a_barrier_early() {
    for n in 2..=16 {
        for algorithm in [BarrierAlgorithm::Dissemination, BarrierAlgorithm::Flat] {
            for late in 0..n {
                // Without the late member's steps, nobody else may finish.
                let schedules: Vec<Schedule> = (0..n)
                    .map(|rank| match rank == late {
                        true => Schedule::default(),
                        false => plan_barrier(rank, n, algorithm),
                    })
                    .collect();
                let ran = simulate(&schedules, vec![vec![]; n], |_| 0);
                assert!(ran.is_err(), "{algorithm:?}, {n} ranks, {late} late");
            }
        }
    }
}

#[test]
fn scatter_gives_each_member_its_block_from_every_root() {
    for n in SIZES {
        for root in 0..n {
            let what = format!("binomial scatter from {root}");
            let plan = |rank| plan_binomial_scatter(rank, n, root);
            let inputs = |rank| match rank == root {
                true => (0..n).map(|to| between(root, to)).collect(),
                false => vec![],
            };
            check(&what, n, plan, inputs, |rank| vec![between(root, rank)]);
        }
    }
}

#[test]
fn gather_brings_every_block_to_every_root() {
    for n in SIZES {
        for root in 0..n {
            let what = format!("binomial gather to {root}");
            let plan = |rank| plan_binomial_gather(rank, n, root);
            let expected = |rank| match rank == root {
                true => (0..n).map(own).collect(),
                false => vec![],
            };
            check(&what, n, plan, |rank| vec![own(rank)], expected);
        }
    }
}

#[test]
fn allgather_gives_every_member_every_block() {
    let algorithms = [
        AllgatherAlgorithm::Ring,
        AllgatherAlgorithm::Bruck,
        AllgatherAlgorithm::RecursiveDoubling,
    ];
    for n in SIZES {
        for algorithm in algorithms {
            let what = format!("{algorithm:?} allgather");
            let plan = |rank| plan_allgather(rank, n, algorithm);
            let everyone = |_| (0..n).map(own).collect();
            check(&what, n, plan, |rank| vec![own(rank)], everyone);
        }
    }
}

#[test]
fn alltoall_delivers_every_pair() {
    let algorithms = [
        AlltoallAlgorithm::Bruck,
        AlltoallAlgorithm::Scattered,
        AlltoallAlgorithm::Pairwise,
    ];
    for n in SIZES {
        for algorithm in algorithms {
            let what = format!("{algorithm:?} alltoall");
            let plan = |rank| plan_alltoall(rank, n, algorithm);
            let inputs = |rank| (0..n).map(|to| between(rank, to)).collect();
            let expected = |rank| (0..n).map(|from| between(from, rank)).collect();
            check(&what, n, plan, inputs, expected);
        }
    }
}

#[test]
fn tree_links_agree_with_each_other() {
    for n in SIZES {
        for root in 0..n {
            // Every member but the root is exactly one member's child.
            let mut parents = vec![0; n];
            for rank in 0..n {
                let (parent, children) = tree_links(rank, n, root);
                assert_eq!(parent.is_none(), rank == root);
                for child in children {
                    assert_eq!(tree_links(child, n, root).0, Some(rank));
                    parents[child] += 1;
                }
            }
            let once = parents
                .iter()
                .enumerate()
                .all(|(r, &p)| p == usize::from(r != root));
            assert!(once, "n {n} root {root}: {parents:?}");
        }
    }
}

/// The checker itself catches a faulty schedule: a planner whose member forgets a block.
#[test]
fn the_simulator_catches_a_wrong_plan() {
    let n = 5;
    let mut schedules: Vec<Schedule> = (0..n)
        .map(|rank| plan_binomial_gather(rank, n, 0))
        .collect();
    // Rank 4 sends its block to rank 0 twice: one message stays unreceived.
    schedules[4].send(0, [4]);
    let inputs = (0..n).map(|rank| vec![own(rank)]).collect();
    let fault = simulate(&schedules, inputs, |_| 0).unwrap_err();
    assert!(fault.contains("nobody received"), "{fault}");
}
