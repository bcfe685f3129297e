//! Algorithms as data: a [`Schedule`] is one member's part of a collective, a list of sends
//! and receives of blocks, and [`run`] is the one executor that carries any schedule out.
//!
//! An algorithm that moves blocks (barrier, scatter, gather, allgather, alltoall) is a pure
//! function from (rank, size, root) to a schedule, so it can be checked for every
//! communicator size and root without a transport: [`simulate`] runs every member's
//! schedule against the others in memory. Both flavours of a collective, objects and typed
//! buffers, blocking or not, run the same schedule; only the blocks differ (an object's
//! encoding, a buffer's bytes).
//!
//! A member keeps its blocks in numbered slots. The schedule says which slots its input
//! blocks start in, which blocks each message carries (one message may carry several, with
//! their lengths, so blocks may differ in size), where received blocks go, and which slots
//! hold its result at the end.

use rmpi_core::{Bytes, Error, Result};

use crate::round::Round;

/// One step of a member's part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send the blocks in these slots, in this order, to member `to` as one message.
    Send {
        /// The receiving member.
        to: usize,
        /// The slots whose blocks the message carries.
        slots: Vec<usize>,
    },
    /// Receive one message from member `from` carrying exactly as many blocks as `slots`
    /// names, and store them there, in order.
    Recv {
        /// The sending member.
        from: usize,
        /// The slots the received blocks go to.
        slots: Vec<usize>,
    },
}

/// One member's part of a block-moving collective.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// How many slots the member needs.
    pub(crate) slots: usize,
    /// The slot of each input block, in the order the caller passes them.
    pub(crate) inputs: Vec<usize>,
    /// The steps, carried out in order.
    pub(crate) steps: Vec<Step>,
    /// The slot of each result block, in the order the caller receives them.
    pub(crate) outputs: Vec<usize>,
}

impl Schedule {
    /// An empty part with `slots` slots.
    pub(crate) fn with_slots(slots: usize) -> Schedule {
        Schedule {
            slots,
            ..Schedule::default()
        }
    }

    /// Appends a send of the blocks in `slots` to `to`.
    pub(crate) fn send(&mut self, to: usize, slots: impl IntoIterator<Item = usize>) {
        let slots = slots.into_iter().collect();
        self.steps.push(Step::Send { to, slots });
    }

    /// Appends a receive from `from` into `slots`.
    pub(crate) fn recv(&mut self, from: usize, slots: impl IntoIterator<Item = usize>) {
        let slots = slots.into_iter().collect();
        self.steps.push(Step::Recv { from, slots });
    }
}

/// Carries out `schedule` on `round` with `inputs` (one block per input slot), and returns
/// the blocks of its output slots.
pub(crate) async fn run(
    round: &Round,
    schedule: &Schedule,
    inputs: Vec<Bytes>,
) -> Result<Vec<Bytes>> {
    let mut slots = fill(schedule, inputs)?;
    for step in &schedule.steps {
        match step {
            Step::Send { to, slots: which } => {
                let blocks = held(&slots, which)?;
                round.send(*to, encode_blocks(blocks.iter())).await?;
            }
            Step::Recv { from, slots: which } => {
                let blocks = decode_blocks(&round.recv(*from).await?, which.len())?;
                for (&slot, block) in which.iter().zip(blocks) {
                    slots[slot] = Some(block);
                }
            }
        }
    }
    held(&slots, &schedule.outputs)
}

/// The slots of `schedule` with `inputs` in place.
fn fill(schedule: &Schedule, inputs: Vec<Bytes>) -> Result<Vec<Option<Bytes>>> {
    if inputs.len() != schedule.inputs.len() {
        return Err(Error::InvalidArgument(format!(
            "a collective step was given {} blocks where its schedule takes {}",
            inputs.len(),
            schedule.inputs.len()
        )));
    }
    let mut slots = vec![None; schedule.slots];
    for (&slot, block) in schedule.inputs.iter().zip(inputs) {
        slots[slot] = Some(block);
    }
    Ok(slots)
}

/// The blocks in `which`; a slot that is still empty is a fault in the schedule.
fn held(slots: &[Option<Bytes>], which: &[usize]) -> Result<Vec<Bytes>> {
    which
        .iter()
        .map(|&slot| {
            slots.get(slot).cloned().flatten().ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "collective schedule reads slot {slot} before it holds a block"
                ))
            })
        })
        .collect()
}

/// Frames a list of blocks: count, each length, then the bytes.
pub(crate) fn encode_blocks<'a>(blocks: impl ExactSizeIterator<Item = &'a Bytes> + Clone) -> Bytes {
    let mut header = Vec::with_capacity(8 * (blocks.len() + 1));
    header.extend_from_slice(&(blocks.len() as u64).to_le_bytes());
    for block in blocks.clone() {
        header.extend_from_slice(&(block.len() as u64).to_le_bytes());
    }
    Round::frame_parts(std::iter::once(header.as_slice()).chain(blocks.map(|b| b.as_ref())))
}

/// Reads a framed list of exactly `expected` blocks, without copying them.
pub(crate) fn decode_blocks(message: &Bytes, expected: usize) -> Result<Vec<Bytes>> {
    let body = Round::body(message);
    let malformed = |what: &str| Error::InvalidArgument(format!("malformed block list: {what}"));
    let word = |at: usize| -> Result<usize> {
        let bytes = body
            .get(at..at + 8)
            .ok_or_else(|| malformed("truncated header"))?;
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        usize::try_from(u64::from_le_bytes(word)).map_err(|_| malformed("length overflows"))
    };
    let count = word(0)?;
    if count != expected {
        return Err(malformed(&format!(
            "{count} blocks where {expected} were expected"
        )));
    }
    let mut offset = 8 * (count + 1);
    let mut blocks = Vec::with_capacity(count);
    for i in 0..count {
        let len = word(8 * (i + 1))?;
        let end = offset.checked_add(len).filter(|&end| end <= body.len());
        let end = end.ok_or_else(|| malformed("block runs past the message"))?;
        blocks.push(body.slice(offset..end));
        offset = end;
    }
    if offset != body.len() {
        return Err(malformed("trailing bytes"));
    }
    Ok(blocks)
}

/// Runs every member's schedule in memory (see [`crate::simulator`]) with its `inputs`, and
/// returns each member's output blocks. Fails, saying why, when a member receives a message
/// with the wrong number of blocks, reads an empty slot, waits forever, or sends a message
/// nobody receives.
#[cfg(test)]
pub(crate) fn simulate(
    schedules: &[Schedule],
    inputs: Vec<Vec<Bytes>>,
    pick: impl FnMut(usize) -> usize,
) -> std::result::Result<Vec<Vec<Bytes>>, String> {
    use crate::simulator::{drive, Channels, Members, Next};

    struct Run<'a> {
        schedules: &'a [Schedule],
        slots: Vec<Vec<Option<Bytes>>>,
        next: Vec<usize>,
    }

    impl Members for Run<'_> {
        type Message = Vec<Bytes>;

        fn count(&self) -> usize {
            self.schedules.len()
        }

        fn next(&self, rank: usize) -> Next {
            match self.schedules[rank].steps.get(self.next[rank]) {
                None => Next::Done,
                Some(Step::Send { .. }) => Next::Ready,
                Some(Step::Recv { from, .. }) => Next::Awaits(*from),
            }
        }

        fn step(&mut self, rank: usize, channels: &mut Channels<Vec<Bytes>>) -> Result<(), String> {
            let at = self.next[rank];
            let slots = &mut self.slots[rank];
            match &self.schedules[rank].steps[at] {
                Step::Send { to, slots: which } => {
                    let blocks =
                        held(slots, which).map_err(|e| format!("rank {rank} step {at}: {e}"))?;
                    channels.send(rank, *to, blocks)?;
                }
                Step::Recv { from, slots: which } => {
                    let blocks = channels.recv(*from, rank);
                    if blocks.len() != which.len() {
                        return Err(format!(
                            "rank {rank} step {at} expects {} blocks from rank {from}, got {}",
                            which.len(),
                            blocks.len()
                        ));
                    }
                    for (&slot, block) in which.iter().zip(blocks) {
                        slots[slot] = Some(block);
                    }
                }
            }
            self.next[rank] += 1;
            Ok(())
        }

        fn describe(&self, rank: usize) -> String {
            format!("{:?}", self.schedules[rank].steps.get(self.next[rank]))
        }
    }

    let slots = schedules
        .iter()
        .zip(inputs)
        .map(|(schedule, inputs)| fill(schedule, inputs).map_err(|e| e.to_string()))
        .collect::<std::result::Result<_, _>>()?;
    let next = vec![0; schedules.len()];
    let mut run = Run {
        schedules,
        slots,
        next,
    };
    drive(&mut run, pick)?;
    (0..schedules.len())
        .map(|rank| {
            held(&run.slots[rank], &schedules[rank].outputs)
                .map_err(|e| format!("rank {rank} output: {e}"))
        })
        .collect()
}
