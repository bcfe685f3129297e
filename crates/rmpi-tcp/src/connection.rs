//! Reading from one established connection: a task that reads frames and turns the end of
//! the stream into [`Event::PeerFinished`] or [`Event::PeerLost`] (writing is
//! [`crate::outbox`]'s).
//!
//! On the wire each frame is its [`Header`] ([`HEADER_LEN`] bytes) followed by the payload.
//! A clean shutdown ends with a [`FrameKind::Goodbye`] frame, so a stream that simply ends
//! means the peer died. Headers are validated before any payload is read, and a payload
//! reserves at most 16 MiB before its bytes arrive, so a corrupt length cannot cause a giant
//! allocation.

use bytes::Bytes;
use rmpi_core::frame::HEADER_LEN;
use rmpi_core::pool;
use rmpi_core::{Event, Frame, FrameKind, Header};
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::mpsc::UnboundedSender;

/// Read buffering: small frames that arrived together are taken in one system call.
const BUFFER: usize = 64 * 1024;
/// How much more payload memory is reserved at a time, past [`POOLED_UP_TO`], before that
/// much has arrived.
const CHUNK: usize = 1 << 20;
/// The largest payload read into memory reserved (from the pool) before it arrives: the most
/// a corrupt length can reserve at once.
pub(crate) const POOLED_UP_TO: usize = 16 << 20;

/// Why reading from a peer stopped.
enum End {
    Goodbye,
    Closed,
    Broken(std::io::Error),
    Malformed(String),
    Unwanted,
}

/// Reads frames from `peer` into `events` until the peer says goodbye or the stream ends.
pub(crate) async fn read_frames(
    peer: usize,
    stream: impl AsyncRead + Unpin,
    events: UnboundedSender<Event>,
    max_message: u64,
) {
    let mut reader = BufReader::with_capacity(BUFFER, stream);
    let end = loop {
        let mut header = [0u8; HEADER_LEN];
        match read_header(&mut reader, &mut header).await {
            Ok(true) => {}
            Ok(false) => break End::Closed,
            Err(error) => break End::Broken(error),
        }
        let header = match Header::decode(&header, max_message) {
            Ok(header) => header,
            Err(error) => break End::Malformed(error.to_string()),
        };
        if header.kind == FrameKind::Goodbye {
            break End::Goodbye;
        }
        let payload = match read_payload(&mut reader, header.len).await {
            Ok(payload) => payload,
            Err(error) => break End::Broken(error),
        };
        let frame = Frame { header, payload };
        if events.send(Event::Frame { from: peer, frame }).is_err() {
            break End::Unwanted;
        }
    };
    let event = match end {
        End::Goodbye => Event::PeerFinished { rank: peer },
        End::Closed => {
            tracing::warn!("rank {peer} closed its connection without saying goodbye");
            Event::PeerLost { rank: peer }
        }
        End::Broken(error) => {
            tracing::warn!("connection to rank {peer} broke: {error}");
            Event::PeerLost { rank: peer }
        }
        End::Malformed(reason) => {
            tracing::error!("malformed frame from rank {peer}: {reason}; dropping the connection");
            Event::PeerMalformed { rank: peer, reason }
        }
        End::Unwanted => return,
    };
    let _ = events.send(event);
}

/// Reads one header; `Ok(false)` if the stream ended cleanly before it.
async fn read_header(
    reader: &mut (impl AsyncRead + Unpin),
    header: &mut [u8; HEADER_LEN],
) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < HEADER_LEN {
        match reader.read(&mut header[filled..]).await? {
            0 if filled == 0 => return Ok(false),
            0 => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "stream ended inside a frame header",
                ))
            }
            n => filled += n,
        }
    }
    Ok(true)
}

/// Reads a payload of `len` bytes. Payloads up to [`POOLED_UP_TO`] go into recycled memory
/// (warm pages, no fault or zeroing per message); larger ones reserve memory only as their
/// bytes arrive, so a corrupt length costs at most what was sent. Bytes are read straight
/// into the payload's spare room, never zeroed first.
async fn read_payload(reader: &mut (impl AsyncRead + Unpin), len: u64) -> std::io::Result<Bytes> {
    let len = usize::try_from(len).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "payload larger than memory",
        )
    })?;
    let mut payload = if len <= POOLED_UP_TO {
        pool::vec_with_capacity(len)
    } else {
        Vec::with_capacity(CHUNK)
    };
    let mut rest = reader.take(len as u64);
    while payload.len() < len {
        if payload.len() == payload.capacity() {
            payload.reserve(CHUNK.min(len - payload.len()));
        }
        if rest.read_buf(&mut payload).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "stream ended inside a frame's payload",
            ));
        }
    }
    Ok(pool::into_bytes(payload))
}
