//! Delivery of syslog lines: the `/dev/log` socket first, `/dev/kmsg` when
//! the socket is missing or refuses, and stderr as well in the foreground.
//!
//! The socket is connected once and reconnected after any send error, so a
//! restarted syslog daemon (which re-creates its socket) gets lines again
//! without a restart of ttrapd. Datagram sockets get one line per datagram;
//! stream sockets get newline-terminated lines.
//!
//! The socket is non-blocking. A line waits at most [`ROOM_WAIT_MS`] for a
//! busy receiver, and is then queued and sent as the socket becomes
//! writable, so a slow syslog daemon delays the answers to waiting openers
//! by that much at most. A line that has waited [`SEND_TIMEOUT_MS`] makes
//! ttrapd connect again (the socket may belong to a syslog daemon that was
//! replaced), and then goes to `/dev/kmsg` with everything queued behind it.

use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, Ordering};

use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{self, AddressFamily, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

use crate::hooks::Hooks;
use crate::remote::Remote;
use ttrapd::buf::Buf;
use ttrapd::limits::{LINE_BYTES, MAX_REMOTES};
use ttrapd::msg::{Kind, Line};
use ttrapd::path::AbsPath;
use ttrapd::pending::Pending;
use ttrapd::rfc5424::{self, Destination, Origin};

/// Maximum time a line may wait for the syslog socket before it goes to
/// `/dev/kmsg` instead, in milliseconds.
const SEND_TIMEOUT_MS: u64 = 250;

/// Maximum time, in milliseconds, that a line waits for a busy syslog
/// socket before it is queued; openers queued behind wait as long.
const ROOM_WAIT_MS: u64 = 10;

/// Bytes of lines that may wait for the syslog socket.
const PENDING_BYTES: usize = 32 * 1024;

static mut PENDING: Pending<PENDING_BYTES> = Pending::new();
static PENDING_TAKEN: AtomicBool = AtomicBool::new(false);

pub struct Logger {
    socket_path: AbsPath<108>,
    socket: Option<OwnedFd>,
    stream: bool,
    kmsg: Option<OwnedFd>,
    foreground: bool,
    facility: u8,
    alert_severity: u8,
    tag: Buf<{ ttrapd::limits::TAG_MAX }>,
    pid: u32,
    line: Line,
    notice: Line,
    /// Whether the last line failed to reach the syslog socket.
    diverted: bool,
    /// Whether a line waited past the send timeout; lines then go to
    /// `/dev/kmsg` at once, without queueing, until one goes through.
    stalled: bool,
    /// Lines the socket has not taken yet, oldest first.
    pending: &'static mut Pending<PENDING_BYTES>,
    /// When a stalled receiver's path is next connected to again.
    retry_at: u64,
    /// Lines that went to `/dev/kmsg` since the socket last worked.
    diverted_lines: u64,
    /// Lines that reached neither the socket nor `/dev/kmsg`.
    lost_lines: u64,
    /// Kind of the line being built.
    kind: Kind,
    remotes: [Remote; MAX_REMOTES],
    hostname: Buf<65>,
    hooks: Option<Hooks>,
    /// Monotonic milliseconds of the current loop turn.
    now: u64,
}

/// Shortest time between two reports of UDP datagrams that did not leave.
const UDP_REPORT_INTERVAL_MS: u64 = 60_000;

/// Room for one RFC 5424 message: the line, its fields again as
/// structured data, and the header.
const REMOTE_MESSAGE_BYTES: usize = 2 * LINE_BYTES + 512;

impl Logger {
    pub fn new(
        socket_path: &AbsPath<108>,
        foreground: bool,
        facility: u8,
        alert_severity: u8,
        tag: &[u8],
    ) -> Self {
        let mut own_tag = Buf::new();
        own_tag.push_bytes(tag);
        if PENDING_TAKEN.swap(true, Ordering::Relaxed) {
            crate::fatal_bug(b"syslog queue taken twice");
        }
        // SAFETY: checked: the flag makes this the only reference ever
        // formed to the static; the process has one thread.
        let pending = unsafe { &mut *(&raw mut PENDING) };
        Self {
            socket_path: AbsPath::new(b"", socket_path.as_bytes()).unwrap_or(
                AbsPath::new(b"", b"/dev/log").unwrap_or_else(|| crate::fatal_bug(b"socket path")),
            ),
            socket: None,
            stream: false,
            kmsg: None,
            foreground,
            facility,
            alert_severity,
            tag: own_tag,
            pid: rustix::process::getpid().as_raw_nonzero().get() as u32,
            line: Line::new(),
            notice: Line::new(),
            diverted: false,
            stalled: false,
            pending,
            retry_at: 0,
            diverted_lines: 0,
            lost_lines: 0,
            kind: Kind::Start,
            remotes: crate::remote::make_slots(),
            hostname: Buf::new(),
            hooks: None,
            now: 0,
        }
    }

    /// Sets the remote collectors; lines go to them from now on. A
    /// collector that stays keeps its connection and queue.
    pub fn set_remotes(&mut self, destinations: &[Destination]) {
        if self.hostname.is_empty() {
            let name = rustix::system::uname();
            self.hostname.push_bytes(name.nodename().to_bytes());
        }
        for (index, remote) in self.remotes.iter_mut().enumerate() {
            remote.configure(destinations.get(index).copied());
        }
    }

    /// Changes the facility, the ALERT severity and the tag of the lines
    /// that follow.
    pub fn set_identity(&mut self, facility: u8, alert_severity: u8, tag: &[u8]) {
        self.facility = facility;
        self.alert_severity = alert_severity;
        self.tag.clear();
        self.tag.push_bytes(tag);
    }

    /// Reports whether `raw`, made absolute against `cwd`, is the syslog
    /// socket path in use.
    pub fn socket_is(&self, cwd: &[u8], raw: &[u8]) -> bool {
        AbsPath::<108>::new(cwd, raw)
            .is_some_and(|path| path.as_bytes() == self.socket_path.as_bytes())
    }

    /// Reports whether `pid` is a hook, running or recently ended.
    pub fn is_hook(&mut self, pid: u32) -> bool {
        self.hooks.as_mut().is_some_and(|hooks| hooks.owns(pid))
    }

    /// Reports whether a hook started the process with session `session`
    /// and the pid and ancestors in `chain`; see [`Hooks::started`].
    pub fn hook_started(&self, session: u32, chain: &[u32]) -> bool {
        self.hooks.as_ref().is_some_and(|hooks| hooks.started(session, chain))
    }

    /// Returns the hooks, for a reload to reconfigure them.
    pub fn hooks_mut(&mut self) -> &mut Option<Hooks> {
        &mut self.hooks
    }

    /// Runs `hooks` for every ALERT line from now on.
    pub fn set_hooks(&mut self, hooks: Hooks) {
        self.hooks = Some(hooks);
    }

    /// Sets the time of the current loop turn.
    pub fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    /// Opens `/dev/kmsg` for the fallback and connects to the syslog socket.
    /// Returns the errno of a failed connection; lines then go to
    /// `/dev/kmsg` until the socket works.
    pub fn open(&mut self) -> Result<(), Errno> {
        self.kmsg = rustix::fs::open(
            c"/dev/kmsg",
            rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NOCTTY,
            rustix::fs::Mode::empty(),
        )
        .ok();
        self.connect()
    }

    /// Reports whether `/dev/kmsg` is open for lines the socket does not
    /// take.
    pub fn has_kmsg(&self) -> bool {
        self.kmsg.is_some()
    }

    pub fn set_foreground(&mut self, foreground: bool) {
        self.foreground = foreground;
    }

    /// Drops the syslog connection and connects again.
    pub fn reconnect(&mut self) -> Result<(), Errno> {
        self.socket = None;
        // A stream receiver got part of the first line at most; the new
        // connection gets all of it.
        self.pending.set_sent(0);
        self.connect()
    }

    fn connect(&mut self) -> Result<(), Errno> {
        let (socket, stream) = connect_socket(self.socket_path.as_cstr())?;
        self.socket = Some(socket);
        self.stream = stream;
        Ok(())
    }

    /// Starts a line of `kind`; add fields to the returned line, then call
    /// [`Logger::send`].
    pub fn begin(&mut self, kind: Kind) -> &mut Line {
        let severity = kind.severity(self.alert_severity);
        self.kind = kind;
        self.line.begin(self.facility, severity, self.tag.as_bytes(), self.pid, kind);
        &mut self.line
    }

    /// Delivers the line built since [`Logger::begin`].
    pub fn send(&mut self) {
        self.line.finish();
        if self.foreground {
            write_stderr_line(self.line.body());
        }
        match self.deliver() {
            Ok(()) => {
                if self.diverted {
                    self.diverted = false;
                    self.report_recovery();
                }
            }
            Err(error) => {
                if !self.diverted {
                    self.diverted = true;
                    self.report_diversion(error);
                }
                self.divert_line();
            }
        }
        self.send_remote();
        if self.kind == Kind::Alert {
            self.run_hook();
        }
    }

    /// Sends the current line, or queues it behind the lines still waiting
    /// or while the receiver is busy. An error means the line must go to
    /// `/dev/kmsg`.
    fn deliver(&mut self) -> Result<(), Errno> {
        self.flush();
        let mut retried = false;
        let mut waited = false;
        while self.pending.is_empty() {
            let bytes = self.line.bytes();
            let path = self.socket_path.as_cstr();
            match send_record(&mut self.socket, &mut self.stream, path, bytes, 0) {
                Ok(done) if done == record_len(bytes, self.stream) => {
                    self.stalled = false;
                    return Ok(());
                }
                // Part of a stream line is out: the rest must follow.
                Ok(done) if done > 0 => {
                    self.pending.push(bytes, self.now);
                    self.pending.set_sent(done);
                    return Ok(());
                }
                Ok(_) | Err(Errno::AGAIN) => {
                    // A receiver busy for a moment, as in a burst of lines,
                    // gets the line itself: a line in the queue would be
                    // lost if ttrapd were killed.
                    if !self.stalled && !waited {
                        waited = true;
                        if self.wait_for_room() {
                            continue;
                        }
                        break;
                    }
                    // A stalled receiver may have been replaced by a new
                    // syslog daemon at the same path: look now and then.
                    if !self.stalled || retried || self.now < self.retry_at {
                        break;
                    }
                    retried = true;
                    self.retry_at = self.now + SEND_TIMEOUT_MS;
                    if self.reconnect().is_err() {
                        break;
                    }
                }
                Err(error) => return Err(error),
            }
        }
        if self.stalled || !self.pending.push(self.line.bytes(), self.now) {
            return Err(Errno::AGAIN);
        }
        Ok(())
    }

    /// Waits at most [`ROOM_WAIT_MS`] for the syslog socket to take more;
    /// returns whether it will.
    fn wait_for_room(&self) -> bool {
        let Some(socket) = self.socket.as_ref() else { return false };
        let timeout =
            rustix::time::Timespec { tv_sec: 0, tv_nsec: (ROOM_WAIT_MS * 1_000_000) as i64 };
        let mut fds = [rustix::event::PollFd::new(socket, rustix::event::PollFlags::OUT)];
        matches!(rustix::event::poll(&mut fds, Some(&timeout)), Ok(ready) if ready > 0)
    }

    /// Sends queued lines while the socket takes them. A failure other
    /// than a busy receiver sends them all to `/dev/kmsg`.
    fn flush(&mut self) {
        while let Some((bytes, _)) = self.pending.front() {
            let sent = self.pending.sent();
            let path = self.socket_path.as_cstr();
            match send_record(&mut self.socket, &mut self.stream, path, bytes, sent) {
                Ok(done) if done == record_len(bytes, self.stream) => {
                    self.stalled = false;
                    self.pending.pop();
                }
                Ok(done) => {
                    self.pending.set_sent(done);
                    return;
                }
                Err(Errno::AGAIN) => return,
                Err(error) => {
                    self.divert_pending(error);
                    return;
                }
            }
        }
    }

    /// Sends every queued line to `/dev/kmsg`, reporting the diversion.
    fn divert_pending(&mut self, error: Errno) {
        if self.pending.is_empty() {
            return;
        }
        if self.pending.sent() > 0 {
            // The receiver has the start of a line; a new connection
            // ends it there.
            self.socket = None;
        }
        if !self.diverted {
            self.diverted = true;
            self.report_diversion(error);
        }
        while let Some((bytes, _)) = self.pending.front() {
            let written = match &self.kmsg {
                Some(kmsg) => write_kmsg_bytes(kmsg, bytes),
                None => false,
            };
            if written {
                self.diverted_lines += 1;
            } else {
                self.lost_lines += 1;
            }
            self.pending.pop();
        }
    }

    /// Returns the syslog socket while lines wait for it, to poll for
    /// writability.
    pub fn syslog_interest(&self) -> Option<rustix::fd::BorrowedFd<'_>> {
        if self.pending.is_empty() { None } else { self.socket.as_ref().map(|fd| fd.as_fd()) }
    }

    /// Handles poll readiness of the syslog socket.
    pub fn syslog_ready(&mut self) {
        self.flush();
    }

    /// Sends what is queued, waiting at most [`SEND_TIMEOUT_MS`] for the
    /// receiver; the rest goes to `/dev/kmsg`. Called before exit.
    pub fn drain(&mut self) {
        let deadline = crate::sys::monotonic_ms() + SEND_TIMEOUT_MS;
        loop {
            self.flush();
            let now = crate::sys::monotonic_ms();
            let Some(socket) = self.syslog_interest() else { break };
            if now >= deadline {
                break;
            }
            let wait = deadline - now;
            let timeout = rustix::time::Timespec {
                tv_sec: (wait / 1000) as i64,
                tv_nsec: ((wait % 1000) * 1_000_000) as i64,
            };
            let mut fds =
                [rustix::event::PollFd::from_borrowed_fd(socket, rustix::event::PollFlags::OUT)];
            if let Err(error) = rustix::event::poll(&mut fds, Some(&timeout)) {
                if error != Errno::INTR {
                    break;
                }
            }
        }
        self.divert_pending(Errno::TIMEDOUT);
    }

    /// Sends the current line to every remote collector.
    fn send_remote(&mut self) {
        if !self.remotes.iter().any(Remote::is_active) {
            return;
        }
        let (seconds, nanoseconds) =
            crate::sys::clock_gettime(linux_raw_sys::general::CLOCK_REALTIME);
        let time = rfc5424::utc(seconds, nanoseconds);
        let origin =
            Origin { hostname: self.hostname.as_bytes(), app_name: b"ttrapd", pid: self.pid };
        let mut message = Buf::<REMOTE_MESSAGE_BYTES>::new();
        if !rfc5424::push_message(&mut message, self.line.bytes(), &origin, &time) {
            return;
        }
        for remote in self.remotes.iter_mut().filter(|remote| remote.is_active()) {
            remote.send(message.as_bytes(), self.now);
        }
    }

    fn run_hook(&mut self) {
        let Some(hooks) = &mut self.hooks else { return };
        if let Err((action, errno)) = hooks.start(&self.line, self.now) {
            let line = self.begin(Kind::Error);
            line.word("what", "hook-failed");
            line.word("action", action);
            line.errno(errno);
            self.send();
        }
    }

    /// Returns the socket of remote collector `index` to poll, and whether
    /// to wait for writability.
    pub fn remote_interest(&self, index: usize) -> Option<(rustix::fd::BorrowedFd<'_>, bool)> {
        let remote = &self.remotes[index];
        if remote.is_active() { remote.poll_interest() } else { None }
    }

    /// Handles poll readiness of remote collector `index`.
    pub fn remote_ready(&mut self, index: usize, writable: bool, readable_or_error: bool) {
        let now = self.now;
        let remote = &mut self.remotes[index];
        if remote.is_active() {
            remote.on_ready(writable, readable_or_error, now);
        }
    }

    /// When the next timed task of the outputs is due: a reconnection or a
    /// hook's time limit.
    pub fn deadline(&self) -> Option<u64> {
        let remotes = self
            .remotes
            .iter()
            .filter(|remote| remote.is_active())
            .filter_map(Remote::deadline)
            .min();
        let hooks = self.hooks.as_ref().and_then(Hooks::deadline);
        let queued = self.pending.front().map(|(_, queued)| queued + SEND_TIMEOUT_MS);
        [remotes, hooks, queued].into_iter().flatten().min()
    }

    /// Runs timed tasks that are due: reconnections and hook time limits.
    /// Reports collectors that came back and what they missed meanwhile.
    pub fn on_timer(&mut self) {
        let now = self.now;
        self.expire_pending(now);
        for remote in self.remotes.iter_mut().filter(|remote| remote.is_active()) {
            remote.on_timer(now);
        }
        if let Some(hooks) = &mut self.hooks {
            hooks.kill_overdue(now);
        }
        for index in 0..MAX_REMOTES {
            let remote = &mut self.remotes[index];
            if !remote.is_active() {
                continue;
            }
            if remote.is_down() && !remote.down_reported {
                // Said once an outage, so a wrong address does not go unseen.
                remote.down_reported = true;
                let errno = remote.last_error.raw_os_error();
                let mut url = Buf::<64>::new();
                remote.push_url(&mut url);
                let line = self.begin(Kind::Warn);
                line.word("what", "remote-unreachable");
                line.text("dest", url.as_bytes());
                line.errno(errno);
                line.word("action", "queueing-and-retrying");
                self.send();
                continue;
            }
            let remote = &mut self.remotes[index];
            let (what, kind) = if remote.is_tcp() {
                // A TCP collector is back, or has caught up after a full queue.
                if !remote.was_down || !remote.is_idle() {
                    continue;
                }
                remote.was_down = false;
                let kind = if remote.dropped > 0 { Kind::Lost } else { Kind::Warn };
                ("remote-back", kind)
            } else {
                // UDP cannot show a collector's return, so failures are logged
                // at most once a minute.
                if remote.dropped == 0 || now < remote.report_at {
                    continue;
                }
                remote.report_at = now + UDP_REPORT_INTERVAL_MS;
                ("remote-send-failed", Kind::Lost)
            };
            let dropped = core::mem::take(&mut remote.dropped);
            let errno = remote.last_error.raw_os_error();
            let udp = !remote.is_tcp();
            let mut url = Buf::<64>::new();
            remote.push_url(&mut url);
            let line = self.begin(kind);
            line.word("what", what);
            line.text("dest", url.as_bytes());
            line.num("dropped", dropped);
            if udp {
                line.errno(errno);
            }
            self.send();
        }
    }

    /// Handles a line that has waited past the send timeout: connects
    /// again, in case the socket belongs to a syslog daemon that was
    /// replaced, and sends the queue to `/dev/kmsg` if that does not help.
    fn expire_pending(&mut self, now: u64) {
        let overdue = |pending: &Pending<PENDING_BYTES>| {
            pending.front().is_some_and(|(_, queued)| now >= queued + SEND_TIMEOUT_MS)
        };
        if !overdue(self.pending) {
            return;
        }
        if self.reconnect().is_ok() {
            self.flush();
        }
        if overdue(self.pending) {
            self.stalled = true;
            self.retry_at = now + SEND_TIMEOUT_MS;
            self.divert_pending(Errno::TIMEDOUT);
        }
    }

    /// Collects ended hooks and logs their status.
    pub fn reap_hooks(&mut self) {
        let now = self.now;
        if let Some(mut hooks) = self.hooks.take() {
            hooks.reap_all(self, now);
            self.hooks = Some(hooks);
        }
    }

    fn divert_line(&mut self) {
        let written = match &self.kmsg {
            Some(kmsg) => write_kmsg(kmsg, &mut self.line),
            None => false,
        };
        if written {
            self.diverted_lines += 1;
        } else {
            self.lost_lines += 1;
        }
    }

    /// Writes to `/dev/kmsg` (and stderr in the foreground) that the syslog
    /// socket failed and lines follow there.
    fn report_diversion(&mut self, error: Errno) {
        let severity = Kind::Warn.severity(self.alert_severity);
        let notice = &mut self.notice;
        notice.begin(self.facility, severity, self.tag.as_bytes(), self.pid, Kind::Warn);
        notice.word("what", "syslog-unavailable");
        notice.path("socket", self.socket_path.as_bytes());
        notice.errno(error.raw_os_error());
        notice.word("fallback", if self.kmsg.is_some() { "/dev/kmsg" } else { "none" });
        notice.finish();
        if self.foreground {
            write_stderr_line(notice.body());
        }
        if let Some(kmsg) = &self.kmsg {
            write_kmsg(kmsg, notice);
        }
    }

    /// Tells syslog that it is reachable again and how many lines went
    /// elsewhere meanwhile.
    fn report_recovery(&mut self) {
        let severity = Kind::Lost.severity(self.alert_severity);
        let notice = &mut self.notice;
        let kind = if self.lost_lines > 0 { Kind::Lost } else { Kind::Warn };
        notice.begin(self.facility, severity, self.tag.as_bytes(), self.pid, kind);
        notice.word("what", "syslog-back");
        notice.num("kmsg_lines", self.diverted_lines);
        notice.num("lost_lines", self.lost_lines);
        notice.finish();
        self.diverted_lines = 0;
        self.lost_lines = 0;
        if self.foreground {
            write_stderr_line(notice.body());
        }
        // Queued behind waiting lines, or sent, or to /dev/kmsg.
        let bytes = notice.bytes();
        let path = self.socket_path.as_cstr();
        let was_empty = self.pending.is_empty();
        let done = if was_empty {
            send_record(&mut self.socket, &mut self.stream, path, bytes, 0).unwrap_or(0)
        } else {
            0
        };
        if done == record_len(bytes, self.stream) {
            return;
        }
        if self.pending.push(bytes, self.now) {
            if was_empty {
                self.pending.set_sent(done);
            }
            return;
        }
        if let Some(kmsg) = &self.kmsg {
            write_kmsg_bytes(kmsg, bytes);
        }
    }
}

/// Bytes a record takes on the socket: the line, and on a stream its
/// newline.
fn record_len(line: &[u8], stream: bool) -> usize {
    line.len() + usize::from(stream)
}

/// Sends `line` to the syslog socket without waiting, `sent` bytes of it
/// having gone before, connecting or reconnecting once if the socket is
/// closed, gone or refusing. Returns how many bytes of the record the
/// receiver has now, fewer than [`record_len`] when it is busy.
fn send_record(
    socket: &mut Option<OwnedFd>,
    stream: &mut bool,
    path: &CStr,
    line: &[u8],
    mut sent: usize,
) -> Result<usize, Errno> {
    let mut last = Errno::NOTCONN;
    for _ in 0..2 {
        if socket.is_none() {
            let (fd, is_stream) = connect_socket(path)?;
            *socket = Some(fd);
            *stream = is_stream;
            sent = 0;
        }
        let Some(fd) = socket.as_ref().map(|fd| fd.as_fd()) else { continue };
        let result = if *stream { send_stream(fd, line, sent) } else { send_datagram(fd, line) };
        match result {
            Ok(done) => return Ok(done),
            Err(Errno::AGAIN) => return Ok(sent),
            Err(error) => {
                last = error;
                *socket = None;
            }
        }
    }
    Err(last)
}

fn send_datagram(fd: rustix::fd::BorrowedFd<'_>, line: &[u8]) -> Result<usize, Errno> {
    let flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
    net::send(fd, line, flags).map(|_| line.len())
}

/// Sends the rest of `line` and its newline from byte `sent` on. Returns
/// the bytes sent in all, fewer than the record when the receiver is busy.
fn send_stream(
    fd: rustix::fd::BorrowedFd<'_>,
    line: &[u8],
    mut sent: usize,
) -> Result<usize, Errno> {
    let flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
    while sent < line.len() + 1 {
        let result = if sent < line.len() {
            net::send(fd, &line[sent..], flags | SendFlags::MORE)
        } else {
            net::send(fd, b"\n", flags)
        };
        match result {
            Ok(written) => sent += written,
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Ok(sent),
            Err(error) => return Err(error),
        }
    }
    Ok(sent)
}

/// Connects to the syslog socket at `path`, as a datagram socket or, when
/// the socket is of the other type, as a stream. Returns the socket and
/// whether it is a stream.
pub fn connect_socket(path: &CStr) -> Result<(OwnedFd, bool), Errno> {
    let address = SocketAddrUnix::new(path)?;
    for (kind, stream) in [(SocketType::DGRAM, false), (SocketType::STREAM, true)] {
        // Non-blocking: a stream receiver that stopped accepting would
        // otherwise hold ttrapd in connect() for good.
        let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
        let socket = net::socket_with(AddressFamily::UNIX, kind, flags, None)?;
        match net::connect(&socket, &address) {
            // The socket stays non-blocking, so a send returns at once.
            Ok(()) => return Ok((socket, stream)),
            Err(Errno::PROTOTYPE) => continue,
            Err(error) => return Err(error),
        }
    }
    Err(Errno::PROTOTYPE)
}

/// Writes `line` to `/dev/kmsg` as one record. The newline ends the
/// record; without it the kernel holds the text back as the start of a
/// record still to be continued.
fn write_kmsg(kmsg: &OwnedFd, line: &mut Line) -> bool {
    line.push_newline();
    let written = rustix::io::write(kmsg, line.bytes()).is_ok();
    line.pop_newline();
    written
}

/// Writes the line `bytes` and a newline to `/dev/kmsg` as one record.
fn write_kmsg_bytes(kmsg: &OwnedFd, bytes: &[u8]) -> bool {
    let mut record = Buf::<{ LINE_BYTES + 1 }>::new();
    record.push_bytes(bytes);
    record.push(b'\n');
    rustix::io::write(kmsg, record.as_bytes()).is_ok()
}

/// Writes `text` and a newline to stderr, ignoring failures: stderr is a
/// copy for people, and syslog has the line.
pub fn write_stderr_line(text: &[u8]) {
    // SAFETY: assumed: descriptor 2 is open for the process's life (it is
    // /dev/null in daemon mode); a closed one only makes the write fail.
    let stderr = unsafe { rustix::stdio::stderr() };
    let _ = rustix::io::write(stderr, text);
    let _ = rustix::io::write(stderr, b"\n");
}

/// Writes a last message to `/dev/kmsg` from the panic handler, where no
/// logger state can be trusted.
pub fn last_words(text: &[u8]) {
    let flags = rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC;
    if let Ok(kmsg) = rustix::fs::open(c"/dev/kmsg", flags, rustix::fs::Mode::empty()) {
        let _ = rustix::io::write(&kmsg, text);
    }
}
