//! Payloads fanned out (`CollectiveComm::fan_out_buf`): one copy in the sender's fan-out area, read by
//! every receiver into a buffer, as bytes, or not at all (refused by a buffer too small);
//! the area's room comes back once every receiver is done, and not before. Every byte is
//! checked.

mod common;

use rmpi_core::{CollectiveComm, Comm, Error};
use rmpi_shm::ShmOptions;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed))
        .collect()
}

const LEN: usize = 40_000;

#[test]
fn a_fanned_out_payload_reaches_every_reader_and_its_room_comes_back_when_all_are_done() {
    let options = ShmOptions {
        fanout_bytes: Some(64 << 10), // room for one payload of LEN bytes at a time
        ..ShmOptions::default()
    };
    let readers = [1, 2, 3];
    common::run_mesh(4, &options, |comm: Comm| async move {
        let mut problems = Vec::new();
        if comm.rank() == 0 {
            match comm.fan_out_buf(&[0u8; 8], &[1, 1], 0) {
                Err(Error::InvalidArgument(_)) => {}
                other => problems.push(format!("a rank named twice: {other:?}")),
            }
            match comm.fan_out_buf(&[0u8; 8], &[1, 9], 0) {
                Err(Error::InvalidRank { rank: 9, .. }) => {}
                other => problems.push(format!("a rank out of range: {other:?}")),
            }
            if !comm.fan_out_buf(&pattern(LEN, 1), &readers, 0)? {
                problems.push("the first payload was not fanned out".into());
            }
            // Nobody reads the first one before told to: no room for a second.
            let second = pattern(LEN, 2);
            if comm.fan_out_buf(&second, &readers, 1)? {
                problems.push("a second payload was fanned out over the first".into());
            } else {
                for reader in readers {
                    comm.send_buf(&second, reader, 1).await?;
                }
            }
            for reader in readers {
                comm.send(&(), reader, 4).await?;
            }
            for reader in readers {
                comm.recv::<()>(reader, 5).await?;
            }
            // Every reader is done with the first: its room is back.
            if !comm.fan_out_buf(&pattern(LEN, 3), &readers, 2)? {
                problems.push("the room did not come back".into());
            }
            return common::verdict(problems);
        }
        comm.recv::<()>(0, 4).await?; // the go-ahead to read the first payload
        match comm.rank() {
            1 => {
                let mut buf = vec![0u8; LEN];
                comm.recv_into(&mut buf, 0, 0).await?;
                if buf != pattern(LEN, 1) {
                    problems.push("rank 1 read the first payload corrupted".into());
                }
            }
            2 => {
                let (bytes, _) = comm.recv_bytes(0, 0).await?;
                if bytes[..] != pattern(LEN, 1)[..] {
                    problems.push("rank 2 read the first payload corrupted".into());
                }
            }
            _ => match comm.recv_into(&mut [0u8; 10], 0, 0).await {
                Err(Error::Truncated { message_bytes, .. }) if message_bytes == LEN => {}
                other => problems.push(format!("expected truncation, got {other:?}")),
            },
        }
        comm.send(&(), 0, 5).await?;
        for (tag, seed) in [(1, 2), (2, 3)] {
            let mut buf = vec![0u8; LEN];
            comm.recv_into(&mut buf, 0, tag).await?;
            if buf != pattern(LEN, seed) {
                problems.push(format!("rank {} read tag {tag} corrupted", comm.rank()));
            }
        }
        common::verdict(problems)
    });
}

/// Two ranks never fan out: there is only ever one reader, and no area.
#[test]
fn two_ranks_do_not_fan_out() {
    common::run_mesh(2, &ShmOptions::default(), |comm: Comm| async move {
        if comm.rank() == 0 && comm.fan_out_buf(&pattern(LEN, 1), &[1], 0)? {
            return Err(Error::InvalidArgument("fanned out with two ranks".into()));
        }
        Ok(())
    });
}
