#![no_main]
// The checks live beside the decoder, in `rmpi_shm::fuzzing`, where the tests replay them.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rmpi_shm::fuzzing::shm_record(data));
