//! Lines waiting for the syslog socket: a first-in, first-out queue of
//! byte strings in one fixed buffer. Each is stored with the time it was
//! queued, so the daemon can tell how long the oldest line has waited.
//!
//! Each record is a 2-byte length, an 8-byte time and the line. Records
//! are appended at the end and taken from the front; the space of taken
//! records is reclaimed by moving the rest to the start when a new record
//! would not fit otherwise.

/// Bytes of the length and the time in front of each line.
const HEADER: usize = 10;

pub struct Pending<const N: usize> {
    data: [u8; N],
    /// Offset of the first record.
    start: usize,
    /// End of the last record.
    end: usize,
    /// Bytes of the first line that a stream receiver has taken.
    sent: usize,
    /// Records queued.
    count: usize,
}

impl<const N: usize> Default for Pending<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Pending<N> {
    pub const fn new() -> Self {
        Self { data: [0; N], start: 0, end: 0, sent: 0, count: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn len(&self) -> usize {
        self.count
    }

    /// Appends `line`, queued at `now`. Returns `false`, queueing nothing,
    /// when it does not fit or is longer than a 2-byte length can express.
    pub fn push(&mut self, line: &[u8], now: u64) -> bool {
        let Ok(len) = u16::try_from(line.len()) else { return false };
        let need = HEADER + line.len();
        if self.end + need > N {
            if self.end - self.start + need > N {
                return false;
            }
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let at = self.end;
        self.data[at..at + 2].copy_from_slice(&len.to_le_bytes());
        self.data[at + 2..at + HEADER].copy_from_slice(&now.to_le_bytes());
        self.data[at + HEADER..at + need].copy_from_slice(line);
        self.end += need;
        self.count += 1;
        true
    }

    /// Returns the first line and the time it was queued.
    pub fn front(&self) -> Option<(&[u8], u64)> {
        if self.count == 0 {
            return None;
        }
        let at = self.start;
        let len = usize::from(u16::from_le_bytes([self.data[at], self.data[at + 1]]));
        let mut time = [0u8; 8];
        time.copy_from_slice(&self.data[at + 2..at + HEADER]);
        Some((&self.data[at + HEADER..at + HEADER + len], u64::from_le_bytes(time)))
    }

    /// Bytes of the first line already taken by a stream receiver.
    pub fn sent(&self) -> usize {
        self.sent
    }

    pub fn set_sent(&mut self, sent: usize) {
        self.sent = sent;
    }

    /// Removes the first line.
    pub fn pop(&mut self) {
        let Some((line, _)) = self.front() else { return };
        self.start += HEADER + line.len();
        self.count -= 1;
        self.sent = 0;
        if self.count == 0 {
            self.start = 0;
            self.end = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_out_in_order_with_their_times() {
        let mut queue = Pending::<64>::new();
        assert!(queue.is_empty());
        assert!(queue.push(b"first", 7));
        assert!(queue.push(b"second", 9));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.front(), Some((&b"first"[..], 7)));
        queue.pop();
        assert_eq!(queue.front(), Some((&b"second"[..], 9)));
        queue.pop();
        assert!(queue.is_empty());
        assert_eq!(queue.front(), None);
    }

    #[test]
    fn full_queue_refuses_and_keeps_what_it_has() {
        // Two records of 10 + 20 bytes fill 60 bytes; a third does not fit.
        let mut queue = Pending::<60>::new();
        let line = [b'x'; 20];
        assert!(queue.push(&line, 1));
        assert!(queue.push(&line, 2));
        assert!(!queue.push(b"y", 3));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.front(), Some((&line[..], 1)));
    }

    #[test]
    fn space_of_taken_lines_is_reused() {
        let mut queue = Pending::<60>::new();
        let line = [b'a'; 20];
        assert!(queue.push(&line, 1));
        assert!(queue.push(b"bbbbbbbbbbbbbbbbbbbb", 2));
        queue.pop();
        // Fits only once the first record's space is reclaimed.
        assert!(queue.push(b"cccccccccccccccccccc", 3));
        assert_eq!(queue.front(), Some((&b"bbbbbbbbbbbbbbbbbbbb"[..], 2)));
        queue.pop();
        assert_eq!(queue.front(), Some((&b"cccccccccccccccccccc"[..], 3)));
    }

    #[test]
    fn partial_progress_is_forgotten_with_the_line() {
        let mut queue = Pending::<64>::new();
        assert!(queue.push(b"one", 0));
        assert!(queue.push(b"two", 0));
        queue.set_sent(2);
        assert_eq!(queue.sent(), 2);
        queue.pop();
        assert_eq!(queue.sent(), 0);
    }

    #[test]
    fn overlong_line_is_refused() {
        let mut queue = Pending::<{ 70 * 1024 }>::new();
        let line = [b'z'; 66_000];
        assert!(!queue.push(&line, 0));
        assert!(queue.is_empty());
    }
}
