//! fanotify: names the process behind each open, read and write of a trap.
//!
//! With permission events (the default), a process that opens a trap waits
//! in the kernel until ttrapd answers, so `/proc` still describes it. The
//! order for each event is fixed: identify the trap, read `/proc`, answer,
//! close the event's descriptor, and only then do anything that can block,
//! such as scanning TCP tables or sending the line to syslog. Reads and
//! writes arrive as notification events, which nobody waits on.

use rustix::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use rustix::io::Errno;
use ttrapd::args::Fanotify;
use ttrapd::buf::Buf;
use ttrapd::fanotify::*;
use ttrapd::msg::Kind;

use crate::logger::Logger;
use crate::proc::Culprit;
use crate::sys;
use crate::traps::{Found, Table};

/// The fanotify group, and whether it requests permission events.
pub struct Fan {
    group: OwnedFd,
    permission: bool,
}

/// Policy for an access once its process is known.
pub struct Policy {
    /// Refuse opens of every trap (`--deny`).
    pub deny: bool,
    /// Executables given with `--allow`, NUL-separated.
    allow: Buf<{ ALLOW_BYTES }>,
    pub own_pid: u32,
}

/// Every event bit a trap's mark can carry.
const ALL_MARKED: u64 = PERM_EVENTS
    | FAN_OPEN
    | FAN_OPEN_EXEC
    | FAN_ACCESS
    | FAN_MODIFY
    | FAN_ONDIR
    | FAN_EVENT_ON_CHILD;

/// Bytes for the `--allow` paths together.
const ALLOW_BYTES: usize = 4096;

impl Policy {
    pub fn new(deny: bool, own_pid: u32) -> Policy {
        Policy { deny, allow: Buf::new(), own_pid }
    }

    /// Replaces the `--allow` list. Returns `false` if the paths do not fit
    /// together in 4 KiB.
    pub fn set_allowed(&mut self, allowed: &[&[u8]]) -> bool {
        self.allow.clear();
        for exe in allowed {
            self.allow.push_bytes(exe);
            self.allow.push(0);
        }
        !self.allow.overflowed()
    }

    /// Reports whether `exe` is one of the `--allow` executables.
    pub fn allows(&self, exe: &[u8]) -> bool {
        let list = self.allow.as_bytes();
        !list.is_empty() && list[..list.len() - 1].split(|&b| b == 0).any(|known| known == exe)
    }
}

/// Bytes read from the fanotify descriptor at once: room for 42 events of
/// 24 bytes; more wait for the next read.
pub const BUFFER_BYTES: usize = 1024;

impl Fan {
    /// Creates the group for `mode`. Without permission events in the
    /// kernel, notification events are tried. Returns the errno when
    /// fanotify cannot be used at all (typically EPERM without
    /// CAP_SYS_ADMIN).
    pub fn open(mode: Fanotify) -> Result<Fan, Errno> {
        let common = FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE;
        // O_NONBLOCK: the kernel opens each event's descriptor with these
        // flags, and ttrapd never reads from it.
        let event_flags = linux_raw_sys::general::O_RDONLY
            | linux_raw_sys::general::O_CLOEXEC
            | linux_raw_sys::general::O_LARGEFILE
            | linux_raw_sys::general::O_NONBLOCK;
        if mode == Fanotify::Permission {
            match sys::fanotify_init(common | FAN_CLASS_CONTENT, event_flags) {
                Ok(group) => return Ok(Fan { group, permission: true }),
                // EINVAL: a kernel built without permission events.
                Err(errno) if errno != Errno::INVAL.raw_os_error() => {
                    return Err(Errno::from_raw_os_error(errno));
                }
                Err(_) => {}
            }
        }
        sys::fanotify_init(common | FAN_CLASS_NOTIF, event_flags)
            .map(|group| Fan { group, permission: false })
            .map_err(Errno::from_raw_os_error)
    }

    pub fn is_permission(&self) -> bool {
        self.permission
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.group
    }

    /// Marks the inode at `path` (following symbolic links, as inotify
    /// does). A directory also reports its entries being opened, read and
    /// written.
    pub fn mark(&self, path: &core::ffi::CStr, is_dir: bool) -> Result<(), Errno> {
        let opens = if self.permission { PERM_EVENTS } else { FAN_OPEN | FAN_OPEN_EXEC };
        let mut mask = opens | FAN_ACCESS | FAN_MODIFY;
        if is_dir {
            mask |= FAN_ONDIR | FAN_EVENT_ON_CHILD;
        }
        sys::fanotify_mark(
            self.group.as_fd(),
            FAN_MARK_ADD,
            mask,
            rustix::fs::CWD.as_raw_fd(),
            Some(path),
        )
        .map_err(Errno::from_raw_os_error)
    }

    /// Removes every mark from the object that `object` refers to, and
    /// returns whether it had one.
    pub fn unmark(&self, object: &OwnedFd) -> bool {
        sys::fanotify_mark(
            self.group.as_fd(),
            FAN_MARK_REMOVE,
            ALL_MARKED,
            object.as_raw_fd(),
            None,
        )
        .is_ok()
    }

    /// Makes the group ignore, or stop ignoring, permission events on the
    /// inode at `path`, whatever marks its directory has. Lets ttrapd open
    /// a file that a trap may cover without waiting on its own answer.
    pub fn ignore_path(&self, path: &core::ffi::CStr, ignore: bool) -> Result<(), Errno> {
        let action = if ignore { FAN_MARK_ADD } else { FAN_MARK_REMOVE };
        let cwd = rustix::fs::CWD.as_raw_fd();
        let flags = action | FAN_MARK_IGNORED_MASK;
        sys::fanotify_mark(self.group.as_fd(), flags, PERM_EVENTS, cwd, Some(path))
            .map_err(Errno::from_raw_os_error)
    }

    /// Removes every mark from the inode at `path`.
    pub fn unmark_path(&self, path: &core::ffi::CStr) {
        let cwd = rustix::fs::CWD.as_raw_fd();
        let _ =
            sys::fanotify_mark(self.group.as_fd(), FAN_MARK_REMOVE, ALL_MARKED, cwd, Some(path));
    }

    fn answer(&self, event_fd: &OwnedFd, allow: bool) -> Result<(), Errno> {
        let response = response(event_fd.as_raw_fd(), allow);
        loop {
            match rustix::io::write(&self.group, &response) {
                Ok(_) => return Ok(()),
                Err(Errno::INTR) => continue,
                Err(error) => return Err(error),
            }
        }
    }
}

/// Reads one batch of fanotify events and handles each.
pub fn read_events(
    table: &mut Table,
    log: &mut Logger,
    policy: &Policy,
    buffer: &mut [u8; BUFFER_BYTES],
    culprit: &mut Culprit,
) {
    let Some(fan) = table.fan() else { return };
    let len = match rustix::io::read(fan.fd(), &mut buffer[..]) {
        Ok(len) => len,
        Err(Errno::AGAIN) | Err(Errno::INTR) => return,
        Err(errno) => {
            let line = log.begin(Kind::Error);
            line.word("what", "fanotify-read-failed");
            line.errno(errno.raw_os_error());
            log.send();
            return;
        }
    };
    for event in events(&buffer[..len]) {
        match event {
            Ok(event) => handle(table, log, policy, &event, culprit),
            Err(error) => {
                let line = log.begin(Kind::Error);
                line.word("what", "fanotify-record-invalid");
                match error {
                    ParseError::Truncated { offset } | ParseError::BadLength { offset } => {
                        line.num("offset", offset as u64)
                    }
                    ParseError::Version { offset, version } => {
                        line.num("offset", offset as u64);
                        line.num("version", version.into());
                    }
                }
                log.send();
            }
        }
    }
}

fn handle(
    table: &mut Table,
    log: &mut Logger,
    policy: &Policy,
    event: &Event,
    culprit: &mut Culprit,
) {
    if event.mask & FAN_Q_OVERFLOW != 0 {
        let line = log.begin(Kind::Lost);
        line.word("what", "fanotify-queue-overflow");
        line.word("action", "rechecking-all-traps");
        log.send();
        table.recheck_all("lost-events", log);
        return;
    }
    if event.fd < 0 {
        return;
    }
    // SAFETY: checked: the kernel opened this descriptor for us with the
    // event, and nothing else owns it; dropping it closes it.
    let object = unsafe { OwnedFd::from_raw_fd(event.fd) };
    let permission = event.mask & PERM_EVENTS != 0;
    let pid = event.pid as u32;

    // Identify the trap and read /proc while the opener still waits.
    let mut entry = Buf::<256>::new();
    let mut seen = Buf::<256>::new();
    let found = table.identify(&object, &mut entry, &mut seen);
    let target = match found {
        Found::Trap(index) | Found::Unresolved(index) => Some(index),
        Found::Stale => None,
    };
    let unresolved = matches!(found, Found::Unresolved(_));
    if let Found::Trap(index) = found {
        let read = event.mask & FAN_ACCESS != 0;
        table.note_fan_access(index, read, event.mask & FAN_MODIFY != 0);
    }
    let Some(fan) = table.fan() else { return };
    // ttrapd's own accesses, and those of its hooks and whatever they
    // start, are not an intruder's.
    let own = pid == policy.own_pid || log.is_hook(pid) || {
        let now = table.now();
        if !culprit.describes(pid, now, permission) {
            culprit.gather(pid, now);
        }
        // As pid 1 of a PID namespace ttrapd adopts every orphan, so descent
        // proves nothing there. Its hooks are recognised by pid instead, and
        // what they start by the session each hook leads, which also
        // contains a process that outlives its hook.
        (policy.own_pid != 1 && culprit.descends_from(policy.own_pid))
            || log.hook_started(culprit.session(), &culprit.chain())
    };
    if own {
        if permission {
            let _ = fan.answer(&object, true);
        }
        return;
    }
    let allowed = culprit.exe_is(|exe| policy.allows(exe));
    let deny = !allowed
        && target.is_some_and(|index| {
            policy.deny || table.denies(index) || (unresolved && table.any_dir_denies())
        });

    // Answer before anything that can block.
    let answered = if permission { fan.answer(&object, !deny) } else { Ok(()) };
    drop(object);
    if permission {
        table.stats.answered += 1;
    }
    if let Err(errno) = answered {
        let line = log.begin(Kind::Error);
        line.word("what", "fanotify-answer-failed");
        line.num("pid", pid.into());
        line.errno(errno.raw_os_error());
        log.send();
    }
    let Some(index) = target else { return };
    culprit.find_remote(table.now());

    let is_dir_itself = !unresolved && table.is_dir(index) && entry.is_empty();
    let names = [
        (FAN_OPEN_EXEC_PERM | FAN_OPEN_EXEC, "exec"),
        (FAN_OPEN_PERM | FAN_OPEN, if is_dir_itself { "list" } else { "open" }),
        // A listing reads the directory right after opening it.
        (if is_dir_itself { 0 } else { FAN_ACCESS }, "read"),
        (FAN_MODIFY, "write"),
    ];
    for (bits, name) in names {
        let counted_as = if allowed { "allowed" } else { name };
        if event.mask & bits == 0 {
            continue;
        }
        let admitted = if unresolved {
            table.admit_unplaced(index, counted_as)
        } else {
            table.admit(index, counted_as)
        };
        if !admitted {
            continue;
        }
        let kind = if allowed { Kind::Allowed } else { Kind::Alert };
        let line = log.begin(kind);
        line.path("trap", table.path(index));
        line.word("event", name);
        if !entry.is_empty() {
            line.path("entry", entry.as_bytes());
        }
        if !seen.is_empty() {
            // The path the opener used does not lead to the trap here.
            line.path("path", seen.as_bytes());
        }
        if deny && bits & PERM_EVENTS != 0 {
            line.word("action", "denied");
        }
        culprit.push_fields(line);
        log.send();
    }
    table.touch(index);
}
