//! Cartesian topologies: ranks laid out on a grid (`MPI_Cart_*`), as stencil codes use them.
//!
//! [`Cartesian`] is the grid alone, plain arithmetic between ranks and coordinates; a
//! communicator made by [`Comm::create_cart`](crate::Comm::create_cart) carries one, and its
//! `cart_*` methods ask it about the calling rank. Ranks are laid out in row-major order:
//! the last dimension varies fastest, as in MPI.
//!
//! ```
//! use rmpi::topology::{compute_dims, Cartesian};
//!
//! let dims = compute_dims(6, &[0, 0])?; // MPI.Compute_dims(6, 2)
//! assert_eq!(dims, [3, 2]);
//! let grid = Cartesian::new(&dims, &[false, true])?;
//! assert_eq!(grid.coords(3)?, [1, 1]);
//! // Along dimension 1 (periodic) rank 3's neighbours wrap; along 0 the edge has none.
//! assert_eq!(grid.shift(3, 1, 1)?, (Some(2), Some(2)));
//! assert_eq!(grid.shift(4, 0, 1)?, (Some(2), None));
//! # Ok::<(), rmpi::Error>(())
//! ```

use crate::error::{Error, Result};

/// A grid of ranks: its extent in each dimension and whether each wraps around.
///
/// ```
/// use rmpi::topology::Cartesian;
/// let grid = Cartesian::new(&[2, 3], &[false, true])?;
/// assert_eq!(grid.dims(), [2, 3]);
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cartesian {
    dims: Vec<usize>,
    periods: Vec<bool>,
}

impl Cartesian {
    /// A grid of `dims[i]` ranks along dimension `i`, wrapping along those where `periods`
    /// is true.
    ///
    /// ```
    /// let ring = rmpi::topology::Cartesian::new(&[4], &[true])?;
    /// assert_eq!(ring.size(), 4);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn new(dims: &[usize], periods: &[bool]) -> Result<Cartesian> {
        if dims.len() != periods.len() || dims.is_empty() || dims.contains(&0) {
            return Err(Error::InvalidArgument(format!(
                "a Cartesian grid needs one period per dimension and every dimension at least \
                 1: got dims {dims:?} and periods {periods:?}"
            )));
        }
        Ok(Cartesian {
            dims: dims.to_vec(),
            periods: periods.to_vec(),
        })
    }

    /// Ranks along each dimension.
    ///
    /// ```
    /// let grid = rmpi::topology::Cartesian::new(&[2, 3], &[false, false])?;
    /// assert_eq!(grid.dims(), [2, 3]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// Whether each dimension wraps around.
    ///
    /// ```
    /// let grid = rmpi::topology::Cartesian::new(&[2, 3], &[true, false])?;
    /// assert_eq!(grid.periods(), [true, false]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn periods(&self) -> &[bool] {
        &self.periods
    }

    /// The number of ranks on the grid.
    ///
    /// ```
    /// assert_eq!(rmpi::topology::Cartesian::new(&[2, 3], &[false; 2])?.size(), 6);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn size(&self) -> usize {
        self.dims.iter().product()
    }

    /// The coordinates of `rank` (`MPI_Cart_coords`).
    ///
    /// ```
    /// let grid = rmpi::topology::Cartesian::new(&[2, 3], &[false; 2])?;
    /// assert_eq!(grid.coords(5)?, [1, 2]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn coords(&self, rank: usize) -> Result<Vec<usize>> {
        if rank >= self.size() {
            return Err(Error::InvalidRank {
                rank,
                size: self.size(),
            });
        }
        let mut coords = vec![0; self.dims.len()];
        let mut rest = rank;
        for (coord, &dim) in coords.iter_mut().zip(&self.dims).rev() {
            *coord = rest % dim;
            rest /= dim;
        }
        Ok(coords)
    }

    /// The rank at `coords` (`MPI_Cart_rank`): coordinates outside the grid wrap along
    /// periodic dimensions; along others there is no rank there (`None`).
    ///
    /// ```
    /// let grid = rmpi::topology::Cartesian::new(&[2, 3], &[false, true])?;
    /// assert_eq!(grid.rank_of(&[1, -1])?, Some(5));
    /// assert_eq!(grid.rank_of(&[2, 0])?, None);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn rank_of(&self, coords: &[isize]) -> Result<Option<usize>> {
        if coords.len() != self.dims.len() {
            return Err(Error::InvalidArgument(format!(
                "{} coordinates given for a {}-dimensional grid",
                coords.len(),
                self.dims.len()
            )));
        }
        let mut rank = 0;
        for ((&coord, &dim), &periodic) in coords.iter().zip(&self.dims).zip(&self.periods) {
            let dim = dim as isize;
            let coord = if periodic {
                coord.rem_euclid(dim)
            } else if (0..dim).contains(&coord) {
                coord
            } else {
                return Ok(None);
            };
            rank = rank * dim as usize + coord as usize;
        }
        Ok(Some(rank))
    }

    /// `rank`'s neighbours `displacement` steps along `dimension` (`MPI_Cart_shift`):
    /// `(source, dest)`, the rank that many steps back and the one that many ahead; `None`
    /// where that passes the edge of a non-periodic dimension (`MPI_PROC_NULL`).
    ///
    /// ```
    /// let line = rmpi::topology::Cartesian::new(&[3], &[false])?;
    /// assert_eq!(line.shift(0, 0, 1)?, (None, Some(1)));
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn shift(
        &self,
        rank: usize,
        dimension: usize,
        displacement: isize,
    ) -> Result<(Option<usize>, Option<usize>)> {
        if dimension >= self.dims.len() {
            return Err(Error::InvalidArgument(format!(
                "dimension {dimension} of a {}-dimensional grid",
                self.dims.len()
            )));
        }
        let here: Vec<isize> = self.coords(rank)?.iter().map(|&c| c as isize).collect();
        let moved = |by: isize| {
            let mut there = here.clone();
            there[dimension] += by;
            self.rank_of(&there)
        };
        Ok((moved(-displacement)?, moved(displacement)?))
    }

    /// `rank`'s neighbours in MPI's order for neighbourhood collectives: for each dimension,
    /// the one a step back, then the one a step ahead (`None` past an edge).
    ///
    /// ```
    /// let grid = rmpi::topology::Cartesian::new(&[2, 2], &[false, false])?;
    /// assert_eq!(grid.neighbours(0)?, [None, Some(2), None, Some(1)]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn neighbours(&self, rank: usize) -> Result<Vec<Option<usize>>> {
        let mut neighbours = Vec::with_capacity(2 * self.dims.len());
        for dimension in 0..self.dims.len() {
            let (back, ahead) = self.shift(rank, dimension, 1)?;
            neighbours.extend([back, ahead]);
        }
        Ok(neighbours)
    }

    /// The grid of the dimensions where `remain` is true (for `MPI_Cart_sub`).
    pub(crate) fn keep(&self, remain: &[bool]) -> Result<Cartesian> {
        if remain.len() != self.dims.len() {
            return Err(Error::InvalidArgument(format!(
                "{} flags given for a {}-dimensional grid",
                remain.len(),
                self.dims.len()
            )));
        }
        let kept = |values: &[usize]| -> Vec<usize> {
            values
                .iter()
                .zip(remain)
                .filter(|&(_, &r)| r)
                .map(|(&v, _)| v)
                .collect()
        };
        let dims = kept(&self.dims);
        let periods: Vec<bool> = self
            .periods
            .iter()
            .zip(remain)
            .filter(|&(_, &r)| r)
            .map(|(&p, _)| p)
            .collect();
        if dims.is_empty() {
            // MPI gives a 0-dimensional grid of one rank; one dimension of 1 behaves alike.
            return Cartesian::new(&[1], &[false]);
        }
        Cartesian::new(&dims, &periods)
    }
}

/// Balanced grid dimensions for `nodes` ranks (`MPI_Dims_create`, mpi4py's
/// `MPI.Compute_dims`): entries of `dims` that are not 0 are kept, the 0s are filled so that
/// the product is `nodes`, as close to each other as possible and in non-increasing order.
///
/// ```
/// use rmpi::topology::compute_dims;
/// assert_eq!(compute_dims(12, &[0, 0])?, [4, 3]);
/// assert_eq!(compute_dims(12, &[0, 3, 0])?, [2, 3, 2]);
/// assert!(compute_dims(7, &[2, 0]).is_err());
/// # Ok::<(), rmpi::Error>(())
/// ```
pub fn compute_dims(nodes: usize, dims: &[usize]) -> Result<Vec<usize>> {
    let fixed: usize = dims.iter().filter(|&&d| d != 0).product();
    let free: Vec<usize> = (0..dims.len()).filter(|&i| dims[i] == 0).collect();
    if nodes == 0 || fixed == 0 || nodes % fixed != 0 || (free.is_empty() && fixed != nodes) {
        return Err(Error::InvalidArgument(format!(
            "{nodes} ranks cannot be laid out as {dims:?} (0 marks a dimension to choose)"
        )));
    }
    let mut factors = Vec::new();
    let (mut rest, mut p) = (nodes / fixed, 2);
    while rest > 1 {
        while rest % p == 0 {
            factors.push(p);
            rest /= p;
        }
        p += 1;
    }
    let mut chosen = vec![1usize; free.len()];
    // Largest factors first, each to the dimension that is smallest so far.
    for factor in factors.into_iter().rev() {
        if let Some(smallest) = chosen.iter_mut().min() {
            *smallest *= factor;
        }
    }
    chosen.sort_unstable_by(|a, b| b.cmp(a));
    let mut out = dims.to_vec();
    for (slot, value) in free.into_iter().zip(chosen) {
        out[slot] = value;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_and_ranks_are_inverse() {
        let grid = Cartesian::new(&[3, 2, 4], &[true, false, true]).unwrap();
        for rank in 0..grid.size() {
            let coords: Vec<isize> = grid
                .coords(rank)
                .unwrap()
                .iter()
                .map(|&c| c as isize)
                .collect();
            assert_eq!(grid.rank_of(&coords).unwrap(), Some(rank));
        }
        assert!(grid.coords(24).is_err());
    }

    #[test]
    fn dims_multiply_to_the_rank_count() {
        for nodes in 1..200 {
            for ndims in 1..4 {
                let dims = compute_dims(nodes, &vec![0; ndims]).unwrap();
                assert_eq!(dims.iter().product::<usize>(), nodes);
                assert!(dims.windows(2).all(|w| w[0] >= w[1]), "{dims:?}");
            }
        }
        assert_eq!(compute_dims(16, &[0, 0]).unwrap(), [4, 4]);
        assert_eq!(compute_dims(6, &[0, 0]).unwrap(), [3, 2]);
    }
}
