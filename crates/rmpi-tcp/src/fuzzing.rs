//! Checks the fuzz targets in `fuzz/` run on arbitrary bytes, and that the tests replay on
//! the inputs kept in `fuzz/regressions/`. Not an API: each function panics when the
//! decoder it drives breaks a promise.

use rmpi_core::{Event, Frame};

use crate::connection::{pump, Decoder, POOLED_UP_TO};
use crate::handshake::{Hello, HELLO_LEN};

/// The most memory a payload reserves before its bytes arrive, whatever its header says
/// (16 MiB; a longer payload reserves 1 MiB at a time as its bytes arrive).
pub const PAYLOAD_RESERVED_MAX: usize = POOLED_UP_TO;

/// A connection's byte stream (`fuzz_targets/tcp_stream.rs`), read as a peer's frames with
/// no limit on their length: every frame that comes out carries the payload its header
/// announced, the stream ends in exactly one end event, and a lying length reserves no
/// more than [`PAYLOAD_RESERVED_MAX`] before its bytes arrive (the fuzz run's allocation
/// limit checks that).
pub fn tcp_stream(data: &[u8]) {
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let mut rest = data;
    pump(7, &mut Decoder::new(u64::MAX), &events, |room| {
        let n = room.fill(rest);
        rest = &rest[n..];
        Ok(n)
    });
    let mut ends = 0;
    let mut framed = 0;
    while let Ok(event) = received.try_recv() {
        assert_eq!(ends, 0, "an event after the end: {event:?}");
        match event {
            Event::Frame {
                from: 7,
                frame: Frame { header, payload },
            } => {
                assert_eq!(header.len, payload.len() as u64);
                framed += header.len as usize + rmpi_core::frame::HEADER_LEN;
            }
            Event::PeerFinished { rank: 7 }
            | Event::PeerLost { rank: 7 }
            | Event::PeerMalformed { rank: 7, .. } => ends += 1,
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!(ends, 1, "the stream must end once");
    assert!(
        framed <= data.len(),
        "frames took {framed} of {} bytes",
        data.len()
    );
}

/// A peer's introduction (`fuzz_targets/tcp_hello.rs`): the first byte is this job's size,
/// the rest the hello. One that decodes encodes back to the same bytes, and one that is
/// accepted names a rank of the job.
pub fn tcp_hello(data: &[u8]) {
    let Some((&size, rest)) = data.split_first() else {
        return;
    };
    let Some(bytes) = rest.first_chunk::<HELLO_LEN>() else {
        return;
    };
    if let Ok(hello) = Hello::decode(bytes) {
        assert_eq!(&hello.encode(), bytes);
        if let Ok(rank) = hello.check(usize::from(size)) {
            assert!(rank < usize::from(size));
        }
    }
}

#[cfg(test)]
mod tests {
    use rmpi_core::fuzzing::replay;

    #[test]
    fn kept_inputs_still_pass() {
        assert!(replay("tcp_stream", super::tcp_stream) > 0);
        assert!(replay("tcp_hello", super::tcp_hello) > 0);
    }
}
