//! Checks the fuzz targets in `fuzz/` run on arbitrary bytes, and that the tests replay on
//! the inputs kept in `fuzz/regressions/`. Not an API: each function panics when the
//! decoder it drives breaks a promise.

use crate::frame::{Header, HEADER_LEN};

/// Frame headers (`fuzz_targets/frame_header.rs`): the first 8 bytes are the receiver's
/// limit, the rest the header. A header that decodes is within the limit and encodes back
/// to the same bytes; anything else is an error, never a panic.
pub fn frame_header(data: &[u8]) {
    let Some((limit, bytes)) = data.split_first_chunk::<8>() else {
        return;
    };
    let max_len = u64::from_le_bytes(*limit);
    if let Ok(header) = Header::decode(bytes, max_len) {
        assert!(header.len <= max_len, "{header:?} past the limit {max_len}");
        assert_eq!(header.encode()[..], bytes[..HEADER_LEN], "{header:?}");
    }
}

/// Runs `check` on every input kept for `target` in `fuzz/regressions/` and
/// `fuzz/corpus/` (the seeds); for each crate's replay test.
pub fn replay(target: &str, check: fn(&[u8])) -> usize {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut replayed = 0;
    for kept in ["regressions", "corpus"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(kept).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let input = std::fs::read(entry.path()).expect("a kept input reads");
            check(&input);
            replayed += 1;
        }
    }
    replayed
}

#[cfg(test)]
mod tests {
    #[test]
    fn kept_inputs_still_pass() {
        assert!(super::replay("frame_header", super::frame_header) > 0);
    }
}
