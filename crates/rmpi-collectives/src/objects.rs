//! The object collectives (mpi4py's lowercase `bcast`, `allreduce`, ...), one function each.
//!
//! As in [`crate::buffers`], each takes a [`Round`] reserved when the collective was called,
//! so the blocking form and the nonblocking one (`ibcast`, which runs it as a task) share one
//! body and take their place in the collective order at call time. Objects travel as their
//! encodings: one block each.

use rmpi_core::{Bytes, Error, Result};
use serde::{de::DeserializeOwned, Serialize};

use crate::algorithm::{Algorithms, Choose};
use crate::buffers::{check_len, check_root};
use crate::op::Op;
use crate::operand::{decode_object, encode_object, Object};
use crate::round::Round;
use crate::{bcast, blocks, reduce};

/// What object collectives move: any serde value that can go to another task.
pub(crate) trait Value: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> Value for T {}

pub(crate) async fn barrier(round: Round, algorithms: Result<Algorithms>) -> Result<()> {
    round
        .run(async {
            let algorithm = algorithms?.barrier(round.size());
            blocks::barrier(&round, algorithm).await
        })
        .await
}

pub(crate) async fn bcast<T: Value>(
    round: Round,
    algorithms: Result<Algorithms>,
    value: Option<T>,
    root: usize,
) -> Result<T> {
    round
        .run(async {
            check_root(&round, root)?;
            let algorithms = algorithms?;
            if round.rank() != root {
                let bytes = bcast::bcast(&round, root, None, &algorithms).await?;
                return decode_object(&bytes, root);
            }
            let value = value
                .ok_or_else(|| Error::InvalidArgument("the bcast root passed no value".into()))?;
            let encoded = encode_object(&value)?;
            bcast::bcast(&round, root, Some(&encoded), &algorithms).await?;
            Ok(value)
        })
        .await
}

pub(crate) async fn scatter<T: Value>(
    round: Round,
    values: Option<Vec<T>>,
    root: usize,
) -> Result<T> {
    round
        .run(async {
            check_root(&round, root)?;
            if round.rank() != root {
                let block = blocks::binomial_scatter(&round, root, None).await?;
                return decode_object(&block, root);
            }
            let mut values = values.ok_or_else(|| {
                Error::InvalidArgument("the scatter root passed no values".into())
            })?;
            check_len("the scatter root's vector", values.len(), round.size())?;
            let encoded = encode_all(&values)?;
            blocks::binomial_scatter(&round, root, Some(encoded)).await?;
            Ok(values.swap_remove(root))
        })
        .await
}

pub(crate) async fn gather<T: Value>(
    round: Round,
    value: T,
    root: usize,
) -> Result<Option<Vec<T>>> {
    round
        .run(async {
            check_root(&round, root)?;
            let gathered = blocks::binomial_gather(&round, root, encode_object(&value)?).await?;
            let Some(blocks) = gathered else {
                return Ok(None);
            };
            decode_all(blocks, round.rank(), value).map(Some)
        })
        .await
}

pub(crate) async fn allgather<T: Value>(
    round: Round,
    algorithms: Result<Algorithms>,
    value: T,
) -> Result<Vec<T>> {
    round
        .run(async {
            let algorithm = algorithms?.allgather(round.size(), 0);
            let blocks = blocks::allgather(&round, encode_object(&value)?, algorithm).await?;
            decode_all(blocks, round.rank(), value)
        })
        .await
}

pub(crate) async fn reduce<T: Value, O: Op<T> + 'static>(
    round: Round,
    value: T,
    op: O,
    root: usize,
) -> Result<Option<T>> {
    round
        .run(async {
            check_root(&round, root)?;
            let commutative = op.is_commutative();
            let op = &op as &dyn Op<T>;
            let reduced = reduce::reduce(&round, root, Object(value), op, commutative).await?;
            Ok(reduced.map(|o| o.0))
        })
        .await
}

pub(crate) async fn allreduce<T: Value, O: Op<T> + 'static>(
    round: Round,
    algorithms: Result<Algorithms>,
    value: T,
    op: O,
) -> Result<T> {
    round
        .run(async {
            let algorithm = algorithms?.allreduce(round.size(), 0);
            let commutative = op.is_commutative();
            let op = &op as &dyn Op<T>;
            let reduced =
                reduce::allreduce(&round, Object(value), op, commutative, algorithm).await?;
            Ok(reduced.0)
        })
        .await
}

/// Inclusive (`exclusive = false`) or exclusive prefix reduction; member 0 has no exclusive
/// result.
pub(crate) async fn scan<T: Value, O: Op<T> + 'static>(
    round: Round,
    value: T,
    op: O,
    exclusive: bool,
) -> Result<Option<T>> {
    round
        .run(async {
            let op = &op as &dyn Op<T>;
            let scanned = reduce::scan(&round, Object(value), op, exclusive).await?;
            Ok(scanned.map(|o| o.0))
        })
        .await
}

pub(crate) async fn alltoall<T: Value>(
    round: Round,
    algorithms: Result<Algorithms>,
    values: Vec<T>,
) -> Result<Vec<T>> {
    round
        .run(async {
            let algorithm = algorithms?.alltoall(round.size(), 0);
            check_len("the alltoall vector", values.len(), round.size())?;
            let blocks = encode_all(&values)?;
            let mut values = values;
            let mine = values.swap_remove(round.rank());
            let received = blocks::alltoall(&round, blocks, algorithm).await?;
            decode_all(received, round.rank(), mine)
        })
        .await
}

pub(crate) async fn reduce_scatter<T: Value, O: Op<T> + 'static>(
    round: Round,
    values: Vec<T>,
    op: O,
) -> Result<T> {
    round
        .run(async {
            check_len("the reduce_scatter vector", values.len(), round.size())?;
            let commutative = op.is_commutative();
            let elementwise = ElementWise(op);
            let op = &elementwise as &dyn Op<Vec<T>>;
            let reduced = reduce::reduce(&round, 0, Object(values), op, commutative).await?;
            let blocks = reduced.map(|all| encode_all(&all.0)).transpose()?;
            decode_object(&blocks::binomial_scatter(&round, 0, blocks).await?, 0)
        })
        .await
}

fn encode_all<T: Serialize>(values: &[T]) -> Result<Vec<Bytes>> {
    values.iter().map(|v| encode_object(v)).collect()
}

/// Decodes gathered object blocks, keeping this member's own value instead of decoding it.
fn decode_all<T: DeserializeOwned>(blocks: Vec<Bytes>, me: usize, mine: T) -> Result<Vec<T>> {
    let mut mine = Some(mine);
    blocks
        .iter()
        .enumerate()
        .map(|(rank, block)| match rank == me {
            true => Ok(mine.take().expect("own block appears once")),
            false => decode_object(block, rank),
        })
        .collect()
}

/// Applies an operation element by element to vectors of equal length.
struct ElementWise<O>(O);

impl<T, O: Op<T>> Op<Vec<T>> for ElementWise<O> {
    fn apply(&self, lower: &Vec<T>, higher: &Vec<T>) -> Vec<T> {
        lower
            .iter()
            .zip(higher)
            .map(|(a, b)| self.0.apply(a, b))
            .collect()
    }

    fn is_commutative(&self) -> bool {
        self.0.is_commutative()
    }
}
