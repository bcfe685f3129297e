//! The blocking communicator: an async [`rmpi_core::Comm`] and the runtime its calls run on.

use rmpi_core::config::Config;
use rmpi_core::group::Group;
use rmpi_core::topology::Cartesian;
use rmpi_core::Result;
use rmpi_core::SplitType;

use super::Runner;

/// A communicator whose calls block until they are done (`MPI_Comm` as C and mpi4py use
/// it). Cheap to clone and `Send`: threads of one rank may share it. Point-to-point calls
/// are in the next sections of this page, then collectives and nonblocking calls.
///
/// ```
/// // mpi4py: comm.send(data, dest=1, tag=11) / data = comm.recv(source=0, tag=11)
/// let results = rmpi::blocking::local::run(2, |comm| {
///     if comm.rank() == 0 {
///         comm.send(&(0..10).collect::<Vec<u32>>(), 1, 11)?;
///         Ok(Vec::new())
///     } else {
///         comm.recv::<Vec<u32>>(0, 11)
///     }
/// });
/// assert_eq!(results[1].as_ref().unwrap(), &(0..10).collect::<Vec<u32>>());
/// ```
#[derive(Clone, Debug)]
pub struct Comm {
    pub(super) inner: rmpi_core::Comm,
    pub(super) runner: Runner,
}

impl Comm {
    pub(super) fn new(inner: rmpi_core::Comm, runner: Runner) -> Comm {
        Comm { inner, runner }
    }

    /// This process's rank in the communicator (`comm.Get_rank()`).
    ///
    /// ```
    /// let ranks = rmpi::blocking::local::run(2, |comm| Ok(comm.rank()));
    /// assert_eq!(ranks.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [0, 1]);
    /// ```
    pub fn rank(&self) -> usize {
        self.inner.rank()
    }

    /// The number of ranks in the communicator (`comm.Get_size()`).
    ///
    /// ```
    /// let sizes = rmpi::blocking::local::run(2, |comm| Ok(comm.size()));
    /// assert!(sizes.into_iter().all(|size| size.unwrap() == 2));
    /// ```
    pub fn size(&self) -> usize {
        self.inner.size()
    }

    /// The world rank of this communicator's member `rank`, `None` if there is no such member.
    ///
    /// ```
    /// let world = rmpi::blocking::local::run(1, |comm| Ok(comm.world_rank(0)));
    /// assert_eq!(world[0].as_ref().unwrap(), &Some(0));
    /// ```
    pub fn world_rank(&self, rank: usize) -> Option<usize> {
        self.inner.world_rank(rank)
    }

    /// The communicator's name, as deadlock reports print it (`world`, `world.dup#0`, ...).
    ///
    /// ```
    /// let names = rmpi::blocking::local::run(1, |comm| Ok(comm.dup().name().to_string()));
    /// assert_eq!(names[0].as_ref().unwrap(), "world.dup#0");
    /// ```
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The settings this communicator's job runs with.
    ///
    /// ```
    /// let limits = rmpi::blocking::local::run(1, |comm| Ok(comm.config().unexpected_bytes));
    /// # let _ = limits;
    /// ```
    pub fn config(&self) -> &Config {
        self.inner.config()
    }

    /// The communicator holding only this process (`MPI_COMM_SELF`).
    ///
    /// ```
    /// let sizes = rmpi::blocking::local::run(2, |comm| Ok(comm.comm_self().size()));
    /// assert!(sizes.into_iter().all(|size| size.unwrap() == 1));
    /// ```
    pub fn comm_self(&self) -> Comm {
        self.wrap(self.inner.comm_self())
    }

    /// A new communicator with the same members and a context of its own (`comm.Dup()`), so
    /// that a library's messages never match the caller's. Every member calls it, in the
    /// same order relative to other `dup`/`split` calls.
    ///
    /// ```
    /// let got = rmpi::blocking::local::run(2, |comm| {
    ///     let library = comm.dup();
    ///     if comm.rank() == 0 {
    ///         library.send(&1u8, 1, 0)?;
    ///         comm.send(&2u8, 1, 0)?;
    ///         Ok(0)
    ///     } else {
    ///         comm.recv::<u8>(0, 0) // the message on `comm`, not the library's
    ///     }
    /// });
    /// assert_eq!(got[1].as_ref().unwrap(), &2);
    /// ```
    pub fn dup(&self) -> Comm {
        self.wrap(self.inner.dup())
    }

    /// Partitions the communicator (`comm.Split(color, key)`): members passing the same
    /// `color` form a new communicator, ranked by `key` and then by rank here; `None` as
    /// the colour (`MPI_UNDEFINED`) gives `None`. Every member calls it.
    ///
    /// ```
    /// let sizes = rmpi::blocking::local::run(4, |comm| {
    ///     let half = comm.split(Some((comm.rank() % 2) as u32), 0)?.expect("a colour");
    ///     Ok(half.size())
    /// });
    /// assert!(sizes.into_iter().all(|size| size.unwrap() == 2));
    /// ```
    #[track_caller]
    pub fn split(&self, color: Option<u32>, key: i32) -> Result<Option<Comm>> {
        let split = self.runner.wait(self.inner.split(color, key))?;
        Ok(split.map(|comm| self.wrap(comm)))
    }

    /// Partitions the communicator by what members share (`comm.Split_type`): with
    /// [`SplitType::Shared`], the members on each host. Every member calls it.
    ///
    /// ```
    /// let sizes = rmpi::blocking::local::run(2, |comm| {
    ///     Ok(comm.split_type(rmpi::SplitType::Shared, 0)?.size())
    /// });
    /// assert!(sizes.into_iter().all(|size| size.unwrap() == 2));
    /// ```
    #[track_caller]
    pub fn split_type(&self, split: SplitType, key: i32) -> Result<Comm> {
        let shared = self.runner.wait(self.inner.split_type(split, key))?;
        Ok(self.wrap(shared))
    }

    /// The group of this communicator's members (`comm.Get_group()`).
    ///
    /// ```
    /// let sizes = rmpi::blocking::local::run(3, |comm| Ok(comm.group().excl(&[0])?.size()));
    /// assert_eq!(*sizes[0].as_ref().unwrap(), 2);
    /// ```
    pub fn group(&self) -> Group {
        self.inner.group()
    }

    /// A communicator of `group`'s members (`comm.Create(group)`), `None` for the others;
    /// every member of this communicator calls it.
    ///
    /// ```
    /// let ranks = rmpi::blocking::local::run(3, |comm| {
    ///     let group = comm.group().incl(&[1, 2])?;
    ///     Ok(comm.create(&group)?.map(|c| c.rank()))
    /// });
    /// assert_eq!(*ranks[2].as_ref().unwrap(), Some(1));
    /// ```
    #[track_caller]
    pub fn create(&self, group: &Group) -> Result<Option<Comm>> {
        let made = self.runner.wait(self.inner.create(group))?;
        Ok(made.map(|comm| self.wrap(comm)))
    }

    /// A communicator of `group`'s members made by them alone (`comm.Create_group(group,
    /// tag)`); others need not call it.
    ///
    /// ```
    /// let sums = rmpi::blocking::local::run(3, |comm| {
    ///     if comm.rank() == 0 {
    ///         return Ok(0);
    ///     }
    ///     let workers = comm.create_group(&comm.group().excl(&[0])?, 1)?.unwrap();
    ///     workers.allreduce(comm.rank(), rmpi::prelude::Sum)
    /// });
    /// assert_eq!(*sums[1].as_ref().unwrap(), 3);
    /// ```
    pub fn create_group(&self, group: &Group, tag: i32) -> Result<Option<Comm>> {
        let made = self.inner.create_group(group, tag)?;
        Ok(made.map(|comm| self.wrap(comm)))
    }

    /// A communicator whose ranks lie on a grid of `dims` ranks, wrapping where `periods`
    /// says (`comm.Create_cart(dims, periods)`); ranks past the grid get `None`. Every
    /// member calls it. [`topology`](crate::topology) has the grid arithmetic.
    ///
    /// ```
    /// let coords = rmpi::blocking::local::run(4, |comm| {
    ///     let dims = rmpi::topology::compute_dims(comm.size(), &[0, 0])?;
    ///     let grid = comm.create_cart(&dims, &[false, false])?.expect("on the grid");
    ///     grid.cart_coords()
    /// });
    /// assert_eq!(coords[2].as_ref().unwrap(), &[1, 0]);
    /// ```
    #[track_caller]
    pub fn create_cart(&self, dims: &[usize], periods: &[bool]) -> Result<Option<Comm>> {
        let grid = self.runner.wait(self.inner.create_cart(dims, periods))?;
        Ok(grid.map(|comm| self.wrap(comm)))
    }

    /// The grid this communicator's ranks lie on, if it has one.
    ///
    /// ```
    /// let dims = rmpi::blocking::local::run(2, |comm| {
    ///     let line = comm.create_cart(&[2], &[true])?.unwrap();
    ///     Ok(line.cartesian().map(|grid| grid.dims().to_vec()))
    /// });
    /// assert_eq!(dims[0].as_ref().unwrap(), &Some(vec![2]));
    /// ```
    pub fn cartesian(&self) -> Option<&Cartesian> {
        self.inner.cartesian()
    }

    /// This rank's coordinates on the grid (`comm.Get_coords(rank)`).
    ///
    /// ```
    /// let coords = rmpi::blocking::local::run(2, |comm| comm.create_cart(&[1, 2], &[false; 2])?.unwrap().cart_coords());
    /// assert_eq!(coords[1].as_ref().unwrap(), &[0, 1]);
    /// ```
    pub fn cart_coords(&self) -> Result<Vec<usize>> {
        self.inner.cart_coords()
    }

    /// This rank's neighbours `displacement` steps along `dimension` (`comm.Shift`):
    /// `(source, dest)`, `None` past the edge of a non-periodic dimension.
    ///
    /// ```
    /// let shifts = rmpi::blocking::local::run(2, |comm| comm.create_cart(&[2], &[false])?.unwrap().cart_shift(0, 1));
    /// assert_eq!(shifts[0].as_ref().unwrap(), &(None, Some(1)));
    /// ```
    pub fn cart_shift(
        &self,
        dimension: usize,
        displacement: isize,
    ) -> Result<(Option<usize>, Option<usize>)> {
        self.inner.cart_shift(dimension, displacement)
    }

    /// The sub-grids keeping the dimensions where `remain` is true (`comm.Sub`). Every
    /// member calls it.
    ///
    /// ```
    /// let rows = rmpi::blocking::local::run(4, |comm| {
    ///     let grid = comm.create_cart(&[2, 2], &[false; 2])?.unwrap();
    ///     Ok(grid.cart_sub(&[false, true])?.size())
    /// });
    /// assert!(rows.into_iter().all(|size| size.unwrap() == 2));
    /// ```
    #[track_caller]
    pub fn cart_sub(&self, remain: &[bool]) -> Result<Comm> {
        let sub = self.runner.wait(self.inner.cart_sub(remain))?;
        Ok(self.wrap(sub))
    }

    /// Ends every rank of the job at once with exit code `code` (`comm.Abort(code)`);
    /// `rmpirun` names this rank and exits with `code`.
    ///
    /// ```no_run
    /// let universe = rmpi::blocking::init()?;
    /// let world = universe.world();
    /// if !std::path::Path::new("input.txt").exists() {
    ///     world.abort(2);
    /// }
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn abort(&self, code: i32) -> ! {
        self.inner.abort(code)
    }

    /// The async communicator under this one, for the parts of a program that are async.
    ///
    /// ```
    /// let sizes = rmpi::blocking::local::run(2, |comm| Ok(comm.as_async().size()));
    /// assert!(sizes.into_iter().all(|size| size.unwrap() == 2));
    /// ```
    pub fn as_async(&self) -> &rmpi_core::Comm {
        &self.inner
    }

    pub(super) fn finalize(&self) -> Result<()> {
        self.runner.wait(self.inner.finalize())
    }

    fn wrap(&self, inner: rmpi_core::Comm) -> Comm {
        Comm::new(inner, self.runner.clone())
    }
}
