//! Remote collectors: RFC 5424 messages over UDP, or over TCP with
//! octet-counting framing (RFC 6587).
//!
//! Nothing here blocks. UDP sends one datagram per message and counts the
//! ones the kernel refuses. TCP connects in the background, queues frames
//! in a fixed buffer while the collector is away, reconnects with a backoff
//! from 1 to 60 seconds, and counts the frames the full queue had to drop;
//! the count is reported once the collector is back.

use core::sync::atomic::{AtomicBool, Ordering};

use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{
    self, AddressFamily, Ipv4Addr, Ipv6Addr, SendFlags, SocketAddrV4, SocketAddrV6, SocketFlags,
    SocketType,
};
use ttrapd::buf::Bytes;
use ttrapd::limits::{MAX_REMOTES, REMOTE_QUEUE_BYTES};
use ttrapd::rfc5424::{Destination, Transport};

const BACKOFF_MIN_MS: u64 = 1000;
const BACKOFF_MAX_MS: u64 = 60_000;

/// State of a TCP connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    Down,
    Connecting,
    Up,
}

pub struct Remote {
    pub destination: Destination,
    /// Whether this slot has a collector at all.
    active: bool,
    socket: Option<OwnedFd>,
    link: Link,
    /// Frames waiting to be written (TCP only), oldest first.
    queue: &'static mut [u8; REMOTE_QUEUE_BYTES],
    queued: usize,
    /// Bytes of the first frame already written on this connection.
    head_written: usize,
    retry_at: u64,
    backoff_ms: u64,
    /// Messages dropped since the last report.
    pub dropped: u64,
    /// Whether the collector refused us or messages were dropped since the
    /// last report, so its return is worth a line.
    pub was_down: bool,
    /// When the next report of dropped UDP datagrams may go out.
    pub report_at: u64,
    /// The errno of the last failed connection or send.
    pub last_error: Errno,
    /// Whether the current outage of a TCP collector has been logged.
    pub down_reported: bool,
}

static mut QUEUES: [[u8; REMOTE_QUEUE_BYTES]; MAX_REMOTES] = [[0; REMOTE_QUEUE_BYTES]; MAX_REMOTES];
static QUEUES_TAKEN: AtomicBool = AtomicBool::new(false);

/// Creates the collector slots, each with its static queue and no
/// collector yet. Called once.
pub fn make_slots() -> [Remote; MAX_REMOTES] {
    if QUEUES_TAKEN.swap(true, Ordering::Relaxed) {
        crate::fatal_bug(b"remote queues taken twice");
    }
    // SAFETY: checked: the flag makes this the only place that forms
    // references to the static, once; the process has one thread.
    let queues = unsafe { &mut *(&raw mut QUEUES) };
    let [a, b, c, d] = queues.each_mut();
    [a, b, c, d].map(|queue| Remote {
        destination: UNUSED,
        active: false,
        socket: None,
        link: Link::Down,
        queue,
        queued: 0,
        head_written: 0,
        retry_at: 0,
        backoff_ms: BACKOFF_MIN_MS,
        dropped: 0,
        was_down: false,
        report_at: 0,
        last_error: Errno::NOTCONN,
        down_reported: false,
    })
}

const UNUSED: Destination =
    Destination { transport: Transport::Udp, address: [0; 16], is_ipv6: false, port: 0 };

impl Remote {
    /// Points this slot at `destination`, or empties it with `None`. The
    /// same destination keeps its connection and queue.
    pub fn configure(&mut self, destination: Option<Destination>) {
        if self.active && Some(self.destination) == destination {
            return;
        }
        self.socket = None;
        self.link = Link::Down;
        self.queued = 0;
        self.head_written = 0;
        self.retry_at = 0;
        self.backoff_ms = BACKOFF_MIN_MS;
        self.dropped = 0;
        self.was_down = false;
        self.report_at = 0;
        self.down_reported = false;
        self.active = destination.is_some();
        self.destination = destination.unwrap_or(UNUSED);
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    pub fn is_tcp(&self) -> bool {
        self.destination.transport == Transport::Tcp
    }

    /// Writes the destination as a URL.
    pub fn push_url(&self, out: &mut Bytes) {
        push_destination(out, &self.destination);
    }

    /// Returns the socket to poll and whether to wait for writability, if
    /// there is anything to wait for.
    pub fn poll_interest(&self) -> Option<(rustix::fd::BorrowedFd<'_>, bool)> {
        // A UDP socket is never polled: a pending ICMP error would keep it
        // readable, and the next send collects the error anyway.
        if !self.is_tcp() {
            return None;
        }
        let socket = self.socket.as_ref()?;
        let wants_write =
            self.link == Link::Connecting || (self.link == Link::Up && self.queued > 0);
        // Readable means the collector closed the connection.
        Some((socket.as_fd(), wants_write))
    }

    /// When a reconnection is due: only while the link is down and messages
    /// wait, since an idle link reconnects on the next message.
    pub fn deadline(&self) -> Option<u64> {
        let waiting = self.is_tcp() && self.link == Link::Down && self.queued > 0;
        if waiting { Some(self.retry_at) } else { None }
    }

    /// Sends or queues one RFC 5424 message.
    pub fn send(&mut self, message: &[u8], now: u64) {
        if !self.is_tcp() {
            self.send_udp(message);
            return;
        }
        let mut frame_header = ttrapd::buf::Buf::<24>::new();
        frame_header.push_u64(message.len() as u64);
        frame_header.push(b' ');
        let needed = frame_header.len() + message.len();
        if needed > REMOTE_QUEUE_BYTES - self.queued {
            // Reported, with the count, once the queue has drained.
            self.dropped += 1;
            self.was_down = true;
            return;
        }
        self.queue[self.queued..self.queued + frame_header.len()]
            .copy_from_slice(frame_header.as_bytes());
        self.queued += frame_header.len();
        self.queue[self.queued..self.queued + message.len()].copy_from_slice(message);
        self.queued += message.len();
        if self.link == Link::Down && now >= self.retry_at {
            self.connect(now);
        }
        if self.link == Link::Up {
            self.flush(now);
        }
    }

    fn send_udp(&mut self, message: &[u8]) {
        if self.socket.is_none() {
            match open_socket(&self.destination, SocketType::DGRAM) {
                Ok((socket, _)) => self.socket = Some(socket),
                Err(_) => {
                    self.dropped += 1;
                    self.was_down = true;
                    return;
                }
            }
        }
        let Some(socket) = &self.socket else { return };
        let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
        if let Err(errno) = net::send(socket, message, flags) {
            self.last_error = errno;
            // ECONNREFUSED reports an earlier datagram's ICMP error; this
            // one did not leave either. UDP cannot tell when a collector is
            // back, so the count is reported on a timer instead.
            self.dropped += 1;
        }
    }

    /// Starts a TCP connection.
    fn connect(&mut self, now: u64) {
        match open_socket(&self.destination, SocketType::STREAM) {
            Ok((socket, connected)) => {
                self.socket = Some(socket);
                self.link = if connected { Link::Up } else { Link::Connecting };
                self.head_written = 0;
                if connected {
                    self.down_reported = false;
                }
            }
            Err(errno) => self.fail(now, errno),
        }
    }

    fn fail(&mut self, now: u64, errno: Errno) {
        self.last_error = errno;
        self.socket = None;
        self.link = Link::Down;
        self.was_down = true;
        // The collector never saw the end of a partly written frame, so the
        // whole frame goes again on the next connection.
        self.head_written = 0;
        self.retry_at = now + self.backoff_ms;
        self.backoff_ms = (self.backoff_ms * 2).min(BACKOFF_MAX_MS);
    }

    /// Handles readiness of the socket from poll.
    pub fn on_ready(&mut self, writable: bool, readable_or_error: bool, now: u64) {
        if self.link == Link::Connecting && (writable || readable_or_error) {
            let Some(socket) = &self.socket else { return };
            match net::sockopt::socket_error(socket) {
                Ok(Ok(())) => {
                    self.link = Link::Up;
                    self.backoff_ms = BACKOFF_MIN_MS;
                    self.down_reported = false;
                }
                Ok(Err(errno)) | Err(errno) => {
                    self.fail(now, errno);
                    return;
                }
            }
        }
        if self.link != Link::Up {
            return;
        }
        if readable_or_error {
            // Collectors do not send; readable means closed or reset, and
            // anything a collector does send is read and ignored.
            let Some(socket) = &self.socket else { return };
            let mut ignored = [0u8; 64];
            match net::recv(socket, &mut ignored[..], net::RecvFlags::DONTWAIT) {
                Ok((0, _)) => {
                    self.fail(now, Errno::CONNRESET);
                    return;
                }
                Ok(_) | Err(Errno::AGAIN) | Err(Errno::INTR) => {}
                Err(errno) => {
                    self.fail(now, errno);
                    return;
                }
            }
        }
        self.flush(now);
    }

    /// Reconnects when the backoff has passed.
    pub fn on_timer(&mut self, now: u64) {
        if self.is_tcp() && self.link == Link::Down && now >= self.retry_at && self.queued > 0 {
            self.connect(now);
            if self.link == Link::Up {
                self.flush(now);
            }
        }
    }

    /// Writes queued frames until the socket would block.
    fn flush(&mut self, now: u64) {
        while self.queued > 0 && self.link == Link::Up {
            let Some(socket) = &self.socket else { return };
            let pending = &self.queue[self.head_written..self.queued];
            match net::send(socket, pending, SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
                Ok(written) => self.consume(written),
                Err(Errno::AGAIN) | Err(Errno::INTR) => return,
                Err(errno) => {
                    self.fail(now, errno);
                    return;
                }
            }
        }
    }

    /// Accounts for `written` bytes, dropping the frames they completed.
    fn consume(&mut self, written: usize) {
        let mut done = self.head_written + written;
        let mut complete = 0;
        while let Some(frame_len) = frame_length(&self.queue[complete..self.queued]) {
            if complete + frame_len > done {
                break;
            }
            complete += frame_len;
        }
        self.queue.copy_within(complete..self.queued, 0);
        self.queued -= complete;
        done -= complete;
        self.head_written = done;
    }

    /// Reports whether a TCP collector cannot be reached now.
    pub fn is_down(&self) -> bool {
        self.is_tcp() && self.link == Link::Down
    }

    /// Reports whether a TCP collector is caught up: connected with nothing
    /// queued.
    pub fn is_idle(&self) -> bool {
        self.is_tcp() && self.queued == 0 && self.link == Link::Up
    }
}

/// Returns the length of the frame at the start of `queue`, header
/// included.
fn frame_length(queue: &[u8]) -> Option<usize> {
    let space = queue.iter().take(12).position(|&b| b == b' ')?;
    let length = ttrapd::buf::parse_u64(&queue[..space])? as usize;
    let total = space + 1 + length;
    if total <= queue.len() { Some(total) } else { None }
}

/// Writes `destination` as a URL: `udp://192.0.2.1:514`,
/// `tcp://[2001:db8:0:0:0:0:0:1]:514`.
pub fn push_destination(out: &mut Bytes, destination: &Destination) {
    let tcp = destination.transport == Transport::Tcp;
    out.push_str(if tcp { "tcp://" } else { "udp://" });
    if destination.is_ipv6 {
        out.push(b'[');
        for group in 0..8 {
            if group > 0 {
                out.push(b':');
            }
            let high = destination.address[group * 2];
            let low = destination.address[group * 2 + 1];
            out.push_hex_u16(u16::from_be_bytes([high, low]));
        }
        out.push(b']');
    } else {
        for (index, byte) in destination.address[..4].iter().enumerate() {
            if index > 0 {
                out.push(b'.');
            }
            out.push_u64(u64::from(*byte));
        }
    }
    out.push(b':');
    out.push_u64(destination.port.into());
}

/// Opens a non-blocking socket connected (or connecting) to `destination`;
/// returns it and whether the connection is already complete.
fn open_socket(destination: &Destination, kind: SocketType) -> Result<(OwnedFd, bool), Errno> {
    let family = if destination.is_ipv6 { AddressFamily::INET6 } else { AddressFamily::INET };
    let socket =
        net::socket_with(family, kind, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK, None)?;
    let result = if destination.is_ipv6 {
        let address = Ipv6Addr::from(destination.address);
        net::connect(&socket, &SocketAddrV6::new(address, destination.port, 0, 0))
    } else {
        let [a, b, c, d] = [
            destination.address[0],
            destination.address[1],
            destination.address[2],
            destination.address[3],
        ];
        net::connect(&socket, &SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), destination.port))
    };
    match result {
        Ok(()) => Ok((socket, true)),
        Err(Errno::INPROGRESS) => Ok((socket, false)),
        Err(error) => Err(error),
    }
}
