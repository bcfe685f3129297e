//! A transport written outside rmpi-core, the way a third party would: tokio channels between
//! threads, nothing from rmpi's own backends. A job on it gets all of rmpi-core's semantics.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rmpi_core::{local, Error, Event, Frame, Result, Transport, ANY_SOURCE, ANY_TAG};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// One unbounded channel into each rank; a rank owns its receiver.
struct ChannelTransport {
    rank: usize,
    peers: Vec<UnboundedSender<Event>>,
    inbox: Mutex<UnboundedReceiver<Event>>,
}

impl ChannelTransport {
    fn job(size: usize) -> Vec<Arc<dyn Transport>> {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..size).map(|_| unbounded_channel()).unzip();
        receivers
            .into_iter()
            .enumerate()
            .map(|(rank, inbox)| {
                Arc::new(ChannelTransport {
                    rank,
                    peers: senders.clone(),
                    inbox: Mutex::new(inbox),
                }) as Arc<dyn Transport>
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl Transport for ChannelTransport {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.peers.len()
    }

    fn send(&self, dest: usize, frame: Frame) -> Result<()> {
        self.peers[dest]
            .send(Event::Frame {
                from: self.rank,
                frame,
            })
            .map_err(|_| Error::PeerFinished { rank: dest })
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Event> {
        match self.inbox.lock().unwrap().poll_recv(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(event),
            // Every sender is gone, including our own: nothing can ever arrive.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    async fn shutdown(&self) -> Result<()> {
        for (peer, channel) in self.peers.iter().enumerate() {
            if peer != self.rank {
                let _ = channel.send(Event::PeerFinished { rank: self.rank });
            }
        }
        Ok(())
    }
}

#[test]
fn a_job_runs_on_a_third_party_transport() {
    let results = local::run_on(ChannelTransport::job(5), |world| async move {
        let (rank, size) = (world.rank(), world.size());

        // A ring of typed buffers.
        let mut from_left = [0u64; 3];
        world
            .sendrecv_buf(
                &[rank as u64; 3],
                (rank + 1) % size,
                0,
                &mut from_left,
                (rank + size - 1) % size,
                0,
            )
            .await?;
        assert_eq!(from_left, [((rank + size - 1) % size) as u64; 3]);

        // Wildcard gather of objects at rank 0, with synchronous sends.
        if rank == 0 {
            let mut seen = Vec::new();
            for _ in 1..size {
                let (value, status) = world
                    .recv_with_status::<String>(ANY_SOURCE, ANY_TAG)
                    .await?;
                assert_eq!(value, format!("rank {}", status.source));
                seen.push(status.source);
            }
            seen.sort();
            assert_eq!(seen, vec![1, 2, 3, 4]);
        } else {
            world.ssend(&format!("rank {rank}"), 0, rank as i32).await?;
        }

        // Communicators work unchanged on it.
        let evens = world.split(Some((rank % 2) as u32), 0).await?.unwrap();
        let total = if evens.rank() == 0 {
            let mut total = rank;
            for peer in 1..evens.size() {
                total += evens.recv::<usize>(peer, 0).await?;
            }
            total
        } else {
            evens.send(&rank, 0, 0).await?;
            0
        };
        Ok::<_, Error>(total)
    });
    let totals: Vec<usize> = results.into_iter().collect::<Result<_>>().unwrap();
    assert_eq!(
        totals,
        vec![2 + 4, 1 + 3, 0, 0, 0],
        "sums of the even and odd ranks"
    );
}
