//! Reductions as data: a [`FoldPlan`] is one member's part of a reduction, sends and
//! receives of whole values and combinations of them, and [`run`] the one executor that
//! carries any plan out on any [`Operand`] (an object, a typed buffer).
//!
//! A member keeps values in three registers: [`ACC`] starts with its contribution, and
//! the others hold what it received or a second running result (a scan's prefix). Plans are
//! pure functions of rank and size, checked without a transport by [`simulate`] for every
//! size, root and interleaving with a non-commutative operation, so rank order is checked
//! too.

use rmpi_core::{Error, Result};

use crate::operand::Operand;
use crate::round::Round;

/// A register's number.
pub(crate) type Reg = usize;
/// The register a member's contribution starts in.
pub(crate) const ACC: Reg = 0;
/// The register received values usually go to.
pub(crate) const THEIRS: Reg = 1;
/// A second running result (a scan's prefix).
pub(crate) const PREFIX: Reg = 2;
const REGISTERS: usize = 3;

/// One step of a member's part of a reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FoldStep {
    /// Send the value in `reg` to member `to`.
    Send { to: usize, reg: Reg },
    /// Receive a value from member `from` into `reg`.
    Recv { from: usize, reg: Reg },
    /// Combine the value in `from` into `into`: `from ⊕ into` when `from` holds lower ranks'
    /// values (`from_lower`), else `into ⊕ from`. `from` keeps its value.
    Fold {
        from: Reg,
        into: Reg,
        from_lower: bool,
    },
    /// Move the value in `from` to `into`, leaving `from` empty.
    Move { from: Reg, into: Reg },
}

/// One member's part of a reduction, and the register holding its result, if it gets one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FoldPlan {
    pub(crate) steps: Vec<FoldStep>,
    pub(crate) result: Option<Reg>,
}

impl FoldPlan {
    pub(crate) fn send(&mut self, to: usize, reg: Reg) {
        self.steps.push(FoldStep::Send { to, reg });
    }

    pub(crate) fn recv(&mut self, from: usize, reg: Reg) {
        self.steps.push(FoldStep::Recv { from, reg });
    }

    /// Receives from `from` and folds it into `into`, on the left if `from` holds lower
    /// ranks' values.
    pub(crate) fn recv_fold(&mut self, from: usize, into: Reg, from_lower: bool) {
        self.recv(from, THEIRS);
        self.fold(THEIRS, into, from_lower);
    }

    pub(crate) fn fold(&mut self, from: Reg, into: Reg, from_lower: bool) {
        self.steps.push(FoldStep::Fold {
            from,
            into,
            from_lower,
        });
    }

    pub(crate) fn move_to(&mut self, from: Reg, into: Reg) {
        self.steps.push(FoldStep::Move { from, into });
    }
}

/// Carries out `plan` on `round` with this member's `value`; returns its result, if the
/// plan gives it one.
pub(crate) async fn run<V: Operand>(
    round: &Round,
    plan: &FoldPlan,
    value: V,
    op: &V::Op,
) -> Result<Option<V>> {
    let shape = value.shape();
    let mut regs: [Option<V>; REGISTERS] = [Some(value), None, None];
    for step in &plan.steps {
        match *step {
            FoldStep::Send { to, reg } => {
                let message = held(&regs, reg)?.encode()?;
                round.send(to, message).await?;
            }
            FoldStep::Recv { from, reg } => {
                regs[reg] = Some(V::decode(shape, round.recv(from).await?, from)?);
            }
            FoldStep::Fold {
                from,
                into,
                from_lower,
            } => {
                let (theirs, acc) = (held(&regs, from)?, held(&regs, into)?);
                let combined = match from_lower {
                    true => V::combine(theirs, acc, op),
                    false => V::combine(acc, theirs, op),
                };
                regs[into] = Some(combined);
            }
            FoldStep::Move { from, into } => regs[into] = regs[from].take(),
        }
    }
    Ok(plan.result.and_then(|reg| regs[reg].take()))
}

/// The value in `reg`; an empty one is a fault in the plan.
fn held<V>(regs: &[Option<V>], reg: Reg) -> Result<&V> {
    regs[reg].as_ref().ok_or_else(|| {
        Error::InvalidArgument(format!(
            "reduction plan reads register {reg} before it holds a value"
        ))
    })
}

/// Runs every member's plan in memory (see [`crate::simulator`]), with values of any type
/// combined by `combine(lower, higher)`; returns each member's result.
#[cfg(test)]
pub(crate) fn simulate<V: Clone>(
    plans: &[FoldPlan],
    inputs: Vec<V>,
    combine: impl Fn(&V, &V) -> V,
    pick: impl FnMut(usize) -> usize,
) -> std::result::Result<Vec<Option<V>>, String> {
    use crate::simulator::{drive, Channels, Members, Next};

    struct Run<'a, V, C> {
        plans: &'a [FoldPlan],
        regs: Vec<[Option<V>; REGISTERS]>,
        next: Vec<usize>,
        combine: C,
    }

    impl<V: Clone, C: Fn(&V, &V) -> V> Members for Run<'_, V, C> {
        type Message = V;

        fn count(&self) -> usize {
            self.plans.len()
        }

        fn next(&self, rank: usize) -> Next {
            match self.plans[rank].steps.get(self.next[rank]) {
                None => Next::Done,
                Some(FoldStep::Recv { from, .. }) => Next::Awaits(*from),
                Some(_) => Next::Ready,
            }
        }

        fn step(&mut self, rank: usize, channels: &mut Channels<V>) -> Result<(), String> {
            let at = self.next[rank];
            let fault = |e: Error| format!("rank {rank} step {at}: {e}");
            let regs = &mut self.regs[rank];
            match self.plans[rank].steps[at] {
                FoldStep::Send { to, reg } => {
                    channels.send(rank, to, held(regs, reg).map_err(fault)?.clone())?;
                }
                FoldStep::Recv { from, reg } => regs[reg] = Some(channels.recv(from, rank)),
                FoldStep::Fold {
                    from,
                    into,
                    from_lower,
                } => {
                    let theirs = held(regs, from).map_err(fault)?;
                    let acc = held(regs, into).map_err(fault)?;
                    let combined = match from_lower {
                        true => (self.combine)(theirs, acc),
                        false => (self.combine)(acc, theirs),
                    };
                    regs[into] = Some(combined);
                }
                FoldStep::Move { from, into } => regs[into] = regs[from].take(),
            }
            self.next[rank] += 1;
            Ok(())
        }

        fn describe(&self, rank: usize) -> String {
            format!("{:?}", self.plans[rank].steps.get(self.next[rank]))
        }
    }

    let regs = inputs.into_iter().map(|v| [Some(v), None, None]).collect();
    let next = vec![0; plans.len()];
    let mut run = Run {
        plans,
        regs,
        next,
        combine,
    };
    drive(&mut run, pick)?;
    Ok((0..plans.len())
        .map(|rank| {
            plans[rank]
                .result
                .and_then(|reg| run.regs[rank][reg].take())
        })
        .collect())
}
