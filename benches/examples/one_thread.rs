//! One 8-byte message sent and received over shared memory by one thread playing both
//! ranks, `N` times (the first argument): run it under `valgrind --tool=cachegrind` with two
//! counts to get the instructions one message costs, a figure that, unlike a time, does not
//! move with the machine's load.

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let (first, second) = rmpi_bench::shm_pair();
    let mut inbox = [0u8; 8];
    for _ in 0..n {
        rmpi_bench::send_and_receive(&first, &second, &[7u8; 8], &mut inbox);
    }
}
