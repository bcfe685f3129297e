//! How a process finds the rest of its job: the seam between launchers and transports.
//!
//! A launcher (`rmpirun`, and later Hydra's PMI or Slurm) starts the ranks and offers them a
//! small key-value space with a fence, which is all transports need to find each other: each
//! rank publishes where it can be reached, everyone fences, then everyone reads the others'
//! entries. [`Bootstrap`] is that interface, modelled on PMI-1 so that any of those launchers
//! can provide it. [`Singleton`] is the job of one process started without a launcher.
//!
//! Bootstrap calls happen once, at start-up, and block the calling thread.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Barrier, Mutex};

use crate::{Error, Result};

/// What a process learns from whoever launched it.
///
/// ```
/// use rmpi::transport::{Bootstrap, InProcess};
/// // Two ranks as threads: each publishes its address, fences, reads the other's.
/// let bootstraps = InProcess::job(2, "doc-job");
/// std::thread::scope(|s| {
///     for boot in &bootstraps {
///         s.spawn(move || {
///             boot.put(&format!("addr-{}", boot.rank()), &format!("10.0.0.{}", boot.rank()))?;
///             boot.fence()?;
///             let other = 1 - boot.rank();
///             assert_eq!(boot.get(&format!("addr-{other}"))?, format!("10.0.0.{other}"));
///             Ok::<_, rmpi::Error>(())
///         });
///     }
/// });
/// assert_eq!(bootstraps[1].size(), 2);
/// # Ok::<(), rmpi::Error>(())
/// ```
pub trait Bootstrap: Send + Sync + fmt::Debug {
    /// This process's rank in the world.
    ///
    /// ```
    /// use rmpi::transport::{Bootstrap, Singleton};
    /// assert_eq!(Singleton::new().rank(), 0);
    /// ```
    fn rank(&self) -> usize;

    /// The number of ranks in the world.
    ///
    /// ```
    /// use rmpi::transport::{Bootstrap, Singleton};
    /// assert_eq!(Singleton::new().size(), 1);
    /// ```
    fn size(&self) -> usize;

    /// An identifier of the job, the same at every rank and different between concurrent
    /// jobs (it names shared resources such as shared-memory segments).
    ///
    /// ```
    /// use rmpi::transport::{Bootstrap, InProcess};
    /// let job = InProcess::job(2, "doc-job");
    /// assert_eq!(job[0].job_id(), job[1].job_id());
    /// ```
    fn job_id(&self) -> &str;

    /// A secret only this job's ranks know; transports use it to tell their peers from
    /// strangers connecting to them.
    ///
    /// ```
    /// use rmpi::transport::{Bootstrap, InProcess};
    /// let job = InProcess::job(2, "doc-job");
    /// assert_eq!(job[0].job_secret(), job[1].job_secret()); // the same at every rank
    /// ```
    fn job_secret(&self) -> &[u8];

    /// Publishes `value` under `key`; the others can read it after the next [`fence`].
    /// Keys and values are printable ASCII without spaces or `=`.
    ///
    /// [`fence`]: Bootstrap::fence
    ///
    /// ```
    /// use rmpi::transport::{Bootstrap, InProcess};
    /// // Two ranks as threads: each publishes its address, fences, reads the other's.
    /// let bootstraps = InProcess::job(2, "doc-job");
    /// std::thread::scope(|s| {
    ///     for boot in &bootstraps {
    ///         s.spawn(move || {
    ///             boot.put(&format!("addr-{}", boot.rank()), &format!("10.0.0.{}", boot.rank()))?;
    ///             boot.fence()?;
    ///             let other = 1 - boot.rank();
    ///             assert_eq!(boot.get(&format!("addr-{other}"))?, format!("10.0.0.{other}"));
    ///             Ok::<_, rmpi::Error>(())
    ///         });
    ///     }
    /// });
    /// assert_eq!(bootstraps[1].size(), 2);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn put(&self, key: &str, value: &str) -> Result<()>;

    /// Waits until every rank has reached the fence; afterwards every value put before it is
    /// visible to every rank.
    ///
    /// ```
    /// use rmpi::transport::{Bootstrap, InProcess};
    /// // Two ranks as threads: each publishes its address, fences, reads the other's.
    /// let bootstraps = InProcess::job(2, "doc-job");
    /// std::thread::scope(|s| {
    ///     for boot in &bootstraps {
    ///         s.spawn(move || {
    ///             boot.put(&format!("addr-{}", boot.rank()), &format!("10.0.0.{}", boot.rank()))?;
    ///             boot.fence()?;
    ///             let other = 1 - boot.rank();
    ///             assert_eq!(boot.get(&format!("addr-{other}"))?, format!("10.0.0.{other}"));
    ///             Ok::<_, rmpi::Error>(())
    ///         });
    ///     }
    /// });
    /// assert_eq!(bootstraps[1].size(), 2);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn fence(&self) -> Result<()>;

    /// The value another rank put under `key` before the last fence.
    ///
    /// ```
    /// use rmpi::transport::{Bootstrap, InProcess};
    /// // Two ranks as threads: each publishes its address, fences, reads the other's.
    /// let bootstraps = InProcess::job(2, "doc-job");
    /// std::thread::scope(|s| {
    ///     for boot in &bootstraps {
    ///         s.spawn(move || {
    ///             boot.put(&format!("addr-{}", boot.rank()), &format!("10.0.0.{}", boot.rank()))?;
    ///             boot.fence()?;
    ///             let other = 1 - boot.rank();
    ///             assert_eq!(boot.get(&format!("addr-{other}"))?, format!("10.0.0.{other}"));
    ///             Ok::<_, rmpi::Error>(())
    ///         });
    ///     }
    /// });
    /// assert_eq!(bootstraps[1].size(), 2);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn get(&self, key: &str) -> Result<String>;
}

/// The name of a resource a job shares on its host (a shared-memory segment, say):
/// `rmpi-<job id><suffix>`, with anything but ASCII letters, digits, `-`, `_` and `.`
/// replaced. Suffixes start with `-`, and launchers remove every name starting with
/// `resource_name(job, "-")` when the job ends, so what a crashed rank leaves behind does
/// not outlive its job.
///
/// ```
/// use rmpi::transport::resource_name;
/// assert_eq!(resource_name("job 7", "-ring"), "rmpi-job_7-ring");
/// ```
pub fn resource_name(job_id: &str, suffix: &str) -> String {
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
                _ => '_',
            })
            .collect()
    };
    format!("rmpi-{}{}", clean(job_id), clean(suffix))
}

/// The job of one process started without a launcher, as MPI does: rank 0 of 1.
///
/// ```
/// use rmpi::transport::{Bootstrap, Singleton};
/// let alone = Singleton::new();
/// assert_eq!((alone.rank(), alone.size()), (0, 1));
/// ```
#[derive(Debug, Default)]
pub struct Singleton {
    entries: Mutex<HashMap<String, String>>,
    job_id: String,
}

impl Singleton {
    /// A singleton job named after this process.
    ///
    /// ```
    /// use rmpi::transport::{Bootstrap, Group, Singleton};
    /// let world = Singleton::new();
    /// let host = Group::new(&world, vec![0], "host0")?;
    /// assert_eq!(host.job_id(), format!("{}-host0", world.job_id()));
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn new() -> Singleton {
        Singleton {
            entries: Mutex::default(),
            job_id: format!("singleton-{}", std::process::id()),
        }
    }
}

impl Bootstrap for Singleton {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn job_id(&self) -> &str {
        &self.job_id
    }

    fn job_secret(&self) -> &[u8] {
        // Nobody else is in the job, so there is nobody to authenticate.
        &[]
    }

    fn put(&self, key: &str, value: &str) -> Result<()> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    fn fence(&self) -> Result<()> {
        Ok(())
    }

    fn get(&self, key: &str) -> Result<String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .cloned()
            .ok_or_else(|| Error::Bootstrap(format!("no value was put under {key}")))
    }
}

/// A job whose ranks are threads of one process, sharing one key-value space and fence: for
/// testing and benchmarking transports without a launcher. The job secret is the job id
/// (nobody outside the process is meant to join).
///
/// ```
/// use rmpi::transport::{Bootstrap, InProcess};
/// // Two ranks as threads: each publishes its address, fences, reads the other's.
/// let bootstraps = InProcess::job(2, "doc-job");
/// std::thread::scope(|s| {
///     for boot in &bootstraps {
///         s.spawn(move || {
///             boot.put(&format!("addr-{}", boot.rank()), &format!("10.0.0.{}", boot.rank()))?;
///             boot.fence()?;
///             let other = 1 - boot.rank();
///             assert_eq!(boot.get(&format!("addr-{other}"))?, format!("10.0.0.{other}"));
///             Ok::<_, rmpi::Error>(())
///         });
///     }
/// });
/// assert_eq!(bootstraps[1].size(), 2);
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct InProcess {
    rank: usize,
    size: usize,
    job_id: String,
    shared: Arc<(Mutex<HashMap<String, String>>, Barrier)>,
}

impl InProcess {
    /// One bootstrap per rank of a job of `size` threads named `job_id`.
    ///
    /// ```
    /// let bootstraps = rmpi::transport::InProcess::job(4, "doc-job");
    /// assert_eq!(bootstraps.len(), 4);
    /// ```
    pub fn job(size: usize, job_id: &str) -> Vec<InProcess> {
        let shared = Arc::new((Mutex::default(), Barrier::new(size)));
        (0..size)
            .map(|rank| InProcess {
                rank,
                size,
                job_id: job_id.to_owned(),
                shared: shared.clone(),
            })
            .collect()
    }
}

impl Bootstrap for InProcess {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn job_id(&self) -> &str {
        &self.job_id
    }

    fn job_secret(&self) -> &[u8] {
        self.job_id.as_bytes()
    }

    fn put(&self, key: &str, value: &str) -> Result<()> {
        let mut values = self.shared.0.lock().unwrap_or_else(|e| e.into_inner());
        values.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    fn fence(&self) -> Result<()> {
        self.shared.1.wait();
        Ok(())
    }

    fn get(&self, key: &str) -> Result<String> {
        let values = self.shared.0.lock().unwrap_or_else(|e| e.into_inner());
        values
            .get(key)
            .cloned()
            .ok_or_else(|| Error::Bootstrap(format!("no value was put under {key}")))
    }
}

/// Some of a job's ranks seen as a job of their own, for a transport that serves only them
/// (shared memory among the ranks of one host, say).
///
/// Ranks are numbered in the order of `members`; keys are kept apart from the parent's and
/// other groups' by the group's name, and so is the job id (`<parent's id>-<name>`), so
/// resources named after it stay the parent job's for the launcher's clean-up. The fence is
/// the parent's: every rank of the job must fence as often as the others, so every group
/// must set up the same kind of transport, even a group of one.
///
/// ```
/// use rmpi::transport::{Bootstrap, Group, Singleton};
/// let world = Singleton::new();
/// let host = Group::new(&world, vec![0], "host0")?;
/// assert_eq!((host.rank(), host.size()), (0, 1));
/// assert!(Group::new(&world, vec![1], "elsewhere").is_err()); // not a member
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Debug)]
pub struct Group<'a> {
    parent: &'a dyn Bootstrap,
    members: Vec<usize>,
    index: usize,
    name: String,
    job_id: String,
}

impl<'a> Group<'a> {
    /// The group of the world ranks `members` (this rank among them) called `name` (ASCII
    /// letters, digits, `-` and `_`, unique among the job's groups).
    ///
    /// ```
    /// use rmpi::transport::{Bootstrap, Group, Singleton};
    /// let world = Singleton::new();
    /// let host = Group::new(&world, vec![0], "host0")?;
    /// assert_eq!(host.job_id(), format!("{}-host0", world.job_id()));
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn new(parent: &'a dyn Bootstrap, members: Vec<usize>, name: &str) -> Result<Group<'a>> {
        let index = members
            .iter()
            .position(|&m| m == parent.rank())
            .ok_or_else(|| {
                Error::Bootstrap(format!(
                    "rank {} is not a member of group {name} ({members:?})",
                    parent.rank()
                ))
            })?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::Bootstrap(format!("bad group name {name:?}")));
        }
        Ok(Group {
            job_id: format!("{}-{name}", parent.job_id()),
            parent,
            members,
            index,
            name: name.to_owned(),
        })
    }

    /// The world ranks of the members, in group rank order.
    ///
    /// ```
    /// use rmpi::transport::{Group, Singleton};
    /// let world = Singleton::new();
    /// assert_eq!(Group::new(&world, vec![0], "host0")?.members(), [0]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn members(&self) -> &[usize] {
        &self.members
    }

    fn key(&self, key: &str) -> String {
        format!("{}.{key}", self.name)
    }
}

impl Bootstrap for Group<'_> {
    fn rank(&self) -> usize {
        self.index
    }

    fn size(&self) -> usize {
        self.members.len()
    }

    fn job_id(&self) -> &str {
        &self.job_id
    }

    fn job_secret(&self) -> &[u8] {
        self.parent.job_secret()
    }

    fn put(&self, key: &str, value: &str) -> Result<()> {
        self.parent.put(&self.key(key), value)
    }

    fn fence(&self) -> Result<()> {
        self.parent.fence()
    }

    fn get(&self, key: &str) -> Result<String> {
        self.parent.get(&self.key(key))
    }
}

#[cfg(test)]
mod group_tests {
    use super::*;

    #[test]
    fn groups_number_their_members_and_keep_their_keys_apart() {
        let job = InProcess::job(4, "groups");
        std::thread::scope(|scope| {
            for bootstrap in &job {
                scope.spawn(move || {
                    let rank = bootstrap.rank();
                    let members = if rank % 2 == 0 {
                        vec![0, 2]
                    } else {
                        vec![3, 1]
                    };
                    let name = if rank % 2 == 0 { "even" } else { "odd" };
                    let group = Group::new(bootstrap, members.clone(), name).unwrap();
                    assert_eq!(group.size(), 2);
                    assert_eq!(members[group.rank()], rank);
                    assert_eq!(group.job_id(), format!("groups-{name}"));
                    // Both groups use the same key; each sees only its own members' values.
                    group.put("who", &rank.to_string()).unwrap();
                    group.fence().unwrap();
                    let who: usize = group.get("who").unwrap().parse().unwrap();
                    assert_eq!(who % 2, rank % 2);
                });
            }
        });
        let outsider = &job[1];
        assert!(Group::new(outsider, vec![0, 2], "even").is_err());
        assert!(Group::new(&job[0], vec![0], "bad name").is_err());
    }
}
