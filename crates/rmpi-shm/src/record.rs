//! What the rings carry: records, each a fixed-size head, sometimes followed by a payload.
//!
//! A frame's payload travels one of two ways. Small payloads are copied into the ring after
//! the head ([`Record::Inline`]). Large ones stay in the sender's memory and the head says
//! where ([`Record::Lent`]); the receiver copies them straight out of the sender's address
//! space (see [`single_copy`](crate::single_copy)) and answers with [`Record::Released`] on
//! its own ring, after which the sender may free them.
//!
//! | bytes  | field                                                           |
//! |--------|-----------------------------------------------------------------|
//! | 0..8   | kind (u64): 1 inline, 2 lent, 3 released, 4 abandoned           |
//! | 8..48  | inline and lent: the frame's [`Header`]; otherwise zero         |
//! | 48..56 | lent and released: the payload's address in the sender; else 0  |
//! | 56..64 | released: the payload's length; else zero                       |
//!
//! A head is one cache line, so an 8-byte message fills two.

use rmpi_core::frame::{HeaderError, HEADER_LEN};
use rmpi_core::Header;

/// Size of an encoded record head.
pub(crate) const HEAD_LEN: usize = 64;

const INLINE: u64 = 1;
const LENT: u64 = 2;
const RELEASED: u64 = 3;
const ABANDONED: u64 = 4;

/// One record's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// A frame whose `header.len` payload bytes follow in the ring.
    Inline(Header),
    /// A frame whose payload stays at `address` in the sender until released.
    Lent {
        /// The frame's header; `len` is the payload's length.
        header: Header,
        /// Where the payload starts in the sender's address space.
        address: u64,
    },
    /// The receiver has copied the lent payload at `address` and no longer needs it.
    Released {
        /// The address from the [`Record::Lent`] being released.
        address: u64,
        /// Its length.
        len: u64,
    },
    /// The sender's endpoint went away without shutting down (its rank failed): it will
    /// send nothing more, and the receiver reports it lost at once.
    Abandoned,
}

/// Why bytes could not be read as a record head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    #[error("unknown record kind {0}")]
    UnknownKind(u64),
    #[error("reserved record bytes are not zero")]
    Reserved,
    #[error(transparent)]
    Header(#[from] HeaderError),
}

impl Record {
    /// The head in its fixed little-endian layout.
    pub(crate) fn encode(&self) -> [u8; HEAD_LEN] {
        let mut out = [0u8; HEAD_LEN];
        let (kind, header, address, len) = match *self {
            Record::Inline(header) => (INLINE, Some(header), 0, 0),
            Record::Lent { header, address } => (LENT, Some(header), address, 0),
            Record::Released { address, len } => (RELEASED, None, address, len),
            Record::Abandoned => (ABANDONED, None, 0, 0),
        };
        out[..8].copy_from_slice(&kind.to_le_bytes());
        if let Some(header) = header {
            out[8..8 + HEADER_LEN].copy_from_slice(&header.encode());
        }
        out[48..56].copy_from_slice(&address.to_le_bytes());
        out[56..64].copy_from_slice(&len.to_le_bytes());
        out
    }

    /// Reads a head, rejecting unknown kinds, non-zero reserved bytes and any header that
    /// [`Header::decode`] rejects (so a lying length never reaches an allocation).
    pub(crate) fn decode(bytes: &[u8; HEAD_LEN], max_len: u64) -> Result<Record, RecordError> {
        let word = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(word)
        };
        let (kind, address, len) = (word(0), word(48), word(56));
        let body = &bytes[8..8 + HEADER_LEN];
        match kind {
            INLINE if address == 0 && len == 0 => {
                Ok(Record::Inline(Header::decode(body, max_len)?))
            }
            LENT if len == 0 => Ok(Record::Lent {
                header: Header::decode(body, max_len)?,
                address,
            }),
            RELEASED if body.iter().all(|&b| b == 0) => Ok(Record::Released { address, len }),
            ABANDONED if address == 0 && len == 0 && body.iter().all(|&b| b == 0) => {
                Ok(Record::Abandoned)
            }
            INLINE | LENT | RELEASED | ABANDONED => Err(RecordError::Reserved),
            other => Err(RecordError::UnknownKind(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpi_core::FrameKind;

    fn header(len: u64) -> Header {
        Header {
            kind: FrameKind::Data,
            context: 7,
            source: 3,
            tag: 11,
            sync_id: 0,
            len,
        }
    }

    #[test]
    fn records_round_trip() {
        for record in [
            Record::Inline(header(5)),
            Record::Lent {
                header: header(1 << 20),
                address: 0x7f00_dead_b000,
            },
            Record::Released {
                address: 0x7f00_dead_b000,
                len: 1 << 20,
            },
            Record::Abandoned,
        ] {
            assert_eq!(Record::decode(&record.encode(), u64::MAX), Ok(record));
        }
    }

    #[test]
    fn garbage_is_rejected() {
        let mut bytes = Record::Inline(header(5)).encode();
        bytes[0] = 9;
        assert_eq!(
            Record::decode(&bytes, u64::MAX),
            Err(RecordError::UnknownKind(9))
        );
        let mut bytes = Record::Inline(header(5)).encode();
        bytes[50] = 1;
        assert_eq!(Record::decode(&bytes, u64::MAX), Err(RecordError::Reserved));
        let bytes = Record::Lent {
            header: header(1 << 30),
            address: 1,
        }
        .encode();
        assert!(matches!(
            Record::decode(&bytes, 1 << 20),
            Err(RecordError::Header(HeaderError::TooLong { .. }))
        ));
        let mut bytes = Record::Released { address: 1, len: 1 }.encode();
        bytes[9] = 1;
        assert_eq!(Record::decode(&bytes, u64::MAX), Err(RecordError::Reserved));
    }
}
