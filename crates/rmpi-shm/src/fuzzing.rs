//! Checks the fuzz target in `fuzz/` runs on arbitrary bytes, and that the tests replay on
//! the inputs kept in `fuzz/regressions/`. Not an API: the function panics when the decoder
//! it drives breaks a promise.

use crate::record::{Record, FIXED_MAX, LINE_BODY};

/// A ring record (`fuzz_targets/shm_record.rs`) as a peer may have written it: a word, the
/// body's first line, then the receiver's limits on payload length (8 bytes) and record
/// body (4 bytes). A record that decodes stays within both limits and encodes back to its
/// word and fixed part; a small frame read the quick way (`Record::decode_line`) is the
/// frame the full decoder reads.
pub fn shm_record(data: &[u8]) {
    let Some((word, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let Some((line, rest)) = rest.split_first_chunk::<LINE_BODY>() else {
        return;
    };
    let Some((max_len, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let Some(max_body) = rest.first_chunk::<4>() else {
        return;
    };
    let word = u64::from_le_bytes(*word);
    let (max_len, max_body) = (u64::from_le_bytes(*max_len), u32::from_le_bytes(*max_body));
    let fixed: &[u8; FIXED_MAX] = line.first_chunk().expect("a line holds the fixed part");
    if let Ok(record) = Record::decode(word, fixed, max_len, max_body as usize) {
        assert!(record.body_len() <= max_body as usize, "{record:?}");
        if let Record::Frame { header, chunk } = record {
            assert!(
                chunk as u64 <= header.len && header.len <= max_len,
                "{record:?}"
            );
        }
        let (encoded, again) = record.encode();
        let fixed_len = record.fixed_len();
        assert_eq!(encoded, word, "{record:?}");
        assert_eq!(again[..fixed_len], fixed[..fixed_len], "{record:?}");
    }
    if let Some((header, chunk)) = Record::decode_line(word, line, max_len) {
        let full = Record::decode(word, fixed, max_len, usize::MAX);
        assert!(
            matches!(full, Ok(Record::Frame { header: h, chunk: c }) if h == header && c == chunk),
            "{full:?} where the quick path read {header:?} with {chunk} bytes"
        );
    }
}

#[cfg(test)]
mod tests {
    use rmpi_core::fuzzing::replay;

    #[test]
    fn kept_inputs_still_pass() {
        assert!(replay("shm_record", super::shm_record) > 0);
    }
}
