//! Reading the kernel log through `/dev/kmsg`, where ttrapd writes its
//! lines while the syslog socket is missing or refuses them.
//!
//! Each read of `/dev/kmsg` returns one record, `PRI,SEQ,TIME,FLAGS;TEXT`
//! and a newline, where PRI is facility * 8 + level as the writer sent it
//! in its `<PRI>` prefix (see the kernel's Documentation/ABI/testing/
//! dev-kmsg).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use super::poll_until;

/// A kernel log record.
#[derive(Clone, Debug)]
pub struct KmsgRecord {
    pub priority: u32,
    pub text: String,
}

/// A reader of `/dev/kmsg` that returns only records written after it opened.
pub struct Kmsg {
    file: File,
    records: Vec<KmsgRecord>,
}

impl Kmsg {
    /// Opens `/dev/kmsg` positioned after its last record.
    pub fn open_at_end() -> Kmsg {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .unwrap_or_else(|error| panic!("cannot open /dev/kmsg: {error}"));
        // SAFETY: lseek takes no pointers; the descriptor is open.
        let position = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_END) };
        assert!(
            position >= 0,
            "lseek(/dev/kmsg, SEEK_END) failed: {}",
            std::io::Error::last_os_error()
        );
        Kmsg { file, records: Vec::new() }
    }

    /// Reads the records that arrived since the last call.
    fn read_new(&mut self) {
        let mut buffer = [0u8; 8192];
        loop {
            match self.file.read(&mut buffer) {
                Ok(0) => return,
                Ok(len) => {
                    if let Some(record) = parse(&buffer[..len]) {
                        self.records.push(record);
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                // EPIPE: older records were overwritten; the next read goes on.
                Err(error) if error.raw_os_error() == Some(libc::EPIPE) => {}
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => panic!("cannot read /dev/kmsg: {error}"),
            }
        }
    }

    /// Waits for a record with `priority` whose text is exactly `text`.
    pub fn expect(&mut self, priority: u32, text: &str) -> KmsgRecord {
        let description = format!("<{priority}>{text}");
        self.expect_where(&description, |record| record.priority == priority && record.text == text)
    }

    /// Waits for a record that satisfies `matches`, described by `description` in
    /// the timeout message.
    pub fn expect_where(
        &mut self,
        description: &str,
        matches: impl Fn(&KmsgRecord) -> bool,
    ) -> KmsgRecord {
        let found = poll_until(|| {
            self.read_new();
            self.records.iter().find(|record| matches(record)).cloned()
        });
        found.unwrap_or_else(|| {
            let seen: Vec<String> =
                self.records.iter().map(|record| format!("  <{}>{}", record.priority, record.text)).collect();
            panic!(
                "timed out after {:?} waiting for the kernel log record `{description}`; records seen:\n{}",
                super::WAIT_LIMIT,
                seen.join("\n")
            )
        })
    }
}

/// Parses one record; continuation lines (` KEY=VALUE`) are dropped.
fn parse(bytes: &[u8]) -> Option<KmsgRecord> {
    let text = String::from_utf8_lossy(bytes);
    let (header, rest) = text.split_once(';')?;
    let priority = header.split(',').next()?.parse().ok()?;
    let text = rest.split('\n').next().unwrap_or("");
    Some(KmsgRecord { priority, text: text.to_string() })
}
