//! Hooks: `--exec PROGRAM` runs on each alert, started with `fork` and
//! `execve` (no shell), stdin on `/dev/null`, the alert's fields in
//! `TTRAPD_*` environment variables, in a session of its own. A hook past
//! its time limit is killed with its process group, and the session marks
//! what the hook started, because no process outside can join it.
//!
//! At most `MAX_HOOKS` run at once; an alert that finds them all busy runs
//! none, and the number skipped is reported with the next hook that ends.

use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, Ordering};

use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions};
use ttrapd::buf::Buf;
use ttrapd::limits::MAX_HOOKS;
use ttrapd::msg::{self, Kind, Line};

use crate::logger::Logger;
use crate::sys::{self, Forked};

/// Bytes of environment text for one hook, all variables together.
const ENV_BYTES: usize = 8192;
/// Environment variables for one hook, the terminating NULL included.
const ENV_SLOTS: usize = 48;

/// Search path given to hooks, so a script finds the usual tools.
const HOOK_PATH: &[u8] = b"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Copy)]
struct Running {
    pid: i32,
    /// Start time from `/proc/PID/stat`, to tell a reused pid apart.
    start_time: u64,
    started: u64,
    deadline: u64,
    killed: bool,
}

pub struct Hooks {
    timeout_ms: u64,
    running: [Option<Running>; MAX_HOOKS],
    /// Read ends of the pipes through which each running hook's child
    /// reports a failed `execve`; read once the child is reaped.
    reports: [Option<OwnedFd>; MAX_HOOKS],
    /// Alerts that found every hook slot busy since the last report.
    skipped: u64,
    storage: &'static mut Storage,
    /// Pids of the hooks that ended last, whose late events (a read seen
    /// after the hook exited) are still not an intruder's.
    ended: [Ended; ENDED_KEPT],
    ended_next: usize,
    /// Processes that ended hooks left running, with their start times.
    orphans: [Orphan; ORPHANS_KEPT],
    orphans_next: usize,
}

/// Ended hooks remembered.
const ENDED_KEPT: usize = 16;

/// Processes left running by ended hooks that are remembered.
const ORPHANS_KEPT: usize = 32;

/// A hook that ended.
#[derive(Clone, Copy)]
struct Ended {
    pid: i32,
    /// Start time from `/proc/PID/stat`, to tell a reused pid apart.
    start_time: u64,
}

/// A process still in an ended hook's session when the hook was reaped.
#[derive(Clone, Copy)]
struct Orphan {
    pid: u32,
    start_time: u64,
}

/// The hook's path and environment text, kept out of the stack.
struct Storage {
    program: Buf<{ ttrapd::limits::PATH_MAX }>,
    env: Buf<ENV_BYTES>,
}

static mut STORAGE: Storage = Storage { program: Buf::new(), env: Buf::new() };
static STORAGE_TAKEN: AtomicBool = AtomicBool::new(false);

impl Hooks {
    /// Prepares to run `program`, an absolute path without NUL bytes (the
    /// command-line parser checks both). Called once.
    pub fn new(program: &[u8], timeout_seconds: u32) -> Hooks {
        if STORAGE_TAKEN.swap(true, Ordering::Relaxed) {
            crate::fatal_bug(b"hook storage taken twice");
        }
        // SAFETY: checked: the flag makes this the only reference ever
        // formed to the static; the process has one thread.
        let storage = unsafe { &mut *(&raw mut STORAGE) };
        let mut hooks = Hooks {
            timeout_ms: 0,
            running: [None; MAX_HOOKS],
            reports: [const { None }; MAX_HOOKS],
            skipped: 0,
            storage,
            ended: [Ended { pid: 0, start_time: 0 }; ENDED_KEPT],
            orphans: [Orphan { pid: 0, start_time: 0 }; ORPHANS_KEPT],
            orphans_next: 0,
            ended_next: 0,
        };
        hooks.configure(program, timeout_seconds);
        hooks
    }

    /// Sets the program and time limit for hooks started from now on;
    /// running hooks keep theirs.
    pub fn configure(&mut self, program: &[u8], timeout_seconds: u32) {
        let stored = &mut self.storage.program;
        stored.clear();
        stored.push_bytes(program);
        stored.push(0);
        self.timeout_ms = u64::from(timeout_seconds) * 1000;
    }

    fn program(&self) -> &CStr {
        CStr::from_bytes_with_nul(self.storage.program.as_bytes()).unwrap_or(c"/")
    }

    /// Checks at start-up that the program can be executed.
    pub fn check(&self) -> Result<(), Errno> {
        rustix::fs::access(self.program(), rustix::fs::Access::EXEC_OK)
    }
}

/// Checks that the absolute path `program` names a file this process may
/// execute, for hooks and `--allow` paths before they are used.
pub fn check_executable(program: &[u8]) -> Result<(), Errno> {
    match ttrapd::path::AbsPath::<{ ttrapd::limits::PATH_MAX }>::new(b"", program) {
        Some(path) => rustix::fs::access(path.as_cstr(), rustix::fs::Access::EXEC_OK),
        None => Err(Errno::NAMETOOLONG),
    }
}

impl Hooks {
    /// Reports whether `pid` is a running hook or one that ended lately
    /// and whose pid no other process has been seen with since. A process
    /// seen with it makes the ended hook forgotten.
    pub fn owns(&mut self, pid: u32) -> bool {
        let pid = pid as i32;
        if pid <= 0 {
            return false;
        }
        if self.running.iter().flatten().any(|hook| hook.pid == pid) {
            return true;
        }
        let Some(ended) = self.ended.iter_mut().find(|ended| ended.pid == pid) else {
            return false;
        };
        match start_time_of(pid as u32) {
            // A late event of the hook, which has exited since.
            None => true,
            Some(now) if now == ended.start_time => true,
            Some(_) => {
                // Another process has the pid now; once it exits, its late
                // events must not pass for the hook's.
                ended.pid = 0;
                false
            }
        }
    }

    /// Reports whether a hook started the process with session `session`.
    /// That holds in the session of a running hook, whose live leader keeps
    /// the number from being taken again. It also holds when `chain` (the
    /// process and its ancestors, nearest first) contains a process that
    /// an ended hook left running.
    pub fn started(&self, session: u32, chain: &[u32]) -> bool {
        if session > 0 && self.running.iter().flatten().any(|hook| hook.pid as u32 == session) {
            return true;
        }
        self.orphans
            .iter()
            .filter(|orphan| orphan.pid != 0 && chain.contains(&orphan.pid))
            .any(|orphan| start_time_of(orphan.pid) == Some(orphan.start_time))
    }

    /// Remembers the processes still in the session of `hook`, which has
    /// just been reaped. The session's number is free again once they are
    /// gone, so they are known by pid and start time instead.
    fn note_orphans(&mut self, hook: u32) {
        crate::proc::for_each_pid(|pid| {
            let mut text = [0u8; 1024];
            let Ok(len) = crate::proc::read_proc(pid, b"stat", &mut text) else { return true };
            let Some(stat) = ttrapd::procfs::parse_stat(&text[..len]) else { return true };
            if stat.session == hook {
                self.orphans[self.orphans_next] = Orphan { pid, start_time: stat.start_time };
                self.orphans_next = (self.orphans_next + 1) % ORPHANS_KEPT;
            }
            true
        });
    }

    /// When the next running hook reaches its time limit.
    pub fn deadline(&self) -> Option<u64> {
        self.running.iter().flatten().filter(|hook| !hook.killed).map(|hook| hook.deadline).min()
    }

    /// Starts the hook for the alert in `line`. Returns a line to log about
    /// a failed start, through `log` afterwards.
    pub fn start(&mut self, line: &Line, now: u64) -> Result<(), (&'static str, i32)> {
        // A reload that removed --exec leaves the hooks without a program;
        // running ones are still reaped.
        if self.storage.program.as_bytes().len() <= 1 {
            return Ok(());
        }
        let Some(slot) = self.running.iter().position(Option::is_none) else {
            self.skipped += 1;
            return Ok(());
        };

        // Environment: TTRAPD_<KEY>=<raw value> for each field, the whole
        // line, the kind and a search path.
        let mut offsets = [0usize; ENV_SLOTS];
        let mut count = 0;
        let program = CStr::from_bytes_with_nul(self.storage.program.as_bytes()).unwrap_or(c"/");
        let env = &mut self.storage.env;
        env.clear();
        let mut add = |env: &mut Buf<ENV_BYTES>, parts: &[&[u8]]| {
            if count + 1 >= ENV_SLOTS {
                return;
            }
            let start = env.len();
            for part in parts {
                // A NUL would end the variable early; none of the fields
                // can hold one, but the check costs nothing.
                for &byte in *part {
                    env.push(if byte == 0 { b'?' } else { byte });
                }
            }
            env.push(0);
            if !env.overflowed() {
                offsets[count] = start;
                count += 1;
            }
        };
        add(env, &[HOOK_PATH]);
        add(env, &[b"TTRAPD_LINE=", line.body()]);
        let mut upper = Buf::<40>::new();
        let kind = msg::for_each_field(line.body(), |key, value, _| {
            upper.clear();
            upper.push_bytes(b"TTRAPD_");
            for &byte in key {
                upper.push(byte.to_ascii_uppercase());
            }
            upper.push(b'=');
            add(env, &[upper.as_bytes(), value]);
        });
        if let Some(kind) = kind {
            add(env, &[b"TTRAPD_KIND=", kind]);
        }
        let mut envp = [core::ptr::null::<u8>(); ENV_SLOTS];
        for (pointer, offset) in envp.iter_mut().zip(&offsets[..count]) {
            *pointer = env.as_bytes()[*offset..].as_ptr();
        }
        let argv = [program.as_ptr().cast::<u8>(), core::ptr::null()];

        // The child reports a failed execve through this pipe; a successful
        // one closes it (close-on-exec). The parent does not wait for
        // either: the hook's program may lie in a trapped directory, and
        // then its execve waits for this daemon's answer. The report is
        // read when the child is reaped.
        let (report_read, report_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|errno| ("create-hook-pipe", errno.raw_os_error()))?;
        let child = match sys::fork().map_err(|errno| ("fork-hook", errno))? {
            Forked::Child => run_child(program, &argv, &envp, &report_write),
            Forked::Parent { child } => child,
        };
        drop(report_write);
        let start_time = start_time_of(child as u32).unwrap_or(0);
        self.running[slot] = Some(Running {
            pid: child,
            start_time,
            started: now,
            deadline: now + self.timeout_ms,
            killed: false,
        });
        self.reports[slot] = Some(report_read);
        Ok(())
    }

    /// Kills hooks past their time limit, with their process group.
    pub fn kill_overdue(&mut self, now: u64) {
        for hook in self.running.iter_mut().flatten() {
            if !hook.killed && now >= hook.deadline {
                if let Some(group) = Pid::from_raw(hook.pid) {
                    // Before its setsid the child has no group of its own.
                    if rustix::process::kill_process_group(group, Signal::KILL).is_err() {
                        let _ = rustix::process::kill_process(group, Signal::KILL);
                    }
                }
                hook.killed = true;
            }
        }
    }

    /// Collects hooks that ended and logs how each did.
    pub fn reap_all(&mut self, log: &mut Logger, now: u64) {
        loop {
            let status = match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some((pid, status))) => (pid.as_raw_nonzero().get(), status),
                _ => return,
            };
            let (pid, status) = status;
            let Some(slot) =
                self.running.iter().position(|hook| hook.is_some_and(|h| h.pid == pid))
            else {
                continue;
            };
            let Some(hook) = self.running[slot].take() else { continue };
            self.ended[self.ended_next] = Ended { pid, start_time: hook.start_time };
            self.note_orphans(pid as u32);
            self.ended_next = (self.ended_next + 1) % ENDED_KEPT;
            // The child has exited, the parent closed its copy and other
            // hooks close it before execve, so the read returns at once.
            let mut errno_bytes = [0u8; 4];
            let failed = self.reports[slot]
                .take()
                .is_some_and(|report| read_full(&report, &mut errno_bytes) == 4);
            if failed {
                let line = log.begin(Kind::Error);
                line.word("what", "hook-failed");
                line.word("action", "execute-hook");
                line.num("pid", pid as u64);
                line.errno(i32::from_ne_bytes(errno_bytes));
                log.send();
                continue;
            }
            let line = log.begin(Kind::Hook);
            line.num("pid", pid as u64);
            if let Some(code) = status.exit_status() {
                line.num("exit", code as u64);
            } else if let Some(signal) = status.terminating_signal() {
                line.word("signal", ttrapd::names::signal_name(signal as u32).unwrap_or("unknown"));
            }
            if hook.killed {
                line.word("reason", "timeout");
            }
            line.num("ms", now.saturating_sub(hook.started));
            if self.skipped > 0 {
                line.num("skipped", self.skipped);
                self.skipped = 0;
            }
            log.send();
        }
    }
}

/// Runs in the forked child: resets what the daemon changed and executes
/// the hook; never returns.
fn run_child(
    program: &CStr,
    argv: &[*const u8; 2],
    envp: &[*const u8; ENV_SLOTS],
    report: &OwnedFd,
) -> ! {
    // The daemon blocks the signals it reads through its signalfd; the
    // hook must get default behaviour.
    sys::unblock_all_signals();
    // A session, and so a group, of its own: a timeout kills whatever the
    // hook started, and the session marks what it started.
    let _ = rustix::process::setsid();
    // Nothing of the daemon's but the report pipe. Above all not the
    // fanotify group: a hook whose execve waits on a permission answer
    // would keep the group alive after the daemon ended, and every opener
    // of a trap would wait for good.
    let keep = rustix::fd::AsRawFd::as_raw_fd(report) as u32;
    sys::close_between(3, keep.saturating_sub(1));
    sys::close_from(keep + 1);
    if let Ok(null) =
        rustix::fs::open(c"/dev/null", rustix::fs::OFlags::RDONLY, rustix::fs::Mode::empty())
    {
        let _ = rustix::stdio::dup2_stdin(&null);
    }
    // SAFETY: checked: argv and envp are NULL-terminated arrays of pointers
    // into NUL-terminated strings that live until execve replaces us.
    let errno = unsafe { sys::execve(program, argv.as_ptr(), envp.as_ptr()) };
    let _ = rustix::io::write(report, &errno.to_ne_bytes());
    crate::rt::exit(127)
}

/// Reads the start time of process `pid`, or `None` when it is gone.
fn start_time_of(pid: u32) -> Option<u64> {
    let mut text = [0u8; 1024];
    let len = crate::proc::read_proc(pid, b"stat", &mut text).ok()?;
    ttrapd::procfs::parse_stat(&text[..len]).map(|stat| stat.start_time)
}

fn read_full(fd: &OwnedFd, buffer: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buffer.len() {
        match rustix::io::read(fd, &mut buffer[got..]) {
            Ok(0) => break,
            Ok(read) => got += read,
            Err(Errno::INTR) => continue,
            Err(_) => break,
        }
    }
    got
}
