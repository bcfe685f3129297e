//! Message payloads as the engine holds them: bytes that arrived, or bytes a transport has
//! only been told about and reads when a receive needs them.
//!
//! A transport that can reach the sender's memory (shared memory, RDMA) need not copy a large
//! payload on arrival: it reports an [`Event::Lent`](crate::Event::Lent) with a
//! [`LentPayload`], and the payload is read once, straight into the buffer of the receive that
//! matched it. Everything else (objects, `recv_bytes`, collectives) reads it into fresh memory.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::pool;

/// A payload that stays with its sender until a receive reads it. Dropping it unread must
/// tell the sender it may let go (a receive that failed, or a job that ended first).
///
/// ```
/// use rmpi::transport::LentPayload;
/// /// A payload a transport reads from elsewhere only when a receive needs it.
/// #[derive(Debug)]
/// struct Elsewhere(Vec<u8>);
/// impl LentPayload for Elsewhere {
///     fn len(&self) -> usize {
///         self.0.len()
///     }
///     fn read_into(&mut self, out: &mut [u8]) -> rmpi::Result<()> {
///         out.copy_from_slice(&self.0);
///         Ok(())
///     }
/// }
/// let mut lent = Elsewhere(b"far".to_vec());
/// assert!(!lent.is_empty());
/// let mut out = b"from ".to_vec();
/// lent.read_onto(&mut out)?;
/// assert_eq!(out, b"from far");
/// # Ok::<(), rmpi::Error>(())
/// ```
pub trait LentPayload: Send + Sync + std::fmt::Debug + 'static {
    /// Its length in bytes.
    ///
    /// ```
    /// use rmpi::transport::LentPayload;
    /// /// A payload a transport reads from elsewhere only when a receive needs it.
    /// #[derive(Debug)]
    /// struct Elsewhere(Vec<u8>);
    /// impl LentPayload for Elsewhere {
    ///     fn len(&self) -> usize {
    ///         self.0.len()
    ///     }
    ///     fn read_into(&mut self, out: &mut [u8]) -> rmpi::Result<()> {
    ///         out.copy_from_slice(&self.0);
    ///         Ok(())
    ///     }
    /// }
    /// let mut lent = Elsewhere(b"far".to_vec());
    /// assert!(!lent.is_empty());
    /// let mut out = b"from ".to_vec();
    /// lent.read_onto(&mut out)?;
    /// assert_eq!(out, b"from far");
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn len(&self) -> usize;

    /// Whether it is empty.
    ///
    /// ```
    /// use rmpi::transport::LentPayload;
    /// /// A payload a transport reads from elsewhere only when a receive needs it.
    /// #[derive(Debug)]
    /// struct Elsewhere(Vec<u8>);
    /// impl LentPayload for Elsewhere {
    ///     fn len(&self) -> usize {
    ///         self.0.len()
    ///     }
    ///     fn read_into(&mut self, out: &mut [u8]) -> rmpi::Result<()> {
    ///         out.copy_from_slice(&self.0);
    ///         Ok(())
    ///     }
    /// }
    /// let mut lent = Elsewhere(b"far".to_vec());
    /// assert!(!lent.is_empty());
    /// let mut out = b"from ".to_vec();
    /// lent.read_onto(&mut out)?;
    /// assert_eq!(out, b"from far");
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the payload into `out`, which is exactly [`len`](LentPayload::len) bytes
    /// long. Called at most once; the sender may let go afterwards, read or not.
    ///
    /// ```
    /// use rmpi::transport::LentPayload;
    /// /// A payload a transport reads from elsewhere only when a receive needs it.
    /// #[derive(Debug)]
    /// struct Elsewhere(Vec<u8>);
    /// impl LentPayload for Elsewhere {
    ///     fn len(&self) -> usize {
    ///         self.0.len()
    ///     }
    ///     fn read_into(&mut self, out: &mut [u8]) -> rmpi::Result<()> {
    ///         out.copy_from_slice(&self.0);
    ///         Ok(())
    ///     }
    /// }
    /// let mut lent = Elsewhere(b"far".to_vec());
    /// assert!(!lent.is_empty());
    /// let mut out = b"from ".to_vec();
    /// lent.read_onto(&mut out)?;
    /// assert_eq!(out, b"from far");
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn read_into(&mut self, out: &mut [u8]) -> Result<()>;

    /// Like [`read_into`](LentPayload::read_into), onto the end of `out`. This default
    /// zeroes the room first; an implementation that can copy into memory not yet
    /// initialized (a vector's spare capacity) should, as zeroing a large payload costs
    /// about as much as copying it.
    ///
    /// ```
    /// use rmpi::transport::LentPayload;
    /// /// A payload a transport reads from elsewhere only when a receive needs it.
    /// #[derive(Debug)]
    /// struct Elsewhere(Vec<u8>);
    /// impl LentPayload for Elsewhere {
    ///     fn len(&self) -> usize {
    ///         self.0.len()
    ///     }
    ///     fn read_into(&mut self, out: &mut [u8]) -> rmpi::Result<()> {
    ///         out.copy_from_slice(&self.0);
    ///         Ok(())
    ///     }
    /// }
    /// let mut lent = Elsewhere(b"far".to_vec());
    /// assert!(!lent.is_empty());
    /// let mut out = b"from ".to_vec();
    /// lent.read_onto(&mut out)?;
    /// assert_eq!(out, b"from far");
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn read_onto(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        out.resize(start + self.len(), 0);
        self.read_into(&mut out[start..])
    }
}

/// What the engine holds of a message's payload.
#[derive(Debug)]
pub(crate) enum Payload {
    /// The bytes themselves.
    Here(Bytes),
    /// Still with the sender.
    Lent(Box<dyn LentPayload>),
    /// Already in the buffer of the receive it matched, all `len` bytes of it (see
    /// [`Placer`](crate::transport::Placer)).
    Placed { len: usize },
    /// Its first `placed` bytes in the receive's buffer, the rest here.
    Split { placed: usize, rest: Bytes },
}

impl Payload {
    pub(crate) fn len(&self) -> usize {
        match self {
            Payload::Here(bytes) => bytes.len(),
            Payload::Lent(lent) => lent.len(),
            Payload::Placed { len } => *len,
            Payload::Split { placed, rest } => placed + rest.len(),
        }
    }

    /// Copies the payload into `out`, which must be exactly as long and, for a payload
    /// placed in whole or in part, the buffer of the receive it was placed for.
    pub(crate) fn copy_to(self, out: &mut [u8]) -> Result<()> {
        debug_assert_eq!(out.len(), self.len());
        match self {
            Payload::Here(bytes) => {
                out.copy_from_slice(&bytes);
                Ok(())
            }
            Payload::Lent(mut lent) => lent.read_into(out),
            Payload::Placed { .. } => Ok(()),
            Payload::Split { placed, rest } => {
                out[placed..].copy_from_slice(&rest);
                Ok(())
            }
        }
    }

    /// The payload as bytes, read into (pooled) memory of this rank's if it was lent.
    pub(crate) fn into_bytes(self) -> Result<Bytes> {
        match self {
            Payload::Here(bytes) => Ok(bytes),
            Payload::Lent(mut lent) => {
                let mut vec = pool::vec_with_capacity(lent.len());
                lent.read_onto(&mut vec)?;
                Ok(pool::into_bytes(vec))
            }
            // Only receives into a buffer are offered payloads, and they copy them there.
            Payload::Placed { .. } | Payload::Split { .. } => Err(Error::InvalidArgument(
                "a payload placed in a receive's buffer cannot be taken as bytes".into(),
            )),
        }
    }
}
