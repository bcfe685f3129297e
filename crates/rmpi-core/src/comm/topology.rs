//! Communicators laid out on a Cartesian grid (`MPI_Cart_create` and the calls that ask it).

use std::future::Future;
use std::sync::Arc;

use super::Comm;
use crate::error::{Error, Result};
use crate::topology::Cartesian;

impl Comm {
    /// A communicator whose ranks lie on a grid of `dims` ranks, wrapping where `periods`
    /// says (`comm.Create_cart(dims, periods)`). The first `dims`' product ranks keep their
    /// rank; the others get `None`. Collective: every member calls it.
    ///
    /// ```
    /// let results = rmpi::local::run(6, |comm| async move {
    ///     let dims = rmpi::topology::compute_dims(comm.size(), &[0, 0])?;
    ///     let grid = comm.create_cart(&dims, &[false, false]).await?.expect("on the grid");
    ///     let (up, down) = grid.cart_shift(0, 1)?;
    ///     Ok::<_, rmpi::Error>((grid.cart_coords()?, up, down))
    /// });
    /// assert_eq!(results[2].as_ref().unwrap(), &(vec![1, 0], Some(0), Some(4)));
    /// ```
    #[track_caller]
    pub fn create_cart(
        &self,
        dims: &[usize],
        periods: &[bool],
    ) -> impl Future<Output = Result<Option<Comm>>> + Send + 'static + use<> {
        let grid = Cartesian::new(dims, periods).and_then(|grid| {
            if grid.size() > self.size() {
                Err(Error::InvalidArgument(format!(
                    "a grid of {dims:?} needs {} ranks; the communicator has {}",
                    grid.size(),
                    self.size()
                )))
            } else {
                Ok(grid)
            }
        });
        let on_grid = grid.as_ref().is_ok_and(|grid| self.rank() < grid.size());
        let split = self.split(on_grid.then_some(0), 0);
        async move {
            let grid = grid?;
            Ok(split
                .await?
                .map(|comm| comm.with_topology(Some(Arc::new(grid)))))
        }
    }

    /// The grid this communicator's ranks lie on, if it was made by
    /// [`create_cart`](Comm::create_cart) (or from one such by `dup` or `cart_sub`).
    ///
    /// ```
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     let none = comm.cartesian().is_none();
    ///     let grid = comm.create_cart(&[2], &[true]).await?.unwrap();
    ///     Ok::<_, rmpi::Error>((none, grid.cartesian().unwrap().dims().to_vec()))
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &(true, vec![2]));
    /// ```
    pub fn cartesian(&self) -> Option<&Cartesian> {
        self.shared.topology.as_deref()
    }

    /// This rank's coordinates on the grid (`comm.Get_coords(rank)`).
    ///
    /// ```
    /// let results = rmpi::local::run(4, |comm| async move {
    ///     let grid = comm.create_cart(&[2, 2], &[false, false]).await?.unwrap();
    ///     grid.cart_coords()
    /// });
    /// assert_eq!(results[3].as_ref().unwrap(), &[1, 1]);
    /// ```
    pub fn cart_coords(&self) -> Result<Vec<usize>> {
        self.grid()?.coords(self.rank())
    }

    /// This rank's neighbours `displacement` steps along `dimension` (`comm.Shift`):
    /// `(source, dest)`, `None` past the edge of a non-periodic dimension (where MPI says
    /// `MPI_PROC_NULL`).
    ///
    /// ```
    /// let results = rmpi::local::run(3, |comm| async move {
    ///     let line = comm.create_cart(&[3], &[false]).await?.unwrap();
    ///     line.cart_shift(0, 1)
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &(None, Some(1)));
    /// assert_eq!(results[1].as_ref().unwrap(), &(Some(0), Some(2)));
    /// ```
    pub fn cart_shift(
        &self,
        dimension: usize,
        displacement: isize,
    ) -> Result<(Option<usize>, Option<usize>)> {
        self.grid()?.shift(self.rank(), dimension, displacement)
    }

    /// Splits the grid into the sub-grids that keep the dimensions where `remain` is true
    /// (`comm.Sub(remain_dims)`): with `[false, true]`, each row of a 2-D grid becomes a
    /// communicator. Collective: every member calls it.
    ///
    /// ```
    /// let results = rmpi::local::run(6, |comm| async move {
    ///     let grid = comm.create_cart(&[2, 3], &[false, false]).await?.unwrap();
    ///     let row = grid.cart_sub(&[false, true]).await?;
    ///     Ok::<_, rmpi::Error>((row.size(), row.rank()))
    /// });
    /// assert_eq!(results[4].as_ref().unwrap(), &(3, 1));
    /// ```
    #[track_caller]
    pub fn cart_sub(
        &self,
        remain: &[bool],
    ) -> impl Future<Output = Result<Comm>> + Send + 'static + use<> {
        let planned = self.grid().and_then(|grid| {
            let kept = grid.keep(remain)?;
            // Members that agree on every dropped coordinate share a sub-grid.
            let coords = grid.coords(self.rank())?;
            let colour = coords
                .iter()
                .zip(grid.dims())
                .zip(remain)
                .filter(|&(_, &keep)| !keep)
                .fold(0usize, |colour, ((&c, &d), _)| colour * d + c);
            Ok((kept, colour))
        });
        let colour = planned.as_ref().map(|(_, colour)| *colour as u32).ok();
        let split = self.split(colour, 0);
        async move {
            let (kept, _) = planned?;
            let sub = split.await?.ok_or_else(|| {
                Error::InvalidArgument("cart_sub gave this rank no sub-grid".into())
            })?;
            Ok(sub.with_topology(Some(Arc::new(kept))))
        }
    }

    fn grid(&self) -> Result<&Cartesian> {
        self.cartesian().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "communicator {} has no Cartesian topology: make one with create_cart",
                self.name()
            ))
        })
    }

    /// This communicator with `topology`; only a communicator no one else holds yet can
    /// take one, which is how the constructors above use it.
    pub(super) fn with_topology(mut self, topology: Option<Arc<Cartesian>>) -> Comm {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.topology = topology;
        }
        self
    }
}
