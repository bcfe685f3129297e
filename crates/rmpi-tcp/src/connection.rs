//! Reading from one established connection (writing is [`crate::outbox`]'s).
//!
//! On the wire each frame is its [`Header`] ([`HEADER_LEN`] bytes) followed by the payload.
//! A clean shutdown ends with a [`FrameKind::Goodbye`] frame, so a stream that simply ends
//! means the peer died: the end becomes [`Event::PeerFinished`] or [`Event::PeerLost`].
//!
//! The [`Decoder`] does no I/O: it says where the next bytes go and turns what arrived into
//! frames. [`Incoming`] reads the socket into it whenever the socket has bytes, from either
//! of two places: the connection's reader task, woken when the socket becomes readable, and
//! the rank's own wait ([`Incoming::read_now`]), which takes a message the moment the
//! runtime has seen it arrive instead of waiting for the reader task's turn. Both read under
//! one lock and deliver into one channel, so frames keep their order.
//!
//! Headers are validated before any payload is read, and a payload reserves at most 16 MiB
//! before its bytes arrive, so a corrupt length cannot cause a giant allocation.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use bytes::buf::{BufMut, Limit};
use rmpi_core::frame::HEADER_LEN;
use rmpi_core::lock::unpoisoned as lock;
use rmpi_core::pool;
use rmpi_core::{Event, Frame, FrameKind, Header};
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::mpsc::UnboundedSender;

/// Read buffering: small frames that arrived together are taken in one system call.
const BUFFER: usize = 64 * 1024;
/// How much more payload memory is reserved at a time, past [`POOLED_UP_TO`], before that
/// much has arrived.
const CHUNK: usize = 1 << 20;
/// The largest payload read into memory reserved (from the pool) before it arrives: the most
/// a corrupt length can reserve at once.
pub(crate) const POOLED_UP_TO: usize = 16 << 20;

/// What the decoder found in the bytes that arrived.
pub(crate) enum Decoded {
    Frame(Frame),
    Goodbye,
}

/// Where the next bytes read from a stream go.
pub(crate) enum Room<'a> {
    /// The read buffer's free part.
    Buffer(&'a mut [u8]),
    /// The rest of a large payload, read straight into it.
    Payload(Limit<&'a mut Vec<u8>>),
}

impl Room<'_> {
    /// Copies as much of `bytes` in as fits; returns how much (a read from memory).
    pub(crate) fn fill(self, bytes: &[u8]) -> usize {
        match self {
            Room::Buffer(buffer) => {
                let n = buffer.len().min(bytes.len());
                buffer[..n].copy_from_slice(&bytes[..n]);
                n
            }
            Room::Payload(mut payload) => {
                let n = payload.remaining_mut().min(bytes.len());
                payload.put_slice(&bytes[..n]);
                n
            }
        }
    }
}

/// Turns a connection's bytes into frames, without doing any I/O itself.
pub(crate) struct Decoder {
    /// Bytes read but not yet decoded: `buffer[start..end]`.
    buffer: Box<[u8]>,
    start: usize,
    end: usize,
    /// The frame whose payload is arriving, and the payload so far.
    header: Option<Header>,
    payload: Vec<u8>,
    max_message: u64,
}

impl Decoder {
    /// A decoder that refuses payloads longer than `max_message`.
    pub(crate) fn new(max_message: u64) -> Decoder {
        Decoder {
            buffer: vec![0; BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            header: None,
            payload: Vec::new(),
            max_message,
        }
    }

    /// How many payload bytes of the arriving frame are still to come.
    fn missing(&self) -> usize {
        self.header
            .as_ref()
            .map_or(0, |h| h.len as usize - self.payload.len())
    }

    /// Reads once with `read`, into the room the decoder has for the next bytes (a large
    /// payload's rest straight into the payload, anything else into the read buffer);
    /// returns what `read` returns.
    pub(crate) fn read_with(
        &mut self,
        read: impl FnOnce(Room<'_>) -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        let missing = self.missing();
        if self.start == self.end && missing >= BUFFER {
            if self.payload.len() == self.payload.capacity() {
                self.payload.reserve(CHUNK.min(missing));
            }
            return read(Room::Payload((&mut self.payload).limit(missing)));
        }
        // What is left undecoded is at most a partial header: move it to the front.
        self.buffer.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        let read = read(Room::Buffer(&mut self.buffer[self.end..]))?;
        self.end += read;
        Ok(read)
    }

    /// The next frame, or the goodbye, from the bytes that arrived; `Ok(None)` until one is
    /// complete, `Err` with the reason if a header is malformed.
    pub(crate) fn next(&mut self) -> Result<Option<Decoded>, String> {
        if self.header.is_none() {
            let arrived = &self.buffer[self.start..self.end];
            let Some(bytes) = arrived.first_chunk::<HEADER_LEN>() else {
                return Ok(None);
            };
            let header = Header::decode(bytes, self.max_message).map_err(|e| e.to_string())?;
            self.start += HEADER_LEN;
            if header.kind == FrameKind::Goodbye {
                return Ok(Some(Decoded::Goodbye));
            }
            let len = header.len as usize;
            self.payload = match len <= POOLED_UP_TO {
                true => pool::vec_with_capacity(len),
                false => Vec::with_capacity(CHUNK),
            };
            self.header = Some(header);
        }
        let missing = self.missing();
        let arrived = &self.buffer[self.start..self.end];
        let take = missing.min(arrived.len());
        self.payload.extend_from_slice(&arrived[..take]);
        self.start += take;
        if take < missing {
            return Ok(None);
        }
        let header = self.header.take().expect("a frame is arriving");
        let payload = pool::into_bytes(std::mem::take(&mut self.payload));
        Ok(Some(Decoded::Frame(Frame { header, payload })))
    }

    /// Whether a large payload is arriving, read straight into its memory.
    fn streaming(&self) -> bool {
        self.missing() >= BUFFER
    }

    /// Why a stream that ended now ended badly, if it did: inside a frame.
    fn ended_inside(&self) -> Option<&'static str> {
        match (&self.header, self.start == self.end) {
            (Some(_), _) => Some("stream ended inside a frame's payload"),
            (None, false) => Some("stream ended inside a frame header"),
            (None, true) => None,
        }
    }
}

/// Whether a connection still has frames to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// Everything that has arrived is delivered; more may come.
    Open,
    /// The stream has ended and its end is reported (or nobody listens any more).
    Ended,
}

/// Reads what `read` gives into `decoder` and delivers each frame, and the stream's end,
/// as `peer`'s events, until `read` would block or the stream ends.
pub(crate) fn pump(
    peer: usize,
    decoder: &mut Decoder,
    events: &UnboundedSender<Event>,
    mut read: impl FnMut(Room<'_>) -> std::io::Result<usize>,
) -> Reading {
    let end = loop {
        match decoder.next() {
            Ok(Some(Decoded::Frame(frame))) => {
                if events.send(Event::Frame { from: peer, frame }).is_err() {
                    return Reading::Ended;
                }
                continue;
            }
            Ok(Some(Decoded::Goodbye)) => break Event::PeerFinished { rank: peer },
            Ok(None) => {}
            Err(reason) => {
                tracing::error!(
                    "malformed frame from rank {peer}: {reason}; dropping the connection"
                );
                break Event::PeerMalformed { rank: peer, reason };
            }
        }
        match decoder.read_with(&mut read) {
            Ok(0) => {
                match decoder.ended_inside() {
                    None => {
                        tracing::warn!("rank {peer} closed its connection without saying goodbye")
                    }
                    Some(reason) => tracing::warn!("connection to rank {peer} broke: {reason}"),
                }
                break Event::PeerLost { rank: peer };
            }
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return Reading::Open,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => {
                tracing::warn!("connection to rank {peer} broke: {error}");
                break Event::PeerLost { rank: peer };
            }
        }
    };
    let _ = events.send(end);
    Reading::Ended
}

/// One connection's receiving side, read by its reader task and by the rank's waits.
pub(crate) struct Incoming {
    peer: usize,
    stream: OwnedReadHalf,
    events: UnboundedSender<Event>,
    state: Mutex<(Decoder, Reading)>,
    /// A large payload is arriving ([`Incoming::is_streaming`]).
    streaming: AtomicBool,
}

impl Incoming {
    /// The receiving side of the connection to `peer`, delivering into `events`.
    pub(crate) fn new(
        peer: usize,
        stream: OwnedReadHalf,
        events: UnboundedSender<Event>,
        max_message: u64,
    ) -> Incoming {
        Incoming {
            peer,
            stream,
            events,
            state: Mutex::new((Decoder::new(max_message), Reading::Open)),
            streaming: AtomicBool::new(false),
        }
    }

    /// Whether a large payload is arriving: a wait gains nothing by spinning on it (its
    /// bytes come in as fast as the runtime's reads take them), and spinning reads would
    /// take them in smaller pieces.
    pub(crate) fn is_streaming(&self) -> bool {
        self.streaming.load(Ordering::Relaxed)
    }

    /// Delivers what has arrived, if the runtime has seen the socket readable and no one
    /// else is reading it right now; costs no system call otherwise. With `ask`, asks the
    /// kernel even if the runtime has not looked at the socket since it was last drained:
    /// a wait that keeps its thread busy sees a message the moment it lands.
    pub(crate) fn read_now(&self, ask: bool) {
        if let Ok(mut state) = self.state.try_lock() {
            self.read(&mut state, ask);
        }
    }

    fn read(&self, state: &mut (Decoder, Reading), ask: bool) -> Reading {
        let (decoder, reading) = state;
        if *reading == Reading::Open {
            let socket: &tokio::net::TcpStream = self.stream.as_ref();
            let mut drained = false;
            *reading = pump(self.peer, decoder, &self.events, |room| {
                if drained {
                    return Err(std::io::ErrorKind::WouldBlock.into());
                }
                let (asked, read) = match room {
                    Room::Buffer(buffer) if ask => {
                        (buffer.len(), (&*SockRef::from(socket)).read(buffer)?)
                    }
                    Room::Buffer(buffer) => (buffer.len(), self.stream.try_read(buffer)?),
                    Room::Payload(mut payload) => (
                        payload.chunk_mut().len(),
                        self.stream.try_read_buf(&mut payload)?,
                    ),
                };
                if read > 0 && read < asked {
                    // A short read took all there was: read no more now, and say so to the
                    // runtime, as its own reads do, so that the reader task waits for the
                    // socket to be readable again instead of asking the kernel for nothing.
                    drained = true;
                    let _ = socket.try_io(Interest::READABLE, || {
                        Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
                    });
                }
                Ok(read)
            });
            self.streaming.store(decoder.streaming(), Ordering::Relaxed);
        }
        *reading
    }
}

/// The connection's reader task: delivers frames as the socket becomes readable, until the
/// stream ends.
pub(crate) async fn read_frames(incoming: std::sync::Arc<Incoming>) {
    loop {
        if let Err(error) = incoming.stream.readable().await {
            tracing::warn!("connection to rank {} broke: {error}", incoming.peer);
            let mut state = lock(&incoming.state);
            if state.1 == Reading::Open {
                state.1 = Reading::Ended;
                let _ = incoming.events.send(Event::PeerLost {
                    rank: incoming.peer,
                });
            }
            return;
        }
        if incoming.read(&mut lock(&incoming.state), false) == Reading::Ended {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: i32, len: usize) -> (Header, Vec<u8>) {
        let header = Header {
            kind: FrameKind::Data,
            context: 1,
            source: 2,
            tag,
            sync_id: 0,
            len: len as u64,
        };
        (header, (0..len).map(|i| (i * 7 + len) as u8).collect())
    }

    /// Feeds `stream` to a decoder in pieces of the given sizes (cycling), and returns the
    /// events it delivered.
    fn decode(stream: &[u8], pieces: &[usize]) -> Vec<Event> {
        let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
        let mut decoder = Decoder::new(1 << 30);
        let mut rest = stream;
        let mut turn = 0;
        let mut reading = Reading::Open;
        // A piece of zero stands for a read that would block: the pump returns, and is
        // called again, as the reader task or a wait would.
        while reading == Reading::Open {
            reading = pump(3, &mut decoder, &events, |room| {
                let piece = pieces[turn % pieces.len()];
                turn += 1;
                if piece == 0 {
                    return Err(std::io::ErrorKind::WouldBlock.into());
                }
                let n = room.fill(&rest[..piece.min(rest.len())]);
                rest = &rest[n..];
                Ok(n)
            });
        }
        std::iter::from_fn(|| received.try_recv().ok()).collect()
    }

    #[test]
    fn frames_come_out_whole_however_the_stream_is_cut() {
        let frames: Vec<_> = [0, 8, 40, 70_000, 3, 1 << 20, 0]
            .iter()
            .enumerate()
            .map(|(i, &len)| frame(i as i32, len))
            .collect();
        let mut stream = Vec::new();
        for (header, payload) in &frames {
            stream.extend_from_slice(&header.encode());
            stream.extend_from_slice(payload);
        }
        stream.extend_from_slice(&Header::goodbye().encode());
        for pieces in [
            &[usize::MAX][..],
            &[1],
            &[7, 0, 13],
            &[39, 41, 0],
            &[65_536, 5],
        ] {
            let events = decode(&stream, pieces);
            assert_eq!(events.len(), frames.len() + 1, "cut into {pieces:?}");
            for (event, (header, payload)) in events.iter().zip(&frames) {
                let Event::Frame { from: 3, frame } = event else {
                    panic!("expected a frame, got {event:?}");
                };
                assert_eq!(&frame.header, header);
                assert_eq!(&frame.payload[..], &payload[..]);
            }
            assert!(matches!(
                events.last(),
                Some(Event::PeerFinished { rank: 3 })
            ));
        }
    }

    #[test]
    fn a_stream_that_stops_inside_a_frame_loses_the_peer() {
        let (header, payload) = frame(5, 100);
        let mut stream = header.encode().to_vec();
        stream.extend_from_slice(&payload);
        // Cut inside the header, inside the payload, and between frames (no goodbye).
        for cut in [10, HEADER_LEN + 50, stream.len()] {
            let events = decode(&stream[..cut], &[usize::MAX]);
            assert!(matches!(events.last(), Some(Event::PeerLost { rank: 3 })));
            assert_eq!(events.len(), 1 + usize::from(cut == stream.len()));
        }
    }

    #[test]
    fn a_malformed_header_is_reported_and_ends_the_stream() {
        let mut bad = frame(1, 4).0.encode();
        bad[0] = 0xEE; // no such frame kind
        let events = decode(&bad, &[usize::MAX]);
        assert!(matches!(events[..], [Event::PeerMalformed { rank: 3, .. }]));
    }
}
