#![no_main]
// The checks live beside the decoder, in `rmpi_tcp::fuzzing`, where the tests replay them.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rmpi_tcp::fuzzing::tcp_stream(data));
