#![no_main]
// The checks live beside the decoder, in `rmpi_core::fuzzing`, where the tests replay them.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rmpi_core::fuzzing::frame_header(data));
