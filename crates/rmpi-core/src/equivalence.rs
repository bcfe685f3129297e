//! Structs sent field by field (MPI's struct datatypes, rsmpi's `Equivalence`): for plain
//! data whose layout has padding, which `bytemuck::Pod` cannot describe (padding bytes are
//! uninitialised, so a padded struct cannot be viewed as bytes).
//!
//! A type that is [`Equivalence`] packs into a fixed number of bytes, its fields' packed
//! forms in declaration order with no padding, little-endian; `#[derive(Equivalence)]`
//! (from `rmpi::datatype`) writes the implementation for a struct whose fields are
//! primitives, arrays or other such structs. [`Comm::send_packed`](crate::Comm::send_packed)
//! and [`Comm::recv_packed`](crate::Comm::recv_packed) send and receive slices of them.
//!
//! ```
//! use rmpi::datatype::Equivalence;
//!
//! // 1 + 8 + 2 bytes of fields; in memory, padding makes it 16.
//! #[derive(Equivalence, Clone, Copy, Debug, PartialEq)]
//! struct Particle {
//!     alive: bool,
//!     mass: f64,
//!     cell: [u8; 2],
//! }
//! assert_eq!(Particle::PACKED_SIZE, 11);
//!
//! let results = rmpi::local::run(2, |comm| async move {
//!     let particles = [Particle { alive: true, mass: 1.5, cell: [3, 4] }; 5];
//!     if comm.rank() == 0 {
//!         comm.send_packed(&particles, 1, 0).await?;
//!         Ok::<_, rmpi::Error>(Vec::new())
//!     } else {
//!         Ok(comm.recv_packed::<Particle>(0, 0).await?.0)
//!     }
//! });
//! assert_eq!(results[1].as_ref().unwrap()[4].mass, 1.5);
//! ```

/// A type sent as a fixed number of bytes: its fields, packed, without padding.
///
/// ```
/// use rmpi::datatype::Equivalence;
/// #[derive(Equivalence, Clone, Copy, Debug, PartialEq)]
/// struct Sample { id: u8, value: f64 }
///
/// assert_eq!(Sample::PACKED_SIZE, 9); // no padding
/// let sample = Sample { id: 1, value: 0.5 };
/// let mut bytes = [0u8; 9];
/// sample.pack_into(&mut bytes);
/// assert_eq!(Sample::unpack_from(&bytes), sample);
/// ```
pub trait Equivalence: Copy + Send + Sync + 'static {
    /// Bytes of one packed value.
    ///
    /// ```
    /// use rmpi::datatype::Equivalence;
    /// #[derive(Equivalence, Clone, Copy)]
    /// struct Reading { valid: bool, value: f64 }
    /// assert_eq!(Reading::PACKED_SIZE, 9); // std::mem::size_of says 16
    /// ```
    const PACKED_SIZE: usize;

    /// Writes the packed value into `out`, which is [`PACKED_SIZE`](Self::PACKED_SIZE)
    /// bytes long.
    ///
    /// ```
    /// use rmpi::datatype::Equivalence;
    /// let mut bytes = [0u8; 4];
    /// 7u32.pack_into(&mut bytes);
    /// assert_eq!(u32::unpack_from(&bytes), 7);
    /// ```
    fn pack_into(&self, out: &mut [u8]);

    /// Reads a value from `bytes`, which are [`PACKED_SIZE`](Self::PACKED_SIZE) long.
    ///
    /// ```
    /// use rmpi::datatype::Equivalence;
    /// let mut bytes = [0u8; 4];
    /// [1u16, 513].pack_into(&mut bytes);
    /// assert_eq!(<[u16; 2]>::unpack_from(&bytes), [1, 513]);
    /// ```
    fn unpack_from(bytes: &[u8]) -> Self;
}

macro_rules! numbers {
    ($($ty:ty),*) => {$(
        impl Equivalence for $ty {
            const PACKED_SIZE: usize = std::mem::size_of::<$ty>();

            fn pack_into(&self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }

            fn unpack_from(bytes: &[u8]) -> Self {
                let mut raw = [0u8; std::mem::size_of::<$ty>()];
                raw.copy_from_slice(bytes);
                <$ty>::from_le_bytes(raw)
            }
        }
    )*};
}

numbers!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);

impl Equivalence for bool {
    const PACKED_SIZE: usize = 1;

    fn pack_into(&self, out: &mut [u8]) {
        out[0] = u8::from(*self);
    }

    fn unpack_from(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
}

impl<T: Equivalence, const N: usize> Equivalence for [T; N] {
    const PACKED_SIZE: usize = N * T::PACKED_SIZE;

    fn pack_into(&self, out: &mut [u8]) {
        pack_all(self, out);
    }

    fn unpack_from(bytes: &[u8]) -> Self {
        std::array::from_fn(|i| {
            T::unpack_from(&bytes[i * T::PACKED_SIZE..(i + 1) * T::PACKED_SIZE])
        })
    }
}

/// `values` packed one after another.
pub(crate) fn pack<T: Equivalence>(values: &[T]) -> Vec<u8> {
    let mut out = vec![0u8; values.len() * T::PACKED_SIZE];
    pack_all(values, &mut out);
    out
}

/// Packs `values` one after another into `out`, which holds exactly as many packed values.
fn pack_all<T: Equivalence>(values: &[T], out: &mut [u8]) {
    for (value, slot) in values
        .iter()
        .zip(out.chunks_exact_mut(T::PACKED_SIZE.max(1)))
    {
        value.pack_into(slot);
    }
}

/// Unpacks the values packed in `bytes` into `out`, which holds exactly as many.
pub(crate) fn unpack_into<T: Equivalence>(bytes: &[u8], out: &mut [T]) {
    for (slot, packed) in out
        .iter_mut()
        .zip(bytes.chunks_exact(T::PACKED_SIZE.max(1)))
    {
        *slot = T::unpack_from(packed);
    }
}

/// The values packed in `bytes`, or `None` if they are not a whole number of them.
pub(crate) fn unpack<T: Equivalence>(bytes: &[u8]) -> Option<Vec<T>> {
    if T::PACKED_SIZE == 0 || bytes.len() % T::PACKED_SIZE != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(T::PACKED_SIZE)
            .map(T::unpack_from)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_arrays_round_trip_little_endian() {
        let values = [[-1i16, 2], [3, i16::MIN]];
        let bytes = pack(&values);
        assert_eq!(bytes.len(), 8);
        assert_eq!(&bytes[..2], &(-1i16).to_le_bytes());
        assert_eq!(unpack::<[i16; 2]>(&bytes), Some(values.to_vec()));
        assert_eq!(unpack::<u32>(&[0; 6]), None);
        assert_eq!(unpack::<bool>(&[0, 7]), Some(vec![false, true]));
    }
}
