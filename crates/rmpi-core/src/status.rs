//! What a receive asks for ([`Source`], [`TagFilter`]) and what it learns ([`Status`]).

/// The largest tag a message may carry (MPI's `MPI_TAG_UB`); tags are `0..=TAG_UB`.
pub const TAG_UB: i32 = i32::MAX;

/// Receive from any sender (`MPI_ANY_SOURCE`).
pub const ANY_SOURCE: Source = Source::Any;

/// Receive with any tag (`MPI_ANY_TAG`).
pub const ANY_TAG: TagFilter = TagFilter::Any;

/// Which sender a receive or probe accepts. A plain rank converts into it, so
/// `comm.recv::<T>(0, tag)` and `comm.recv::<T>(ANY_SOURCE, tag)` both read naturally.
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

    pub(crate) fn count_of(&self, element_bytes: usize) -> Option<usize> {
        (element_bytes > 0 && self.bytes % element_bytes == 0).then(|| self.bytes / element_bytes)
    }
}
