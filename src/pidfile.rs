//! The pidfile: a file holding the daemon's pid, locked with `flock` for
//! the daemon's whole life so that exactly one instance runs per file.
//!
//! A file left by a daemon that died (even by SIGKILL) carries no lock, so
//! the next start simply takes it over. A second start while one runs finds
//! the lock taken and fails without touching the file.

use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, Ordering};

use rustix::fd::OwnedFd;
use rustix::fs::{self, AtFlags, CWD, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

pub struct Pidfile {
    file: OwnedFd,
    path: &'static CStr,
}

/// The pidfile's absolute path, kept for its removal at the end.
static mut PATH: ttrapd::buf::Buf<{ ttrapd::limits::PATH_MAX }> = ttrapd::buf::Buf::new();
static PATH_TAKEN: AtomicBool = AtomicBool::new(false);

/// Reason the pidfile could not be taken.
pub enum PidfileError {
    /// Another process holds the lock; the pid it wrote, if readable.
    Locked(Option<u64>),
    /// A system call failed.
    Failed(&'static str, Errno),
}

impl Pidfile {
    /// Opens and locks the pidfile at the absolute `path`, then writes `pid`
    /// into it. The file is removed when the returned value is dropped.
    /// Called once.
    pub fn take(path: &[u8], pid: u32) -> Result<Pidfile, PidfileError> {
        if PATH_TAKEN.swap(true, Ordering::Relaxed) {
            crate::fatal_bug(b"pidfile taken twice");
        }
        // SAFETY: checked: the flag makes this the only reference ever
        // formed to the static; the process has one thread.
        let stored = unsafe { &mut *(&raw mut PATH) };
        stored.push_bytes(path);
        stored.push(0);
        let path = CStr::from_bytes_with_nul(stored.as_bytes())
            .map_err(|_| PidfileError::Failed("store pidfile path", Errno::NAMETOOLONG))?;
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
            return Ok(Pidfile { file, path });
        }
        Err(PidfileError::Failed("lock pidfile", Errno::AGAIN))
    }

    pub fn path(&self) -> &'static CStr {
        self.path
    }
}

impl Drop for Pidfile {
    /// Removes the file, if it is still ours, on a clean stop or a failed
    /// start; the lock goes with the descriptor.
    fn drop(&mut self) {
        let path = self.path;
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
