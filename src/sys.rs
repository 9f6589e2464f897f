//! Thin wrappers for the system calls that rustix does not expose: fork,
//! the signal mask, signalfd, getcwd, fanotify and closing descriptors by
//! number. Each returns the errno on failure.

use crate::rt::syscall;
use core::ffi::CStr;

use linux_raw_sys::general::{
    __NR_clock_gettime, __NR_close, __NR_close_range, __NR_execve, __NR_fanotify_init,
    __NR_fanotify_mark, __NR_fork, __NR_getcwd, __NR_rt_sigprocmask, __NR_signalfd4, O_CLOEXEC,
    SIG_BLOCK,
};
use rustix::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// A set of signals, as the kernel's 64-bit `sigset_t`.
#[derive(Clone, Copy, Default)]
pub struct SigSet(u64);

impl SigSet {
    pub fn with(self, signo: u32) -> Self {
        Self(self.0 | 1 << (signo - 1))
    }
}

/// Which side of a fork the caller is on.
pub enum Forked {
    Parent { child: i32 },
    Child,
}

/// Creates a child process (`fork(2)`).
pub fn fork() -> Result<Forked, i32> {
    // SAFETY: fork takes no arguments. The child gets a copy of this single
    // threaded process, so no lock can be held by a thread that vanished.
    let pid = unsafe { syscall(__NR_fork, [0; 6]) }?;
    Ok(if pid == 0 { Forked::Child } else { Forked::Parent { child: pid as i32 } })
}

/// Adds `set` to the blocked signals (`rt_sigprocmask(SIG_BLOCK)`).
pub fn block_signals(set: SigSet) -> Result<(), i32> {
    let mask = set.0;
    // SAFETY: checked: `mask` lives across the call and is 8 bytes, the size
    // passed; the old-set pointer is NULL, which the kernel allows.
    unsafe {
        syscall(__NR_rt_sigprocmask, [SIG_BLOCK as usize, &raw const mask as usize, 0, 8, 0, 0])
    }?;
    Ok(())
}

/// Opens a signalfd for `set` (`signalfd4(2)` with `SFD_CLOEXEC`, which
/// equals `O_CLOEXEC`).
pub fn signalfd(set: SigSet) -> Result<OwnedFd, i32> {
    let mask = set.0;
    // SAFETY: checked: `mask` lives across the call and is 8 bytes, the size
    // passed; -1 asks for a new descriptor.
    let fd = unsafe {
        syscall(
            __NR_signalfd4,
            [-1isize as usize, &raw const mask as usize, 8, O_CLOEXEC as usize, 0, 0],
        )
    }?;
    // SAFETY: checked: the kernel returned a new descriptor that nothing
    // else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Writes the working directory into `buf` and returns its length without
/// the NUL (`getcwd(2)`).
pub fn getcwd(buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: checked: `buf` is writable for its whole length, which is the
    // size passed.
    let len = unsafe { syscall(__NR_getcwd, [buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0, 0]) }?;
    // The kernel counts the NUL.
    Ok(len.saturating_sub(1))
}

/// Creates a fanotify group (`fanotify_init(2)`).
pub fn fanotify_init(flags: u32, event_flags: u32) -> Result<OwnedFd, i32> {
    // SAFETY: checked: both arguments are plain integers.
    let fd =
        unsafe { syscall(__NR_fanotify_init, [flags as usize, event_flags as usize, 0, 0, 0, 0]) }?;
    // SAFETY: checked: the kernel returned a new descriptor that nothing
    // else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Adds or removes a mark (`fanotify_mark(2)`). With `path` `None`, the
/// object is `dirfd` itself.
pub fn fanotify_mark(
    group: BorrowedFd<'_>,
    flags: u32,
    mask: u64,
    dirfd: i32,
    path: Option<&CStr>,
) -> Result<(), i32> {
    let path = path.map_or(0, |path| path.as_ptr() as usize);
    // SAFETY: checked: `path` is NULL or a NUL-terminated string that lives
    // across the call; the mask is one 64-bit register on x86_64.
    unsafe {
        syscall(
            __NR_fanotify_mark,
            [
                group.as_raw_fd() as usize,
                flags as usize,
                mask as usize,
                dirfd as isize as usize,
                path,
                0,
            ],
        )
    }?;
    Ok(())
}

/// Reads clock `clock` (`clock_gettime(2)` as a system call, without the
/// vDSO) and returns seconds and nanoseconds.
pub fn clock_gettime(clock: u32) -> (i64, u32) {
    let mut time = [0i64; 2];
    // SAFETY: checked: `time` has the layout of `struct timespec` on
    // x86_64 (two 64-bit words) and lives across the call.
    let result = unsafe {
        syscall(__NR_clock_gettime, [clock as usize, time.as_mut_ptr() as usize, 0, 0, 0, 0])
    };
    match result {
        Ok(_) => (time[0], time[1] as u32),
        Err(_) => (0, 0),
    }
}

/// Milliseconds on the monotonic clock.
pub fn monotonic_ms() -> u64 {
    let (seconds, nanoseconds) = clock_gettime(linux_raw_sys::general::CLOCK_MONOTONIC);
    seconds as u64 * 1000 + u64::from(nanoseconds) / 1_000_000
}

/// Sets the blocked signals to none (`rt_sigprocmask(SIG_SETMASK)`), for a
/// child about to run another program.
pub fn unblock_all_signals() {
    let mask = 0u64;
    // SAFETY: checked: `mask` lives across the call and is 8 bytes.
    let _ = unsafe {
        syscall(
            __NR_rt_sigprocmask,
            [linux_raw_sys::general::SIG_SETMASK as usize, &raw const mask as usize, 0, 8, 0, 0],
        )
    };
}

/// Replaces the process image (`execve(2)`); returns only on failure.
///
/// # Safety
///
/// `argv` and `envp` must be NULL-terminated arrays of pointers to
/// NUL-terminated strings, all valid until the call.
pub unsafe fn execve(program: &CStr, argv: *const *const u8, envp: *const *const u8) -> i32 {
    // SAFETY: the caller's duty for argv and envp; `program` is a C string.
    let result = unsafe {
        syscall(__NR_execve, [program.as_ptr() as usize, argv as usize, envp as usize, 0, 0, 0])
    };
    match result {
        Ok(_) => 0,
        Err(errno) => errno,
    }
}

/// Highest descriptor number closed one by one on kernels without
/// `close_range`.
const CLOSE_SCAN_LIMIT: u32 = 65_535;

/// Closes every descriptor from `first` up (`close_range(2)`).
pub fn close_from(first: u32) {
    close_between(first, u32::MAX);
}

/// Closes the descriptors from `first` to `last`, both included. Kernels
/// before 5.9 lack `close_range`; there each number is closed up to the
/// open-file limit, and at most up to [`CLOSE_SCAN_LIMIT`].
pub fn close_between(first: u32, last: u32) {
    if first > last {
        return;
    }
    // SAFETY: checked: plain integers. The callers own no descriptor in
    // the range that they still use.
    let result = unsafe { syscall(__NR_close_range, [first as usize, last as usize, 0, 0, 0, 0]) };
    if result.is_ok() {
        return;
    }
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let highest =
        limit.map_or(CLOSE_SCAN_LIMIT, |n| n.saturating_sub(1).min(CLOSE_SCAN_LIMIT.into()) as u32);
    for fd in first..=last.min(highest) {
        // SAFETY: as above; EBADF for numbers not in use is expected.
        let _ = unsafe { syscall(__NR_close, [fd as usize, 0, 0, 0, 0, 0]) };
    }
}
