//! 8-byte ping-pong between two threads of one process over shared memory, once through
//! communicators (`comm`, as `rmpi-bench latency` does it) and once on the bare transport
//! (`raw`: a send and a look for its answer, no matching or requests). The difference is
//! the engine's share of a message's latency; run both in turn, as the machine's speed
//! drifts: `two_threads comm 500000`, `two_threads raw 500000` (round trips, default
//! 200 000). Prints the one-way latency in microseconds.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use rmpi_core::{Comm, FastPaths, FrameKind, Header, Placer, Transport};
use rmpi_shm::ShmTransport;

const MESSAGE: [u8; 8] = [7; 8];

/// Places every payload in one buffer, as a receive waiting with it would.
struct Inbox<'a>(&'a mut [u8]);

impl Placer for Inbox<'_> {
    fn place(&mut self, _: usize, header: &Header) -> Option<&mut [u8]> {
        self.0.get_mut(..header.len as usize)
    }
}

/// Round trips on the bare transport; rank 0 serves first. Returns the one-way latency.
fn raw(transport: &ShmTransport, round_trips: usize) -> f64 {
    let rank = transport.rank();
    let header = Header {
        kind: FrameKind::Data,
        context: 0,
        source: rank as u32,
        tag: 0,
        sync_id: 0,
        len: MESSAGE.len() as u64,
    };
    let mut inbox = [0u8; 8];
    let mut cx = Context::from_waker(Waker::noop());
    let start = Instant::now();
    for _ in 0..round_trips {
        if rank == 0 {
            transport.send_copy(1, header, &MESSAGE).expect("sent");
        }
        while transport
            .try_recv_placing(&mut cx, &mut Inbox(&mut inbox))
            .is_none()
        {
            std::hint::spin_loop();
        }
        if rank == 1 {
            transport.send_copy(0, header, &MESSAGE).expect("sent");
        }
    }
    start.elapsed().as_secs_f64() * 1e6 / round_trips as f64 / 2.0
}

/// Round trips through communicators, each future polled until it is ready.
fn comm(world: &Comm, round_trips: usize) -> f64 {
    let rank = world.rank();
    let peer = 1 - rank;
    let mut inbox = [0u8; 8];
    let mut cx = Context::from_waker(Waker::noop());
    let send = |cx: &mut Context<'_>| {
        let sent = std::pin::pin!(world.send_buf(&MESSAGE, peer, 0));
        assert!(sent.poll(cx).is_ready(), "a small send completes at once");
    };
    let start = Instant::now();
    for _ in 0..round_trips {
        if rank == 0 {
            send(&mut cx);
        }
        let mut received = std::pin::pin!(world.recv_into(&mut inbox, peer, 0));
        let received = loop {
            if let Poll::Ready(outcome) = received.as_mut().poll(&mut cx) {
                break outcome;
            }
        };
        received.expect("received");
        if rank == 1 {
            send(&mut cx);
        }
    }
    start.elapsed().as_secs_f64() * 1e6 / round_trips as f64 / 2.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "comm".into());
    let round_trips: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let endpoints = ShmTransport::mesh(2, &Default::default()).expect("a shared-memory pair");
    let threads: Vec<_> = endpoints
        .into_iter()
        .map(|transport| {
            let raw_mode = mode == "raw";
            std::thread::spawn(move || {
                if raw_mode {
                    raw(&transport, round_trips / 10); // warm-up
                    raw(&transport, round_trips)
                } else {
                    let world = Comm::from_transport(Arc::new(transport));
                    comm(&world, round_trips / 10);
                    comm(&world, round_trips)
                }
            })
        })
        .collect();
    let latencies: Vec<f64> = threads
        .into_iter()
        .map(|t| t.join().expect("a rank's thread"))
        .collect();
    println!("{mode} {:.3}", latencies[0]);
}
