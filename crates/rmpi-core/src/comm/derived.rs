//! Communicators made from others: `self`, `dup`, `split`, `split_type`, and from groups.
//!
//! Ids of derived communicators are computed, not negotiated: every member derives the
//! same id from the parent's id, a per-parent counter and the colour (or, for
//! `create_group`, from the group and a tag), so most need no communication at all.

use std::future::Future;
use std::sync::Arc;

use serde::{de::DeserializeOwned, Serialize};

use super::{derive_id, encode, Comm, Plane, SELF_ID};
use crate::error::{Error, Result};
use crate::group::Group;
use crate::host;
use crate::status::TAG_UB;
use crate::waits::Operation;

/// Which ranks `split_type` puts together (`MPI_Comm_split_type`'s split types).
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
/// use rmpi::SplitType;
/// let host = comm.split_type(SplitType::Shared, 0).await?;
/// assert_eq!(host.size(), 2); // the threads of one process share a host
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SplitType {
    /// Ranks that can share memory: those on one host (`MPI_COMM_TYPE_SHARED`).
    Shared,
}

impl Comm {
    /// The communicator holding only this process (`MPI_COMM_SELF`).
    ///
    /// ```
    /// let sizes = rmpi::local::run(2, |comm| async move { Ok::<_, rmpi::Error>(comm.comm_self().size()) });
    /// assert_eq!(*sizes[1].as_ref().unwrap(), 1);
    /// ```
    pub fn comm_self(&self) -> Comm {
        let engine = self.shared.engine.clone();
        let me: Arc<[usize]> = Arc::new([engine.rank()]);
        let name = Arc::from("self");
        Comm::new(engine, self.shared.config.clone(), (SELF_ID, name), 0, me)
    }

    /// A new communicator with the same group and fresh contexts (`MPI_Comm_dup`): a library
    /// can talk on it without ever matching the caller's messages. Collective: every member
    /// must call it, in the same order relative to other `dup`/`split` calls on this
    /// communicator. It needs no communication, so it returns at once.
    ///
    /// ```
    /// let names = rmpi::local::run(2, |comm| async move { Ok::<_, rmpi::Error>(comm.dup().name().to_string()) });
    /// assert_eq!(names[0].as_ref().unwrap(), "world.dup#0");
    /// ```
    pub fn dup(&self) -> Comm {
        let seq = self.next_child();
        let id = derive_id(self.shared.id, seq, 0);
        let name = Arc::from(format!("{}.dup#{seq}", self.shared.name));
        let copy = Comm::new(
            self.shared.engine.clone(),
            self.shared.config.clone(),
            (id, name),
            self.shared.rank,
            self.shared.group.clone(),
        );
        copy.with_topology(self.shared.topology.clone())
    }

    /// Partitions the communicator (`MPI_Comm_split`): members passing the same `color` form
    /// a new communicator, ranked by `key` and then by rank here. A member passing `None`
    /// (`MPI_UNDEFINED`) gets `None`. Collective, like [`dup`](Comm::dup).
    ///
    /// ```
    /// let results = rmpi::local::run(4, |comm| async move {
    ///     let half = comm.split(Some(comm.rank() as u32 % 2), 0).await?.unwrap();
    ///     Ok::<_, rmpi::Error>((half.size(), half.rank()))
    /// });
    /// assert_eq!(results[3].as_ref().unwrap(), &(2, 1));
    /// ```
    #[track_caller]
    pub fn split(
        &self,
        color: Option<u32>,
        key: i32,
    ) -> impl Future<Output = Result<Option<Comm>>> + Send + 'static + use<> {
        let (seq, table) = self.exchange((color, key));
        let this = self.clone();
        self.traced(Operation::collective("split", None), async move {
            let table = table.await?;
            this.derive(seq, &table, color)
        })
    }

    /// Partitions the communicator by what its members share (`comm.Split_type`): with
    /// [`SplitType::Shared`], the members on each host, ranked by `key` and then by rank
    /// here (`RMPI_HOST` decides what counts as one host where it is set). Collective.
    ///
    /// ```
    /// use rmpi::SplitType;
    /// let sizes = rmpi::local::run(3, |comm| async move {
    ///     // The threads of one process share a host.
    ///     Ok::<_, rmpi::Error>(comm.split_type(SplitType::Shared, 0).await?.size())
    /// });
    /// assert!(sizes.into_iter().all(|size| size.unwrap() == 3));
    /// ```
    #[track_caller]
    pub fn split_type(
        &self,
        split: SplitType,
        key: i32,
    ) -> impl Future<Output = Result<Comm>> + Send + 'static + use<> {
        let SplitType::Shared = split;
        let here = host::identity(self.config().host.as_deref());
        let (seq, table) = self.exchange((here, key));
        let this = self.clone();
        self.traced(Operation::collective("split_type", None), async move {
            let table = table.await?;
            // Each host's colour is the first member on it.
            let colour_of =
                |host: &String| table.iter().position(|(h, _)| h == host).map(|c| c as u32);
            let colours: Vec<(Option<u32>, i32)> = table
                .iter()
                .map(|(host, key)| (colour_of(host), *key))
                .collect();
            let mine = colours.get(this.rank()).and_then(|entry| entry.0);
            this.derive(seq, &colours, mine)?
                .ok_or_else(|| Error::InvalidArgument("split_type left this rank out".into()))
        })
    }

    /// The group of this communicator's members (`comm.Get_group()`).
    ///
    /// ```
    /// let groups = rmpi::local::run(2, |comm| async move { Ok::<_, rmpi::Error>(comm.group().size()) });
    /// assert_eq!(*groups[0].as_ref().unwrap(), 2);
    /// ```
    pub fn group(&self) -> Group {
        let me = self.shared.group[self.rank()];
        Group::new(self.shared.group.to_vec(), me)
    }

    /// A communicator of `group`'s members, in its order (`comm.Create(group)`), `None`
    /// for the others. Collective over this whole communicator; `group` must be the same
    /// at every member, and a subset of this communicator's.
    ///
    /// ```
    /// let sizes = rmpi::local::run(3, |comm| async move {
    ///     let last_two = comm.group().incl(&[2, 1])?;
    ///     Ok::<_, rmpi::Error>(comm.create(&last_two).await?.map(|c| c.rank()))
    /// });
    /// assert_eq!(*sizes[0].as_ref().unwrap(), None);
    /// assert_eq!(*sizes[2].as_ref().unwrap(), Some(0));
    /// ```
    #[track_caller]
    pub fn create(
        &self,
        group: &Group,
    ) -> impl Future<Output = Result<Option<Comm>>> + Send + 'static + use<> {
        let outside = self.outsider(group);
        let place = group.rank();
        let split = self.split(place.map(|_| 0), place.unwrap_or(0) as i32);
        async move {
            if let Some(error) = outside {
                return Err(error);
            }
            split.await
        }
    }

    /// A communicator of `group`'s members, in its order, made by them alone
    /// (`comm.Create_group(group, tag)`): the others need not take part. Members pass the
    /// same `group` and `tag`; groups made at once from one communicator need different
    /// tags. It needs no communication, so it returns at once; a caller outside `group`
    /// gets `None`.
    ///
    /// ```
    /// let ranks = rmpi::local::run(4, |comm| async move {
    ///     if comm.rank() == 0 {
    ///         return Ok(None); // not a member, and not involved
    ///     }
    ///     let workers = comm.group().excl(&[0])?;
    ///     let workers = comm.create_group(&workers, 7)?.expect("a member");
    ///     Ok::<_, rmpi::Error>(Some(workers.rank()))
    /// });
    /// assert_eq!(*ranks[3].as_ref().unwrap(), Some(2));
    /// ```
    pub fn create_group(&self, group: &Group, tag: i32) -> Result<Option<Comm>> {
        if let Some(error) = self.outsider(group) {
            return Err(error);
        }
        let Some(rank) = group.rank() else {
            return Ok(None);
        };
        let members: Arc<[usize]> = group.members().into();
        // Every member derives the same id from the group and the tag.
        let tagged = u64::from(tag as u32) | (1 << 63);
        let id = members
            .iter()
            .fold(derive_id(self.shared.id, tagged, 0), |id, &m| {
                derive_id(id, m as u64, 1)
            });
        let name = format!("{}.group#{tag}", self.shared.name);
        Ok(Some(Comm::new(
            self.shared.engine.clone(),
            self.shared.config.clone(),
            (id, Arc::from(name)),
            rank,
            members,
        )))
    }

    /// An error if `group` has a member outside this communicator.
    fn outsider(&self, group: &Group) -> Option<Error> {
        let outside = group
            .members()
            .iter()
            .find(|m| !self.shared.group.contains(m))?;
        Some(Error::InvalidArgument(format!(
            "world rank {outside} is in the group but not in communicator {}",
            self.name()
        )))
    }

    /// Starts an all-to-all exchange of one small value per member over the management
    /// context, for building communicators: rank 0 gathers the table and sends it back.
    /// The contribution leaves now, so exchanges started together complete in any order.
    fn exchange<T>(
        &self,
        mine: T,
    ) -> (
        u64,
        impl Future<Output = Result<Vec<T>>> + Send + 'static + use<T>,
    )
    where
        T: Serialize + DeserializeOwned + Clone + Send + 'static,
    {
        let seq = self.next_child();
        let mgmt = self.on_plane(Plane::Management);
        let tag = (seq & TAG_UB as u64) as i32;
        let contributed = if self.rank() == 0 {
            Ok(())
        } else {
            mgmt.start_send(0, tag, encode(&mine))
        };
        let size = self.size();
        let table = async move {
            contributed?;
            let table: Vec<T> = if mgmt.rank() == 0 {
                let mut table = vec![mine; size];
                for (rank, entry) in table.iter_mut().enumerate().skip(1) {
                    *entry = mgmt.recv(rank, tag).await?;
                }
                for rank in 1..size {
                    mgmt.send(&table, rank, tag).await?;
                }
                table
            } else {
                mgmt.recv(0, tag).await?
            };
            if table.len() != size {
                return Err(Error::InvalidArgument(format!(
                    "a communicator's table has {} entries for {size} ranks",
                    table.len()
                )));
            }
            Ok(table)
        };
        (seq, table)
    }

    /// The communicator of the members that share `color` in `table` (each member's colour
    /// and key), ranked by key and then by rank here; `None` for colour `None`.
    fn derive(
        &self,
        seq: u64,
        table: &[(Option<u32>, i32)],
        color: Option<u32>,
    ) -> Result<Option<Comm>> {
        let Some(color) = color else {
            return Ok(None);
        };
        let mut members: Vec<(i32, usize)> = table
            .iter()
            .enumerate()
            .filter(|(_, (c, _))| *c == Some(color))
            .map(|(rank, (_, key))| (*key, rank))
            .collect();
        members.sort_unstable();
        let new_rank = members
            .iter()
            .position(|&(_, rank)| rank == self.rank())
            .ok_or_else(|| Error::InvalidArgument("this rank is missing from its colour".into()))?;
        let group: Arc<[usize]> = members
            .iter()
            .map(|&(_, rank)| self.shared.group[rank])
            .collect();
        let id = derive_id(self.shared.id, seq, u64::from(color) + 1);
        let name = format!("{}.split#{seq}(colour {color})", self.shared.name);
        Ok(Some(Comm::new(
            self.shared.engine.clone(),
            self.shared.config.clone(),
            (id, Arc::from(name)),
            new_rank,
            group,
        )))
    }
}
