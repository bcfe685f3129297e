//! What the rings carry: records, each a word, a fixed part, and sometimes payload bytes.
//!
//! A frame's payload travels one of two ways. Small payloads are copied into the ring after
//! the frame's header ([`Record::Frame`]), in several records if the payload is larger than
//! one chunk ([`Record::More`]). Large ones stay in the sender's memory and the record says
//! where ([`Record::Lent`]); the receiver copies them straight out of the sender's address
//! space (see [`single_copy`](crate::single_copy)) and answers with [`Record::Released`] on
//! its own ring, after which the sender may free them. A payload for several receivers
//! may sit in the sender's fan-out area instead ([`Record::Fanned`], see
//! [`fanout`](crate::fanout)).
//!
//! The word (see [`ring`](crate::ring)) is a little-endian `u64`:
//!
//! | bits   | field                                                     |
//! |--------|-----------------------------------------------------------|
//! | 0..8   | kind: 1 frame, 2 more, 3 lent, 4 released, 5 abandoned,   |
//! |        | 6 fanned                                                  |
//! | 8..32  | lent: its loan slot plus one, 0 for none (see             |
//! |        | [`loan_slot`](crate::loan_slot)); others: reserved, zero  |
//! | 32..64 | payload bytes after the fixed part (frame and more only)  |
//!
//! The fixed part follows the word: a frame's [`Header`] (40 bytes); for lent, the header and
//! the payload's address (48); for fanned, the header and the block's offset in the
//! sender's fan-out area (48); for released, the address and length (16); nothing for more
//! and abandoned. Payload bytes follow the fixed part if they fit in the first line with it
//! (so a message of up to 16 bytes is one line), and start on the second line otherwise (so
//! one of up to 64 bytes is two). Such small frames are written and read whole, by paths of
//! their own: every small message takes them.

use rmpi_core::frame::{HeaderError, HEADER_LEN};
use rmpi_core::{FrameKind, Header};

use crate::loan_slot;
use crate::ring::{LINE, WORD};

/// The longest fixed part, which a reader may always copy out of a record's first line.
pub(crate) const FIXED_MAX: usize = HEADER_LEN + 8;

/// The body bytes of a record's first line (all of it but the word).
pub(crate) const LINE_BODY: usize = LINE - WORD;

/// The longest payload a frame record carries in its first line, after the header: a
/// frame this small is one line, written and read whole.
pub(crate) const LINE_PAYLOAD: usize = LINE_BODY - HEADER_LEN;

/// The longest payload of a small frame: one record of at most two lines, its payload after
/// the header in the first line or filling the second, written and read whole.
pub(crate) const SMALL_PAYLOAD: usize = LINE;

/// The body of a small frame's record of two lines.
pub(crate) const TWO_LINES_BODY: usize = LINE_BODY + LINE;

const FRAME: u64 = 1;
const MORE: u64 = 2;
const LENT: u64 = 3;
const RELEASED: u64 = 4;
const ABANDONED: u64 = 5;
const FANNED: u64 = 6;

/// One record, without its payload bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// A frame, followed by the first `chunk` of its `header.len` payload bytes; the rest
    /// follow in [`Record::More`] records, before any other record.
    Frame {
        /// The frame's header.
        header: Header,
        /// Payload bytes in this record.
        chunk: usize,
    },
    /// The next `chunk` payload bytes of the frame being received.
    More {
        /// Payload bytes in this record.
        chunk: usize,
    },
    /// A frame whose payload stays at `address` in the sender until released.
    Lent {
        /// The frame's header; `len` is the payload's length.
        header: Header,
        /// Where the payload starts in the sender's address space.
        address: u64,
        /// The sender's loan slot through which it may move the payload before it is read
        /// (a region of its caller's memory), or none (a payload it keeps as it is).
        slot: Option<u16>,
    },
    /// The receiver has copied the lent payload at `address` and no longer needs it.
    Released {
        /// The address from the [`Record::Lent`] being released.
        address: u64,
        /// Its length.
        len: u64,
    },
    /// A frame whose payload is in the block at `offset` of the sender's fan-out area,
    /// for this receiver and others.
    Fanned {
        /// The frame's header; `len` is the payload's length.
        header: Header,
        /// Where the block starts in the area.
        offset: u64,
    },
    /// The sender's endpoint went away without shutting down (its rank failed): it will
    /// send nothing more, and the receiver reports it lost at once.
    Abandoned,
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    #[error("unknown record kind {0}")]
    UnknownKind(u64),
    #[error("reserved record bits are not zero")]
    Reserved,
    #[error("a lent record names loan slot {0}, which does not exist")]
    NoSuchSlot(u64),
    #[error("a record claims {chunk} payload bytes, more than {limit}")]
    TooLong { chunk: usize, limit: usize },
    #[error(transparent)]
    Header(#[from] HeaderError),
}

/// A record's word: its kind and the payload bytes in it.
fn word(kind: u64, chunk: usize) -> u64 {
    kind | (chunk as u64) << 32
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

impl Record {
    /// The record's word and fixed part (the first [`Record::fixed_len`] bytes of the
    /// array).
    pub(crate) fn encode(&self) -> (u64, [u8; FIXED_MAX]) {
        let mut fixed = [0u8; FIXED_MAX];
        let (kind, chunk) = match *self {
            Record::Frame { header, chunk } => {
                fixed[..HEADER_LEN].copy_from_slice(&header.encode());
                (FRAME, chunk)
            }
            Record::More { chunk } => (MORE, chunk),
            Record::Lent {
                header,
                address,
                slot,
            } => {
                fixed[..HEADER_LEN].copy_from_slice(&header.encode());
                fixed[HEADER_LEN..].copy_from_slice(&address.to_le_bytes());
                let slot = slot.map_or(0, |slot| u64::from(slot) + 1);
                return (LENT | slot << 8, fixed);
            }
            Record::Fanned { header, offset } => {
                fixed[..HEADER_LEN].copy_from_slice(&header.encode());
                fixed[HEADER_LEN..].copy_from_slice(&offset.to_le_bytes());
                (FANNED, 0)
            }
            Record::Released { address, len } => {
                fixed[..8].copy_from_slice(&address.to_le_bytes());
                fixed[8..16].copy_from_slice(&len.to_le_bytes());
                (RELEASED, 0)
            }
            Record::Abandoned => (ABANDONED, 0),
        };
        (word(kind, chunk), fixed)
    }

    /// The word and first line of a frame record for a payload of at most
    /// [`LINE_PAYLOAD`] bytes, which is then all of the record; `None` for a longer one.
    /// `header.len` must be the payload's length.
    pub(crate) fn encode_line(header: &Header, payload: &[u8]) -> Option<(u64, [u8; LINE_BODY])> {
        Self::encode_small(header, payload, 0..=LINE_PAYLOAD)
    }

    /// The word and two lines of a frame record for a payload longer than
    /// [`LINE_PAYLOAD`] and at most [`SMALL_PAYLOAD`] bytes, which is then all of the
    /// record, on its second line; `None` for any other length.
    pub(crate) fn encode_two_lines(
        header: &Header,
        payload: &[u8],
    ) -> Option<(u64, [u8; TWO_LINES_BODY])> {
        Self::encode_small(header, payload, LINE_PAYLOAD + 1..=SMALL_PAYLOAD)
    }

    /// A small frame's word and `N` body bytes (whole lines), as `encode` lays out a
    /// `Frame` of this chunk, if the payload's length is in `lengths`.
    #[inline(always)]
    fn encode_small<const N: usize>(
        header: &Header,
        payload: &[u8],
        lengths: std::ops::RangeInclusive<usize>,
    ) -> Option<(u64, [u8; N])> {
        if !lengths.contains(&payload.len()) {
            return None;
        }
        debug_assert_eq!(header.len, payload.len() as u64);
        let at = Self::small_payload_at(payload.len());
        let mut lines = [0u8; N];
        lines[..HEADER_LEN].copy_from_slice(&header.encode());
        lines[at..at + payload.len()].copy_from_slice(payload);
        Some((word(FRAME, payload.len()), lines))
    }

    /// Where a small frame's payload of `chunk` bytes starts in its body: as
    /// [`Record::payload_at`] says of its record.
    pub(crate) fn small_payload_at(chunk: usize) -> usize {
        if chunk <= LINE_PAYLOAD {
            HEADER_LEN
        } else {
            LINE_BODY
        }
    }

    /// The header and payload length of a small frame (a frame record of at most
    /// [`SMALL_PAYLOAD`] bytes that is all of its frame, as [`Record::encode_line`] and
    /// [`Record::encode_two_lines`] write every small message), from its word and first line:
    /// [`Record::decode`] for the usual record, with its checks, without building a
    /// record. `None` for any other record, and for one that fails a check, which
    /// [`Record::decode`] then names.
    #[inline]
    pub(crate) fn decode_line(
        word: u64,
        line: &[u8; LINE_BODY],
        max_len: u64,
    ) -> Option<(Header, usize)> {
        let chunk = Self::small_chunk(word)?;
        let header = Header::decode(&line[..HEADER_LEN], max_len).ok()?;
        let whole = header.len == chunk as u64 && header.kind != FrameKind::Goodbye;
        whole.then_some((header, chunk))
    }

    /// The payload bytes of a frame record whose word says it is small (at most
    /// [`SMALL_PAYLOAD`]), from that word alone: whether [`Record::decode_line`] may read
    /// the record, known before its first line is copied out.
    #[inline]
    pub(crate) fn small_chunk(word: u64) -> Option<usize> {
        // The kind, and reserved bits that must be zero.
        if word & 0xffff_ffff != FRAME {
            return None;
        }
        let chunk = (word >> 32) as usize;
        (chunk <= SMALL_PAYLOAD).then_some(chunk)
    }

    /// Bytes of the fixed part.
    pub(crate) fn fixed_len(&self) -> usize {
        match self {
            Record::Frame { .. } => HEADER_LEN,
            Record::More { .. } | Record::Abandoned => 0,
            Record::Lent { .. } | Record::Fanned { .. } => FIXED_MAX,
            Record::Released { .. } => 16,
        }
    }

    /// Payload bytes in the record.
    pub(crate) fn chunk(&self) -> usize {
        match self {
            Record::Frame { chunk, .. } | Record::More { chunk } => *chunk,
            _ => 0,
        }
    }

    /// Where the payload bytes start in the body: right after the fixed part if they fit in
    /// the first line with it (a small message is one line), else on the next line, so
    /// long copies run between line-aligned addresses (a copy whose loads or stores
    /// straddle lines runs at half speed).
    pub(crate) fn payload_at(&self) -> usize {
        let fixed = self.fixed_len();
        if WORD + fixed + self.chunk() <= LINE {
            fixed
        } else {
            LINE - WORD
        }
    }

    /// Bytes of the body: the fixed part, perhaps padding, and the payload bytes.
    pub(crate) fn body_len(&self) -> usize {
        match self.chunk() {
            0 => self.fixed_len(),
            chunk => self.payload_at() + chunk,
        }
    }

    /// Reads a record from its word and the first [`FIXED_MAX`] bytes of its body,
    /// rejecting unknown kinds, non-zero reserved bits, bodies longer than `max_body` and any
    /// header that [`Header::decode`] rejects (so a lying length never reaches an
    /// allocation).
    #[inline]
    pub(crate) fn decode(
        word: u64,
        fixed: &[u8; FIXED_MAX],
        max_len: u64,
        max_body: usize,
    ) -> Result<Record, RecordError> {
        let (kind, chunk) = (word & 0xff, (word >> 32) as usize);
        let low = (word >> 8) & 0xff_ffff;
        if low != 0 && kind != LENT {
            return Err(RecordError::Reserved);
        }
        let record = match kind {
            FRAME => {
                let header = Header::decode(fixed, max_len)?;
                if chunk as u64 > header.len {
                    return Err(RecordError::TooLong {
                        chunk,
                        limit: header.len as usize,
                    });
                }
                Record::Frame { header, chunk }
            }
            MORE => Record::More { chunk },
            LENT | RELEASED | ABANDONED | FANNED if chunk != 0 => {
                return Err(RecordError::Reserved)
            }
            LENT => Record::Lent {
                header: Header::decode(fixed, max_len)?,
                address: u64_at(fixed, HEADER_LEN),
                slot: match low {
                    0 => None,
                    slot if slot as usize <= loan_slot::SLOTS => Some(slot as u16 - 1),
                    slot => return Err(RecordError::NoSuchSlot(slot - 1)),
                },
            },
            RELEASED => Record::Released {
                address: u64_at(fixed, 0),
                len: u64_at(fixed, 8),
            },
            ABANDONED => Record::Abandoned,
            FANNED => Record::Fanned {
                header: Header::decode(fixed, max_len)?,
                offset: u64_at(fixed, HEADER_LEN),
            },
            other => return Err(RecordError::UnknownKind(other)),
        };
        if record.body_len() > max_body {
            return Err(RecordError::TooLong {
                chunk,
                limit: max_body - record.fixed_len(),
            });
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::record_size;

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

    fn round_trip(record: Record) -> Result<Record, RecordError> {
        let (word, fixed) = record.encode();
        Record::decode(word, &fixed, u64::MAX, 1 << 20)
    }

    #[test]
    fn records_round_trip() {
        for record in [
            Record::Frame {
                header: header(5),
                chunk: 5,
            },
            Record::Frame {
                header: header(1 << 30),
                chunk: 4096,
            },
            Record::More { chunk: 4096 },
            Record::Lent {
                header: header(1 << 20),
                address: 0x7f00_dead_b000,
                slot: None,
            },
            Record::Lent {
                header: header(1 << 20),
                address: 0x7f00_dead_b000,
                slot: Some(0),
            },
            Record::Lent {
                header: header(1 << 20),
                address: 0x7f00_dead_b000,
                slot: Some(loan_slot::SLOTS as u16 - 1),
            },
            Record::Released {
                address: 0x7f00_dead_b000,
                len: 1 << 20,
            },
            Record::Abandoned,
            Record::Fanned {
                header: header(64 << 10),
                offset: 4096,
            },
        ] {
            assert_eq!(round_trip(record), Ok(record));
        }
    }

    #[test]
    fn a_small_frame_reads_as_the_frame_record_it_is() {
        for len in [
            0usize,
            1,
            8,
            LINE_PAYLOAD,
            LINE_PAYLOAD + 1,
            40,
            SMALL_PAYLOAD,
        ] {
            let payload: Vec<u8> = (1..=len as u8).collect();
            let body: Vec<u8> = match Record::encode_line(&header(len as u64), &payload) {
                Some((word, line)) => {
                    assert!(len <= LINE_PAYLOAD);
                    [&word.to_le_bytes()[..], &line].concat()
                }
                None => {
                    let (word, lines) =
                        Record::encode_two_lines(&header(len as u64), &payload).unwrap();
                    [&word.to_le_bytes()[..], &lines].concat()
                }
            };
            let word = u64::from_le_bytes(body[..WORD].try_into().unwrap());
            let body = &body[WORD..];
            let fixed: &[u8; FIXED_MAX] = body[..FIXED_MAX].try_into().unwrap();
            let record = Record::decode(word, fixed, u64::MAX, 1 << 20).unwrap();
            assert_eq!(
                record,
                Record::Frame {
                    header: header(len as u64),
                    chunk: len
                }
            );
            // Laid out as the general path writes and reads a frame of this chunk.
            let at = record.payload_at();
            assert_eq!(at, Record::small_payload_at(len));
            assert_eq!(&body[at..at + len], &payload[..]);
            assert_eq!(WORD + body.len(), record_size(record.body_len()));
            let line: &[u8; LINE_BODY] = body[..LINE_BODY].try_into().unwrap();
            assert_eq!(
                Record::decode_line(word, line, u64::MAX),
                Some((header(len as u64), len))
            );
        }
        let too_long = vec![0; SMALL_PAYLOAD + 1];
        assert_eq!(
            Record::encode_line(&header(too_long.len() as u64), &too_long),
            None
        );
        assert_eq!(
            Record::encode_two_lines(&header(too_long.len() as u64), &too_long),
            None
        );
        assert_eq!(Record::encode_two_lines(&header(8), &[7; 8]), None);
    }

    #[test]
    fn only_a_sound_whole_frame_line_is_read_by_the_short_way() {
        let (word, line) = Record::encode_line(&header(8), &[7; 8]).unwrap();
        assert!(Record::decode_line(word, &line, u64::MAX).is_some());
        // Reserved bits, another kind, a chunk longer than the line.
        assert_eq!(Record::decode_line(word | 1 << 12, &line, u64::MAX), None);
        assert_eq!(
            Record::decode_line(word & !0xff | MORE, &line, u64::MAX),
            None
        );
        let long = word & 0xffff_ffff | ((SMALL_PAYLOAD as u64 + 1) << 32);
        assert_eq!(Record::decode_line(long, &line, u64::MAX), None);
        // A header that fails its checks, or says the payload goes on past the line.
        assert_eq!(Record::decode_line(word, &line, 4), None);
        let mut bad = line;
        bad[1] = 1;
        assert_eq!(Record::decode_line(word, &bad, u64::MAX), None);
        let (first, _) = Record::Frame {
            header: header(100),
            chunk: 8,
        }
        .encode();
        let mut longer = line;
        longer[..HEADER_LEN].copy_from_slice(&header(100).encode());
        assert_eq!(Record::decode_line(first, &longer, u64::MAX), None);
        // A goodbye takes the general path, which ends the peer's traffic.
        let goodbye = Header {
            kind: FrameKind::Goodbye,
            len: 0,
            ..header(0)
        };
        let (word, line) = Record::encode_line(&goodbye, &[]).unwrap();
        assert_eq!(Record::decode_line(word, &line, u64::MAX), None);
    }

    #[test]
    fn garbage_is_rejected() {
        let frame = Record::Frame {
            header: header(5),
            chunk: 5,
        };
        let (word, fixed) = frame.encode();
        assert_eq!(
            Record::decode(word & !0xff | 9, &fixed, u64::MAX, 1 << 20),
            Err(RecordError::UnknownKind(9))
        );
        assert_eq!(
            Record::decode(word | 1 << 12, &fixed, u64::MAX, 1 << 20),
            Err(RecordError::Reserved)
        );
        assert!(matches!(
            Record::decode(word, &fixed, 4, 1 << 20),
            Err(RecordError::Header(HeaderError::TooLong { .. }))
        ));
        // More payload in the record than the frame has.
        let (word, fixed) = Record::Frame {
            header: header(5),
            chunk: 6,
        }
        .encode();
        assert!(matches!(
            Record::decode(word, &fixed, u64::MAX, 1 << 20),
            Err(RecordError::TooLong { .. })
        ));
        // More than the ring could hold.
        let (word, fixed) = Record::More { chunk: 1 << 21 }.encode();
        assert!(matches!(
            Record::decode(word, &fixed, u64::MAX, 1 << 20),
            Err(RecordError::TooLong { .. })
        ));
        let (word, fixed) = Record::Abandoned.encode();
        assert_eq!(
            Record::decode(word | 1 << 32, &fixed, u64::MAX, 1 << 20),
            Err(RecordError::Reserved)
        );
        // A lent record naming a loan slot past the table.
        let (word, fixed) = Record::Lent {
            header: header(1 << 20),
            address: 0x1000,
            slot: None,
        }
        .encode();
        let past = loan_slot::SLOTS as u64;
        assert_eq!(
            Record::decode(word | (past + 1) << 8, &fixed, u64::MAX, 1 << 20),
            Err(RecordError::NoSuchSlot(past))
        );
    }
}
