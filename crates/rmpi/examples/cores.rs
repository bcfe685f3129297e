//! What each rank sees of its host: the cores rmpi counts when it asks whether the host's
//! ranks share cores (it spins while waiting only if they do not), and the cores the rank
//! may run on now, which `rmpirun --bind-to core` narrows to one.
//!
//! With `together N`, every rank first moves to the first core it may run on and lets go
//! (as ranks the scheduler crowds onto one core at start are), then ranks 0 and 1 exchange
//! N messages, each saying which core its sender is on, and rank 1 prints on how many
//! exchanges both were on one core. Where ranks have cores to spare, rmpi's shared memory
//! moves such ranks apart.
//!
//! ```sh
//! rmpirun -n 2 --bind-to core target/debug/examples/cores
//! rmpirun -n 2 target/debug/examples/cores together 5000
//! ```

use rmpi::host::{available_cores, current_core, move_onto};

fn main() -> rmpi::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let together = match args.get(1).map(String::as_str) {
        Some("together") => Some(args.get(2).and_then(|n| n.parse().ok()).unwrap_or(5000)),
        _ => None,
    };
    rmpi::run(|world| async move {
        let now = available_cores();
        println!(
            "rank {} of {}: counts {} cores, may run on {now:?}",
            world.rank(),
            world.size(),
            rmpi::host::cores()
        );
        let Some(exchanges) = together else {
            return Ok(());
        };
        move_onto(&[now[0]])?;
        let mut shared = 0;
        for _ in 0..exchanges {
            let mut theirs = [0u32];
            match world.rank() {
                0 => {
                    world.send_buf(&[current_core() as u32], 1, 0).await?;
                    world.recv_into(&mut theirs, 1, 0).await?;
                }
                1 => {
                    world.recv_into(&mut theirs, 0, 0).await?;
                    let here = current_core() as u32;
                    shared += usize::from(theirs[0] == here);
                    world.send_buf(&[here], 0, 0).await?;
                }
                _ => {}
            }
        }
        if world.rank() == 1 {
            println!("on one core for {shared} of {exchanges} exchanges");
        }
        Ok(())
    })
}
