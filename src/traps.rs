//! The trap table: arming traps with inotify, turning events into alerts,
//! and re-arming traps that are deleted, moved away or replaced.
//!
//! Each trap has two watches. The trap's own watch reports opens, reads,
//! writes, attribute changes, moves and deletes of the trapped inode, and
//! for a directory the changes to its entries. The anchor watch sits on the
//! trap's parent directory and reports the trap's name being deleted,
//! renamed away, created or renamed over, so a trap is re-armed on whatever
//! appears at its path. When the parent itself is gone, the anchor moves to
//! the nearest ancestor that exists and follows the path down again as
//! directories are re-created.
//!
//! inotify returns one watch descriptor per inode, so traps can share
//! watches (hard links, a trapped directory that is also a parent). Every
//! watch is added with `IN_MASK_ADD` so one trap never narrows another's
//! mask, and a trap's own watch is removed only when no trap refers to it.
//! Anchor watches stay until the daemon stops; they report only changes of
//! directory entries, which match no trap once unused.

use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, Ordering};

use rustix::fd::OwnedFd;
use rustix::fs::{self, AtFlags, CWD, FileType, Stat};
use rustix::io::Errno;
use ttrapd::buf::Buf;
use ttrapd::config::TrapSettings;
use ttrapd::flood::{self, Decision, Window};
use ttrapd::inotify::*;
use ttrapd::limits::{MAX_TRAPS, PATH_ARENA_BYTES};
use ttrapd::msg::Kind;
use ttrapd::path;

use crate::fan::Fan;
use crate::logger::Logger;

/// Events requested by a trap's own watch.
const TRAP_MASK: u32 = IN_OPEN
    | IN_ACCESS
    | IN_MODIFY
    | IN_ATTRIB
    | IN_MOVE_SELF
    | IN_DELETE_SELF
    | IN_CREATE
    | IN_DELETE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_MASK_ADD;

/// The part of [`TRAP_MASK`] that fanotify reports, with the process,
/// for traps it marks. Reads and writes stay in the inotify mask as well:
/// fanotify without file ids drops the events that have no open file
/// behind them (`truncate` by path, `utimensat` of one time), so inotify
/// reports those, and skips what fanotify has just reported.
const FANOTIFY_COVERS: u32 = IN_OPEN;

/// How long after a fanotify read or write of a trap the same kind of
/// inotify event counts as its twin, in milliseconds.
const TWIN_WINDOW_MS: u64 = 1000;

/// Events requested by an anchor watch on a parent or ancestor directory.
const ANCHOR_MASK: u32 = IN_CREATE
    | IN_DELETE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
    | IN_MASK_ADD;

fn watch_flags(mask: u32) -> fs::inotify::WatchFlags {
    fs::inotify::WatchFlags::from_bits_retain(mask)
}

/// The `stat` fields of a trap when it was last looked at. After lost
/// events, a comparison finds the changes those events would have reported.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Snapshot {
    dev: u64,
    ino: u64,
    size: i64,
    nlink: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    atime: (i64, u64),
    mtime: (i64, u64),
    ctime: (i64, u64),
}

impl Snapshot {
    fn of(stat: &Stat) -> Self {
        Self {
            dev: stat.st_dev,
            ino: stat.st_ino,
            size: stat.st_size,
            nlink: stat.st_nlink,
            mode: stat.st_mode,
            uid: stat.st_uid,
            gid: stat.st_gid,
            atime: (stat.st_atime, stat.st_atime_nsec),
            mtime: (stat.st_mtime, stat.st_mtime_nsec),
            ctime: (stat.st_ctime, stat.st_ctime_nsec),
        }
    }

    fn same_inode(&self, other: &Self) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }

    /// Appends the names of the fields that differ, comma-separated.
    fn push_changes(&self, now: &Self, out: &mut Buf<64>) {
        let checks = [
            ("size", self.size != now.size),
            ("mtime", self.mtime != now.mtime),
            ("ctime", self.ctime != now.ctime),
            ("atime", self.atime != now.atime),
            ("nlink", self.nlink != now.nlink),
            ("mode", self.mode != now.mode),
            ("owner", self.uid != now.uid || self.gid != now.gid),
        ];
        for (name, changed) in checks {
            if changed {
                if !out.is_empty() {
                    out.push(b',');
                }
                out.push_str(name);
            }
        }
    }
}

/// One trap. Watch descriptors are 0 when absent (the kernel numbers them
/// from 1), which keeps an empty table all zeros, in `.bss`.
#[derive(Clone, Copy)]
struct Trap {
    /// Offset of the NUL-terminated absolute path in the arena.
    start: u32,
    /// Path length without the NUL.
    len: u16,
    /// Offset of the final component within the path.
    base: u16,
    /// The trap's own watch, 0 while the path is gone.
    wd: i32,
    /// Watch on the parent directory, or on the nearest existing ancestor.
    anchor_wd: i32,
    anchor_is_parent: bool,
    is_dir: bool,
    /// fanotify marks the trap's inode.
    fan: bool,
    /// When fanotify last reported a read and a write of the trap.
    fan_read_at: u64,
    fan_write_at: u64,
    /// Had events in the batch being processed.
    touched: bool,
    snapshot: Snapshot,
    window: Window,
    settings: TrapSettings,
}

impl Trap {
    const EMPTY: Trap = Trap {
        start: 0,
        len: 0,
        base: 0,
        wd: 0,
        anchor_wd: 0,
        anchor_is_parent: false,
        is_dir: false,
        fan: false,
        fan_read_at: 0,
        fan_write_at: 0,
        touched: false,
        window: Window::EMPTY,
        settings: TrapSettings { deny: false, quiet: None, events: 0 },
        snapshot: Snapshot {
            dev: 0,
            ino: 0,
            size: 0,
            nlink: 0,
            mode: 0,
            uid: 0,
            gid: 0,
            atime: (0, 0),
            mtime: (0, 0),
            ctime: (0, 0),
        },
    };
}

/// The place of a fanotify event's object, as far as the table can tell.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Found {
    /// Trap `index` itself, or an entry of trapped directory `index`.
    Trap(usize),
    /// An entry of a trapped directory that could not be placed; `index`
    /// is the trapped directory it is charged to.
    Unresolved(usize),
    /// An old inode of a trap or of a trapped directory, now unmarked.
    Stale,
}

/// A trap that could not be armed at start-up.
pub struct ArmError {
    pub index: usize,
    pub errno: Errno,
}

/// Reason a path could not be added to the table.
pub enum AddError {
    TooMany,
    ArenaFull,
    /// A relative path while the working directory is unknown.
    NoCwd,
}

/// Storage for two tables: the one in use and, during a reload, the one
/// being built. Untouched pages of these statics cost no memory.
static mut ARENAS: [[u8; PATH_ARENA_BYTES]; 2] = [[0; PATH_ARENA_BYTES]; 2];
static mut TRAPS: [[Trap; MAX_TRAPS]; 2] = [[Trap::EMPTY; MAX_TRAPS]; 2];
static TAKEN: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];

pub struct Table {
    /// Index of the static storage slot this table uses.
    slot: usize,
    arena: &'static mut [u8; PATH_ARENA_BYTES],
    arena_len: usize,
    /// Length of the working directory stored at the start of the arena.
    cwd_len: usize,
    traps: &'static mut [Trap; MAX_TRAPS],
    count: usize,
    inotify: Option<OwnedFd>,
    fan: Option<Fan>,
    /// Whether alerts without fanotify list the processes holding the trap.
    scan_holders: bool,
    /// Flood-control window in milliseconds; 0 turns it off.
    quiet_ms: u64,
    /// Monotonic milliseconds of the current loop turn.
    now: u64,
    pub stats: Stats,
}

/// Event counts over the daemon's life. Every event either raised an alert
/// or an ALLOWED line, or was counted in a REPEAT line:
/// `events == alerts + repeated` once the last windows are closed.
#[derive(Clone, Copy, Default)]
pub struct Stats {
    pub events: u64,
    pub alerts: u64,
    pub repeated: u64,
    /// Permission events answered.
    pub answered: u64,
}

impl Drop for Table {
    fn drop(&mut self) {
        // The references into the slot die with `self`; the slot is free.
        TAKEN[self.slot].store(false, Ordering::Relaxed);
    }
}

impl Table {
    /// Takes one of the two static storage slots, or returns `None` when
    /// both are in use.
    pub fn take() -> Option<Table> {
        let slot = (0..2).find(|&slot| !TAKEN[slot].swap(true, Ordering::Relaxed))?;
        // SAFETY: checked: `TAKEN[slot]` was false, so no live `Table` holds
        // references into this slot, and it stays true until the `Table`
        // made here is dropped; the process has one thread. `addr_of_mut!`
        // on the element avoids a reference to the whole array.
        let (arena, traps) =
            unsafe { (&mut *(&raw mut ARENAS[slot]), &mut *(&raw mut TRAPS[slot])) };
        Some(Table {
            slot,
            arena,
            arena_len: 0,
            cwd_len: 0,
            traps,
            count: 0,
            inotify: None,
            fan: None,
            scan_holders: true,
            quiet_ms: 0,
            now: 0,
            stats: Stats { events: 0, alerts: 0, repeated: 0, answered: 0 },
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    /// Returns the absolute path of trap `index`, without the NUL.
    pub fn path(&self, index: usize) -> &[u8] {
        let trap = &self.traps[index];
        &self.arena[trap.start as usize..trap.start as usize + trap.len as usize]
    }

    pub fn path_cstr(&self, index: usize) -> &CStr {
        let trap = &self.traps[index];
        let start = trap.start as usize;
        let bytes = &self.arena[start..start + trap.len as usize + 1];
        // Paths come from NUL-free argument strings, and `add` wrote the NUL.
        CStr::from_bytes_with_nul(bytes).unwrap_or(c"/")
    }

    /// Stores the working directory at the start of the arena, where
    /// relative trap paths find it. Returns `false` if it is unknown
    /// (deleted, or longer than `PATH_MAX`); relative paths then fail.
    pub fn load_cwd(&mut self) -> bool {
        match crate::sys::getcwd(&mut self.arena[..ttrapd::limits::PATH_MAX]) {
            Ok(len) if len > 0 => {
                self.cwd_len = len;
                self.arena_len = len + 1;
                true
            }
            _ => false,
        }
    }

    /// Returns the working directory at start-up, or an empty slice if
    /// it is unknown.
    pub fn cwd(&self) -> &[u8] {
        &self.arena[..self.cwd_len]
    }

    /// Stores `raw` in the arena as an absolute, NUL-terminated path and
    /// returns its offset and length.
    fn store_path(&mut self, raw: &[u8]) -> Result<(usize, usize), AddError> {
        if raw.first() != Some(&b'/') && self.cwd_len == 0 {
            return Err(AddError::NoCwd);
        }
        let mut absolute = Buf::<{ ttrapd::limits::PATH_MAX }>::new();
        let cwd = &self.arena[..self.cwd_len];
        if !path::push_absolute(&mut absolute, cwd, raw) || absolute.remaining() == 0 {
            return Err(AddError::ArenaFull);
        }
        let bytes = absolute.as_bytes();
        let start = self.arena_len;
        let end = start + bytes.len();
        if end + 1 > self.arena.len() {
            return Err(AddError::ArenaFull);
        }
        self.arena[start..end].copy_from_slice(bytes);
        self.arena[end] = 0;
        self.arena_len = end + 1;
        Ok((start, bytes.len()))
    }

    /// Adds a trap for `raw`, made absolute against the working directory.
    /// A path already in the table is added once.
    pub fn add(&mut self, raw: &[u8], settings: TrapSettings) -> Result<(), AddError> {
        let saved_len = self.arena_len;
        let (start, len) = self.store_path(raw)?;
        let new_path = &self.arena[start..start + len];
        if (0..self.count).any(|index| self.path(index) == new_path) {
            self.arena_len = saved_len;
            return Ok(());
        }
        if self.count == MAX_TRAPS {
            self.arena_len = saved_len;
            return Err(AddError::TooMany);
        }
        let base = path::base_start(new_path);
        self.traps[self.count] = Trap {
            start: start as u32,
            len: len as u16,
            base: base as u16,
            settings,
            ..Trap::EMPTY
        };
        self.count += 1;
        Ok(())
    }

    /// Sets whether alerts without fanotify list the processes holding the
    /// trap open.
    pub fn set_holders(&mut self, holders: bool) {
        self.scan_holders = holders;
    }

    /// Sets the flood-control window.
    pub fn set_quiet(&mut self, seconds: u32) {
        self.quiet_ms = u64::from(seconds) * 1000;
    }

    /// Sets the time of the current loop turn.
    pub fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    /// Returns the time of the current loop turn, in monotonic milliseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Counts one event on trap `index` and decides whether it alerts now
    /// or waits for the trap's REPEAT line.
    pub fn admit(&mut self, index: usize, event: &str) -> bool {
        self.admit_as(index, event, true)
    }

    /// Like [`Table::admit`] for an event charged to trap `index` without
    /// being placed in it: the trap's `events=` choice does not apply, since
    /// the event may belong to another trap.
    pub fn admit_unplaced(&mut self, index: usize, event: &str) -> bool {
        self.admit_as(index, event, false)
    }

    fn admit_as(&mut self, index: usize, event: &str, filtered: bool) -> bool {
        let kind = flood::event_index(event);
        let settings = self.traps[index].settings;
        // A trap limited to some events ignores the others altogether.
        if filtered && settings.events != 0 && settings.events & (1 << kind) == 0 {
            return false;
        }
        self.stats.events += 1;
        let quiet_ms = settings.quiet.map_or(self.quiet_ms, |seconds| u64::from(seconds) * 1000);
        let now = self.now;
        match self.traps[index].window.on_event(now, quiet_ms, kind) {
            Decision::Alert => {
                self.stats.alerts += 1;
                true
            }
            Decision::Count => false,
        }
    }

    /// When the earliest flood-control window closes.
    pub fn window_deadline(&self) -> Option<u64> {
        self.traps[..self.count].iter().filter_map(|trap| trap.window.deadline()).min()
    }

    /// Closes the windows that are due (all of them with `force`) and
    /// writes a REPEAT line for each that held events back.
    pub fn close_windows(&mut self, force: bool, log: &mut Logger) {
        for index in 0..self.count {
            self.close_window(index, force, log);
        }
    }

    /// Closes the window of trap `index` if it is due (or `force`) and logs
    /// what it held back: a REPEAT line for events of other processes, and
    /// an ALLOWED line, at its lower severity, for `--allow` programs.
    fn close_window(&mut self, index: usize, force: bool, log: &mut Logger) {
        let Some(counts) = self.traps[index].window.close(self.now, force) else { return };
        let allowed_slot = flood::event_index("allowed");
        let allowed = u64::from(counts[allowed_slot]);
        let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
        let others = total - allowed;
        self.stats.repeated += total;
        let window = self.traps[index].settings.quiet.map_or(self.quiet_ms / 1000, u64::from);
        if others > 0 {
            let line = log.begin(Kind::Repeat);
            line.path("trap", self.path(index));
            line.num("count", others);
            for (slot, (name, &count)) in flood::EVENTS.iter().zip(&counts).enumerate() {
                if count > 0 && slot != allowed_slot {
                    line.num(name, count.into());
                }
            }
            line.num("window", window);
            log.send();
        }
        if allowed > 0 {
            let line = log.begin(Kind::Allowed);
            line.path("trap", self.path(index));
            line.word("event", "repeat");
            line.num("count", allowed);
            line.num("window", window);
            log.send();
        }
    }

    /// Uses `fan` for the traps armed from now on.
    pub fn set_fan(&mut self, fan: Fan) {
        self.fan = Some(fan);
    }

    /// Moves the inotify instance and the fanotify group of `other` to this
    /// table, with their queues. A reload arms the new table on them, so no
    /// event is lost with a closed queue, and none is reported twice by two
    /// queues watching the same inode.
    pub fn take_watchers(&mut self, other: &mut Table) {
        self.inotify = other.inotify.take();
        self.fan = other.fan.take();
    }

    /// Removes the watches and marks of this table that `keep` does not use.
    /// `keep` owns the shared inotify instance and fanotify group by now.
    pub fn release_unused(&self, keep: &mut Table) {
        for index in 0..self.count {
            let trap = self.traps[index];
            let used =
                |wd: i32| keep.traps[..keep.count].iter().any(|t| t.wd == wd || t.anchor_wd == wd);
            if let Some(inotify) = keep.inotify.as_ref() {
                for wd in [trap.wd, trap.anchor_wd] {
                    if wd != 0 && !used(wd) {
                        // EINVAL means the kernel already dropped it.
                        let _ = fs::inotify::remove_watch(inotify, wd);
                    }
                }
            }
            if !trap.fan || trap.wd == 0 {
                continue;
            }
            let kept = keep.traps[..keep.count]
                .iter()
                .any(|t| t.fan && t.wd != 0 && t.snapshot.same_inode(&trap.snapshot));
            if kept {
                continue;
            }
            // The path may lead to another inode by now; that one's mark is
            // not this trap's to remove.
            let path = self.path_cstr(index);
            let here = fs::statat(CWD, path, AtFlags::empty())
                .is_ok_and(|stat| trap.snapshot.same_inode(&Snapshot::of(&stat)));
            if let (true, Some(fan)) = (here, keep.fan.as_ref()) {
                fan.unmark_path(path);
            }
        }
    }

    pub fn fan(&self) -> Option<&Fan> {
        self.fan.as_ref()
    }

    /// Returns how many traps are armed now.
    pub fn armed(&self) -> usize {
        self.traps[..self.count].iter().filter(|t| t.wd != 0).count()
    }

    /// Returns how many armed traps fanotify marks.
    pub fn fan_marked(&self) -> usize {
        self.traps[..self.count].iter().filter(|t| t.wd != 0 && t.fan).count()
    }

    /// Reports whether opens of trap `index` are refused by its own
    /// setting.
    pub fn denies(&self, index: usize) -> bool {
        self.traps[index].settings.deny
    }

    /// Returns the settings a `trap` line gave trap `index`.
    pub fn settings(&self, index: usize) -> TrapSettings {
        self.traps[index].settings
    }

    /// Reports whether any trap refuses opens by its own setting.
    pub fn any_denies(&self) -> bool {
        self.traps[..self.count].iter().any(|trap| trap.settings.deny)
    }

    /// Reports whether the table has a trap at `path`.
    pub fn contains(&self, path: &[u8]) -> bool {
        (0..self.count).any(|index| self.path(index) == path)
    }

    /// Copies the working directory from `other`, for a table built on
    /// reload after the daemon moved to `/`.
    pub fn copy_cwd(&mut self, other: &Table) {
        let len = other.cwd_len;
        self.arena[..len].copy_from_slice(&other.arena[..len]);
        self.cwd_len = len;
        self.arena_len = if len > 0 { len + 1 } else { 0 };
    }

    /// Reports the inode, type, owner and mode of trap `index` as `stat`
    /// sees it now, for `--check`.
    pub fn stat(&self, index: usize) -> Result<Stat, Errno> {
        fs::statat(CWD, self.path_cstr(index), AtFlags::empty())
    }

    pub fn is_dir(&self, index: usize) -> bool {
        self.traps[index].is_dir
    }

    /// Records that fanotify reported a read or a write of trap `index`, so
    /// that inotify's report of the same access is not a second alert.
    pub fn note_fan_access(&mut self, index: usize, read: bool, write: bool) {
        let now = self.now.max(1);
        if read {
            self.traps[index].fan_read_at = now;
        }
        if write {
            self.traps[index].fan_write_at = now;
        }
    }

    /// Reports whether fanotify has just reported this kind of access of
    /// trap `index`.
    fn fan_reported(&self, index: usize, write: bool) -> bool {
        let trap = &self.traps[index];
        let at = if write { trap.fan_write_at } else { trap.fan_read_at };
        trap.fan && at != 0 && self.now.saturating_sub(at) <= TWIN_WINDOW_MS
    }

    /// Records that trap `index` had an event in the current batch.
    pub fn touch(&mut self, index: usize) {
        self.traps[index].touched = true;
    }

    /// Finds the trap behind a fanotify event's object. `entry` receives
    /// the entry name when the object lies in a trapped directory, and
    /// `seen` the path the kernel gives for the object when the entry was
    /// not found through that path.
    ///
    /// The kernel sent the event because the object or its parent
    /// directory carries a mark. Where the kernel's path for the object
    /// leads to the object here too, its parent is the real one: a trapped
    /// directory, or one that was trapped once, whose mark is then removed.
    /// Otherwise the opener used a path that does not exist here (a bind
    /// mount in another mount namespace, a detached mount), and the name is
    /// looked up in each trapped directory. An event that none of this
    /// places fails closed: it is charged to a trapped directory.
    pub fn identify(&self, object: &OwnedFd, entry: &mut Buf<256>, seen: &mut Buf<256>) -> Found {
        let Ok(stat) = fs::fstat(object) else { return self.unresolved(None) };
        let armed = |t: &Trap| t.wd != 0 && t.fan;
        let same = |t: &Trap, dev: u64, ino: u64| t.snapshot.dev == dev && t.snapshot.ino == ino;
        if let Some(index) = (0..self.count)
            .find(|&i| armed(&self.traps[i]) && same(&self.traps[i], stat.st_dev, stat.st_ino))
        {
            return Found::Trap(index);
        }
        // An entry of a trapped directory: compare its parent directory.
        let mut target = [0u8; ttrapd::limits::PATH_MAX];
        let Ok(len) = crate::proc::fd_target(object, &mut target) else {
            if self.fan.as_ref().is_some_and(|fan| fan.unmark(object)) {
                return Found::Stale;
            }
            // Longer than PATH_MAX from the opener's root, for one.
            seen.push_bytes(b"unreadable");
            return self.unresolved(Some(stat.st_dev));
        };
        let base = path::base_start(&target[..len]);
        let parent_len = path::parent_len(&target[..len]);
        let is_object = |found: &Stat| found.st_dev == stat.st_dev && found.st_ino == stat.st_ino;
        // Does the kernel's path lead to this very object here? Not when
        // the opener used a mount that ttrapd's namespace lacks.
        target[len] = 0;
        let here = CStr::from_bytes_until_nul(&target)
            .ok()
            .and_then(|full| fs::statat(CWD, full, AtFlags::SYMLINK_NOFOLLOW).ok())
            .is_some_and(|found| is_object(&found));
        let parent = stat_parent(&mut target, parent_len);
        if here {
            let is_parent = |t: &Trap| {
                armed(t) && t.is_dir && parent.as_ref().is_some_and(|p| same(t, p.st_dev, p.st_ino))
            };
            if let Some(index) = (0..self.count).find(|&i| is_parent(&self.traps[i])) {
                entry.push_bytes(&target[base..len]);
                return Found::Trap(index);
            }
        }
        // The path leads elsewhere here; look the name up in each trapped
        // directory on the object's file system.
        let name = &target[base..len];
        let holds = |t: &Trap| {
            armed(t)
                && t.is_dir
                && t.snapshot.dev == stat.st_dev
                && self.entry_stat(t, name).is_some_and(|e| is_object(&e))
        };
        if let Some(index) = (0..self.count).find(|&i| holds(&self.traps[i])) {
            entry.push_bytes(name);
            seen.push_bytes(&target[..len]);
            return Found::Trap(index);
        }
        let Some(fan) = self.fan.as_ref() else { return Found::Stale };
        // An old trap inode, moved away or replaced, carries its own mark.
        if fan.unmark(object) {
            return Found::Stale;
        }
        if here {
            // The object's parent here is no trapped directory, so the mark
            // that raised the event sits on a directory that was trapped
            // once: moved away, replaced, or dropped by a reload.
            target[parent_len] = 0;
            if let Ok(parent) = CStr::from_bytes_until_nul(&target) {
                fan.unmark_path(parent);
            }
            return Found::Stale;
        }
        let found = self.unresolved(Some(stat.st_dev));
        if matches!(found, Found::Unresolved(_)) {
            entry.push_bytes(&target[base..len]);
            seen.push_bytes(&target[..len]);
        }
        found
    }

    /// Picks the trapped directory an unplaced event is charged to: the
    /// first on the object's file system (`dev`), or else the first of all.
    fn unresolved(&self, dev: Option<u64>) -> Found {
        let dir = |t: &Trap| t.wd != 0 && t.fan && t.is_dir;
        let on_dev = |t: &Trap| dir(t) && dev.is_none_or(|dev| t.snapshot.dev == dev);
        match (0..self.count).find(|&i| on_dev(&self.traps[i])) {
            Some(index) => Found::Unresolved(index),
            None => match (0..self.count).find(|&i| dir(&self.traps[i])) {
                Some(index) => Found::Unresolved(index),
                // No trapped directory is armed, so no entry can be one.
                None => Found::Stale,
            },
        }
    }

    /// Returns the trap that covers the file at `path`: the file itself, or
    /// the directory that contains it. Follows symbolic links, and opens
    /// nothing that could wait on a permission answer.
    pub fn covering(&self, path: &CStr) -> Option<usize> {
        // An O_PATH descriptor raises no fanotify event, and its link gives
        // the real parent directory.
        let flags = fs::OFlags::PATH | fs::OFlags::CLOEXEC;
        let file = fs::open(path, flags, fs::Mode::empty()).ok()?;
        self.covering_file(&file)
    }

    /// Like [`Table::covering`] for the file that `file`, an `O_PATH`
    /// descriptor, refers to.
    pub fn covering_file(&self, file: &OwnedFd) -> Option<usize> {
        let stat = fs::fstat(file).ok()?;
        let mut target = [0u8; ttrapd::limits::PATH_MAX];
        let len = crate::proc::fd_target(file, &mut target).ok()?;
        let parent_len = path::parent_len(&target[..len]);
        let parent = stat_parent(&mut target, parent_len);
        (0..self.count).find(|&index| {
            let Ok(trap) = fs::statat(CWD, self.path_cstr(index), AtFlags::empty()) else {
                return false;
            };
            let same = |other: &Stat| other.st_dev == trap.st_dev && other.st_ino == trap.st_ino;
            let is_dir = FileType::from_raw_mode(trap.st_mode) == FileType::Directory;
            same(&stat) || (is_dir && parent.as_ref().is_some_and(same))
        })
    }

    /// Returns the `stat` of entry `name` of trapped directory `trap`,
    /// without following a symbolic link and without opening anything.
    fn entry_stat(&self, trap: &Trap, name: &[u8]) -> Option<Stat> {
        let dir = &self.arena[trap.start as usize..trap.start as usize + trap.len as usize];
        let mut joined = [0u8; ttrapd::limits::PATH_MAX];
        let total = dir.len() + 1 + name.len();
        if name.is_empty() || name.contains(&0) || total >= joined.len() {
            return None;
        }
        joined[..dir.len()].copy_from_slice(dir);
        joined[dir.len()] = b'/';
        joined[dir.len() + 1..total].copy_from_slice(name);
        let joined = CStr::from_bytes_until_nul(&joined).ok()?;
        fs::statat(CWD, joined, AtFlags::SYMLINK_NOFOLLOW).ok()
    }

    /// Whether an unplaced event should be refused: fail closed, so any
    /// trapped directory with `deny` counts.
    pub fn any_dir_denies(&self) -> bool {
        self.traps[..self.count].iter().any(|t| t.is_dir && t.settings.deny)
    }

    /// Creates the inotify instance unless the table took one over, and
    /// arms every trap. Each trap must exist now; the first that cannot be
    /// watched is returned.
    pub fn arm_all(&mut self) -> Result<(), ArmError> {
        if self.inotify.is_none() {
            let flags = fs::inotify::CreateFlags::CLOEXEC | fs::inotify::CreateFlags::NONBLOCK;
            let inotify =
                fs::inotify::init(flags).map_err(|errno| ArmError { index: usize::MAX, errno })?;
            self.inotify = Some(inotify);
        }
        for index in 0..self.count {
            self.arm(index).map_err(|errno| ArmError { index, errno })?;
        }
        Ok(())
    }

    pub fn inotify(&self) -> &OwnedFd {
        match &self.inotify {
            Some(fd) => fd,
            None => crate::fatal_bug(b"inotify used before arm_all"),
        }
    }

    /// Watches trap `index` and its anchor.
    fn arm(&mut self, index: usize) -> Result<(), Errno> {
        // The anchor comes first, so a replacement that lands between the
        // calls is still seen.
        self.anchor(index);
        let path = self.path_cstr(index);
        let stat = fs::statat(CWD, path, AtFlags::empty())?;
        let file_type = FileType::from_raw_mode(stat.st_mode);
        let is_dir = file_type == FileType::Directory;
        // fanotify takes over opens where it can mark the inode. It reports
        // no opens of FIFOs and device nodes, and some file systems refuse
        // marks; inotify covers those.
        let markable = is_dir || file_type == FileType::RegularFile;
        let fan = markable && self.fan.as_ref().is_some_and(|fan| fan.mark(path, is_dir).is_ok());
        let mask = if fan { TRAP_MASK & !FANOTIFY_COVERS } else { TRAP_MASK };
        let wd = fs::inotify::add_watch(self.inotify(), path, watch_flags(mask))?;
        let stat = fs::statat(CWD, path, AtFlags::empty())?;
        let trap = &mut self.traps[index];
        trap.wd = wd;
        trap.fan = fan;
        trap.is_dir = FileType::from_raw_mode(stat.st_mode) == FileType::Directory;
        trap.snapshot = Snapshot::of(&stat);
        Ok(())
    }

    /// Arms trap `index` again after its path reappeared, and logs a REARM line.
    fn rearm(&mut self, index: usize, log: &mut Logger) {
        match self.arm(index) {
            Ok(()) => {
                // A new file at the path starts a new window: the first
                // access to it alerts at once.
                self.close_window(index, true, log);
                let line = log.begin(Kind::Rearm);
                line.path("trap", self.path(index));
                line.num("ino", self.traps[index].snapshot.ino);
                log.send();
            }
            // Still absent: the anchor watch reports when it appears.
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => {}
            Err(errno) => {
                let line = log.begin(Kind::Error);
                line.word("what", "rearm-failed");
                line.path("trap", self.path(index));
                line.errno(errno.raw_os_error());
                log.send();
            }
        }
    }

    /// Watches the parent directory of trap `index`, or, while that is
    /// missing, the nearest ancestor that exists.
    fn anchor(&mut self, index: usize) {
        let start = self.traps[index].start as usize;
        let parent_len = path::parent_len(self.path(index));
        let mut len = parent_len;
        loop {
            // Terminate the path at this ancestor for the call, then put the
            // slash back.
            let saved = self.arena[start + len];
            self.arena[start + len] = 0;
            let ancestor = CStr::from_bytes_until_nul(&self.arena[start..]).unwrap_or(c"/");
            let result = fs::inotify::add_watch(self.inotify(), ancestor, watch_flags(ANCHOR_MASK));
            self.arena[start + len] = saved;
            if let Ok(wd) = result {
                let trap = &mut self.traps[index];
                trap.anchor_wd = wd;
                trap.anchor_is_parent = len == parent_len;
                return;
            }
            if len <= 1 {
                // Not even "/" could be watched; the trap still works, but
                // cannot be re-armed until the next recheck.
                self.traps[index].anchor_wd = 0;
                return;
            }
            len = path::parent_len(&self.arena[start..start + len]);
        }
    }

    /// Forgets the trap's own watch, removing it from inotify unless another
    /// trap shares it. A moved-away directory keeps its fanotify mark
    /// until an event shows where it went.
    fn disarm(&mut self, index: usize) {
        let wd = self.traps[index].wd;
        self.traps[index].wd = 0;
        if wd == 0 {
            return;
        }
        let shared = self.traps[..self.count].iter().any(|t| t.wd == wd || t.anchor_wd == wd);
        if !shared {
            // EINVAL means the kernel already dropped it (file deleted).
            let _ = fs::inotify::remove_watch(self.inotify(), wd);
        }
    }

    fn disarm_and_say(&mut self, index: usize, reason: &str, log: &mut Logger) {
        self.disarm(index);
        let line = log.begin(Kind::Disarm);
        line.path("trap", self.path(index));
        line.word("reason", reason);
        line.word("state", "waiting-for-path");
        log.send();
    }

    fn alert(&mut self, index: usize, event: &str, entry: &[u8], log: &mut Logger) {
        self.traps[index].touched = true;
        if !self.admit(index, event) {
            return;
        }
        let line = log.begin(Kind::Alert);
        line.path("trap", self.path(index));
        line.word("event", event);
        if !entry.is_empty() {
            line.path("entry", entry);
        }
        // Without fanotify the kernel does not say who did it; the
        // processes holding the trap open now are the best lead. Reads
        // follow an open that already listed them.
        let holders_apply = matches!(event, "open" | "list" | "write") && entry.is_empty();
        if holders_apply && self.scan_holders && !self.traps[index].fan {
            let trap = &self.traps[index];
            let path = &self.arena[trap.start as usize..trap.start as usize + trap.len as usize];
            let mut holders = Buf::<256>::new();
            crate::holders::find(path, &mut holders);
            if holders.is_empty() {
                line.word("holders", "none");
            } else {
                line.text("holders", holders.as_bytes());
            }
        }
        log.send();
    }

    /// Reports whether the path of trap `index` still names the inode it
    /// was armed on.
    fn still_in_place(&self, index: usize) -> bool {
        match fs::statat(CWD, self.path_cstr(index), AtFlags::empty()) {
            Ok(stat) => Snapshot::of(&stat).same_inode(&self.traps[index].snapshot),
            Err(_) => false,
        }
    }

    /// Handles one inotify event.
    pub fn handle(&mut self, event: &Event<'_>, log: &mut Logger) {
        if event.mask & IN_Q_OVERFLOW != 0 {
            let line = log.begin(Kind::Lost);
            line.word("what", "inotify-queue-overflow");
            line.word("action", "rechecking-all-traps");
            log.send();
            self.refresh_touched();
            self.recheck_all("lost-events", log);
            return;
        }
        if event.wd <= 0 {
            return;
        }
        for index in 0..self.count {
            if self.traps[index].wd == event.wd {
                self.handle_own(index, event, log);
            }
            if self.traps[index].anchor_wd == event.wd {
                self.handle_anchor(index, event, log);
            }
        }
    }

    /// Handles an event on the trap's own watch.
    fn handle_own(&mut self, index: usize, event: &Event<'_>, log: &mut Logger) {
        let mask = event.mask;
        if mask & IN_IGNORED != 0 {
            // The kernel dropped the watch: the inode is gone or its file
            // system was unmounted.
            self.traps[index].wd = 0;
            self.rearm(index, log);
            return;
        }
        if !event.name.is_empty() {
            self.handle_entry(index, event, log);
            return;
        }
        let is_dir = self.traps[index].is_dir;
        if mask & IN_OPEN != 0 {
            self.alert(index, if is_dir { "list" } else { "open" }, b"", log);
        }
        // A listing reads the directory right after opening it; the open
        // already raised the alert.
        if mask & IN_ACCESS != 0 && !is_dir && !self.fan_reported(index, false) {
            self.alert(index, "read", b"", log);
        }
        if mask & IN_MODIFY != 0 && !self.fan_reported(index, true) {
            self.alert(index, "write", b"", log);
        }
        // Unlinking or renaming over the trap also changes its link count;
        // the anchor reports those as delete or replace instead.
        if mask & IN_ATTRIB != 0 && self.still_in_place(index) {
            self.alert(index, "attrib", b"", log);
        }
        if mask & IN_MOVE_SELF != 0 {
            self.alert(index, "move", b"", log);
            self.disarm_and_say(index, "moved", log);
        }
        if mask & IN_DELETE_SELF != 0 && self.traps[index].wd != 0 {
            self.alert(index, "delete", b"", log);
            self.disarm_and_say(index, "deleted", log);
        }
        if mask & IN_UNMOUNT != 0 {
            let line = log.begin(Kind::Warn);
            line.word("what", "unmounted");
            line.path("trap", self.path(index));
            log.send();
        }
    }

    /// Handles an event about an entry of a trapped directory.
    fn handle_entry(&mut self, index: usize, event: &Event<'_>, log: &mut Logger) {
        let events = [
            (IN_CREATE, "create"),
            (IN_DELETE, "delete"),
            (IN_MOVED_FROM, "move_out"),
            (IN_MOVED_TO, "move_in"),
            (IN_OPEN, "open"),
            (IN_MODIFY, "write"),
            (IN_ATTRIB, "attrib"),
        ];
        for (bit, name) in events {
            // fanotify reports writes to entries with the process.
            let twin = bit == IN_MODIFY && self.fan_reported(index, true);
            if event.mask & bit != 0 && !twin {
                self.alert(index, name, event.name, log);
            }
        }
    }

    /// Handles an event on the anchor watch of trap `index`.
    fn handle_anchor(&mut self, index: usize, event: &Event<'_>, log: &mut Logger) {
        let mask = event.mask;
        let armed = self.traps[index].wd != 0;
        if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT) != 0 {
            // The anchor directory itself went away or moved; if it was the
            // parent of an armed trap, the trap went with it.
            if mask & IN_MOVE_SELF != 0 && self.traps[index].anchor_is_parent && armed {
                self.alert(index, "move", b"", log);
                self.disarm_and_say(index, "parent-moved", log);
            }
            self.traps[index].anchor_wd = 0;
            if self.traps[index].wd == 0 {
                self.rearm(index, log);
            } else {
                self.anchor(index);
            }
            return;
        }
        if !self.traps[index].anchor_is_parent {
            // A directory above a missing parent changed: the path may be
            // complete again, or the anchor can move one level down.
            if mask & (IN_CREATE | IN_MOVED_TO) != 0 {
                self.rearm(index, log);
            }
            return;
        }
        let base = self.traps[index].base as usize;
        if event.name != &self.path(index)[base..] {
            return;
        }
        if mask & IN_DELETE != 0 && armed {
            self.alert(index, "delete", b"", log);
            self.disarm_and_say(index, "deleted", log);
        }
        if mask & IN_MOVED_FROM != 0 && armed {
            self.alert(index, "move", b"", log);
            self.disarm_and_say(index, "moved", log);
        }
        if mask & IN_MOVED_TO != 0 && armed {
            self.alert(index, "replace", b"", log);
            self.disarm(index);
        }
        if mask & (IN_CREATE | IN_MOVED_TO) != 0 && self.traps[index].wd == 0 {
            self.rearm(index, log);
        }
    }

    /// Updates the snapshot of every trap that had events in the batch just
    /// processed, so a later recheck reports only what the events did not.
    // NOTE: a change made after the last event of the batch but before this
    // call is folded into the snapshot unreported if its own event is later
    // lost to a queue overflow.
    pub fn refresh_touched(&mut self) {
        for index in 0..self.count {
            if !self.traps[index].touched {
                continue;
            }
            self.traps[index].touched = false;
            if self.traps[index].wd == 0 {
                continue;
            }
            if let Ok(stat) = fs::statat(CWD, self.path_cstr(index), AtFlags::empty()) {
                let now = Snapshot::of(&stat);
                if now.same_inode(&self.traps[index].snapshot) {
                    self.traps[index].snapshot = now;
                }
            }
        }
    }

    /// Compares every trap with its snapshot and reports what changed, then
    /// re-arms traps whose path came back.
    pub fn recheck_all(&mut self, via: &str, log: &mut Logger) {
        for index in 0..self.count {
            self.recheck(index, via, log);
        }
    }

    fn recheck(&mut self, index: usize, via: &str, log: &mut Logger) {
        if self.traps[index].wd == 0 {
            self.rearm(index, log);
            return;
        }
        if self.traps[index].anchor_wd == 0 {
            self.anchor(index);
        }
        let stat = match fs::statat(CWD, self.path_cstr(index), AtFlags::empty()) {
            Ok(stat) => stat,
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => {
                self.recheck_alert(index, "delete", b"", via, log);
                self.disarm_and_say(index, "deleted", log);
                // The anchor may sit on a directory that moved away with
                // the path, as when an ancestor was renamed: watch the
                // nearest ancestor that is on the path now.
                self.anchor(index);
                return;
            }
            Err(errno) => {
                let line = log.begin(Kind::Error);
                line.word("what", "recheck-failed");
                line.path("trap", self.path(index));
                line.errno(errno.raw_os_error());
                log.send();
                return;
            }
        };
        let now = Snapshot::of(&stat);
        let before = self.traps[index].snapshot;
        if !now.same_inode(&before) {
            self.recheck_alert(index, "replace", b"", via, log);
            self.disarm(index);
            self.rearm(index, log);
            return;
        }
        let mut changes = Buf::<64>::new();
        before.push_changes(&now, &mut changes);
        if !changes.is_empty() {
            self.recheck_alert(index, "changed", changes.as_bytes(), via, log);
        }
        self.traps[index].snapshot = now;
    }

    fn recheck_alert(
        &mut self,
        index: usize,
        event: &str,
        changes: &[u8],
        via: &str,
        log: &mut Logger,
    ) {
        if !self.admit(index, event) {
            return;
        }
        let line = log.begin(Kind::Alert);
        line.path("trap", self.path(index));
        line.word("event", event);
        if !changes.is_empty() {
            line.text("changed", changes);
        }
        line.word("via", via);
        log.send();
    }
}

/// Returns the `stat` of the directory that the path in `target` names up
/// to `parent_len`, following symbolic links. `target` is left as it was.
fn stat_parent(target: &mut [u8], parent_len: usize) -> Option<Stat> {
    let saved = target[parent_len];
    target[parent_len] = 0;
    let parent = CStr::from_bytes_until_nul(target)
        .ok()
        .and_then(|parent| fs::statat(CWD, parent, AtFlags::empty()).ok());
    target[parent_len] = saved;
    parent
}
