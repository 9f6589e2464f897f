//! Parser for the buffer that `read(2)` returns from an inotify descriptor
//! (inotify(7)).
//!
//! Each record is a `struct inotify_event` header of 16 bytes (`wd`,
//! `mask`, `cookie`, `len`, native-endian) followed by `len` bytes of name,
//! NUL-terminated and NUL-padded. The parser checks every length against
//! the bytes it was given and stops with an error at the first record that
//! does not fit, rather than trusting the kernel's framing.

pub use linux_raw_sys::general::{
    IN_ACCESS, IN_ATTRIB, IN_CLOSE_NOWRITE, IN_CLOSE_WRITE, IN_CREATE, IN_DELETE, IN_DELETE_SELF,
    IN_DONT_FOLLOW, IN_EXCL_UNLINK, IN_IGNORED, IN_ISDIR, IN_MASK_ADD, IN_MODIFY, IN_MOVE_SELF,
    IN_MOVED_FROM, IN_MOVED_TO, IN_ONLYDIR, IN_OPEN, IN_Q_OVERFLOW, IN_UNMOUNT,
};

/// Size of the fixed part of `struct inotify_event`.
pub const HEADER_LEN: usize = 16;

/// One decoded inotify record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// Watch descriptor, or -1 for `IN_Q_OVERFLOW`.
    pub wd: i32,
    /// `IN_*` bits.
    pub mask: u32,
    /// Pairs the `IN_MOVED_FROM` and `IN_MOVED_TO` halves of one rename.
    pub cookie: u32,
    /// Name of the entry inside a watched directory, without the NUL
    /// padding; empty for events on the watched object itself.
    pub name: &'a [u8],
}

/// A record that claims more bytes than the buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncated {
    /// Offset of the record's header in the buffer.
    pub offset: usize,
}

/// Iterator over the records of one read buffer.
pub struct Events<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// Starts parsing `buf`, the bytes one `read(2)` returned.
pub fn events(buf: &[u8]) -> Events<'_> {
    Events { buf, pos: 0 }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_ne_bytes(word)
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<Event<'a>, Truncated>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.buf[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let offset = self.pos;
        if rest.len() < HEADER_LEN {
            self.pos = self.buf.len();
            return Some(Err(Truncated { offset }));
        }
        let name_len = read_u32(rest, 12) as usize;
        let Some(record_len) = HEADER_LEN.checked_add(name_len).filter(|&n| n <= rest.len()) else {
            self.pos = self.buf.len();
            return Some(Err(Truncated { offset }));
        };
        let padded = &rest[HEADER_LEN..record_len];
        let name_end = padded.iter().position(|&b| b == 0).unwrap_or(padded.len());
        self.pos += record_len;
        Some(Ok(Event {
            wd: read_u32(rest, 0) as i32,
            mask: read_u32(rest, 4),
            cookie: read_u32(rest, 8),
            name: &padded[..name_end],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(wd: i32, mask: u32, cookie: u32, name: &[u8], padded_len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&wd.to_ne_bytes());
        out.extend_from_slice(&mask.to_ne_bytes());
        out.extend_from_slice(&cookie.to_ne_bytes());
        out.extend_from_slice(&(padded_len as u32).to_ne_bytes());
        let mut name_bytes = name.to_vec();
        name_bytes.resize(padded_len, 0);
        out.extend_from_slice(&name_bytes);
        out
    }

    #[test]
    fn header_matches_kernel_layout() {
        assert_eq!(HEADER_LEN, std::mem::size_of::<libc::inotify_event>());
        assert_eq!(IN_OPEN, libc::IN_OPEN);
        assert_eq!(IN_Q_OVERFLOW, libc::IN_Q_OVERFLOW);
        assert_eq!(IN_MASK_ADD, libc::IN_MASK_ADD);
    }

    #[test]
    fn several_events_in_one_read() {
        let mut buf = record(1, IN_OPEN, 0, b"", 0);
        buf.extend(record(1, IN_ACCESS, 0, b"", 0));
        buf.extend(record(2, IN_CREATE, 0, b"new.txt", 16));
        let parsed: Vec<_> = events(&buf).collect();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0], Ok(Event { wd: 1, mask: IN_OPEN, cookie: 0, name: b"" }));
        assert_eq!(parsed[1].unwrap().mask, IN_ACCESS);
        assert_eq!(parsed[2].unwrap().name, b"new.txt");
        assert_eq!(parsed[2].unwrap().wd, 2);
    }

    #[test]
    fn name_padding_is_stripped() {
        let buf = record(3, IN_DELETE, 0, b"abc", 32);
        let event = events(&buf).next().unwrap().unwrap();
        assert_eq!(event.name, b"abc");
    }

    #[test]
    fn name_filling_whole_length_is_kept() {
        // The kernel always pads, but a name without any NUL must not run
        // past its record.
        let mut buf = record(3, IN_DELETE, 0, b"abcd", 4);
        buf.extend(record(4, IN_OPEN, 0, b"", 0));
        let parsed: Vec<_> = events(&buf).map(Result::unwrap).collect();
        assert_eq!(parsed[0].name, b"abcd");
        assert_eq!(parsed[1].wd, 4);
    }

    #[test]
    fn buffer_cut_mid_header() {
        let mut buf = record(1, IN_OPEN, 0, b"", 0);
        buf.extend_from_slice(&[1, 0, 0, 0, 2]);
        let parsed: Vec<_> = events(&buf).collect();
        assert_eq!(parsed.len(), 2);
        assert!(parsed[0].is_ok());
        assert_eq!(parsed[1], Err(Truncated { offset: 16 }));
    }

    #[test]
    fn buffer_cut_mid_name() {
        let mut buf = record(1, IN_CREATE, 0, b"name", 16);
        buf.truncate(20);
        let parsed: Vec<_> = events(&buf).collect();
        assert_eq!(parsed, vec![Err(Truncated { offset: 0 })]);
    }

    #[test]
    fn huge_length_does_not_overflow() {
        let buf = record(1, IN_CREATE, 0, b"", 0);
        let mut buf = buf.clone();
        buf[12..16].copy_from_slice(&u32::MAX.to_ne_bytes());
        let parsed: Vec<_> = events(&buf).collect();
        assert_eq!(parsed, vec![Err(Truncated { offset: 0 })]);
    }

    #[test]
    fn queue_overflow_has_wd_minus_one() {
        let buf = record(-1, IN_Q_OVERFLOW, 0, b"", 0);
        let event = events(&buf).next().unwrap().unwrap();
        assert_eq!(event.wd, -1);
        assert_eq!(event.mask, IN_Q_OVERFLOW);
    }

    #[test]
    fn ignored_and_unknown_watches_pass_through() {
        let mut buf = record(7, IN_IGNORED, 0, b"", 0);
        buf.extend(record(99999, IN_MOVED_FROM, 42, b"x", 16));
        let parsed: Vec<_> = events(&buf).map(Result::unwrap).collect();
        assert_eq!(parsed[0].mask, IN_IGNORED);
        assert_eq!(parsed[1].wd, 99999);
        assert_eq!(parsed[1].cookie, 42);
    }

    #[test]
    fn empty_buffer_yields_nothing() {
        assert_eq!(events(&[]).count(), 0);
    }
}
