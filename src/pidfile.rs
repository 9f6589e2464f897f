//! The pidfile: a file holding the daemon's pid, locked with `flock` for
//! the daemon's whole life so that exactly one instance runs per file.
//!
//! A file left by a daemon that died (even by SIGKILL) carries no lock, so
//! the next start simply takes it over. A second start while one runs finds
//! the lock taken and fails without touching the file.

use core::ffi::CStr;

use rustix::fd::OwnedFd;
use rustix::fs::{self, AtFlags, CWD, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

pub struct Pidfile {
    file: OwnedFd,
}

/// Why the pidfile could not be taken.
pub enum PidfileError {
    /// Another process holds the lock; the pid it wrote, if readable.
    Locked(Option<u64>),
    /// A system call failed.
    Failed(&'static str, Errno),
}

impl Pidfile {
    /// Opens and locks the pidfile, then writes `pid` into it.
    pub fn take(path: &CStr, pid: u32) -> Result<Pidfile, PidfileError> {
        // A daemon that is stopping unlinks its file while still holding the
        // lock; a file locked after that is no longer at the path, so the
        // lock is checked against the path and taken again if they differ.
        for _ in 0..5 {
            let flags = OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW;
            let file = fs::open(path, flags, Mode::from_raw_mode(0o644))
                .map_err(|errno| PidfileError::Failed("open pidfile", errno))?;
            match fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(Errno::WOULDBLOCK) => return Err(PidfileError::Locked(read_pid(&file))),
                Err(errno) => return Err(PidfileError::Failed("lock pidfile", errno)),
            }
            let held =
                fs::fstat(&file).map_err(|errno| PidfileError::Failed("stat pidfile", errno))?;
            match fs::statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(now) if now.st_dev == held.st_dev && now.st_ino == held.st_ino => {}
                _ => continue,
            }
            write_pid(&file, pid).map_err(|errno| PidfileError::Failed("write pidfile", errno))?;
            return Ok(Pidfile { file });
        }
        Err(PidfileError::Failed("lock pidfile", Errno::AGAIN))
    }

    /// Removes the file at `path` on a clean stop, if it is still ours; the
    /// lock goes with the descriptor when the process exits.
    pub fn remove(&self, path: &CStr) {
        let held = fs::fstat(&self.file);
        let now = fs::statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW);
        if let (Ok(held), Ok(now)) = (held, now) {
            if held.st_dev == now.st_dev && held.st_ino == now.st_ino {
                let _ = fs::unlink(path);
            }
        }
    }
}

fn write_pid(file: &OwnedFd, pid: u32) -> Result<(), Errno> {
    fs::ftruncate(file, 0)?;
    let mut text = ttrapd::buf::Buf::<24>::new();
    text.push_u64(pid.into());
    text.push(b'\n');
    let written = rustix::io::pwrite(file, text.as_bytes(), 0)?;
    if written != text.len() {
        return Err(Errno::IO);
    }
    Ok(())
}

fn read_pid(file: &OwnedFd) -> Option<u64> {
    let mut bytes = [0u8; 24];
    let len = rustix::io::pread(file, &mut bytes, 0).ok()?;
    let text = &bytes[..len];
    let digits = text.strip_suffix(b"\n").unwrap_or(text);
    ttrapd::buf::parse_u64(digits)
}
