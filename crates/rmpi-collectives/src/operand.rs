//! The two flavours as reduction operands: serde objects combined whole, typed buffers
//! combined element by element.

use bytemuck::Pod;
use rmpi_core::codec::{Codec, DefaultCodec};
use rmpi_core::{Bytes, Error, Result};
use serde::{de::DeserializeOwned, Serialize};

use crate::op::Op;
use crate::round::Round;

/// What a reduction moves and combines.
pub(crate) trait Operand: Sized + Send {
    /// What a receiver must know to decode a value (a buffer's length; nothing for objects).
    type Shape: Copy + Send + Sync;
    /// The operation type.
    type Op: ?Sized + Sync;
    /// This value's shape.
    fn shape(&self) -> Self::Shape;
    /// A framed message carrying the value.
    fn encode(&self) -> Result<Bytes>;
    /// The value in a framed message received from `source`.
    fn decode(shape: Self::Shape, message: Bytes, source: usize) -> Result<Self>;
    /// `lower ⊕ higher`.
    fn combine(lower: &Self, higher: &Self, op: &Self::Op) -> Self;
}

/// A serde value, encoded with the core's codec.
pub(crate) struct Object<T>(pub T);

impl<T: Serialize + DeserializeOwned + Send> Operand for Object<T> {
    type Shape = ();
    type Op = dyn Op<T>;

    fn shape(&self) {}

    fn encode(&self) -> Result<Bytes> {
        Round::frame_with(|out| {
            DefaultCodec::encode_into(&self.0, out).map_err(|reason| Error::Encode { reason })
        })
    }

    fn decode((): (), message: Bytes, source: usize) -> Result<Self> {
        decode_object(&Round::body(&message), source).map(Object)
    }

    fn combine(lower: &Self, higher: &Self, op: &Self::Op) -> Self {
        Object(op.apply(&lower.0, &higher.0))
    }
}

/// A typed buffer; every member's must have the same length.
pub(crate) struct Buffer<T>(pub Vec<T>);

impl<T: Pod + Send + Sync> Operand for Buffer<T> {
    type Shape = usize;
    type Op = dyn Op<T>;

    fn shape(&self) -> usize {
        self.0.len()
    }

    fn encode(&self) -> Result<Bytes> {
        Ok(Round::frame(bytemuck::cast_slice(&self.0)))
    }

    fn decode(len: usize, message: Bytes, source: usize) -> Result<Self> {
        bytes_to_vec(&Round::body(&message), len, source).map(Buffer)
    }

    fn combine(lower: &Self, higher: &Self, op: &Self::Op) -> Self {
        let mut combined = higher.0.clone();
        op.combine_slices(&mut combined, &lower.0, true);
        Buffer(combined)
    }
}

pub(crate) fn encode_object<T: Serialize + ?Sized>(value: &T) -> Result<Bytes> {
    DefaultCodec::encode(value)
        .map(Bytes::from)
        .map_err(|reason| Error::Encode { reason })
}

pub(crate) fn decode_object<T: DeserializeOwned>(bytes: &[u8], source: usize) -> Result<T> {
    DefaultCodec::decode(bytes).map_err(|reason| Error::Decode {
        source_rank: source,
        tag: 0,
        reason: format!("in a collective: {reason}"),
    })
}

/// Copies `len` elements out of received bytes, refusing any other size.
pub(crate) fn bytes_to_vec<T: Pod>(bytes: &[u8], len: usize, source: usize) -> Result<Vec<T>> {
    let mut out = vec![T::zeroed(); len];
    copy_exact(bytes, &mut out, source)?;
    Ok(out)
}

/// Runs `f` on received bytes as `len` elements: where they lie, if they are aligned for
/// `T` (as [`Round`] lays data out), else on a copy (a byte stream's frames may fall
/// anywhere in its buffer).
pub(crate) fn with_elements<T: Pod, R>(
    bytes: &[u8],
    len: usize,
    source: usize,
    f: impl FnOnce(&[T]) -> R,
) -> Result<R> {
    match bytemuck::try_cast_slice::<u8, T>(bytes) {
        Ok(elements) if elements.len() == len => Ok(f(elements)),
        _ => bytes_to_vec(bytes, len, source).map(|copy| f(&copy)),
    }
}

/// Copies received bytes into `out`, which they must fill exactly.
pub(crate) fn copy_exact<T: Pod>(bytes: &[u8], out: &mut [T], source: usize) -> Result<()> {
    let out: &mut [u8] = bytemuck::cast_slice_mut(out);
    if bytes.len() != out.len() {
        return Err(length_mismatch(source, bytes.len(), out.len()));
    }
    out.copy_from_slice(bytes);
    Ok(())
}

/// Rank `source` contributed `got` bytes to a buffer of `expected`.
pub(crate) fn length_mismatch(source: usize, got: usize, expected: usize) -> Error {
    Error::InvalidArgument(format!(
        "rank {source} contributed {got} bytes where {expected} were expected: members \
         disagree on buffer lengths"
    ))
}
