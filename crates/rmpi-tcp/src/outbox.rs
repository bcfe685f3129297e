//! Sending to one peer. Small frames wait in the outbox for the connection's writer task,
//! which runs once the sending task yields and writes all that waits in one system call (a
//! window of nonblocking sends leaves together). Two kinds of frame find nothing gained by
//! waiting, and the caller writes them at once when nothing is queued before them, as far
//! as the socket takes them: the first frame sent since the rank last looked for incoming
//! ones (a reply; see [`Waits`]), and a large frame (its header, then its payload, each in
//! a call of its own). The writer task writes the rest as the socket drains.
//!
//! Every write happens under the outbox's lock, so frames leave in the order they were sent
//! whichever side writes them. A clean shutdown queues the goodbye frame last, and the
//! writer task closes the sending side once everything before it has left.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rmpi_core::frame::HEADER_LEN;
use rmpi_core::lock::unpoisoned as lock;
use rmpi_core::pool;
use rmpi_core::{Frame, Header};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

/// Frames gathered into one system call at most.
const GATHER: usize = 64;
/// Payloads from this size on are written by the sender when nothing waits before them,
/// and always in a system call of their own.
const WRITE_AT_ONCE_FROM: usize = 64 * 1024;
/// Payloads of at most this size, alone in the queue, go out with their header in one
/// plain write from a copy on the stack.
const ONE_BUFFER: usize = 472;

/// A frame on its way out, and how much of it has left.
struct Pending {
    header: [u8; HEADER_LEN],
    payload: Bytes,
    written: usize,
}

impl Pending {
    fn len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Pending>,
    /// The goodbye frame is queued: nothing may follow it.
    closing: bool,
    /// A write failed: the connection is gone (its reader reports the peer lost).
    broken: bool,
    /// The rank's count of looks for incoming frames ([`Waits`]) when this outbox last
    /// took a frame.
    sent_at: Option<u64>,
}

/// The frames on their way to one peer; see the [module documentation](self).
pub(crate) struct Outbox {
    socket: OwnedWriteHalf,
    state: Mutex<State>,
    /// Wakes the writer task when frames wait or the goodbye is queued.
    waiting: Notify,
    /// How many times this rank has looked for incoming frames (see [`Waits`]); `None`
    /// where replies wait for the writer task too.
    waits: Option<Arc<Waits>>,
}

/// Counts the rank's looks for incoming frames. A small frame sent first since the last
/// look (a reply, a ping-pong's turn) is written at once, saving the hop to the writer
/// task; frames sent after it without a look in between (a window of nonblocking sends)
/// wait for the writer task, which gathers them into one system call. Only a rank with a
/// core of its own writes replies at once: where ranks outnumber cores, the receiver the
/// write wakes takes the core while the sender still has work, and the job slows.
#[derive(Default)]
pub(crate) struct Waits(AtomicU64);

impl Waits {
    /// Notes a look for incoming frames.
    pub(crate) fn note(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Outbox {
    pub(crate) fn new(socket: OwnedWriteHalf, waits: Option<Arc<Waits>>) -> Arc<Outbox> {
        Arc::new(Outbox {
            socket,
            state: Mutex::default(),
            waiting: Notify::new(),
            waits,
        })
    }

    /// Sends `frame`: written now as far as the socket takes it, the rest by the writer
    /// task. `false` if the connection is broken or closing.
    pub(crate) fn send(&self, frame: Frame) -> bool {
        let pending = Pending {
            header: frame.header.encode(),
            payload: frame.payload,
            written: 0,
        };
        self.push(pending, false)
    }

    /// Sends a frame of `header` with a copy of `payload`, which the caller lends only for
    /// the call. A large payload with nothing queued before it is written straight from
    /// the caller's memory, and only what the socket does not take now is copied; anything
    /// else is copied into a frame and sent as [`send`](Outbox::send) does. `false` if the
    /// connection is broken or closing.
    pub(crate) fn send_borrowed(&self, mut header: Header, payload: &[u8]) -> bool {
        header.len = payload.len() as u64;
        if payload.len() < WRITE_AT_ONCE_FROM {
            return self.send(Frame::new(header, pool::copy_of(payload)));
        }
        let mut state = lock(&self.state);
        if state.broken || state.closing {
            return false;
        }
        let header = header.encode();
        let mut written = 0;
        if state.queue.is_empty() {
            match write_borrowed(&self.socket, &header, payload) {
                Ok(sent) => written = sent,
                Err(error) => {
                    tracing::debug!("sending failed: {error}");
                    state.broken = true;
                    return false;
                }
            }
        }
        if written == HEADER_LEN + payload.len() {
            return true;
        }
        // The rest waits for the writer task, in a copy: a frame whose header has
        // `written` bytes out, or all of it, followed by the payload's unsent part.
        let from = written.saturating_sub(HEADER_LEN);
        state.queue.push_back(Pending {
            header,
            payload: pool::copy_of(&payload[from..]),
            written: written.min(HEADER_LEN),
        });
        self.waiting.notify_one();
        true
    }

    /// Whether nothing waits for the writer task.
    pub(crate) fn is_idle(&self) -> bool {
        lock(&self.state).queue.is_empty()
    }

    /// Queues the goodbye frame after everything sent so far; the writer task then closes
    /// the sending side.
    pub(crate) fn goodbye(&self) {
        let goodbye = Pending {
            header: Header::goodbye().encode(),
            payload: Bytes::new(),
            written: 0,
        };
        self.push(goodbye, true);
        self.waiting.notify_one();
    }

    /// Queues `pending` (and, with `last`, lets nothing follow it), writing it at once if it
    /// is large, or a reply (see [`Waits`]), and nothing waits before it.
    fn push(&self, pending: Pending, last: bool) -> bool {
        let mut state = lock(&self.state);
        if state.broken || state.closing {
            return false;
        }
        state.closing = last;
        let first = self.waits.as_ref().is_some_and(|waits| {
            let looks = waits.0.load(Ordering::Relaxed);
            state.sent_at.replace(looks) != Some(looks)
        });
        let large = pending.payload.len() >= WRITE_AT_ONCE_FROM;
        state.queue.push_back(pending);
        if (large || first) && state.queue.len() == 1 {
            if let Err(error) = write_some(&self.socket, &mut state.queue) {
                tracing::debug!("sending failed: {error}");
                state.broken = true;
                return false;
            }
        }
        if !state.queue.is_empty() {
            self.waiting.notify_one();
        }
        true
    }
}

/// Writes what the socket takes now from the front of `queue`; stops when the socket is
/// full or the queue empty. Small frames are gathered, several to a system call; a large
/// payload is written alone, in a call of its own after its header's, because gathering a
/// header with a large payload made large messages slower across hosts.
fn write_some(socket: &OwnedWriteHalf, queue: &mut VecDeque<Pending>) -> std::io::Result<()> {
    while let Some(front) = queue.front() {
        let large = front.payload.len() >= WRITE_AT_ONCE_FROM;
        let result = if large {
            match front.written.checked_sub(HEADER_LEN) {
                None => socket.try_write(&front.header[front.written..]),
                Some(from) => socket.try_write(&front.payload[from..]),
            }
        } else if queue.len() == 1 && front.written == 0 && front.payload.len() <= ONE_BUFFER {
            // One short frame alone: one plain write from a copy on the stack.
            let mut frame = [0u8; HEADER_LEN + ONE_BUFFER];
            let len = HEADER_LEN + front.payload.len();
            frame[..HEADER_LEN].copy_from_slice(&front.header);
            frame[HEADER_LEN..len].copy_from_slice(&front.payload);
            socket.try_write(&frame[..len])
        } else {
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(2 * GATHER.min(queue.len()));
            let small = queue
                .iter()
                .take(GATHER)
                .take_while(|p| p.payload.len() < WRITE_AT_ONCE_FROM);
            for pending in small {
                let skip = pending.written;
                if skip < HEADER_LEN {
                    slices.push(IoSlice::new(&pending.header[skip..]));
                }
                let from = skip.saturating_sub(HEADER_LEN);
                if from < pending.payload.len() {
                    slices.push(IoSlice::new(&pending.payload[from..]));
                }
            }
            socket.try_write_vectored(&slices)
        };
        let mut sent = match result {
            Ok(sent) => sent,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(error) => return Err(error),
        };
        while sent > 0 {
            let front = queue.front_mut().expect("bytes were written for it");
            let step = sent.min(front.len() - front.written);
            front.written += step;
            sent -= step;
            if front.written == front.len() {
                queue.pop_front();
            }
        }
    }
    Ok(())
}

/// Writes what the socket takes now of a frame of `header` and `payload`, header first in
/// a call of its own (as [`write_some`] writes large frames); returns how many bytes left.
fn write_borrowed(
    socket: &OwnedWriteHalf,
    header: &[u8; HEADER_LEN],
    payload: &[u8],
) -> std::io::Result<usize> {
    let mut written = 0;
    while written < HEADER_LEN + payload.len() {
        let result = match written.checked_sub(HEADER_LEN) {
            None => socket.try_write(&header[written..]),
            Some(from) => socket.try_write(&payload[from..]),
        };
        match result {
            Ok(sent) => written += sent,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(error) => return Err(error),
        }
    }
    Ok(written)
}

/// The connection's writer task: writes what waits in `outbox` as the socket drains, and
/// closes the sending side after the goodbye frame.
pub(crate) async fn write_frames(peer: usize, outbox: Arc<Outbox>) {
    loop {
        let notified = outbox.waiting.notified();
        let (empty, closing) = {
            let state = lock(&outbox.state);
            (state.queue.is_empty(), state.closing)
        };
        if empty && closing {
            let socket: &tokio::net::TcpStream = outbox.socket.as_ref();
            let _ = socket2::SockRef::from(socket).shutdown(std::net::Shutdown::Write);
            return;
        }
        if empty {
            notified.await;
            continue;
        }
        if let Err(error) = outbox.socket.writable().await {
            tracing::debug!("sending to rank {peer} failed: {error}");
            return;
        }
        let mut state = lock(&outbox.state);
        if let Err(error) = write_some(&outbox.socket, &mut state.queue) {
            tracing::debug!("sending to rank {peer} failed: {error}");
            state.broken = true;
            return;
        }
    }
}
