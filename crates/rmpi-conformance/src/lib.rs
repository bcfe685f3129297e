//! rmpi-conformance: the checks every rmpi transport must pass, for built-in backends and
//! third-party ones alike. A transport author implements [`Backend`] (how one rank joins
//! a job of threads) and lets [`tests!`] write one test per check:
//!
//! ```
//! use rmpi::transport::InProcess;
//! use rmpi_conformance::{Backend, Joining};
//!
//! /// The in-process transport, set up whole by rank 0 and shared through a registry.
//! struct Local;
//!
//! impl Backend for Local {
//!     fn join(&self, bootstrap: InProcess) -> Joining {
//!         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
//!     }
//! }
//!
//! rmpi_conformance::check_all(&Local);
//! ```
//!
//! Each check runs a job of a few ranks, one thread and one single-threaded tokio runtime
//! per rank, joined through an in-process [`InProcess`] bootstrap with a job id of its own
//! (so shared resources named after it do not collide). The checks, in the order of the
//! [`Transport`] contract:
//! - [`identity`]: ranks are `0..size` and each endpoint knows its own;
//! - [`order_and_integrity`]: every frame arrives, intact and in order per pair, from empty
//!   payloads to several MiB, every rank sending to every other at once;
//! - [`borrowed_sends`]: the same through [`FastPaths::send_copy`](rmpi_core::FastPaths::send_copy) from memory the sender
//!   reuses at once;
//! - [`many_small_frames`]: a flood of small frames to a slow receiver all arrives;
//! - [`clean_shutdown`]: a peer's frames arrive before its [`Event::PeerFinished`];
//! - [`mpi_on_top`]: point-to-point, synchronous sends, wildcards and collectives through
//!   [`Comm`] on the transport.
#![deny(missing_docs)]

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use rmpi_collectives::{Collectives, Sum};
use rmpi_core::bootstrap::InProcess;
use rmpi_core::local::LocalTransport;
use rmpi_core::{wait_all, ANY_SOURCE, ANY_TAG};
use rmpi_core::{Bootstrap, Comm, Error, Event, Frame, FrameKind, Header, Result, Transport};

/// How long one rank may take over a check before it fails.
const TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// What [`Backend::join`] returns: the rank's endpoint, once connected.
///
/// ```
/// use rmpi_conformance::Joining;
/// // A transport whose endpoint needs no setup: ready at once.
/// let endpoint = rmpi::local::LocalTransport::mesh(1).remove(0);
/// let joining: Joining = Box::pin(async move { Ok(std::sync::Arc::new(endpoint) as _) });
/// # let _ = joining;
/// ```
pub type Joining = Pin<Box<dyn Future<Output = Result<Arc<dyn Transport>>> + Send>>;

/// How a transport under test makes one rank's endpoint.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// // The in-process transport checks itself the way a plugin would.
/// rmpi_conformance::identity(&Local);
/// ```
pub trait Backend: Sync {
    /// Joins the job `bootstrap` describes as its rank, on that rank's own thread and
    /// tokio runtime (every rank of the job joins at once).
    ///
    /// ```
    /// # use rmpi_conformance::{Backend, Joining};
    /// # struct Local;
    /// # impl Backend for Local {
    /// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
    /// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
    /// #     }
    /// # }
    /// // check_all calls join once per rank, each on its own thread.
    /// rmpi_conformance::identity(&Local);
    /// ```
    fn join(&self, bootstrap: InProcess) -> Joining;
}

/// Writes one `#[test]` per check for `backend`, an expression of a type that implements
/// [`Backend`].
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// // In a transport crate's tests/conformance.rs: one #[test] per check.
/// rmpi_conformance::tests!(Local);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! tests {
    ($backend:expr) => {
        #[test]
        fn conformance_identity() {
            $crate::identity(&$backend);
        }
        #[test]
        fn conformance_order_and_integrity() {
            $crate::order_and_integrity(&$backend);
        }
        #[test]
        fn conformance_borrowed_sends() {
            $crate::borrowed_sends(&$backend);
        }
        #[test]
        fn conformance_many_small_frames() {
            $crate::many_small_frames(&$backend);
        }
        #[test]
        fn conformance_clean_shutdown() {
            $crate::clean_shutdown(&$backend);
        }
        #[test]
        fn conformance_mpi_on_top() {
            $crate::mpi_on_top(&$backend);
        }
    };
}

/// Runs every check in turn; panics at the first that fails, saying which.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// rmpi_conformance::check_all(&Local);
/// ```
pub fn check_all(backend: &impl Backend) {
    identity(backend);
    order_and_integrity(backend);
    borrowed_sends(backend);
    many_small_frames(backend);
    clean_shutdown(backend);
    mpi_on_top(backend);
}

/// A job id no other check of this process uses.
fn job_id(check: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("conformance-{}-{check}-{n}", std::process::id())
}

/// Runs `program` on every rank of a job of `size`, each on its own thread and runtime
/// with its joined endpoint; returns each rank's result. A check fails by panicking with a
/// message naming the rank.
fn job<F, Fut, R>(backend: &impl Backend, check: &str, size: usize, program: F) -> Vec<R>
where
    F: Fn(usize, Arc<dyn Transport>) -> Fut + Sync,
    Fut: Future<Output = R>,
    R: Send,
{
    let bootstraps = InProcess::job(size, &job_id(check));
    let program = &program;
    std::thread::scope(|scope| {
        let ranks: Vec<_> = bootstraps
            .into_iter()
            .map(|bootstrap| {
                scope.spawn(move || {
                    let rank = bootstrap.rank();
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a tokio runtime");
                    runtime.block_on(async move {
                        let endpoint = backend
                            .join(bootstrap)
                            .await
                            .unwrap_or_else(|e| panic!("{check}: rank {rank} could not join: {e}"));
                        // A transport that loses a frame would leave its receiver waiting.
                        tokio::time::timeout(TIME_LIMIT, program(rank, endpoint))
                            .await
                            .unwrap_or_else(|_| {
                                panic!(
                                    "{check}: rank {rank} was still waiting after {TIME_LIMIT:?}"
                                )
                            })
                    })
                })
            })
            .collect();
        ranks
            .into_iter()
            .map(|rank| {
                rank.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// The next event from `transport`.
async fn next_event(transport: &dyn Transport) -> Event {
    poll_fn(|cx| transport.poll_recv(cx)).await
}

/// A data frame with `tag` and `payload`, as rmpi-core would send it.
fn data(source: usize, tag: i32, payload: Bytes) -> Frame {
    let header = Header {
        kind: FrameKind::Data,
        context: 0,
        source: source as u32,
        tag,
        sync_id: 0,
        len: 0,
    };
    Frame::new(header, payload)
}

/// Bytes that say who sent them and in which order.
fn pattern(from: usize, seq: usize, len: usize) -> Bytes {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ from.wrapping_mul(7) ^ seq) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// The payload of `event`, which must be a data frame from `from` (or else the check fails).
fn payload_of(check: &str, rank: usize, event: Event) -> (usize, i32, Bytes) {
    match event {
        Event::Frame { from, frame } => (from, frame.header.tag, frame.payload),
        Event::Lent {
            from,
            header,
            mut payload,
        } => {
            let mut bytes = vec![0u8; payload.len()];
            payload
                .read_into(&mut bytes)
                .unwrap_or_else(|e| panic!("{check}: rank {rank}: a lent payload unreadable: {e}"));
            (from, header.tag, bytes.into())
        }
        other => panic!("{check}: rank {rank} expected a frame, got {other:?}"),
    }
}

/// Every endpoint knows its rank and the job's size.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// rmpi_conformance::identity(&Local);
/// ```
pub fn identity(backend: &impl Backend) {
    let seen = job(backend, "identity", 3, |rank, transport| async move {
        (rank, transport.rank(), transport.size())
    });
    for (rank, own, size) in seen {
        assert_eq!(
            own, rank,
            "identity: rank {rank}'s endpoint says it is rank {own}"
        );
        assert_eq!(
            size, 3,
            "identity: rank {rank}'s endpoint says the job has {size} ranks"
        );
    }
}

/// Payload sizes every rank sends to every other, in this order: empty, small ones on both
/// sides of where a frame outgrows a cache line or two (where a backend may change how it
/// lays messages out), and large ones.
const SIZES: [usize; 13] = [
    0,
    1,
    7,
    16,
    17,
    64,
    65,
    4096,
    65_535,
    65_536,
    200_000,
    1 << 20,
    4 << 20,
];

/// Every rank sends frames of 0 B to 4 MiB to every other rank at once; each
/// arrives intact, and each sender's in the order sent.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// rmpi_conformance::order_and_integrity(&Local);
/// ```
pub fn order_and_integrity(backend: &impl Backend) {
    exchange(backend, "order_and_integrity", |transport, dest, frame| {
        transport.send(dest, frame)
    });
}

/// As [`order_and_integrity`], with every frame sent through the transport's
/// [`FastPaths::send_copy`](rmpi_core::FastPaths::send_copy) (if it has fast paths) from memory the sender overwrites as
/// soon as the call returns: a transport may write it straight out, but must copy what it
/// keeps. Large payloads fill the connections, so some wait in part.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// rmpi_conformance::borrowed_sends(&Local);
/// ```
pub fn borrowed_sends(backend: &impl Backend) {
    exchange(backend, "borrowed_sends", |transport, dest, frame| {
        let fast = transport.clone().fast_paths();
        match fast {
            Some(fast) => {
                let mut lent = frame.payload.to_vec();
                let sent = fast.send_copy(dest, frame.header, &lent);
                lent.fill(0xEE);
                sent
            }
            _ => transport.send(dest, frame),
        }
    });
}

/// Every rank sends frames of every size in `SIZES`, twice, to every other rank (each
/// sent with `send`), then checks that every frame it hears arrived intact and in order.
fn exchange<S>(backend: &impl Backend, check: &'static str, send: S)
where
    S: Fn(&Arc<dyn Transport>, usize, Frame) -> Result<()> + Sync,
{
    let size = 3;
    let send = &send;
    job(backend, check, size, |rank, transport| async move {
        for round in 0..2 {
            for (seq, &len) in SIZES.iter().enumerate() {
                for dest in (0..size).filter(|&d| d != rank) {
                    let seq = round * SIZES.len() + seq;
                    send(
                        &transport,
                        dest,
                        data(rank, seq as i32, pattern(rank, seq, len)),
                    )
                    .unwrap_or_else(|e| panic!("{check}: rank {rank} to {dest}: {e}"));
                    // Lets the transport's own tasks, if any, move what waits.
                    tokio::task::yield_now().await;
                }
            }
        }
        // Peers that are done may finish while others' frames are still on the way; a
        // peer's end must come after all of its frames.
        let per_peer = 2 * SIZES.len();
        let mut next = vec![0usize; size];
        next[rank] = per_peer;
        while next.iter().any(|&n| n < per_peer) {
            let event = next_event(&*transport).await;
            if let Event::PeerFinished { rank: peer } = event {
                let got = next[peer];
                assert_eq!(got, per_peer, "{check}: rank {rank} heard rank {peer} finish after {got} of its {per_peer} frames");
                continue;
            }
            let (from, tag, payload) = payload_of(check, rank, event);
            let seq = next[from];
            assert_eq!(
                tag, seq as i32,
                "{check}: rank {rank} got frame {tag} from {from} where {seq} was next"
            );
            let len = SIZES[seq % SIZES.len()];
            assert!(
                payload == pattern(from, seq, len),
                "{check}: rank {rank}: frame {seq} from {from} ({len} bytes) arrived damaged"
            );
            next[from] += 1;
        }
        transport.shutdown().await.expect("shutdown");
    });
}

/// Rank 0 sends 20,000 small frames before rank 1 reads any; all arrive, in order.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// rmpi_conformance::many_small_frames(&Local);
/// ```
pub fn many_small_frames(backend: &impl Backend) {
    let check = "many_small_frames";
    const FRAMES: usize = 20_000;
    job(backend, check, 2, |rank, transport| async move {
        if rank == 0 {
            for seq in 0..FRAMES {
                transport
                    .send(1, data(0, seq as i32, pattern(0, seq, 8)))
                    .unwrap_or_else(|e| panic!("{check}: frame {seq}: {e}"));
            }
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            for seq in 0..FRAMES {
                let (_, tag, payload) = payload_of(check, 1, next_event(&*transport).await);
                assert_eq!(
                    tag, seq as i32,
                    "{check}: frame {tag} arrived where {seq} was next"
                );
                assert!(
                    payload == pattern(0, seq, 8),
                    "{check}: frame {seq} damaged"
                );
            }
        }
        transport.shutdown().await.expect("shutdown");
    });
}

/// Rank 1 sends ten frames and shuts down; rank 0 gets the ten, then
/// [`Event::PeerFinished`] for rank 1, and nothing from rank 1 after it.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// rmpi_conformance::clean_shutdown(&Local);
/// ```
pub fn clean_shutdown(backend: &impl Backend) {
    let check = "clean_shutdown";
    job(backend, check, 2, |rank, transport| async move {
        if rank == 1 {
            for seq in 0..10 {
                transport
                    .send(0, data(1, seq, pattern(1, seq as usize, 100)))
                    .expect("send");
            }
            transport.shutdown().await.expect("rank 1's shutdown");
            return;
        }
        for seq in 0..10 {
            let (_, tag, _) = payload_of(check, 0, next_event(&*transport).await);
            assert_eq!(
                tag, seq,
                "{check}: frame {tag} arrived where {seq} was next"
            );
        }
        match next_event(&*transport).await {
            Event::PeerFinished { rank: 1 } => {}
            other => {
                panic!("{check}: after rank 1's frames, rank 0 got {other:?}, not PeerFinished")
            }
        }
        transport.shutdown().await.expect("rank 0's shutdown");
    });
}

/// MPI through [`Comm`] on the transport: a ring of objects, a synchronous send, wildcard
/// receives of every other rank's message, a 3 MiB object, a bcast and an allreduce.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// rmpi_conformance::mpi_on_top(&Local);
/// ```
pub fn mpi_on_top(backend: &impl Backend) {
    let check = "mpi_on_top";
    let size = 4;
    let results = job(backend, check, size, |_, transport| async move {
        let comm = Comm::from_transport(transport);
        let result: Result<()> = async {
            let (rank, size) = (comm.rank(), comm.size());
            let right = (rank + 1) % size;
            let left = (rank + size - 1) % size;
            let sent = comm.isend(&format!("from {rank}"), right, 1);
            let heard: String = comm.recv(left, 1).await?;
            sent.await?;
            check_eq(&heard, &format!("from {left}"), "ring")?;
            if rank == 0 {
                comm.ssend(&7u64, 1, 2).await?;
            } else if rank == 1 {
                check_eq(&comm.recv::<u64>(0, 2).await?, &7, "ssend")?;
            }
            if rank == 0 {
                let mut from = Vec::new();
                for _ in 1..size {
                    let (value, status) =
                        comm.recv_with_status::<usize>(ANY_SOURCE, ANY_TAG).await?;
                    check_eq(&value, &status.source, "wildcard")?;
                    from.push(value);
                }
                from.sort();
                check_eq(&from, &(1..size).collect::<Vec<_>>(), "wildcards")?;
            } else {
                comm.send(&rank, 0, 3).await?;
            }
            // A window of typed receives waited for together, then one whose message is
            // not a whole number of its elements.
            if rank == 0 {
                for i in 0..16u32 {
                    comm.send_buf(&[i, i * i], 1, 5).await?;
                }
                comm.send_buf(&[1u8, 2, 3, 4, 5, 6], 1, 6).await?;
            } else if rank == 1 {
                let mut inbox = [[0u32; 2]; 16];
                let window: Vec<_> = inbox.iter_mut().map(|b| comm.irecv_into(b, 0, 5)).collect();
                for status in wait_all(window).await? {
                    check_eq(&(status.source, status.bytes), &(0, 8), "window status")?;
                }
                let want: Vec<[u32; 2]> = (0..16).map(|i| [i, i * i]).collect();
                check_eq(&inbox.to_vec(), &want, "window")?;
                let mut odd = [0u32; 2];
                match wait_all([comm.irecv_into(&mut odd, 0, 6)]).await {
                    Err(Error::ElementMismatch {
                        source_rank: 0,
                        message_bytes: 6,
                        element_bytes: 4,
                    }) => {}
                    other => check_eq(
                        &format!("{other:?}"),
                        &"ElementMismatch".into(),
                        "6 bytes as u32",
                    )?,
                }
            }
            let big: Vec<u8> = (0..3 << 20).map(|i: usize| (i % 251) as u8).collect();
            if rank == 2 {
                comm.send(&big, 3, 4).await?;
            } else if rank == 3 {
                check_eq(&comm.recv::<Vec<u8>>(2, 4).await?, &big, "3 MiB object")?;
            }
            let value: u32 = comm.bcast((rank == 1).then_some(41), 1).await?;
            check_eq(&value, &41, "bcast")?;
            let total = comm.allreduce(rank as u64, Sum).await?;
            check_eq(&total, &((size * (size - 1) / 2) as u64), "allreduce")
        }
        .await;
        comm.finalize().await.and(result)
    });
    for (rank, result) in results.into_iter().enumerate() {
        if let Err(error) = result {
            panic!("{check}: rank {rank}: {error}");
        }
    }
}

fn check_eq<T: PartialEq + std::fmt::Debug>(got: &T, want: &T, what: &str) -> Result<()> {
    match got == want {
        true => Ok(()),
        false => Err(Error::InvalidArgument(format!(
            "{what}: got {got:?}, expected {want:?}"
        ))),
    }
}

/// The in-process transport's endpoint for `bootstrap`'s rank: rank 0's call of a job makes
/// the whole mesh, the others take their endpoint from it. For checking the in-process
/// transport itself, and as the simplest [`Backend::join`].
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// // Rank 0 builds the whole in-process mesh; every rank takes its own endpoint.
/// rmpi_conformance::mpi_on_top(&Local);
/// ```
pub fn local_endpoint(bootstrap: &InProcess) -> Result<Arc<dyn Transport>> {
    type Meshes = Mutex<HashMap<String, Vec<Option<LocalTransport>>>>;
    static MESHES: OnceLock<Meshes> = OnceLock::new();
    let meshes = MESHES.get_or_init(Meshes::default);
    let endpoint = {
        let mut meshes = meshes.lock().unwrap_or_else(|e| e.into_inner());
        let mesh = meshes
            .entry(bootstrap.job_id().to_owned())
            .or_insert_with(|| {
                LocalTransport::mesh(bootstrap.size())
                    .into_iter()
                    .map(Some)
                    .collect()
            });
        mesh[bootstrap.rank()].take()
    };
    let endpoint = endpoint.ok_or_else(|| Error::Bootstrap("rank joined twice".into()))?;
    Ok(Arc::new(endpoint))
}
