//! Reading what `/proc` says about the process behind an access: ids,
//! login uid and session, terminal, executable, command line, working
//! directory, ancestry and the remote address it came from.
//!
//! Everything is read into fixed buffers. Reading `/proc/PID/...` never
//! waits on a trapped file, so it is safe while the process waits in
//! `open()` for ttrapd's answer.

use core::ffi::CStr;

use rustix::fd::OwnedFd;
use rustix::fs::{self, AtFlags, CWD, Mode, OFlags};
use rustix::io::Errno;
use ttrapd::buf::{Buf, Bytes};
use ttrapd::limits::CMD_FIELD_CAP;
use ttrapd::msg::Line;
use ttrapd::procfs::{self, EnvSearch, Ids};

/// Ancestors followed up from the process's parent.
const MAX_ANCESTORS: usize = 32;
/// Descriptors looked at per process when searching for TCP sockets.
const MAX_FDS_SCANNED: usize = 256;
/// Socket inodes collected along the ancestry.
const MAX_SOCKETS: usize = 32;
/// Buffer for one `/proc` file. `status` is about 1.4 KiB; a longer
/// command line is cut here, well past the length an alert keeps.
const PROC_TEXT_BYTES: usize = 2048;

/// Details read about one process.
pub struct Culprit {
    pub pid: u32,
    /// Whether `/proc/PID/stat` could be read at all.
    alive: bool,
    /// `/proc/PID/stat` exists but could not be read.
    unreadable: bool,
    /// The pid was reused by another process while it was being read.
    reused: bool,
    start_time: u64,
    ppid: u32,
    /// Session id from `/proc/PID/stat`. A hook's session contains what
    /// the hook started.
    sid: u32,
    ids: Ids,
    auid: Option<u32>,
    session: Option<u32>,
    tty: Buf<32>,
    exe: Buf<LINK_BYTES>,
    exe_read: bool,
    /// Device and inode of the file the process runs.
    exe_inode: Option<(u64, u64)>,
    /// Device and inode of the process's user namespace.
    user_ns: Option<(u64, u64)>,
    /// Whether `exe_inode` and `user_ns` were read. Only `--allow` needs
    /// them, so they are read on its first question.
    identity_read: bool,
    comm: Buf<64>,
    cwd: Buf<LINK_BYTES>,
    cwd_read: bool,
    cmd: Buf<512>,
    cmd_read: bool,
    chain: Buf<512>,
    ancestors: [u32; MAX_ANCESTORS],
    ancestor_count: usize,
    from: Buf<64>,
    /// Source of `from`: "ssh-env" or "tcp".
    from_source: &'static str,
    remote_searched: bool,
    /// When the start time was last checked, in monotonic milliseconds.
    checked_at: u64,
    /// Socket inodes held by the process and its parent, read before the
    /// answer since a short-lived process is gone right after it.
    sockets: [u64; MAX_SOCKETS],
    socket_count: usize,
    /// The last TCP peer search, kept across processes.
    peers: PeerCache,
}

/// Milliseconds during which a record's start time is not read again.
const RECHECK_MS: u64 = 100;

/// Milliseconds a TCP peer search result is reused for the same sockets.
const PEER_CACHE_MS: u64 = 10_000;

/// The result of the last TCP peer search. Reading `/proc/PID/net/tcp`
/// walks the kernel's whole socket table, milliseconds on a big machine,
/// and the commands of one shell share its sockets.
#[derive(Clone, Copy)]
struct PeerCache {
    /// Combination of the socket inodes searched; 0 when empty.
    key: u64,
    at: u64,
    found: bool,
    peer: [u8; 64],
    peer_len: usize,
}

impl Culprit {
    pub const fn new() -> Self {
        Self {
            pid: 0,
            alive: false,
            unreadable: false,
            reused: false,
            start_time: 0,
            ppid: 0,
            sid: 0,
            ids: Ids { uid: None, euid: None, gid: None, egid: None },
            auid: None,
            session: None,
            tty: Buf::new(),
            exe: Buf::new(),
            exe_read: false,
            exe_inode: None,
            user_ns: None,
            identity_read: false,
            comm: Buf::new(),
            cwd: Buf::new(),
            cwd_read: false,
            cmd: Buf::new(),
            cmd_read: false,
            chain: Buf::new(),
            ancestors: [0; MAX_ANCESTORS],
            ancestor_count: 0,
            from: Buf::new(),
            from_source: "",
            remote_searched: false,
            checked_at: 0,
            sockets: [0; MAX_SOCKETS],
            socket_count: 0,
            peers: PeerCache { key: 0, at: 0, found: false, peer: [0; 64], peer_len: 0 },
        }
    }

    /// Reports whether this record already describes the running process
    /// `pid` at `now` (monotonic milliseconds), with `check_exe` also the
    /// same executable, so a burst of events from one
    /// process reads `/proc` once. The start time is checked again at most
    /// every [`RECHECK_MS`]: a pid is reused only after its process exits
    /// and the kernel has handed out every other free pid, which takes far
    /// longer.
    pub fn describes(&mut self, pid: u32, now: u64, check_exe: bool) -> bool {
        if !self.alive || self.pid != pid {
            return false;
        }
        // execve keeps the pid and the start time; before a permission
        // answer, which --allow and --deny decide by executable, the
        // executable is compared as well.
        if check_exe {
            let mut exe = Buf::<LINK_BYTES>::new();
            let read = readlink_proc(pid, b"exe", &mut exe);
            if read != self.exe_read || exe.as_bytes() != self.exe.as_bytes() {
                return false;
            }
            // The same name may stand for another file in the process's
            // mount namespace.
            if self.identity_read && exe_inode(pid) != self.exe_inode {
                return false;
            }
        }
        if now.saturating_sub(self.checked_at) < RECHECK_MS {
            return true;
        }
        let mut text = [0u8; 1024];
        match read_proc(pid, b"stat", &mut text) {
            Ok(len) => {
                let same =
                    procfs::parse_stat(&text[..len]).map(|s| s.start_time) == Some(self.start_time);
                if same {
                    self.checked_at = now;
                }
                same
            }
            // Gone since it was read: no other process holds the pid, so the
            // record still describes the process behind the event. This
            // keeps the details for the read that follows an open by a
            // short-lived process.
            Err(_) => true,
        }
    }

    /// Reads everything about `pid` that does not need a scan of its
    /// descriptors.
    pub fn gather(&mut self, pid: u32, now: u64) {
        let peers = self.peers;
        *self = Self::new();
        self.peers = peers;
        self.pid = pid;
        self.checked_at = now;
        let mut text = [0u8; PROC_TEXT_BYTES];

        // stat first: its start time tells a reused pid apart at the end.
        let len = match read_proc(pid, b"stat", &mut text) {
            Ok(len) => len,
            // Gone; other errors (out of descriptors) mean it could not be
            // read, which is not the same thing.
            Err(Errno::NOENT) | Err(Errno::SRCH) => return,
            Err(_) => {
                self.unreadable = true;
                return;
            }
        };
        let Some(stat) = procfs::parse_stat(&text[..len]) else { return };
        // A process in exit(2), or a zombie, has given up or is giving up
        // its memory, files and directory: only its name would be left.
        if matches!(stat.state, b'Z' | b'X') || stat.flags & procfs::PF_EXITING != 0 {
            return;
        }
        self.alive = true;
        self.start_time = stat.start_time;
        self.ppid = stat.ppid;
        self.sid = stat.session;
        self.comm.push_bytes(stat.comm);
        procfs::push_tty_name(&mut self.tty, stat.tty_nr);

        if let Ok(len) = read_proc(pid, b"status", &mut text) {
            self.ids = procfs::parse_status_ids(&text[..len]);
        }
        if let Ok(len) = read_proc(pid, b"loginuid", &mut text) {
            self.auid = procfs::parse_number_file(&text[..len]);
        }
        if let Ok(len) = read_proc(pid, b"sessionid", &mut text) {
            self.session = procfs::parse_number_file(&text[..len]);
        }
        self.exe_read = readlink_proc(pid, b"exe", &mut self.exe);

        self.cwd_read = readlink_proc(pid, b"cwd", &mut self.cwd);
        if let Ok(len) = read_proc(pid, b"cmdline", &mut text) {
            self.cmd_read = true;
            procfs::push_cmdline(&mut self.cmd, &text[..len]);
            if len == text.len() {
                // Longer than the buffer: make sure the field shows a cut.
                self.cmd.push_bytes(&[b' '; CMD_FIELD_CAP]);
            }
        }
        self.read_ancestry(&mut text);
        // The process's own environment goes before the answer, since a
        // short-lived process is gone right after it; its ancestors' wait.
        self.find_ssh_address(&mut text, true);
        if self.from.is_empty() {
            collect_sockets(pid, &mut self.sockets, &mut self.socket_count);
            if self.ancestor_count > 0 {
                let parent = self.ancestors[0];
                collect_sockets(parent, &mut self.sockets, &mut self.socket_count);
            }
        }

        // A pid reused while the files above were read would mix two
        // processes; the start time shows it.
        let (still_same, exited) = match read_proc(pid, b"stat", &mut text) {
            Ok(len) => match procfs::parse_stat(&text[..len]) {
                Some(stat) => (
                    stat.start_time == self.start_time,
                    matches!(stat.state, b'Z' | b'X') || stat.flags & procfs::PF_EXITING != 0,
                ),
                None => (true, false),
            },
            Err(_) => (true, true),
        };
        self.reused = !still_same;
        // A process that began to exit while it was being read has lost its
        // memory and files partway: what was read cannot be trusted whole.
        if exited && !self.exe_read {
            self.alive = false;
        }
    }

    /// Follows the parent pids up to init, recording `pid:name` pairs.
    fn read_ancestry(&mut self, text: &mut [u8; PROC_TEXT_BYTES]) {
        let mut pid = self.ppid;
        while pid != 0 && self.ancestor_count < MAX_ANCESTORS {
            if !self.chain.is_empty() {
                self.chain.push(b',');
            }
            self.chain.push_u64(pid.into());
            self.chain.push(b':');
            self.ancestors[self.ancestor_count] = pid;
            self.ancestor_count += 1;
            let Ok(len) = read_proc(pid, b"stat", text) else {
                self.chain.push(b'?');
                break;
            };
            let Some(stat) = procfs::parse_stat(&text[..len]) else {
                self.chain.push(b'?');
                break;
            };
            // The separators of the chain cannot appear inside a name.
            for &byte in stat.comm {
                self.chain.push(if byte == b',' || byte == b':' { b'_' } else { byte });
            }
            if pid == 1 {
                break;
            }
            pid = stat.ppid;
        }
    }

    /// Looks for `SSH_CONNECTION` or `SSH_CLIENT` in the environment of the
    /// process itself (`own`) or of its ancestors (not `own`), nearest
    /// first, and sets `from` from the first one found.
    fn find_ssh_address(&mut self, text: &mut [u8; PROC_TEXT_BYTES], own: bool) {
        let pids = self.chain();
        let range = if own { 0..1 } else { 1..self.ancestor_count + 1 };
        for &pid in &pids[range] {
            let mut search = EnvSearch::new();
            if !scan_environ(pid, &mut search, text) {
                continue;
            }
            let address = search.value().and_then(procfs::ssh_client_address);
            self.from.push_bytes(address.unwrap_or(b"invalid"));
            self.from_source = "ssh-env";
            return;
        }
    }

    /// Finds the remote address the process came from: an SSH client named
    /// in the environment of the process or an ancestor, or else the peer of
    /// an established TCP connection one of them holds. Environments can be
    /// long and the TCP tables are slow to read, so this runs after the
    /// answer; the ancestors it reads usually outlive the process.
    pub fn find_remote(&mut self, now: u64) {
        if !self.alive || !self.from.is_empty() || self.remote_searched {
            return;
        }
        self.remote_searched = true;
        let mut text = [0u8; PROC_TEXT_BYTES];
        self.find_ssh_address(&mut text, false);
        if !self.from.is_empty() {
            return;
        }
        // The process and its parent were read before the answer; the
        // others usually outlive the process.
        let mut sockets = self.sockets;
        let mut count = self.socket_count;
        let mut pids = [0u32; MAX_ANCESTORS + 2];
        pids[0] = self.pid;
        pids[1..=self.ancestor_count].copy_from_slice(&self.ancestors[..self.ancestor_count]);
        for &pid in self.ancestors[..self.ancestor_count].iter().skip(1) {
            collect_sockets(pid, &mut sockets, &mut count);
        }
        // With the whole chain gone, ttrapd's own view of the tables is the
        // best left, right for processes in its network namespace.
        pids[self.ancestor_count + 1] = rustix::process::getpid().as_raw_nonzero().get() as u32;
        if count == 0 {
            return;
        }
        let wanted = &sockets[..count];
        // The same set of sockets has the same peer: reuse a recent result.
        let key = wanted.iter().fold(0x9e37_79b9_7f4a_7c15u64, |acc, &inode| {
            acc ^ inode.wrapping_mul(0x0100_0000_01b3).rotate_left((inode % 61) as u32)
        });
        let cache = &self.peers;
        if cache.key == key && now.saturating_sub(cache.at) < PEER_CACHE_MS {
            if cache.found {
                self.from.push_bytes(&cache.peer[..cache.peer_len]);
                self.from_source = "tcp";
            }
            return;
        }
        // The culprit may be gone by now; any process of the chain that
        // still runs shows the same network namespace's tables.
        let Some(&reader) = pids[..self.ancestor_count + 2].iter().find(|&&pid| {
            let mut probe = [0u8; 1];
            read_proc(pid, b"net/tcp", &mut probe).is_ok()
        }) else {
            return;
        };
        let found = [&b"net/tcp"[..], b"net/tcp6"]
            .iter()
            .any(|table| scan_tcp_table(reader, table, wanted, &mut self.from));
        if found {
            self.from_source = "tcp";
        }
        let peer = self.from.as_bytes();
        let mut cache =
            PeerCache { key, at: now.max(1), found, peer: [0; 64], peer_len: peer.len() };
        cache.peer[..peer.len()].copy_from_slice(peer);
        self.peers = cache;
    }

    /// Returns the session id, 0 when unknown.
    pub fn session(&self) -> u32 {
        if self.alive { self.sid } else { 0 }
    }

    /// Returns the pid followed by the pids of the ancestors, nearest first,
    /// and zeros.
    pub fn chain(&self) -> [u32; MAX_ANCESTORS + 1] {
        let mut chain = [0; MAX_ANCESTORS + 1];
        chain[0] = self.pid;
        chain[1..=self.ancestor_count].copy_from_slice(&self.ancestors[..self.ancestor_count]);
        chain
    }

    /// Reports whether `pid` is the process or one of its ancestors.
    pub fn descends_from(&self, pid: u32) -> bool {
        self.pid == pid || self.ancestors[..self.ancestor_count].contains(&pid)
    }

    /// Reports whether the executable was read, `allowed` accepts its path,
    /// and the file at that path here is the one the process runs. Called
    /// first while the process waits on a permission answer, which reads
    /// what later events of the same process reuse.
    pub fn exe_is(&mut self, allowed: impl Fn(&[u8]) -> bool) -> bool {
        if !self.exe_read || !allowed(self.exe.as_bytes()) {
            return false;
        }
        if !self.identity_read && self.alive {
            self.identity_read = true;
            self.exe_inode = exe_inode(self.pid);
            self.user_ns = inode_of(as_cstr(&proc_path(self.pid, b"ns/user")));
        }
        // In a user namespace of its own, a process may point its exe link
        // at any file it can open (prctl PR_SET_MM_MAP), so only processes
        // in ttrapd's user namespace can be allowed.
        if self.user_ns.is_none() || self.user_ns != inode_of(c"/proc/self/ns/user") {
            return false;
        }
        // The link's text is the path in the process's own mount namespace,
        // where anyone may bind another program over an allowed one. The
        // file the process runs must be the one at that path here.
        let mut here = Buf::<LINK_BYTES>::new();
        here.push_bytes(self.exe.as_bytes());
        here.push(0);
        let Ok(here) = CStr::from_bytes_with_nul(here.as_bytes()) else { return false };
        match (fs::statat(CWD, here, AtFlags::empty()), self.exe_inode) {
            (Ok(here), Some(running)) => (here.st_dev, here.st_ino) == running,
            _ => false,
        }
    }

    /// Adds the process fields to an alert line, in the documented order.
    pub fn push_fields(&self, line: &mut Line) {
        line.num("pid", self.pid.into());
        if !self.alive {
            line.word("proc", if self.unreadable { "unreadable" } else { "exited" });
            return;
        }
        if self.reused {
            line.word("proc", "pid-reused");
        }
        line.num("ppid", self.ppid.into());
        push_id(line, "uid", self.ids.uid);
        push_id(line, "euid", self.ids.euid);
        push_id(line, "gid", self.ids.gid);
        match self.auid {
            Some(procfs::AUID_UNSET) => line.word("auid", "unset"),
            Some(auid) => line.num("auid", auid.into()),
            None => line.word("auid", "unreadable"),
        }
        if let Some(session) = self.session.filter(|&s| s != procfs::AUID_UNSET) {
            line.num("ses", session.into());
        }
        if !self.tty.is_empty() {
            line.text("tty", self.tty.as_bytes());
        }
        if !self.from.is_empty() {
            line.text("from", self.from.as_bytes());
            line.word("from_src", self.from_source);
        }
        if self.exe_read {
            line.path("exe", self.exe.as_bytes());
        } else {
            line.word("exe", "unreadable");
        }
        line.text("comm", self.comm.as_bytes());
        if self.cwd_read {
            line.path("cwd", self.cwd.as_bytes());
        } else {
            line.word("cwd", "unreadable");
        }
        // An empty command line is one the kernel no longer has.
        if !self.cmd_read || self.cmd.is_empty() {
            line.word("cmd", "unreadable");
        } else {
            line.field("cmd", self.cmd.as_bytes(), CMD_FIELD_CAP);
        }
        if !self.chain.is_empty() {
            line.field("chain", self.chain.as_bytes(), CMD_FIELD_CAP);
        }
    }
}

fn push_id(line: &mut Line, key: &str, id: Option<u32>) {
    match id {
        Some(id) => line.num(key, id.into()),
        None => line.word(key, "unreadable"),
    }
}

/// Builds `/proc/PID/NAME` with its NUL.
fn proc_path(pid: u32, name: &[u8]) -> Buf<64> {
    let mut path = Buf::new();
    path.push_bytes(b"/proc/");
    path.push_u64(pid.into());
    path.push(b'/');
    path.push_bytes(name);
    path.push(0);
    path
}

fn as_cstr(path: &Bytes) -> &CStr {
    CStr::from_bytes_with_nul(path.as_bytes()).unwrap_or(c"/proc/self/stat")
}

fn open_proc(pid: u32, name: &[u8], flags: OFlags) -> Result<OwnedFd, Errno> {
    let path = proc_path(pid, name);
    fs::open(as_cstr(&path), flags | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty())
}

/// Reads `/proc/PID/NAME` into `buffer`; returns the bytes read, which fill
/// the buffer when the file is longer.
pub fn read_proc(pid: u32, name: &[u8], buffer: &mut [u8]) -> Result<usize, Errno> {
    let file = open_proc(pid, name, OFlags::RDONLY)?;
    let mut len = 0;
    while len < buffer.len() {
        match rustix::io::read(&file, &mut buffer[len..]) {
            Ok(0) => break,
            Ok(read) => len += read,
            Err(Errno::INTR) => continue,
            Err(error) => return if len > 0 { Ok(len) } else { Err(error) },
        }
    }
    Ok(len)
}

/// Returns the path `/proc/self/fd/N` of descriptor `fd`, NUL-terminated.
pub fn self_fd_path(fd: &OwnedFd) -> Buf<32> {
    let mut path = Buf::new();
    path.push_bytes(b"/proc/self/fd/");
    path.push_u64(rustix::fd::AsRawFd::as_raw_fd(fd) as u64);
    path.push(0);
    path
}

/// Reads the path the kernel gives for descriptor `fd` into `target` and
/// returns its length, cut to leave room for a NUL after it.
pub fn fd_target(fd: &OwnedFd, target: &mut [u8]) -> Result<usize, Errno> {
    let link = self_fd_path(fd);
    let len = fs::readlinkat_raw(CWD, as_cstr(&link), &mut *target)?;
    Ok(len.min(target.len() - 1))
}

/// Calls `visit` with the pid of each process in `/proc`, until it returns
/// `false`.
pub fn for_each_pid(mut visit: impl FnMut(u32) -> bool) {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(proc_dir) = fs::open(c"/proc", flags, Mode::empty()) else { return };
    let mut entries = [core::mem::MaybeUninit::<u8>::uninit(); 2048];
    let mut listing = fs::RawDir::new(&proc_dir, &mut entries);
    while let Some(Ok(entry)) = listing.next() {
        let Some(pid) = ttrapd::buf::parse_u64(entry.file_name().to_bytes()) else { continue };
        if !visit(pid as u32) {
            return;
        }
    }
}

/// Returns the device and inode of the file process `pid` runs.
fn exe_inode(pid: u32) -> Option<(u64, u64)> {
    inode_of(as_cstr(&proc_path(pid, b"exe")))
}

/// Returns the device and inode of what `path` leads to.
fn inode_of(path: &CStr) -> Option<(u64, u64)> {
    fs::statat(CWD, path, AtFlags::empty()).ok().map(|stat| (stat.st_dev, stat.st_ino))
}

/// Bytes kept of the `exe` and `cwd` links: more than the line shows of a
/// path, so a longer one is shown cut, with the cut marked.
const LINK_BYTES: usize = ttrapd::limits::PATH_FIELD_CAP + 112;

/// Reads the target of the link `/proc/PID/NAME` into `out`.
pub fn readlink_proc(pid: u32, name: &[u8], out: &mut Bytes) -> bool {
    let path = proc_path(pid, name);
    let mut target = [0u8; LINK_BYTES];
    match fs::readlinkat_raw(CWD, as_cstr(&path), &mut target[..]) {
        Ok(len) => {
            out.push_bytes(&target[..len.min(target.len())]);
            true
        }
        Err(_) => false,
    }
}

/// Bytes of one process's environment searched for an SSH client. A login
/// shell gets a small environment from sshd; a huge one, made to slow the
/// daemon down, is searched only this far.
const ENV_SCAN_BYTES: usize = 128 * 1024;

/// Feeds `/proc/PID/environ` to `search` through `text`, at most
/// [`ENV_SCAN_BYTES`] of it; returns whether a value was found.
fn scan_environ(pid: u32, search: &mut EnvSearch, text: &mut [u8]) -> bool {
    let Ok(file) = open_proc(pid, b"environ", OFlags::RDONLY) else { return false };
    let mut scanned = 0;
    loop {
        if scanned >= ENV_SCAN_BYTES {
            return search.finish();
        }
        match rustix::io::read(&file, &mut *text) {
            Ok(0) => return search.finish(),
            Ok(len) => {
                scanned += len;
                if search.feed(&text[..len]) {
                    return true;
                }
            }
            Err(Errno::INTR) => continue,
            Err(_) => return search.finish(),
        }
    }
}

/// Adds the inodes of the sockets that process `pid` holds to `sockets`.
fn collect_sockets(pid: u32, sockets: &mut [u64; MAX_SOCKETS], count: &mut usize) {
    let Ok(dir) = open_proc(pid, b"fd", OFlags::RDONLY | OFlags::DIRECTORY) else { return };
    let mut entries = [core::mem::MaybeUninit::<u8>::uninit(); 2048];
    let mut listing = fs::RawDir::new(&dir, &mut entries);
    let mut scanned = 0;
    while let Some(Ok(entry)) = listing.next() {
        let name = entry.file_name();
        if name.to_bytes().first() == Some(&b'.') {
            continue;
        }
        scanned += 1;
        if scanned > MAX_FDS_SCANNED || *count == MAX_SOCKETS {
            return;
        }
        let mut target = [0u8; 64];
        let Ok(len) = fs::readlinkat_raw(&dir, name, &mut target[..]) else { continue };
        if let Some(inode) = procfs::socket_inode(&target[..len.min(target.len())]) {
            if !sockets[..*count].contains(&inode) {
                sockets[*count] = inode;
                *count += 1;
            }
        }
    }
}

/// Reads a TCP table of the network namespace of `pid` line by line and
/// writes the peer of the first established connection whose inode is in
/// `wanted`.
fn scan_tcp_table(pid: u32, table: &[u8], wanted: &[u64], out: &mut Bytes) -> bool {
    let Ok(file) = open_proc(pid, table, OFlags::RDONLY) else { return false };
    let mut chunk = [0u8; PROC_TEXT_BYTES];
    let mut carry = 0;
    loop {
        let read = match rustix::io::read(&file, &mut chunk[carry..]) {
            Ok(0) => return false,
            Ok(read) => read,
            Err(Errno::INTR) => continue,
            Err(_) => return false,
        };
        let filled = carry + read;
        let mut start = 0;
        while let Some(end) = chunk[start..filled].iter().position(|&b| b == b'\n') {
            let line = &chunk[start..start + end];
            if procfs::push_tcp_peer(out, line, |inode| wanted.contains(&inode)) {
                return true;
            }
            start += end + 1;
        }
        // Keep the unfinished line; a line longer than the buffer is dropped.
        carry = if start == 0 && filled == chunk.len() { 0 } else { filled - start };
        chunk.copy_within(start..filled, 0);
    }
}
