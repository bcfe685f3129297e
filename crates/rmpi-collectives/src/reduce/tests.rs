//! The reduction plans, run in memory for every communicator size from 1 to 64 and every
//! root, under several interleavings, with a non-commutative operation (concatenation):
//! each member ends with the reference result, in rank order.

use super::*;
use crate::fold::simulate;

type Ranks = Vec<usize>;

fn concat(lower: &Ranks, higher: &Ranks) -> Ranks {
    lower.iter().chain(higher).copied().collect()
}

/// Runs `plan`'s parts for `n` members, each contributing its rank, in several orders.
fn outcomes(n: usize, plan: impl Fn(usize) -> FoldPlan) -> Vec<Vec<Option<Ranks>>> {
    let plans: Vec<FoldPlan> = (0..n).map(plan).collect();
    [0u64, 1, 7, 0x5eed]
        .into_iter()
        .map(|seed| {
            let mut state = seed;
            let pick = move |choices: usize| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                match seed {
                    0 => 0,
                    _ => (state >> 33) as usize % choices,
                }
            };
            let inputs = (0..n).map(|rank| vec![rank]).collect();
            simulate(&plans, inputs, concat, pick)
                .unwrap_or_else(|fault| panic!("{n} ranks, seed {seed}: {fault}"))
        })
        .collect()
}

#[test]
fn reduce_brings_the_rank_ordered_result_to_every_root() {
    for n in 1..=64 {
        for root in 0..n {
            for results in outcomes(n, |rank| plan_reduce(rank, n, root, false)) {
                for (rank, result) in results.into_iter().enumerate() {
                    let expected = (rank == root).then(|| (0..n).collect());
                    assert_eq!(result, expected, "{n} ranks, root {root}, rank {rank}");
                }
            }
        }
    }
}

/// A commutative reduce may combine in any order, but must combine every value once.
#[test]
fn commutative_reduce_combines_every_value_once() {
    for n in 1..=64 {
        for root in 0..n {
            for results in outcomes(n, |rank| plan_reduce(rank, n, root, true)) {
                let mut at_root = results[root].clone().expect("the root's result");
                at_root.sort_unstable();
                assert_eq!(at_root, (0..n).collect::<Ranks>(), "{n} ranks, root {root}");
                assert_eq!(results.iter().flatten().count(), 1);
            }
        }
    }
}

#[test]
fn recursive_doubling_gives_every_member_the_rank_ordered_result() {
    for n in 1..=64 {
        for results in outcomes(n, |rank| plan_recursive_doubling(rank, n)) {
            for (rank, result) in results.into_iter().enumerate() {
                assert_eq!(result, Some((0..n).collect()), "{n} ranks, rank {rank}");
            }
        }
    }
}

#[test]
fn scans_give_every_member_its_prefix() {
    for n in 1..=64 {
        for exclusive in [false, true] {
            for results in outcomes(n, |rank| plan_scan(rank, n, exclusive)) {
                for (rank, result) in results.into_iter().enumerate() {
                    let end = if exclusive { rank } else { rank + 1 };
                    let expected = (end > 0).then(|| (0..end).collect());
                    assert_eq!(
                        result, expected,
                        "{n} ranks, exclusive {exclusive}, rank {rank}"
                    );
                }
            }
        }
    }
}
