//! Finding the processes that hold a file open, by reading the descriptor
//! links of every process in `/proc`. This is the fallback for naming a
//! suspect when fanotify cannot say who opened a trap: a process that
//! opened, read and closed the file before the scan is not found.

use core::ffi::CStr;
use core::mem::MaybeUninit;

use rustix::fs::{self, Mode, OFlags, RawDir};
use ttrapd::buf::{Buf, Bytes};

/// Processes listed at most; the list ends in `...` when there are more.
const MAX_HOLDERS: usize = 8;

/// Appends `pid:name` for each process that has `path` open, comma
/// separated.
pub fn find(path: &[u8], out: &mut Bytes) {
    let own_pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
    let mut found = 0;
    crate::proc::for_each_pid(|pid| {
        if pid == own_pid || !holds(pid.into(), path) {
            return true;
        }
        if found == MAX_HOLDERS {
            out.push_bytes(b",...");
            return false;
        }
        if found > 0 {
            out.push(b',');
        }
        found += 1;
        out.push_u64(pid.into());
        out.push(b':');
        let mut comm = Buf::<32>::new();
        let mut text = [0u8; 512];
        if let Ok(len) = crate::proc::read_proc(pid, b"stat", &mut text) {
            if let Some(stat) = ttrapd::procfs::parse_stat(&text[..len]) {
                comm.push_bytes(stat.comm);
            }
        }
        for &byte in comm.as_bytes() {
            out.push(if byte == b',' || byte == b':' { b'_' } else { byte });
        }
        true
    });
}

/// Reports whether process `pid` has a descriptor open on `path`.
fn holds(pid: u64, path: &[u8]) -> bool {
    let mut dir_path = Buf::<40>::new();
    dir_path.push_bytes(b"/proc/");
    dir_path.push_u64(pid);
    dir_path.push_bytes(b"/fd\0");
    let Ok(dir_path) = CStr::from_bytes_with_nul(dir_path.as_bytes()) else { return false };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(dir) = fs::open(dir_path, flags, Mode::empty()) else { return false };
    let mut entries = [MaybeUninit::<u8>::uninit(); 2048];
    let mut listing = RawDir::new(&dir, &mut entries);
    let mut target = [0u8; 512];
    while let Some(Ok(entry)) = listing.next() {
        let name = entry.file_name();
        if name.to_bytes().first() == Some(&b'.') {
            continue;
        }
        let Ok(len) = fs::readlinkat_raw(&dir, name, &mut target[..]) else { continue };
        let link = &target[..len.min(target.len())];
        // An unlinked file reads as "PATH (deleted)".
        if link == path || link.strip_suffix(b" (deleted)") == Some(path) {
            return true;
        }
    }
    false
}
