//! What each rank sees of its host: the cores rmpi counts when it asks whether the host's
//! ranks share cores (it spins while waiting only if they do not), and the cores the rank
//! may run on now, which `rmpirun --bind-to core` narrows to one.
//!
//! ```sh
//! rmpirun -n 2 --bind-to core target/debug/examples/cores
//! ```

fn main() -> rmpi::Result<()> {
    rmpi::run(|world| async move {
        let now = rmpi_launch::binding::available_cores();
        println!(
            "rank {} of {}: counts {} cores, may run on {now:?}",
            world.rank(),
            world.size(),
            rmpi::host::cores()
        );
        Ok(())
    })
}
