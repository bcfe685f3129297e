//! 2-D heat diffusion by Jacobi iteration on a Cartesian grid of ranks, with halo exchanges
//! of strided columns: `cargo rmpirun -n 6 --example jacobi [ROWS COLS STEPS [GRID_ROWS]]`.
//!
//! The plate is ROWS x COLS points (default 48 x 36), its top edge held at 1.0 and the other
//! edges at 0.0; each step sets every inner point to the mean of its four neighbours. The
//! ranks lie on a grid chosen by `compute_dims` (2x2 for 4 ranks, 3x2 for 6; GRID_ROWS fixes
//! the first extent, as a non-zero entry does for `MPI_Dims_create`: 2 gives 2x3), each holding a
//! block of the plate plus a one-point halo. Each step, a rank swaps its edge rows with the
//! ranks above and below (contiguous) and its edge columns with those left and right (a
//! strided `Datatype::vector`). At the end rank 0 gathers the blocks into the whole plate
//! (each block a `Datatype::subarray` of it), runs the same iteration serially, and checks
//! that the two agree bit for bit; the exit code says whether they did.
//!
//! ```python
//! cart = comm.Create_cart(MPI.Compute_dims(size, 2), periods=[False, False])
//! up, down = cart.Shift(0, 1)
//! left, right = cart.Shift(1, 1)
//! column = MPI.DOUBLE.Create_vector(rows, 1, cols + 2).Commit()
//! cart.Sendrecv([u[1:, 1:], 1, column], left, recvbuf=[u[1:, -1:], 1, column], source=right)
//! ```

use rmpi::datatype::Datatype;
use rmpi::topology::compute_dims;

/// A block of the plate with a one-point halo all round, row-major.
struct Block {
    /// Rows and columns of the block itself, without the halo.
    rows: usize,
    cols: usize,
    /// The block's first row and column on the whole plate.
    row0: usize,
    col0: usize,
    values: Vec<f64>,
}

impl Block {
    fn width(&self) -> usize {
        self.cols + 2
    }

    /// Index of the block's own point (r, c), counted from the halo's corner.
    fn at(&self, r: usize, c: usize) -> usize {
        r * self.width() + c
    }

    /// One row of the block's own points, `r` counted from the halo's corner.
    fn row(&self, r: usize) -> Datatype {
        Datatype::contiguous(self.cols).offset(self.at(r, 1))
    }

    /// One column of the block's own points, `c` counted from the halo's corner.
    fn column(&self, c: usize) -> Datatype {
        Datatype::vector(self.rows, 1, self.width())
            .expect("a column's stride is the row width")
            .offset(self.at(1, c))
    }
}

fn main() -> rmpi::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse()
                .expect("ROWS COLS STEPS GRID_ROWS are whole numbers")
        })
        .collect();
    let (rows, cols, steps, grid_rows) = match args[..] {
        [rows, cols, steps] => (rows, cols, steps, 0),
        [rows, cols, steps, grid_rows] => (rows, cols, steps, grid_rows),
        _ => (48, 36, 200, 0),
    };
    rmpi::blocking::run(|world| {
        let dims = compute_dims(world.size(), &[grid_rows, 0])?;
        let grid = world
            .create_cart(&dims, &[false, false])?
            .expect("compute_dims uses every rank");
        let coords = grid.cart_coords()?;
        if rows % dims[0] != 0 || cols % dims[1] != 0 {
            return Err(rmpi::Error::InvalidArgument(format!(
                "a {rows}x{cols} plate does not split evenly over a {}x{} grid of ranks",
                dims[0], dims[1]
            )));
        }
        let (block_rows, block_cols) = (rows / dims[0], cols / dims[1]);
        let mut block = Block {
            rows: block_rows,
            cols: block_cols,
            row0: coords[0] * block_rows,
            col0: coords[1] * block_cols,
            values: vec![0.0; (block_rows + 2) * (block_cols + 2)],
        };
        for c in 1..=block.cols {
            if block.row0 == 0 {
                let at = block.at(1, c);
                block.values[at] = 1.0; // the plate's hot top edge
            }
        }
        let (up, down) = grid.cart_shift(0, 1)?;
        let (left, right) = grid.cart_shift(1, 1)?;
        let mut next = block.values.clone();
        for _ in 0..steps {
            // Rows up and down, then columns left and right: each edge of our own points
            // goes to the neighbour beside it, while that neighbour's edge lands in our halo.
            let exchanges = [
                (block.row(1), up, block.row(block.rows + 1), down),
                (block.row(block.rows), down, block.row(0), up),
                (block.column(1), left, block.column(block.cols + 1), right),
                (block.column(block.cols), right, block.column(0), left),
            ];
            for (tag, (edge, to, halo, from)) in exchanges.iter().enumerate() {
                let tag = tag as i32;
                grid.sendrecv_replace_typed(&mut block.values, edge, *to, tag, halo, *from, tag)?;
            }
            step(&block, &mut next, rows, cols);
            std::mem::swap(&mut block.values, &mut next);
        }
        gather_and_check(&grid, &block, rows, cols, steps)
    })
}

/// One Jacobi step of the block's own points into `next`; the plate's edges stay fixed.
fn step(block: &Block, next: &mut [f64], rows: usize, cols: usize) {
    let v = &block.values;
    let w = block.width();
    for r in 1..=block.rows {
        for c in 1..=block.cols {
            let (gr, gc) = (block.row0 + r - 1, block.col0 + c - 1);
            let i = r * w + c;
            next[i] = if gr == 0 || gc == 0 || gr == rows - 1 || gc == cols - 1 {
                v[i]
            } else {
                0.25 * (v[i - w] + v[i + w] + v[i - 1] + v[i + 1])
            };
        }
    }
}

/// The whole plate computed on one rank, as the decomposed run must match.
fn serial(rows: usize, cols: usize, steps: usize) -> Vec<f64> {
    let mut plate = vec![0.0; rows * cols];
    plate[..cols].fill(1.0);
    let mut next = plate.clone();
    for _ in 0..steps {
        for r in 1..rows - 1 {
            for c in 1..cols - 1 {
                let i = r * cols + c;
                next[i] = 0.25 * (plate[i - cols] + plate[i + cols] + plate[i - 1] + plate[i + 1]);
            }
        }
        std::mem::swap(&mut plate, &mut next);
    }
    plate
}

fn gather_and_check(
    grid: &rmpi::blocking::Comm,
    block: &Block,
    rows: usize,
    cols: usize,
    steps: usize,
) -> rmpi::Result<()> {
    let own = Datatype::subarray(
        &[block.rows + 2, block.cols + 2],
        &[block.rows, block.cols],
        &[1, 1],
    )?;
    let placed = |row0: usize, col0: usize| {
        Datatype::subarray(&[rows, cols], &[block.rows, block.cols], &[row0, col0])
    };
    if grid.rank() != 0 {
        return grid.send_typed(&block.values, &own, 0, 9);
    }
    let mut plate = vec![0.0; rows * cols];
    placed(block.row0, block.col0)?.unpack(&own.pack(&block.values)?, &mut plate)?;
    for rank in 1..grid.size() {
        let at = grid.cartesian().expect("a Cartesian grid").coords(rank)?;
        let there = placed(at[0] * block.rows, at[1] * block.cols)?;
        grid.recv_typed(&mut plate, &there, rank, 9)?;
    }
    let dims = grid.cartesian().expect("a Cartesian grid").dims();
    let same = plate
        .iter()
        .zip(serial(rows, cols, steps))
        .all(|(a, b)| a.to_bits() == b.to_bits());
    let centre = plate[(rows / 2) * cols + cols / 2];
    println!(
        "jacobi: {rows}x{cols} plate, {steps} steps on a {}x{} grid of ranks: centre {centre:.6}, \
         {} the serial run bit for bit",
        dims[0],
        dims[1],
        if same { "matches" } else { "DIFFERS FROM" }
    );
    if same {
        Ok(())
    } else {
        Err(rmpi::Error::InvalidArgument(
            "the decomposed plate differs from the serial one".into(),
        ))
    }
}
