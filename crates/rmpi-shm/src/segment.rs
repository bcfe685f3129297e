//! The job's shared-memory segment: one file in `/dev/shm`, mode 0600, named after the job.
//!
//! Layout (every part aligned to a cache line, ring data to a page):
//!
//! ```text
//! [header page][doorbell × n][ring header × n²][ring data × n²][fan-out area × n]
//! [loan table × n]
//! ```
//!
//! Ring `s * n + r` carries messages from rank `s` to rank `r`; fan-out area `s` holds
//! payloads rank `s` writes once for several readers (see [`fanout`](crate::fanout)); loan
//! table `s` holds the slots of the regions rank `s` lends (see
//! [`loan_slot`](crate::loan_slot)). Rank 0 creates and sizes
//! the file; once every rank has mapped it, rank 0 removes the name, so nothing is left in
//! `/dev/shm` whatever happens to the ranks later (the memory lives until the last rank
//! unmaps it). A job that dies before that point leaves the name to its launcher, which
//! removes every `rmpi-<job>` entry when the job ends.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::MmapMut;
use rmpi_core::{Error, Result};

use crate::doorbell::Doorbell;
use crate::fanout;
use crate::loan_slot::{self, LoanSlot};
use crate::ring::{self, HeaderRef, Region, RingHeader, RingMemory};
use crate::sync::AtomicU64;

/// A ring's sending end over a segment's memory.
pub(crate) type Producer = ring::Producer<MappedRegion>;
/// A ring's receiving end over a segment's memory.
pub(crate) type Consumer = ring::Consumer<MappedRegion>;
/// A look at a ring's state from outside its ends, over a segment's memory.
pub(crate) type Glance = ring::Glance<MappedRegion>;
/// A rank's fan-out area in a segment.
pub(crate) type FanoutArea = fanout::FanoutArea<MappedRegion>;
/// A payload read from a peer's fan-out area in a segment.
pub(crate) type FannedPayload = fanout::FannedPayload<MappedRegion>;

const MAGIC: u64 = u64::from_le_bytes(*b"RMPISHM4");
const PAGE: usize = 4096;
const LINE: usize = 64;
/// Bytes of each rank's loan table, whole pages.
const LOAN_TABLE: usize =
    (loan_slot::SLOTS * std::mem::size_of::<LoanSlot>()).div_ceil(PAGE) * PAGE;

/// Where the parts of a segment for `ranks` ranks with rings of `capacity` bytes lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) ranks: usize,
    pub(crate) capacity: usize,
    /// Bytes of each rank's fan-out area, a multiple of a page (0: none).
    pub(crate) fanout: usize,
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

impl Layout {
    fn doorbell(&self, rank: usize) -> usize {
        PAGE + rank * LINE
    }

    fn ring_header(&self, ring: usize) -> usize {
        PAGE + self.ranks * LINE + ring * std::mem::size_of::<RingHeader>()
    }

    fn data_start(&self) -> usize {
        round_up(self.ring_header(self.ranks * self.ranks), PAGE)
    }

    fn ring_data(&self, ring: usize) -> usize {
        self.data_start() + ring * self.capacity
    }

    fn fanout_area(&self, rank: usize) -> usize {
        self.ring_data(self.ranks * self.ranks) + rank * self.fanout
    }

    fn loan_table(&self, rank: usize) -> usize {
        self.fanout_area(self.ranks) + rank * LOAN_TABLE
    }

    pub(crate) fn total(&self) -> usize {
        self.loan_table(self.ranks)
    }
}

/// How much ring memory the ranks of a host fault in between them when they start (see
/// [`Segment::prefault`]): all of it in jobs of up to 16 ranks per host, the first pages
/// of each ring in larger ones, and none from about a hundred ranks.
const PREFAULT_BUDGET: usize = 32 << 20;

/// How many bytes of each ring a rank faults in before it starts (the rest follows in the
/// background): room for the first thousand or so small messages.
const PREFAULT_AT_START: usize = 64 << 10;

/// A mapped segment.
pub(crate) struct Segment {
    layout: Layout,
    base: *mut u8,
    map: MmapMut,
}

// SAFETY: the mapping is shared memory accessed only through atomics (headers, doorbells)
// or under the ring protocol (data), which is safe from any thread.
unsafe impl Send for Segment {}
// SAFETY: as above.
unsafe impl Sync for Segment {}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

/// The path of the segment of job `job_id`.
pub(crate) fn path_of(job_id: &str) -> PathBuf {
    Path::new("/dev/shm").join(rmpi_core::bootstrap::resource_name(job_id, "-shm"))
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> Error {
    Error::Bootstrap(format!("{what} {}: {error}", path.display()))
}

impl Segment {
    /// Creates the segment (rank 0), failing if the name exists.
    pub(crate) fn create(path: &Path, layout: Layout) -> Result<Arc<Segment>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io_error("cannot create the shared-memory segment", path, e))?;
        file.set_len(layout.total() as u64)
            .map_err(|e| io_error("cannot size the shared-memory segment", path, e))?;
        let segment = Self::map(&file, path, layout)?;
        // SAFETY: the header page is ours alone until the others are told the segment exists.
        unsafe {
            let words = segment.base as *mut u64;
            words.write(MAGIC);
            words.add(1).write(layout.ranks as u64);
            words.add(2).write(layout.capacity as u64);
            words.add(3).write(layout.fanout as u64);
        }
        Ok(segment)
    }

    /// Opens a segment rank 0 created, checking it was made for this layout.
    pub(crate) fn open(path: &Path, layout: Layout) -> Result<Arc<Segment>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| io_error("cannot open the shared-memory segment", path, e))?;
        let size = file
            .metadata()
            .map_err(|e| io_error("cannot inspect", path, e))?
            .len();
        if size != layout.total() as u64 {
            return Err(Error::Bootstrap(format!(
                "{} has {size} bytes where {} were expected",
                path.display(),
                layout.total()
            )));
        }
        let segment = Self::map(&file, path, layout)?;
        // SAFETY: rank 0 wrote the header before publishing the segment, and the bootstrap
        // fence ordered that before this read.
        let header = unsafe {
            let words = segment.base as *const u64;
            [0, 1, 2, 3].map(|word| words.add(word).read())
        };
        let expected = [layout.ranks, layout.capacity, layout.fanout].map(|word| word as u64);
        if header != [MAGIC, expected[0], expected[1], expected[2]] {
            return Err(Error::Bootstrap(format!(
                "{} is not this job's segment",
                path.display()
            )));
        }
        Ok(segment)
    }

    fn map(file: &File, path: &Path, layout: Layout) -> Result<Arc<Segment>> {
        // SAFETY: the file is this job's private segment (mode 0600, named after the job);
        // other processes change it only under the ring and doorbell protocols, whose
        // shared words are accessed atomically.
        let mut map = unsafe { MmapMut::map_mut(file) }
            .map_err(|e| io_error("cannot map the shared-memory segment", path, e))?;
        let base = map.as_mut_ptr();
        Ok(Arc::new(Segment { layout, base, map }))
    }

    /// Faults in the rings `rank` reads and writes ([`Segment::prefault`]): the first
    /// [`PREFAULT_AT_START`] bytes of each now, the rest from a short-lived thread, off the
    /// start's path (a page used before its turn is faulted in then, as it would be anyway).
    pub(crate) fn fault_in(self: &Arc<Self>, rank: usize) {
        self.prefault(rank, 0..PREFAULT_AT_START);
        let segment = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("rmpi-prefault-{rank}"))
            .spawn(move || segment.prefault(rank, PREFAULT_AT_START..usize::MAX));
        if let Err(error) = spawned {
            tracing::debug!(rank, %error, "rings left to be faulted in when used");
        }
    }

    /// How many bytes at the start of each ring [`Segment::prefault`] faults in: each ring's
    /// share of [`PREFAULT_BUDGET`], at most all of it.
    pub(crate) fn prefault_len(&self) -> usize {
        let n = self.layout.ranks;
        let rings = n * n.saturating_sub(1);
        let share = PREFAULT_BUDGET.checked_div(rings).unwrap_or(0) / PAGE * PAGE;
        share.min(self.layout.capacity)
    }

    /// Faults in, for this process, bytes `range` of the rings `rank` reads and writes
    /// (`range` ends at most at [`Segment::prefault_len`]). Otherwise every page of a ring
    /// costs each of its two processes a page fault on the path of the first message that
    /// reaches it, until the ring has gone round once: thousands of small messages into a
    /// job. Best effort: a kernel without `MADV_POPULATE_WRITE`, or a full `/dev/shm`,
    /// leaves the pages to be faulted in when first used, as they would be anyway.
    pub(crate) fn prefault(&self, rank: usize, range: std::ops::Range<usize>) {
        let n = self.layout.ranks;
        let range = range.start..range.end.min(self.prefault_len());
        if range.is_empty() {
            return;
        }
        for peer in (0..n).filter(|&peer| peer != rank) {
            for ring in [peer * n + rank, rank * n + peer] {
                let offset = self.layout.ring_data(ring) + range.start;
                if let Err(error) = self.populate(offset, range.len()) {
                    tracing::debug!(rank, %error, "rings left to be faulted in when used");
                    return;
                }
            }
        }
    }

    #[cfg(target_os = "linux")]
    fn populate(&self, offset: usize, len: usize) -> std::io::Result<()> {
        self.map
            .advise_range(memmap2::Advice::PopulateWrite, offset, len)
    }

    #[cfg(not(target_os = "linux"))]
    fn populate(&self, _offset: usize, _len: usize) -> std::io::Result<()> {
        Ok(())
    }

    /// Rank `rank`'s doorbell.
    pub(crate) fn doorbell(self: &Arc<Self>, rank: usize) -> &Doorbell {
        assert!(rank < self.layout.ranks);
        // SAFETY: in bounds, 64-byte aligned (the mapping is page-aligned), and a zeroed or
        // atomically updated `Doorbell` is valid; it lives as long as `self`.
        unsafe { &*(self.base.add(self.layout.doorbell(rank)) as *const Doorbell) }
    }

    /// The memory of the ring from `sender` to `receiver`.
    pub(crate) fn ring(
        self: &Arc<Self>,
        sender: usize,
        receiver: usize,
    ) -> RingMemory<MappedRegion> {
        let n = self.layout.ranks;
        assert!(sender < n && receiver < n);
        let ring = sender * n + receiver;
        let header = Arc::new(MappedHeader {
            segment: self.clone(),
            offset: self.layout.ring_header(ring),
        });
        let region = Arc::new(MappedRegion {
            segment: self.clone(),
            offset: self.layout.ring_data(ring),
            capacity: self.layout.capacity,
        });
        RingMemory::new(header, region)
    }

    /// Slot `index` of rank `rank`'s loan table.
    pub(crate) fn loan_slot(&self, rank: usize, index: u16) -> &LoanSlot {
        assert!(rank < self.layout.ranks && (index as usize) < loan_slot::SLOTS);
        let offset = self.layout.loan_table(rank) + index as usize * size_of::<LoanSlot>();
        // SAFETY: in bounds, aligned (tables start on pages, slots are 16 bytes), and a
        // zeroed or atomically updated `LoanSlot` is valid; it lives as long as `self`.
        unsafe { &*(self.base.add(offset) as *const LoanSlot) }
    }

    /// Rank `rank`'s fan-out area, as a region (its lines' first words are atomic).
    pub(crate) fn fanout(self: &Arc<Self>, rank: usize) -> MappedRegion {
        assert!(rank < self.layout.ranks);
        MappedRegion {
            segment: self.clone(),
            offset: self.layout.fanout_area(rank),
            capacity: self.layout.fanout,
        }
    }
}

struct MappedHeader {
    segment: Arc<Segment>,
    offset: usize,
}

impl HeaderRef for MappedHeader {
    fn get(&self) -> &RingHeader {
        // SAFETY: in bounds and 64-byte aligned by the layout; a zeroed `RingHeader` is a
        // valid atomic, only ever updated atomically; the Arc keeps the mapping alive.
        unsafe { &*(self.segment.base.add(self.offset) as *const RingHeader) }
    }
}

/// A ring's records, or a fan-out area, in the segment's mapping.
#[derive(Clone)]
pub(crate) struct MappedRegion {
    segment: Arc<Segment>,
    offset: usize,
    capacity: usize,
}

impl Region for MappedRegion {
    fn capacity(&self) -> usize {
        self.capacity
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        assert!(offset % LINE == 0 && offset < self.capacity);
        // SAFETY: in bounds and 8-byte aligned (ring data is page-aligned); shared words are
        // only accessed atomically while they may be read as words, and a `u64` of any
        // value is a valid atomic; the Arc keeps the mapping alive.
        unsafe { &*(self.segment.base.add(self.offset + offset) as *const AtomicU64) }
    }

    unsafe fn write(&self, offset: usize, bytes: &[u8]) {
        debug_assert!(offset + bytes.len() <= self.capacity);
        // SAFETY: the caller keeps the range in bounds and exclusively ours.
        unsafe {
            let to = self.segment.base.add(self.offset + offset);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), to, bytes.len());
        }
    }

    unsafe fn write_streaming(&self, offset: usize, bytes: &[u8]) {
        debug_assert!(offset + bytes.len() <= self.capacity);
        // SAFETY: the caller keeps the range in bounds and exclusively ours.
        unsafe { crate::streaming::copy(bytes, self.segment.base.add(self.offset + offset)) }
    }

    unsafe fn read(&self, offset: usize, out: *mut u8, len: usize) {
        debug_assert!(offset + len <= self.capacity);
        // SAFETY: the caller keeps the range in bounds and unwritten meanwhile, and `out`
        // valid for `len` bytes.
        unsafe {
            let from = self.segment.base.add(self.offset + offset);
            std::ptr::copy_nonoverlapping(from, out, len);
        }
    }
}

#[cfg(all(test, not(feature = "loom"), target_os = "linux"))]
mod tests {
    use super::*;

    /// Bytes of `segment`'s mapping this process has page-table entries for, as
    /// `/proc/self/smaps` counts them (its `Rss`).
    fn mapped_in(segment: &Segment) -> usize {
        let start = format!("{:x}-", segment.base as usize);
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
        let mut lines = smaps.lines().skip_while(|line| !line.starts_with(&start));
        lines.next().expect("the segment's mapping is listed");
        let rss = lines
            .find_map(|line| line.strip_prefix("Rss:"))
            .expect("the mapping has an Rss line");
        let kib: usize = rss
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .expect("kB");
        kib << 10
    }

    #[test]
    fn prefaulting_maps_a_ranks_rings_into_its_process_and_no_more() {
        let path = path_of(&format!("prefault-test-{}", std::process::id()));
        let layout = Layout {
            ranks: 3,
            capacity: 64 << 10,
            fanout: 0,
        };
        let segment = Segment::create(&path, layout).expect("a segment in /dev/shm");
        std::fs::remove_file(&path).expect("the name can go once mapped");
        if let Err(error) = segment.populate(0, PAGE) {
            eprintln!("skipped: this kernel cannot prefault ({error}; Linux 5.14 and later can)");
            return;
        }
        assert_eq!(
            segment.prefault_len(),
            64 << 10,
            "small jobs fault in whole rings"
        );
        let before = mapped_in(&segment);
        segment.prefault(1, 0..16 << 10);
        let first = mapped_in(&segment) - before;
        // Rank 1 reads two rings and writes two: the first 16 KiB of each.
        assert_eq!(first, 4 * (16 << 10));
        segment.prefault(1, 16 << 10..usize::MAX);
        let all = mapped_in(&segment) - before;
        assert_eq!(
            all,
            4 * (64 << 10),
            "its four rings whole, and nothing else"
        );
    }

    #[test]
    fn large_jobs_fault_in_only_the_start_of_each_ring_or_none() {
        let share = |ranks: usize| {
            let layout = Layout {
                ranks,
                capacity: 64 << 10,
                fanout: 0,
            };
            let path = path_of(&format!("prefault-share-{ranks}-{}", std::process::id()));
            let segment = Segment::create(&path, layout).expect("a segment in /dev/shm");
            std::fs::remove_file(&path).expect("the name can go once mapped");
            segment.prefault_len()
        };
        assert_eq!(share(16), 64 << 10);
        assert_eq!(share(64), 8 << 10);
        assert_eq!(share(128), 0);
        assert_eq!(share(1), 0, "a rank alone has no rings to use");
    }
}
