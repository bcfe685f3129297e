//! Frames: the unit a [`Transport`](crate::Transport) moves, and their wire format.
//!
//! A frame is a fixed-size [`Header`] (which communicator, which sender, which tag, what kind)
//! followed by `len` payload bytes. Transports that keep frames in memory pass [`Frame`] values
//! as they are; transports that cross a byte stream or a ring write the header with
//! [`Header::encode`] and read it back with [`Header::decode`], which rejects anything malformed
//! before a payload buffer is allocated.

use bytes::Bytes;

/// Size of an encoded [`Header`] in bytes.
///
/// ```
/// use rmpi::transport::{FrameKind, Header, HEADER_LEN};
/// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
/// assert_eq!(header.encode().len(), HEADER_LEN);
/// ```
pub const HEADER_LEN: usize = 40;

/// What a frame carries. Unknown kinds are rejected by [`Header::decode`].
///
/// ```
/// use rmpi::transport::{FrameKind, Header};
/// assert_eq!(Header::goodbye().kind, FrameKind::Goodbye);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum FrameKind {
    /// A message; the sender does not wait for a reply.
    Data = 1,
    /// A message from a synchronous send: the receiver answers with [`FrameKind::SyncAck`]
    /// carrying the same `sync_id` once a receive has matched it.
    SyncData = 2,
    /// The receiver matched the synchronous message with this `sync_id`. No payload.
    SyncAck = 3,
    /// The sender has finished and will send nothing more (a clean shutdown, as opposed to
    /// a broken connection). No payload. Byte-stream transports send it last, so a peer can
    /// tell [`Event::PeerFinished`](crate::Event::PeerFinished) from
    /// [`Event::PeerLost`](crate::Event::PeerLost).
    Goodbye = 4,
}

impl FrameKind {
    fn from_u8(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(FrameKind::Data),
            2 => Some(FrameKind::SyncData),
            3 => Some(FrameKind::SyncAck),
            4 => Some(FrameKind::Goodbye),
            _ => None,
        }
    }
}

/// Everything the matching engine needs to know about a frame, without its payload.
///
/// ```
/// use rmpi::transport::{FrameKind, Header};
/// let header = Header { kind: FrameKind::Data, context: 7, source: 2, tag: 11, sync_id: 0, len: 5 };
/// assert_eq!(Header::decode(&header.encode(), 1 << 20), Ok(header));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// What the frame carries.
    pub kind: FrameKind,
    /// The communication context: one per communicator for point-to-point traffic and another
    /// for its collectives, so traffic never matches across them.
    pub context: u64,
    /// The sender's rank in the communicator that `context` belongs to.
    pub source: u32,
    /// The message tag (0 for acknowledgements).
    pub tag: i32,
    /// Pairs a synchronous send with its acknowledgement; 0 for plain data.
    pub sync_id: u64,
    /// Payload length in bytes.
    pub len: u64,
}

/// Why bytes could not be read as a [`Header`].
///
/// ```
/// use rmpi::transport::{FrameKind, Header, HeaderError};
/// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 0, sync_id: 0, len: 1 << 30 };
/// let refused = Header::decode(&header.encode(), 1 << 20);
/// assert!(matches!(refused, Err(HeaderError::TooLong { .. })));
/// assert!(matches!(Header::decode(&[0; 8], 1 << 20), Err(HeaderError::Short(8))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// Fewer than [`HEADER_LEN`] bytes were given.
    #[error("header needs {HEADER_LEN} bytes, got {0}")]
    Short(usize),
    /// The kind byte is not a known [`FrameKind`].
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// Reserved bytes are not zero: the stream is not speaking this protocol.
    #[error("reserved header bytes are not zero")]
    Reserved,
    /// The payload is longer than the receiver accepts.
    #[error("payload of {len} bytes exceeds the limit of {max} bytes")]
    TooLong {
        /// The announced payload length.
        len: u64,
        /// The receiver's limit.
        max: u64,
    },
    /// A data frame carries a negative tag, or an acknowledgement carries a payload.
    #[error("inconsistent header: {0}")]
    Inconsistent(&'static str),
}

impl Header {
    /// Writes the header in its fixed little-endian layout.
    ///
    /// | bytes  | field                |
    /// |--------|----------------------|
    /// | 0      | kind                 |
    /// | 1..4   | reserved, zero       |
    /// | 4..8   | tag (i32)            |
    /// | 8..12  | source (u32)         |
    /// | 12..16 | reserved, zero       |
    /// | 16..24 | context (u64)        |
    /// | 24..32 | sync_id (u64)        |
    /// | 32..40 | payload length (u64) |
    ///
    /// ```
    /// use rmpi::transport::{FrameKind, Header};
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 3, tag: 1, sync_id: 0, len: 0 };
    /// let bytes = header.encode();
    /// assert_eq!(bytes[0], 1); // the kind comes first
    /// ```
    #[inline]
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = self.kind as u8;
        out[4..8].copy_from_slice(&self.tag.to_le_bytes());
        out[8..12].copy_from_slice(&self.source.to_le_bytes());
        out[16..24].copy_from_slice(&self.context.to_le_bytes());
        out[24..32].copy_from_slice(&self.sync_id.to_le_bytes());
        out[32..40].copy_from_slice(&self.len.to_le_bytes());
        out
    }

    /// Reads a header, rejecting unknown kinds, non-zero reserved bytes, inconsistent fields
    /// and payloads longer than `max_len`, so a receiver never allocates for garbage.
    ///
    /// ```
    /// use rmpi::transport::Header;
    /// // A stranger's bytes are refused before anything is allocated for them.
    /// assert!(Header::decode(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n1234567890", 1 << 20).is_err());
    /// ```
    #[inline]
    pub fn decode(bytes: &[u8], max_len: u64) -> Result<Header, HeaderError> {
        let bytes: &[u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(HeaderError::Short(bytes.len()))?;
        let kind = FrameKind::from_u8(bytes[0]).ok_or(HeaderError::UnknownKind(bytes[0]))?;
        if bytes[1..4] != [0; 3] || bytes[12..16] != [0; 4] {
            return Err(HeaderError::Reserved);
        }
        let u64_at = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(word)
        };
        let u32_at = |at: usize| {
            let mut word = [0u8; 4];
            word.copy_from_slice(&bytes[at..at + 4]);
            u32::from_le_bytes(word)
        };
        let header = Header {
            kind,
            tag: u32_at(4) as i32,
            source: u32_at(8),
            context: u64_at(16),
            sync_id: u64_at(24),
            len: u64_at(32),
        };
        if header.len > max_len {
            return Err(HeaderError::TooLong {
                len: header.len,
                max: max_len,
            });
        }
        match header.kind {
            FrameKind::Data | FrameKind::SyncData if header.tag < 0 => {
                Err(HeaderError::Inconsistent("negative tag on a data frame"))
            }
            FrameKind::SyncAck if header.len != 0 => {
                Err(HeaderError::Inconsistent("acknowledgement with a payload"))
            }
            FrameKind::Goodbye if header.len != 0 => {
                Err(HeaderError::Inconsistent("goodbye with a payload"))
            }
            _ => Ok(header),
        }
    }
}

/// A header with its payload: what one send puts on the wire.
///
/// ```
/// use std::task::{Context, Poll, Waker};
/// use rmpi::local::LocalTransport;
/// use rmpi::transport::{Event, Frame, FrameKind, Header, Transport};
/// let endpoints = LocalTransport::mesh(2);
/// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
/// endpoints[0].send(1, Frame::new(header, rmpi::Bytes::from_static(b"hi")))?;
/// match endpoints[1].poll_recv(&mut Context::from_waker(Waker::noop())) {
///     Poll::Ready(Event::Frame { from, frame }) => assert_eq!((from, &frame.payload[..]), (0, &b"hi"[..])),
///     _ => panic!("the frame has arrived"),
/// }
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Routing and matching information.
    pub header: Header,
    /// The message bytes; `header.len` equals `payload.len()`.
    pub payload: Bytes,
}

impl Header {
    /// The header of a [`FrameKind::Goodbye`] frame.
    ///
    /// ```
    /// use rmpi::transport::Header;
    /// let bye = Header::goodbye();
    /// assert_eq!(bye.len, 0);
    /// ```
    pub fn goodbye() -> Header {
        Header {
            kind: FrameKind::Goodbye,
            context: 0,
            source: 0,
            tag: 0,
            sync_id: 0,
            len: 0,
        }
    }
}

impl Frame {
    /// Builds a frame, setting `header.len` from the payload.
    ///
    /// ```
    /// use rmpi::transport::{Frame, FrameKind, Header};
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
    /// let frame = Frame::new(header, rmpi::Bytes::from_static(b"four"));
    /// assert_eq!(frame.header.len, 4);
    /// ```
    pub fn new(mut header: Header, payload: Bytes) -> Frame {
        header.len = payload.len() as u64;
        Frame { header, payload }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            kind: FrameKind::SyncData,
            context: 0xdead_beef_0123_4567,
            source: 7,
            tag: 42,
            sync_id: 9,
            len: 1000,
        }
    }

    #[test]
    fn header_round_trips() {
        let header = sample();
        assert_eq!(Header::decode(&header.encode(), u64::MAX), Ok(header));
    }

    #[test]
    fn header_rejects_garbage() {
        let good = sample().encode();
        assert_eq!(
            Header::decode(&good[..10], u64::MAX),
            Err(HeaderError::Short(10))
        );

        let mut bad = good;
        bad[0] = 99;
        assert_eq!(
            Header::decode(&bad, u64::MAX),
            Err(HeaderError::UnknownKind(99))
        );

        let mut bad = good;
        bad[2] = 1;
        assert_eq!(Header::decode(&bad, u64::MAX), Err(HeaderError::Reserved));

        assert_eq!(
            Header::decode(&good, 999),
            Err(HeaderError::TooLong {
                len: 1000,
                max: 999
            })
        );

        let mut negative = sample();
        negative.tag = -1;
        assert!(matches!(
            Header::decode(&negative.encode(), u64::MAX),
            Err(HeaderError::Inconsistent(_))
        ));
    }
}
