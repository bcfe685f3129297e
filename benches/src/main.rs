//! rmpi-bench: OSU-style benchmarks for rmpi.
//!
//! **Stub.** The benchmarks issue fills this in (latency, bandwidth and collectives in OSU's
//! table format, and the comparison against MPICH); for now it only says so.

fn main() {
    eprintln!("rmpi-bench: not implemented yet (see the benchmarks issue)");
    std::process::exit(2);
}
