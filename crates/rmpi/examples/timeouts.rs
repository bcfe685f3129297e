//! Receives given up on lose nothing: rank 0 sends a numbered stream of messages (typed
//! buffers of 0 elements to 256 KiB, and objects), and rank 1 receives each under
//! `tokio::select!` against a short sleep or under `tokio::time::timeout`, trying again
//! whenever it gave up. Meanwhile a task of its own on rank 1 receives a second stream
//! (ticks), and in doing so takes in frames of the first for the receive that waits for
//! them, which may then be given up before it runs. A receive dropped after its message
//! matched, or while the message was being copied into its buffer, puts the message back,
//! so every message arrives, in order, every byte intact:
//! `cargo rmpirun -n 2 --example timeouts [MESSAGES]`. The integration tests run it on
//! each transport.

use std::time::Duration;

/// Message `i`'s length in elements: mostly short, every 25th 256 KiB (copied into the
/// receive's buffer in parts, where the transport streams it).
fn len_of(i: u64) -> usize {
    match i % 25 {
        0 => 32 << 10,
        k => (k * k * 3) as usize,
    }
}

/// Message `i`'s elements.
fn message(i: u64) -> Vec<u64> {
    (0..len_of(i) as u64).map(|k| i << 32 | k).collect()
}

/// Whether message `i` goes as an object (else as a typed buffer).
fn as_object(i: u64) -> bool {
    i % 3 == 2
}

fn main() -> rmpi::Result<()> {
    let messages: u64 = match std::env::args().nth(1) {
        Some(count) => count.parse().map_err(|_| {
            rmpi::Error::InvalidArgument(format!("MESSAGES must be a number, not {count:?}"))
        })?,
        None => 10_000,
    };
    rmpi::run(|comm| async move {
        if comm.size() != 2 {
            return Err(rmpi::Error::InvalidArgument("run it on 2 ranks".into()));
        }
        if comm.rank() == 0 {
            for i in 0..messages {
                comm.send(&i, 1, 1).await?;
                let data = message(i);
                match as_object(i) {
                    true => comm.send(&data, 1, 0).await?,
                    false => comm.send_buf(&data, 1, 0).await?,
                }
                // Now and then let the receiver run out of messages and give up.
                if i % 50 == 0 {
                    tokio::time::sleep(Duration::from_micros(300)).await;
                } else if i % 5 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            return Ok(());
        }
        let ticks = tokio::spawn({
            let comm = comm.clone();
            async move {
                for i in 0..messages {
                    let tick: u64 = comm.recv(0, 1).await?;
                    if tick != i {
                        return Err(rmpi::Error::InvalidArgument(format!(
                            "tick {tick}, not {i}"
                        )));
                    }
                }
                Ok::<(), rmpi::Error>(())
            }
        });
        let mut buf = vec![0u64; 32 << 10];
        let (mut next, mut given_up) = (0, 0u64);
        let patience = Duration::from_micros(200);
        while next < messages {
            let got: Option<Vec<u64>> = if as_object(next) {
                match tokio::time::timeout(patience, comm.recv::<Vec<u64>>(0, 0)).await {
                    Ok(data) => Some(data?),
                    Err(_) => None,
                }
            } else {
                tokio::select! {
                    status = comm.recv_into(&mut buf, 0, 0) => {
                        Some(buf[..status?.count::<u64>().unwrap_or(0)].to_vec())
                    }
                    () = tokio::time::sleep(patience) => None,
                }
            };
            let Some(data) = got else {
                given_up += 1;
                continue;
            };
            if data != message(next) {
                let first = data.first().map(|word| word >> 32);
                return Err(rmpi::Error::InvalidArgument(format!(
                    "message {next}: got {} elements, the first from message {first:?}",
                    data.len()
                )));
            }
            next += 1;
        }
        ticks
            .await
            .map_err(|e| rmpi::Error::InvalidArgument(format!("the tick task: {e}")))??;
        println!("{messages} messages arrived in order; {given_up} receives were given up");
        Ok(())
    })
}
