//! fanotify constants, and the parser for the buffer that `read(2)` returns
//! from a fanotify descriptor (fanotify(7)).
//!
//! linux-raw-sys has the system call numbers but no fanotify definitions,
//! so the values below come from `<linux/fanotify.h>`; unit tests check them
//! and the layouts against the `libc` crate. Each record starts with a
//! 24-byte `struct fanotify_event_metadata`; `event_len` gives the whole
//! record's length, which may include information records after the
//! metadata. The parser checks every length before it reads.

// fanotify_init(2) flags.
pub const FAN_CLOEXEC: u32 = 0x0000_0001;
pub const FAN_NONBLOCK: u32 = 0x0000_0002;
pub const FAN_CLASS_NOTIF: u32 = 0x0000_0000;
pub const FAN_CLASS_CONTENT: u32 = 0x0000_0004;
pub const FAN_UNLIMITED_QUEUE: u32 = 0x0000_0010;

// fanotify_mark(2) flags.
pub const FAN_MARK_ADD: u32 = 0x0000_0001;
pub const FAN_MARK_REMOVE: u32 = 0x0000_0002;
/// The mask given is events to ignore on the object, not to report.
pub const FAN_MARK_IGNORED_MASK: u32 = 0x0000_0020;

// Event bits.
pub const FAN_ACCESS: u64 = 0x0000_0001;
pub const FAN_MODIFY: u64 = 0x0000_0002;
pub const FAN_OPEN: u64 = 0x0000_0020;
pub const FAN_Q_OVERFLOW: u64 = 0x0000_4000;
pub const FAN_OPEN_PERM: u64 = 0x0001_0000;
pub const FAN_OPEN_EXEC: u64 = 0x0000_1000;
pub const FAN_OPEN_EXEC_PERM: u64 = 0x0004_0000;
pub const FAN_ONDIR: u64 = 0x4000_0000;
pub const FAN_EVENT_ON_CHILD: u64 = 0x0800_0000;

/// Both permission events, which make the opener wait for an answer.
pub const PERM_EVENTS: u64 = FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM;

// Answers to permission events.
pub const FAN_ALLOW: u32 = 0x01;
pub const FAN_DENY: u32 = 0x02;

/// The metadata version this parser understands.
pub const METADATA_VERSION: u8 = 3;
/// `fd` of an event that carries no descriptor (queue overflow).
pub const FAN_NOFD: i32 = -1;
/// Size of `struct fanotify_event_metadata`.
pub const METADATA_LEN: usize = 24;
/// Size of `struct fanotify_response`.
pub const RESPONSE_LEN: usize = 8;

/// One decoded fanotify record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub mask: u64,
    /// Descriptor of the object, open in the reader's process, or
    /// [`FAN_NOFD`]. The reader must close it.
    pub fd: i32,
    /// Process that caused the event (its thread group id).
    pub pid: i32,
}

/// Reason a record could not be decoded. Records after it are not read,
/// because their start is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer bytes than a metadata header, or than `event_len`.
    Truncated { offset: usize },
    /// A metadata version other than [`METADATA_VERSION`].
    Version { offset: usize, version: u8 },
    /// `event_len` or `metadata_len` smaller than the metadata itself.
    BadLength { offset: usize },
}

/// Iterator over the records of one read buffer.
pub struct Events<'a> {
    buf: &'a [u8],
    pos: usize,
}

pub fn events(buf: &[u8]) -> Events<'_> {
    Events { buf, pos: 0 }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_ne_bytes(word)
}

impl Iterator for Events<'_> {
    type Item = Result<Event, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.buf[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let offset = self.pos;
        // Any error ends the iteration.
        self.pos = self.buf.len();
        if rest.len() < METADATA_LEN {
            return Some(Err(ParseError::Truncated { offset }));
        }
        let event_len = read_u32(rest, 0) as usize;
        let version = rest[4];
        let metadata_len = u16::from_ne_bytes([rest[6], rest[7]]) as usize;
        if version != METADATA_VERSION {
            return Some(Err(ParseError::Version { offset, version }));
        }
        if event_len < METADATA_LEN || metadata_len < METADATA_LEN || metadata_len > event_len {
            return Some(Err(ParseError::BadLength { offset }));
        }
        if event_len > rest.len() {
            return Some(Err(ParseError::Truncated { offset }));
        }
        let mut mask = [0u8; 8];
        mask.copy_from_slice(&rest[8..16]);
        self.pos = offset + event_len;
        Some(Ok(Event {
            mask: u64::from_ne_bytes(mask),
            fd: read_u32(rest, 16) as i32,
            pid: read_u32(rest, 20) as i32,
        }))
    }
}

/// Encodes the answer to a permission event on descriptor `fd`.
pub fn response(fd: i32, allow: bool) -> [u8; RESPONSE_LEN] {
    let mut out = [0u8; RESPONSE_LEN];
    out[..4].copy_from_slice(&fd.to_ne_bytes());
    out[4..].copy_from_slice(&(if allow { FAN_ALLOW } else { FAN_DENY }).to_ne_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    fn record(mask: u64, fd: i32, pid: i32, extra: usize) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((METADATA_LEN + extra) as u32).to_ne_bytes());
        out.push(METADATA_VERSION);
        out.push(0);
        out.extend_from_slice(&(METADATA_LEN as u16).to_ne_bytes());
        out.extend_from_slice(&mask.to_ne_bytes());
        out.extend_from_slice(&fd.to_ne_bytes());
        out.extend_from_slice(&pid.to_ne_bytes());
        out.resize(METADATA_LEN + extra, 0xaa);
        out
    }

    #[test]
    fn constants_match_libc() {
        assert_eq!(FAN_CLOEXEC, libc::FAN_CLOEXEC);
        assert_eq!(FAN_NONBLOCK, libc::FAN_NONBLOCK);
        assert_eq!(FAN_CLASS_NOTIF, libc::FAN_CLASS_NOTIF);
        assert_eq!(FAN_CLASS_CONTENT, libc::FAN_CLASS_CONTENT);
        assert_eq!(FAN_UNLIMITED_QUEUE, libc::FAN_UNLIMITED_QUEUE);
        assert_eq!(FAN_MARK_ADD, libc::FAN_MARK_ADD);
        assert_eq!(FAN_MARK_REMOVE, libc::FAN_MARK_REMOVE);
        assert_eq!(FAN_MARK_IGNORED_MASK, libc::FAN_MARK_IGNORED_MASK);
        assert_eq!(FAN_ACCESS, libc::FAN_ACCESS);
        assert_eq!(FAN_MODIFY, libc::FAN_MODIFY);
        assert_eq!(FAN_OPEN, libc::FAN_OPEN);
        assert_eq!(FAN_Q_OVERFLOW, libc::FAN_Q_OVERFLOW);
        assert_eq!(FAN_OPEN_PERM, libc::FAN_OPEN_PERM);
        assert_eq!(FAN_OPEN_EXEC, libc::FAN_OPEN_EXEC);
        assert_eq!(FAN_OPEN_EXEC_PERM, libc::FAN_OPEN_EXEC_PERM);
        assert_eq!(FAN_ONDIR, libc::FAN_ONDIR);
        assert_eq!(FAN_EVENT_ON_CHILD, libc::FAN_EVENT_ON_CHILD);
        assert_eq!(FAN_ALLOW, libc::FAN_ALLOW);
        assert_eq!(FAN_DENY, libc::FAN_DENY);
        assert_eq!(METADATA_VERSION, libc::FANOTIFY_METADATA_VERSION);
        assert_eq!(FAN_NOFD, libc::FAN_NOFD);
    }

    #[test]
    fn layouts_match_libc() {
        use libc::{fanotify_event_metadata as Meta, fanotify_response as Response};
        assert_eq!(METADATA_LEN, size_of::<Meta>());
        assert_eq!(offset_of!(Meta, event_len), 0);
        assert_eq!(offset_of!(Meta, vers), 4);
        assert_eq!(offset_of!(Meta, metadata_len), 6);
        assert_eq!(offset_of!(Meta, mask), 8);
        assert_eq!(offset_of!(Meta, fd), 16);
        assert_eq!(offset_of!(Meta, pid), 20);
        assert_eq!(RESPONSE_LEN, size_of::<Response>());
        assert_eq!(offset_of!(Response, fd), 0);
        assert_eq!(offset_of!(Response, response), 4);
    }

    #[test]
    fn several_events_per_read() {
        let mut buf = record(FAN_OPEN_PERM, 5, 100, 0);
        buf.extend(record(FAN_ACCESS, 6, 101, 0));
        let parsed: Vec<_> = events(&buf).collect();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0], Ok(Event { mask: FAN_OPEN_PERM, fd: 5, pid: 100 }));
        assert_eq!(parsed[1], Ok(Event { mask: FAN_ACCESS, fd: 6, pid: 101 }));
    }

    #[test]
    fn info_records_are_skipped_by_event_len() {
        let mut buf = record(FAN_OPEN, 5, 100, 16);
        buf.extend(record(FAN_MODIFY, 7, 102, 0));
        let parsed: Vec<_> = events(&buf).map(Result::unwrap).collect();
        assert_eq!(parsed[1].fd, 7);
    }

    #[test]
    fn overflow_has_no_fd() {
        let buf = record(FAN_Q_OVERFLOW, FAN_NOFD, 0, 0);
        let event = events(&buf).next().unwrap().unwrap();
        assert_eq!(event.fd, FAN_NOFD);
        assert_ne!(event.mask & FAN_Q_OVERFLOW, 0);
    }

    #[test]
    fn wrong_version_stops_parsing() {
        let mut buf = record(FAN_OPEN, 5, 1, 0);
        buf[4] = 2;
        buf.extend(record(FAN_OPEN, 6, 1, 0));
        let parsed: Vec<_> = events(&buf).collect();
        assert_eq!(parsed, vec![Err(ParseError::Version { offset: 0, version: 2 })]);
    }

    #[test]
    fn truncated_and_bad_lengths() {
        let buf = record(FAN_OPEN, 5, 1, 0);
        assert_eq!(events(&buf[..10]).next(), Some(Err(ParseError::Truncated { offset: 0 })));
        let mut long = buf.clone();
        long[0..4].copy_from_slice(&100u32.to_ne_bytes());
        assert_eq!(events(&long).next(), Some(Err(ParseError::Truncated { offset: 0 })));
        let mut short = buf.clone();
        short[0..4].copy_from_slice(&8u32.to_ne_bytes());
        assert_eq!(events(&short).next(), Some(Err(ParseError::BadLength { offset: 0 })));
        let mut zero = buf;
        zero[0..4].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(events(&zero).next(), Some(Err(ParseError::BadLength { offset: 0 })));
    }

    #[test]
    fn response_encodes_fd_and_answer() {
        let allow = response(9, true);
        assert_eq!(&allow[..4], &9i32.to_ne_bytes());
        assert_eq!(&allow[4..], &FAN_ALLOW.to_ne_bytes());
        assert_eq!(&response(9, false)[4..], &FAN_DENY.to_ne_bytes());
    }
}
