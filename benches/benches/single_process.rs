//! What one process can measure, with criterion: the codec against the typed-buffer path,
//! matching with deep unexpected queues, an in-process ping-pong, a shared-memory ping-pong
//! between two threads, one thread sending and receiving through shared memory (the software
//! cost of a message), and frames streamed one way through a shared-memory ring (the
//! ring's push and pop with the transport's records, without the engine). Run by hand:
//! `cargo bench -p rmpi-bench`.

use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rmpi_core::codec::{Codec, DefaultCodec};
use rmpi_core::matching::{Envelope, Matcher, Pattern};
use rmpi_core::{Comm, Result};

/// Encoding and decoding a vector of f64 as a serde object (bincode) against viewing it as
/// bytes (the typed-buffer path, a copy).
fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for len in [16usize, 4096, 262_144] {
        let values: Vec<f64> = (0..len).map(|i| i as f64 * 0.5).collect();
        group.throughput(Throughput::Bytes((len * 8) as u64));
        group.bench_with_input(
            BenchmarkId::new("bincode_round_trip", len),
            &values,
            |b, v| {
                b.iter(|| {
                    let bytes = DefaultCodec::encode(v).unwrap();
                    let back: Vec<f64> = DefaultCodec::decode(&bytes).unwrap();
                    back
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("typed_buffer_copy", len),
            &values,
            |b, v| {
                b.iter(|| {
                    let bytes = rmpi_core::Bytes::copy_from_slice(bytemuck::cast_slice(v));
                    let mut back = vec![0f64; v.len()];
                    bytemuck::cast_slice_mut::<f64, u8>(&mut back).copy_from_slice(&bytes);
                    back
                })
            },
        );
    }
    group.finish();
}

/// Matching a receive against an unexpected queue `depth` messages deep, the match at the
/// back (the worst case for a list), then a message arriving for a posted receive.
fn matching(c: &mut Criterion) {
    let mut group = c.benchmark_group("matching");
    for depth in [1usize, 64, 4096] {
        group.bench_function(BenchmarkId::new("post_against_unexpected", depth), |b| {
            b.iter_batched(
                || {
                    let mut matcher = Matcher::<u64>::new();
                    for i in 0..depth {
                        let envelope = Envelope {
                            context: 0,
                            source: (i % 7) as u32,
                            tag: i as i32,
                        };
                        assert!(matcher.arrive(envelope, i as u64).is_none());
                    }
                    matcher
                },
                |mut matcher| {
                    let last = (depth - 1) as i32;
                    let pattern = Pattern {
                        context: 0,
                        source: None,
                        tag: Some(last),
                    };
                    matcher.post(1, pattern).expect("matches the last message")
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// Round trips of a small message between two ranks as threads of one process.
fn local_ping_pong(c: &mut Criterion) {
    c.bench_function("local_ping_pong_8B", |b| {
        b.iter_custom(|iterations| {
            let times =
                rmpi_core::local::run(
                    2,
                    |comm| async move { round_trips(&comm, iterations).await },
                );
            times.into_iter().next().unwrap().unwrap()
        })
    });
}

async fn round_trips(comm: &Comm, iterations: u64) -> Result<Duration> {
    let mut buf = [0u8; 8];
    let started = Instant::now();
    for _ in 0..iterations {
        if comm.rank() == 0 {
            comm.send_buf(&buf, 1, 0).await?;
            comm.recv_into(&mut buf, 1, 0).await?;
        } else {
            comm.recv_into(&mut buf, 0, 0).await?;
            comm.send_buf(&buf, 0, 0).await?;
        }
    }
    Ok(started.elapsed())
}

/// Round trips of a small message over the shared-memory transport, ranks as threads.
fn shm_ping_pong(c: &mut Criterion) {
    c.bench_function("shm_ping_pong_8B", |b| {
        b.iter_custom(|iterations| {
            let endpoints = rmpi_shm::ShmTransport::mesh(2, &Default::default()).unwrap();
            let endpoints = endpoints.into_iter().map(|t| Arc::new(t) as _).collect();
            let times = rmpi_core::local::run_on(endpoints, |comm| async move {
                round_trips(&comm, iterations).await
            });
            times.into_iter().next().unwrap().unwrap()
        })
    });
}

/// One 8-byte message sent and received over the shared-memory transport by one thread
/// playing both ranks: the software cost of a message (engine, matching, records) without
/// waiting or moving cache lines between cores, which ping-pong latency adds on top.
fn shm_one_thread(c: &mut Criterion) {
    c.bench_function("shm_send_recv_one_thread_8B", |b| {
        let (first, second) = rmpi_bench::shm_pair();
        let mut inbox = [0u8; 8];
        b.iter(|| rmpi_bench::send_and_receive(&first, &second, &[7u8; 8], &mut inbox));
    });
}

/// Frames pushed into one shared-memory ring by one thread and popped by another as fast as
/// they go, through the transport's `send` and `try_recv` (the ring and its records).
fn shm_stream(c: &mut Criterion) {
    use rmpi_core::{Bytes, Event, FastPaths, Frame, FrameKind, Header, Transport};
    let mut group = c.benchmark_group("shm_ring_stream");
    for len in [8usize, 1024, 16384] {
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(BenchmarkId::from_parameter(len), |b| {
            b.iter_custom(|frames| {
                let payload = Bytes::from(vec![7u8; len]);
                let endpoints = rmpi_shm::ShmTransport::mesh(2, &Default::default()).unwrap();
                let times: Vec<Duration> = std::thread::scope(|scope| {
                    let ranks: Vec<_> = endpoints
                        .into_iter()
                        .map(|shm| {
                            let payload = payload.clone();
                            scope.spawn(move || {
                                let header = Header {
                                    kind: FrameKind::Data,
                                    context: 1,
                                    source: 0,
                                    tag: 0,
                                    sync_id: 0,
                                    len: 0,
                                };
                                let started = Instant::now();
                                let mut received = 0;
                                let mut cx = Context::from_waker(Waker::noop());
                                while received < frames {
                                    if shm.rank() == 0 {
                                        shm.send(1, Frame::new(header, payload.clone()))
                                            .expect("sends");
                                        received += 1;
                                        while shm.try_recv(&mut cx).is_some() {}
                                    } else if let Some(Event::Frame { .. }) = shm.try_recv(&mut cx)
                                    {
                                        received += 1;
                                    }
                                }
                                let took = started.elapsed();
                                let runtime = tokio::runtime::Builder::new_current_thread()
                                    .build()
                                    .expect("a runtime");
                                runtime.block_on(shm.shutdown()).expect("shuts down");
                                took
                            })
                        })
                        .collect();
                    ranks
                        .into_iter()
                        .map(|r| r.join().expect("no panic"))
                        .collect()
                });
                times[1]
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    codec,
    matching,
    local_ping_pong,
    shm_ping_pong,
    shm_one_thread,
    shm_stream
);
criterion_main!(benches);
