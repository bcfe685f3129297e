//! Process groups (`MPI_Group`): ordered sets of processes, to build communicators from.
//!
//! A [`Group`] lists processes by their world rank, in the group's own rank order, and
//! knows which one is the caller. Groups are plain values: making them needs no
//! communication, and [`Comm::create_group`](crate::Comm::create_group) or
//! [`Comm::create`](crate::Comm::create) turns one into a communicator.
//!
//! ```
//! let results = rmpi::local::run(4, |comm| async move {
//!     let world = comm.group();
//!     let evens = world.incl(&[0, 2])?;
//!     let odds = world.difference(&evens);
//!     assert_eq!(odds.members(), [1, 3]);
//!     // Only the group's members call create_group.
//!     let ours = if comm.rank() % 2 == 0 { evens } else { odds };
//!     let half = comm.create_group(&ours, 0)?.expect("a member");
//!     Ok::<_, rmpi::Error>(half.size())
//! });
//! assert!(results.into_iter().all(|size| size.unwrap() == 2));
//! ```

use crate::error::{Error, Result};

/// An ordered set of processes, by world rank, as seen by one of them or by an outsider.
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
/// let world = comm.group();
/// let firsts = world.incl(&[0, 1])?;
/// assert_eq!(firsts.size(), 2);
/// assert_eq!(firsts.rank(), (comm.rank() < 2).then_some(comm.rank()));
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Group {
    members: Vec<usize>,
    /// The caller's world rank.
    me: usize,
}

/// How two groups compare (`MPI_Group_compare`).
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(3, |comm| async move {
/// use rmpi::group::GroupOrder;
/// let world = comm.group();
/// let reversed = world.incl(&[2, 1, 0])?;
/// assert_eq!(world.compare(&world), GroupOrder::Identical);
/// assert_eq!(world.compare(&reversed), GroupOrder::Similar);
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupOrder {
    /// The same members in the same order (`MPI_IDENT`).
    Identical,
    /// The same members in another order (`MPI_SIMILAR`).
    Similar,
    /// Different members (`MPI_UNEQUAL`).
    Unequal,
}

impl Group {
    pub(crate) fn new(members: Vec<usize>, me: usize) -> Group {
        Group { members, me }
    }

    /// The members' world ranks, in group rank order.
    ///
    /// ```
    /// let members = rmpi::local::run(2, |comm| async move { Ok::<_, rmpi::Error>(comm.group().members().to_vec()) });
    /// assert_eq!(members[0].as_ref().unwrap(), &[0, 1]);
    /// ```
    pub fn members(&self) -> &[usize] {
        &self.members
    }

    /// How many members (`group.Get_size()`).
    ///
    /// ```
    /// let sizes = rmpi::local::run(3, |comm| async move { Ok::<_, rmpi::Error>(comm.group().size()) });
    /// assert_eq!(*sizes[0].as_ref().unwrap(), 3);
    /// ```
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// The caller's rank in the group, `None` if it is not a member (`group.Get_rank()`,
    /// `MPI_UNDEFINED`).
    ///
    /// ```
    /// let ranks = rmpi::local::run(3, |comm| async move { Ok::<_, rmpi::Error>(comm.group().excl(&[0])?.rank()) });
    /// assert_eq!(*ranks[0].as_ref().unwrap(), None);
    /// assert_eq!(*ranks[2].as_ref().unwrap(), Some(1));
    /// ```
    pub fn rank(&self) -> Option<usize> {
        self.position(self.me)
    }

    /// The group made of the members at `ranks` of this one, in that order
    /// (`group.Incl(ranks)`).
    ///
    /// ```
    /// let picked = rmpi::local::run(4, |comm| async move { Ok::<_, rmpi::Error>(comm.group().incl(&[3, 1])?.members().to_vec()) });
    /// assert_eq!(picked[0].as_ref().unwrap(), &[3, 1]);
    /// ```
    pub fn incl(&self, ranks: &[usize]) -> Result<Group> {
        let mut members = Vec::with_capacity(ranks.len());
        for &rank in ranks {
            let &member = self.members.get(rank).ok_or(Error::InvalidRank {
                rank,
                size: self.size(),
            })?;
            if members.contains(&member) {
                return Err(Error::InvalidArgument(format!(
                    "rank {rank} is named twice in a group's ranks"
                )));
            }
            members.push(member);
        }
        Ok(Group::new(members, self.me))
    }

    /// This group without the members at `ranks` (`group.Excl(ranks)`).
    ///
    /// ```
    /// let rest = rmpi::local::run(3, |comm| async move { Ok::<_, rmpi::Error>(comm.group().excl(&[1])?.members().to_vec()) });
    /// assert_eq!(rest[0].as_ref().unwrap(), &[0, 2]);
    /// ```
    pub fn excl(&self, ranks: &[usize]) -> Result<Group> {
        if let Some(&rank) = ranks.iter().find(|&&rank| rank >= self.size()) {
            return Err(Error::InvalidRank {
                rank,
                size: self.size(),
            });
        }
        let members = (0..self.size())
            .filter(|rank| !ranks.contains(rank))
            .map(|rank| self.members[rank])
            .collect();
        Ok(Group::new(members, self.me))
    }

    /// This group's members, then `other`'s that are not among them (`Group.Union`).
    ///
    /// ```
    /// let all = rmpi::local::run(3, |comm| async move {
    ///     let g = comm.group();
    ///     Ok::<_, rmpi::Error>(g.incl(&[2])?.union(&g.incl(&[0, 2])?).members().to_vec())
    /// });
    /// assert_eq!(all[0].as_ref().unwrap(), &[2, 0]);
    /// ```
    pub fn union(&self, other: &Group) -> Group {
        let mut members = self.members.clone();
        members.extend(other.members.iter().filter(|m| !self.members.contains(m)));
        Group::new(members, self.me)
    }

    /// This group's members that are also in `other`, in this group's order
    /// (`Group.Intersection`).
    ///
    /// ```
    /// let both = rmpi::local::run(3, |comm| async move {
    ///     let g = comm.group();
    ///     Ok::<_, rmpi::Error>(g.intersection(&g.incl(&[2, 0])?).members().to_vec())
    /// });
    /// assert_eq!(both[0].as_ref().unwrap(), &[0, 2]);
    /// ```
    pub fn intersection(&self, other: &Group) -> Group {
        let members = self
            .members
            .iter()
            .copied()
            .filter(|m| other.members.contains(m));
        Group::new(members.collect(), self.me)
    }

    /// This group's members that are not in `other` (`Group.Difference`).
    ///
    /// ```
    /// let rest = rmpi::local::run(3, |comm| async move {
    ///     let g = comm.group();
    ///     Ok::<_, rmpi::Error>(g.difference(&g.incl(&[1])?).members().to_vec())
    /// });
    /// assert_eq!(rest[0].as_ref().unwrap(), &[0, 2]);
    /// ```
    pub fn difference(&self, other: &Group) -> Group {
        let members = self
            .members
            .iter()
            .copied()
            .filter(|m| !other.members.contains(m));
        Group::new(members.collect(), self.me)
    }

    /// The ranks in `other` of the members at `ranks` here, `None` for those not in it
    /// (`Group.Translate_ranks`).
    ///
    /// ```
    /// let translated = rmpi::local::run(3, |comm| async move {
    ///     let g = comm.group();
    ///     g.translate_ranks(&[0, 2], &g.incl(&[2, 1])?)
    /// });
    /// assert_eq!(translated[0].as_ref().unwrap(), &[None, Some(0)]);
    /// ```
    pub fn translate_ranks(&self, ranks: &[usize], other: &Group) -> Result<Vec<Option<usize>>> {
        ranks
            .iter()
            .map(|&rank| {
                let &member = self.members.get(rank).ok_or(Error::InvalidRank {
                    rank,
                    size: self.size(),
                })?;
                Ok(other.position(member))
            })
            .collect()
    }

    /// Whether the groups have the same members, and in the same order (`Group.Compare`).
    ///
    /// ```
    /// use rmpi::group::GroupOrder;
    /// let orders = rmpi::local::run(2, |comm| async move {
    ///     let g = comm.group();
    ///     Ok::<_, rmpi::Error>(g.compare(&g.incl(&[1, 0])?))
    /// });
    /// assert_eq!(*orders[0].as_ref().unwrap(), GroupOrder::Similar);
    /// ```
    pub fn compare(&self, other: &Group) -> GroupOrder {
        if self.members == other.members {
            GroupOrder::Identical
        } else if self.size() == other.size()
            && self.members.iter().all(|m| other.members.contains(m))
        {
            GroupOrder::Similar
        } else {
            GroupOrder::Unequal
        }
    }

    pub(crate) fn position(&self, world_rank: usize) -> Option<usize> {
        self.members.iter().position(|&m| m == world_rank)
    }
}
