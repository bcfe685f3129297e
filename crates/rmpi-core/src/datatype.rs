//! Derived datatypes: which elements of a buffer a message carries, for data that is not
//! one contiguous run, such as a column of a row-major 2-D array (MPI's `Type_vector`,
//! `Type_indexed`, `Type_create_subarray`).
//!
//! A [`Datatype`] selects elements of a `[T]` by index. Sending with one packs the selected
//! elements in order into one message; receiving with one unpacks a message into the
//! selected places. The message is the packed elements, so a typed send matches any receive
//! of as many elements (a contiguous [`Comm::recv_into`](crate::Comm::recv_into) too), as
//! MPI matches by type signature.
//!
//! ```
//! use rmpi::datatype::Datatype;
//!
//! // A 3x4 row-major array; its second column is 3 blocks of 1 element, 4 apart.
//! let grid: Vec<u32> = (0..12).collect();
//! let column = Datatype::vector(3, 1, 4)?.offset(1);
//! assert_eq!(column.pack(&grid)?, [1, 5, 9]);
//!
//! let mut other = vec![0u32; 12];
//! column.unpack(&[7, 8, 9], &mut other)?;
//! assert_eq!(other[1..10].iter().step_by(4).copied().collect::<Vec<_>>(), [7, 8, 9]);
//! # Ok::<(), rmpi::Error>(())
//! ```

use crate::error::{Error, Result};

/// A selection of a buffer's elements, in order: runs of consecutive elements, each at an
/// element offset from the buffer's start.
///
/// ```
/// use rmpi::datatype::Datatype;
/// // Column 1 of a 3x4 row-major grid: 3 runs of one element, 4 apart, from element 1.
/// let column = Datatype::vector(3, 1, 4)?.offset(1);
/// let grid: Vec<u32> = (0..12).collect();
/// assert_eq!(column.pack(&grid)?, [1, 5, 9]);
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datatype {
    /// `(offset, length)` in elements; adjacent runs are merged.
    runs: Vec<(usize, usize)>,
}

impl Datatype {
    /// `count` consecutive elements from the start (`MPI_Type_contiguous`).
    ///
    /// ```
    /// let first_two = rmpi::datatype::Datatype::contiguous(2);
    /// assert_eq!(first_two.pack(&[5, 6, 7])?, [5, 6]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn contiguous(count: usize) -> Datatype {
        Datatype::from_runs([(0, count)])
    }

    /// `count` blocks of `blocklength` elements, the starts of consecutive blocks `stride`
    /// elements apart (`MPI_Type_vector`): a column of a row-major array with rows of
    /// `stride` elements is `vector(rows, 1, stride)`.
    ///
    /// ```
    /// let every_other = rmpi::datatype::Datatype::vector(3, 1, 2)?;
    /// assert_eq!(every_other.pack(&[0, 1, 2, 3, 4])?, [0, 2, 4]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn vector(count: usize, blocklength: usize, stride: usize) -> Result<Datatype> {
        if count > 1 && stride < blocklength {
            return Err(Error::InvalidArgument(format!(
                "a vector's stride ({stride}) must be at least its block length \
                 ({blocklength}), or its blocks would overlap"
            )));
        }
        Ok(Datatype::from_runs(
            (0..count).map(|block| (block * stride, blocklength)),
        ))
    }

    /// Blocks given as `(displacement, length)` in elements, in the order they are sent
    /// (`MPI_Type_indexed`); blocks must not overlap.
    ///
    /// ```
    /// let picked = rmpi::datatype::Datatype::indexed(&[(4, 1), (0, 2)])?;
    /// assert_eq!(picked.pack(&[10, 11, 12, 13, 14])?, [14, 10, 11]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn indexed(blocks: &[(usize, usize)]) -> Result<Datatype> {
        let mut sorted: Vec<(usize, usize)> = blocks.iter().copied().filter(|b| b.1 > 0).collect();
        sorted.sort_unstable();
        if let Some(pair) = sorted.windows(2).find(|w| w[0].0 + w[0].1 > w[1].0) {
            return Err(Error::InvalidArgument(format!(
                "indexed blocks overlap: ({}, {}) and ({}, {})",
                pair[0].0, pair[0].1, pair[1].0, pair[1].1
            )));
        }
        Ok(Datatype::from_runs(blocks.iter().copied()))
    }

    /// The block `subsizes` starting at `starts` of a row-major (C order) array of shape
    /// `sizes` (`MPI_Type_create_subarray` with `MPI_ORDER_C`).
    ///
    /// ```
    /// // The inner 2x2 of a 4x4 array.
    /// let inner = rmpi::datatype::Datatype::subarray(&[4, 4], &[2, 2], &[1, 1])?;
    /// let grid: Vec<u8> = (0..16).collect();
    /// assert_eq!(inner.pack(&grid)?, [5, 6, 9, 10]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn subarray(sizes: &[usize], subsizes: &[usize], starts: &[usize]) -> Result<Datatype> {
        if sizes.len() != subsizes.len() || sizes.len() != starts.len() || sizes.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "a subarray needs as many sizes, subsizes and starts as dimensions (at least \
                 one): got {}, {} and {}",
                sizes.len(),
                subsizes.len(),
                starts.len()
            )));
        }
        for (d, ((&size, &sub), &start)) in sizes.iter().zip(subsizes).zip(starts).enumerate() {
            if start + sub > size {
                return Err(Error::InvalidArgument(format!(
                    "subarray dimension {d}: {sub} elements from {start} pass its size {size}"
                )));
            }
        }
        // Element offset of each dimension's step (row-major: the last dimension is fastest).
        let mut strides = vec![1usize; sizes.len()];
        for d in (0..sizes.len() - 1).rev() {
            strides[d] = strides[d + 1] * sizes[d + 1];
        }
        let last = sizes.len() - 1;
        let rows: usize = subsizes[..last].iter().product();
        let runs = (0..rows).map(|row| {
            // The row's index in each outer dimension, from the flat row number.
            let mut rest = row;
            let mut offset = starts[last];
            for d in (0..last).rev() {
                offset += (starts[d] + rest % subsizes[d]) * strides[d];
                rest /= subsizes[d];
            }
            (offset, subsizes[last])
        });
        Ok(Datatype::from_runs(runs))
    }

    /// The same selection `by` elements further into the buffer (a displacement, as
    /// MPI's typed calls take a buffer address).
    ///
    /// ```
    /// let second = rmpi::datatype::Datatype::contiguous(1).offset(1);
    /// assert_eq!(second.pack(&[3, 4])?, [4]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn offset(mut self, by: usize) -> Datatype {
        for run in &mut self.runs {
            run.0 += by;
        }
        self
    }

    /// How many elements it selects (the count a matching contiguous receive gets).
    ///
    /// ```
    /// assert_eq!(rmpi::datatype::Datatype::vector(3, 2, 5)?.count(), 6);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn count(&self) -> usize {
        self.runs.iter().map(|run| run.1).sum()
    }

    /// The smallest buffer length (in elements) that holds every selected element.
    ///
    /// ```
    /// assert_eq!(rmpi::datatype::Datatype::vector(3, 2, 5)?.extent(), 12);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn extent(&self) -> usize {
        self.runs.iter().map(|run| run.0 + run.1).max().unwrap_or(0)
    }

    /// The selected elements of `buf`, in order (`MPI_Pack`).
    ///
    /// ```
    /// let column = rmpi::datatype::Datatype::vector(2, 1, 3)?;
    /// assert_eq!(column.pack(&[1, 2, 3, 4, 5, 6])?, [1, 4]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn pack<T: Copy>(&self, buf: &[T]) -> Result<Vec<T>> {
        let mut packed = Vec::with_capacity(self.count());
        self.pack_onto(buf, &mut packed)?;
        Ok(packed)
    }

    /// Like [`pack`](Datatype::pack), onto the end of `out`: several selections packed
    /// into one message without a vector each.
    ///
    /// ```
    /// use rmpi::datatype::Datatype;
    /// let mut packed = vec![0];
    /// Datatype::vector(2, 1, 3)?.pack_onto(&[1, 2, 3, 4, 5, 6], &mut packed)?;
    /// assert_eq!(packed, [0, 1, 4]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn pack_onto<T: Copy>(&self, buf: &[T], out: &mut Vec<T>) -> Result<()> {
        self.check_fits(buf.len())?;
        for &(offset, length) in &self.runs {
            out.extend_from_slice(&buf[offset..offset + length]);
        }
        Ok(())
    }

    /// Puts `packed`'s elements into the selected places of `buf`, in order (`MPI_Unpack`);
    /// fewer elements than selected fill the first places, more are an error.
    ///
    /// ```
    /// let column = rmpi::datatype::Datatype::vector(2, 1, 3)?;
    /// let mut grid = [0; 6];
    /// column.unpack(&[8, 9], &mut grid)?;
    /// assert_eq!(grid, [8, 0, 0, 9, 0, 0]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn unpack<T: Copy>(&self, packed: &[T], buf: &mut [T]) -> Result<()> {
        self.check_fits(buf.len())?;
        if packed.len() > self.count() {
            return Err(Error::InvalidArgument(format!(
                "{} elements do not fit a datatype selecting {}",
                packed.len(),
                self.count()
            )));
        }
        let mut rest = packed;
        for &(offset, length) in &self.runs {
            let take = length.min(rest.len());
            buf[offset..offset + take].copy_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        Ok(())
    }

    fn check_fits(&self, len: usize) -> Result<()> {
        if self.extent() > len {
            return Err(Error::InvalidArgument(format!(
                "the datatype reaches element {} but the buffer has {len}",
                self.extent()
            )));
        }
        Ok(())
    }

    fn from_runs(runs: impl IntoIterator<Item = (usize, usize)>) -> Datatype {
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for (offset, length) in runs.into_iter().filter(|run| run.1 > 0) {
            match merged.last_mut() {
                Some(last) if last.0 + last.1 == offset => last.1 += length,
                _ => merged.push((offset, length)),
            }
        }
        Datatype { runs: merged }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subarray_is_the_elements_a_serial_loop_visits() {
        let (sizes, subsizes, starts) = ([3, 4, 5], [2, 3, 2], [1, 0, 2]);
        let grid: Vec<usize> = (0..60).collect();
        let mut expected = Vec::new();
        for i in starts[0]..starts[0] + subsizes[0] {
            for j in starts[1]..starts[1] + subsizes[1] {
                for k in starts[2]..starts[2] + subsizes[2] {
                    expected.push((i * 4 + j) * 5 + k);
                }
            }
        }
        let datatype = Datatype::subarray(&sizes, &subsizes, &starts).unwrap();
        assert_eq!(datatype.pack(&grid).unwrap(), expected);
    }

    #[test]
    fn runs_that_touch_are_merged_and_bad_shapes_refused() {
        assert_eq!(Datatype::vector(4, 2, 2).unwrap().runs, [(0, 8)]);
        assert!(Datatype::vector(2, 3, 2).is_err());
        assert!(Datatype::indexed(&[(0, 3), (2, 1)]).is_err());
        assert!(Datatype::subarray(&[4], &[3], &[2]).is_err());
        assert!(Datatype::vector(2, 1, 4).unwrap().pack(&[0; 4]).is_err());
        assert!(Datatype::contiguous(1)
            .unpack(&[1, 2], &mut [0; 4])
            .is_err());
    }
}
