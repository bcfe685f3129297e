//! What a receive asks for ([`Source`], [`TagFilter`]) and what it learns ([`Status`]).

use crate::frame::Header;

/// The largest tag a message may carry (MPI's `MPI_TAG_UB`); tags are `0..=TAG_UB`.
///
/// ```
/// assert!(rmpi::TAG_UB >= 32767); // the least MPI promises
/// ```
pub const TAG_UB: i32 = i32::MAX;

/// Receive from any sender (`MPI_ANY_SOURCE`).
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
/// if comm.rank() == 1 {
///     comm.send(&5u8, 0, 3).await?;
/// } else {
///     let (value, status) = comm.recv_with_status::<u8>(rmpi::ANY_SOURCE, rmpi::ANY_TAG).await?;
///     assert_eq!((value, status.source, status.tag), (5, 1, 3));
/// }
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
pub const ANY_SOURCE: Source = Source::Any;

/// Receive with any tag (`MPI_ANY_TAG`).
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
/// if comm.rank() == 1 {
///     comm.send(&5u8, 0, 3).await?;
/// } else {
///     let (value, status) = comm.recv_with_status::<u8>(1, rmpi::ANY_TAG).await?;
///     assert_eq!((value, status.tag), (5, 3));
/// }
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
pub const ANY_TAG: TagFilter = TagFilter::Any;

/// Which sender a receive or probe accepts. A plain rank converts into it, so
/// `comm.recv::<T>(0, tag)` and `comm.recv::<T>(ANY_SOURCE, tag)` both read naturally.
///
/// ```
/// use rmpi::{Source, ANY_SOURCE};
/// assert_eq!(Source::from(2), Source::Rank(2));
/// assert_eq!(ANY_SOURCE, Source::Any);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Any rank of the communicator.
    Any,
    /// Only this rank of the communicator.
    Rank(usize),
}

impl From<usize> for Source {
    fn from(rank: usize) -> Self {
        Source::Rank(rank)
    }
}

/// Which tags a receive or probe accepts. A plain tag converts into it.
///
/// ```
/// use rmpi::{TagFilter, ANY_TAG};
/// assert_eq!(TagFilter::from(7), TagFilter::Tag(7));
/// assert_eq!(ANY_TAG, TagFilter::Any);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagFilter {
    /// Any tag.
    Any,
    /// Only this tag.
    Tag(i32),
}

impl From<i32> for TagFilter {
    fn from(tag: i32) -> Self {
        TagFilter::Tag(tag)
    }
}

/// What a completed receive or a probe reports about its message (`MPI_Status`).
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
/// if comm.rank() == 0 {
///     comm.send_buf(&[0.5f64; 4], 1, 9).await?;
/// } else {
///     let mut buf = [0.0f64; 8];
///     let status: rmpi::Status = comm.recv_into(&mut buf, 0, 9).await?;
///     assert_eq!((status.source, status.tag, status.count::<f64>()), (0, 9, Some(4)));
/// }
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status {
    /// The sender's rank in the communicator the message was received on.
    pub source: usize,
    /// The message's tag.
    pub tag: i32,
    /// The message's size in bytes (for objects: the encoded size).
    pub bytes: usize,
}

impl Status {
    /// The number of `T` elements in the message, or `None` if its size is not a whole
    /// number of them (`MPI_Get_count` returning `MPI_UNDEFINED`).
    ///
    /// ```
    /// let status = rmpi::Status { source: 0, tag: 0, bytes: 12 };
    /// assert_eq!(status.count::<u32>(), Some(3));
    /// assert_eq!(status.count::<u64>(), None);
    /// ```
    pub fn count<T>(&self) -> Option<usize> {
        self.count_of(std::mem::size_of::<T>())
    }

    /// The status of a message of `bytes` bytes that came with `header`.
    #[inline(always)]
    pub(crate) fn of_message(header: &Header, bytes: usize) -> Status {
        Status {
            source: header.source as usize,
            tag: header.tag,
            bytes,
        }
    }

    pub(crate) fn count_of(&self, element_bytes: usize) -> Option<usize> {
        // Every message's receive asks this: most elements are a power of two bytes long,
        // which a shift and a mask answer without a division.
        if element_bytes.is_power_of_two() {
            let shift = element_bytes.trailing_zeros();
            return (self.bytes & (element_bytes - 1) == 0).then_some(self.bytes >> shift);
        }
        (element_bytes > 0 && self.bytes % element_bytes == 0).then(|| self.bytes / element_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn counts_elements_of_every_size() {
        for bytes in 0..=200usize {
            let status = Status {
                source: 0,
                tag: 0,
                bytes,
            };
            assert_eq!(status.count_of(0), None);
            for element_bytes in 1..=40usize {
                let expected = (bytes % element_bytes == 0).then(|| bytes / element_bytes);
                assert_eq!(
                    status.count_of(element_bytes),
                    expected,
                    "{bytes} / {element_bytes}"
                );
            }
        }
    }
}
