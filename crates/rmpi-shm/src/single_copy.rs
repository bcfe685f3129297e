//! Single-copy transfers: a receiver copies a large payload straight out of the sender's
//! memory with `process_vm_readv` (Linux's cross-memory attach), instead of the sender
//! copying it into a ring and the receiver copying it out again.
//!
//! The kernel allows this between processes of one user unless ptrace restrictions forbid
//! it (Yama's `ptrace_scope` of 1 or more, or a seccomp filter in a container). Rather than
//! guess from settings, every rank tries it on every peer while the job is set up and
//! publishes what worked; a sender lends payloads only to peers that can read it, and the
//! others get the payload through the ring as before.

use std::io;

use rustix::process::Pid;

/// Bytes every process holds at the address it publishes, for peers to try reading.
static PROBE: [u8; 16] = *b"rmpi-single-copy";

/// Where this process keeps [`PROBE`], as published to peers.
pub(crate) fn probe_address() -> u64 {
    PROBE.as_ptr() as u64
}

/// Whether this process can read `pid`'s memory: reads its probe at `address` and checks it.
pub(crate) fn probe(pid: Pid, address: u64) -> bool {
    let mut seen = [0u8; PROBE.len()];
    // SAFETY: `seen` is a live, exclusively borrowed array of the length given.
    match unsafe { read_raw(pid, address, seen.as_mut_ptr(), seen.len()) } {
        Ok(()) => seen == PROBE,
        Err(error) => {
            tracing::debug!(
                "single-copy reads from pid {} are not allowed ({error}; ptrace_scope {})",
                pid.as_raw_nonzero(),
                ptrace_scope().unwrap_or_else(|| "absent".into())
            );
            false
        }
    }
}

/// Yama's ptrace restriction, for diagnostics.
fn ptrace_scope() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .map(|text| text.trim().to_owned())
}

/// Copies `out.len()` bytes at `address` in process `pid` into `out`. Fails if the memory
/// is not mapped there or the kernel refuses.
pub(crate) fn read_into(pid: Pid, address: u64, out: &mut [u8]) -> io::Result<()> {
    // SAFETY: `out` is exclusively borrowed for its length.
    unsafe { read_raw(pid, address, out.as_mut_ptr(), out.len()) }
}

/// Like [`read_into`], onto the end of `out`, copying into its spare capacity.
pub(crate) fn read_onto(pid: Pid, address: u64, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
    out.reserve(len);
    let spare = out.spare_capacity_mut();
    // SAFETY: the spare capacity is valid for `len` bytes of writes and exclusively ours.
    unsafe { read_raw(pid, address, spare.as_mut_ptr().cast(), len)? };
    // SAFETY: `read_raw` returned only after writing all `len` bytes.
    unsafe { out.set_len(out.len() + len) };
    Ok(())
}

/// [`read_into`] on a raw destination, looping over partial transfers.
///
/// # Safety
/// `out` must be valid for writes of `len` bytes and not accessed by anything else meanwhile.
unsafe fn read_raw(pid: Pid, address: u64, out: *mut u8, len: usize) -> io::Result<()> {
    let mut done = 0;
    while done < len {
        let local = libc::iovec {
            // SAFETY: `done < len`, so the pointer stays inside the caller's buffer.
            iov_base: unsafe { out.add(done) }.cast(),
            iov_len: len - done,
        };
        let remote = libc::iovec {
            iov_base: (address as usize).wrapping_add(done) as *mut libc::c_void,
            iov_len: len - done,
        };
        // SAFETY: `local` is valid for writes (the caller's promise). `remote` is only read,
        // by the kernel, in the other process, which checks that it is mapped there.
        let n =
            unsafe { libc::process_vm_readv(pid.as_raw_nonzero().get(), &local, 1, &remote, 1, 0) };
        match n {
            -1 => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            n => done += n as usize,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_reads_its_own_probe() {
        let me = rustix::process::getpid();
        // Containers may forbid the call even on oneself; then there is nothing to check.
        if read_into(me, probe_address(), &mut [0; 1]).is_ok() {
            assert!(probe(me, probe_address()));
            assert!(!probe(me, probe_address() + 1));
        }
    }

    #[test]
    fn unmapped_memory_is_an_error_not_a_crash() {
        let me = rustix::process::getpid();
        let mut out = [0u8; 8];
        assert!(read_into(me, 8, &mut out).is_err());
    }
}
