#![no_main]
// The checks live beside the decoder, in `rmpi_launch::fuzzing`, where the tests replay them.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rmpi_launch::fuzzing::pmi_line(data));
