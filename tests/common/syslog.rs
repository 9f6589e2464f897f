//! A real syslog daemon for the tests: busybox syslogd on `/dev/log`,
//! writing to a file that the tests read back line by line.
//!
//! busybox syslogd (1.35) has no option for the socket path; it always
//! binds `/dev/log`, which is why the harness gives each test binary a
//! private `/dev`. Its output lines read
//! `Mmm dd hh:mm:ss HOST FACILITY.SEVERITY TAG[PID]: MESSAGE`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::fields::event_part;
use super::poll_until;

/// A running `busybox syslogd -n -O FILE`, stopped on drop.
pub struct Syslogd {
    child: Option<Child>,
    output: PathBuf,
}

impl Syslogd {
    /// Starts syslogd writing to `output` and returns once it listens on
    /// `/dev/log`.
    pub fn start(output: PathBuf) -> Syslogd {
        let child = Command::new("busybox")
            .arg("syslogd")
            .arg("-n")
            .arg("-O")
            .arg(&output)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start busybox syslogd: {error}"));
        let mut syslogd = Syslogd { child: Some(child), output };
        // syslogd logs this line once its socket is bound.
        let started = poll_until(|| {
            let text = fs::read_to_string(&syslogd.output).ok()?;
            text.contains("syslogd started").then_some(())
        });
        if started.is_none() {
            syslogd.stop();
            panic!("busybox syslogd did not log its start to {}", syslogd.output.display());
        }
        syslogd
    }

    /// Returns a reader of this syslogd's output, starting at its first line.
    pub fn log(&self) -> SyslogFile {
        SyslogFile { path: self.output.clone(), cursor: 0 }
    }

    /// Stops syslogd with SIGTERM and waits for it to exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = child.id() as i32;
        // SAFETY: kill takes no pointers; `pid` is our unreaped child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let _ = child.wait();
    }
}

impl Drop for Syslogd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One line that syslogd wrote for a client that sent `TAG[PID]: `.
#[derive(Clone, Debug)]
pub struct Record {
    /// Facility and severity as syslogd names them: `authpriv.alert`.
    pub priority: String,
    pub tag: String,
    pub pid: u32,
    /// The text after `TAG[PID]: `.
    pub message: String,
}

impl Record {
    /// Parses a syslogd output line; returns `None` for lines without a
    /// `TAG[PID]: ` part, such as syslogd's own.
    fn parse(line: &str) -> Option<Record> {
        // The timestamp is always 15 characters and a space.
        let rest = line.get(16..)?;
        let (_host, rest) = rest.split_once(' ')?;
        let (priority, rest) = rest.split_once(' ')?;
        let (tag_and_pid, message) = rest.split_once(": ")?;
        let (tag, pid) = tag_and_pid.strip_suffix(']')?.split_once('[')?;
        Some(Record {
            priority: priority.to_string(),
            tag: tag.to_string(),
            pid: pid.parse().ok()?,
            message: message.to_string(),
        })
    }
}

/// Reports whether the logged `message` is the `expected` one. Alerts
/// must match in their event fields (see [`event_part`]). Other lines
/// must start with all of `expected`, and may carry more fields after it,
/// such as the counts on a STOP line.
pub fn matches(message: &str, expected: &str) -> bool {
    if event_part(message) == expected {
        return true;
    }
    let kind = message.split(' ').next().unwrap_or("");
    let alert = kind == "ALERT" || kind == "ALLOWED";
    !alert && message.strip_prefix(expected).is_some_and(|rest| rest.starts_with(' '))
}

/// A reader of syslogd's output file with a cursor: each match moves the
/// cursor past the matched line, so a later wait reads only newer lines.
pub struct SyslogFile {
    path: PathBuf,
    /// Index of the first record not yet passed.
    cursor: usize,
}

impl SyslogFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns every complete client line in the file so far.
    pub fn records(&self) -> Vec<Record> {
        let text = fs::read(&self.path).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        // A line still being written has no newline yet.
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        complete.lines().filter_map(Record::parse).collect()
    }

    /// Waits for a line from `pid` after the cursor that [`matches`]
    /// `message`; returns it and moves the cursor past it.
    pub fn expect(&mut self, pid: u32, message: &str) -> Record {
        let found = self.wait_for(pid, message, |record| matches(&record.message, message));
        found.last().cloned().expect("wait_for returns the match last")
    }

    /// Waits like [`SyslogFile::expect`] and returns the lines of `pid`
    /// from the cursor through the match, in order.
    pub fn take_records_through(&mut self, pid: u32, message: &str) -> Vec<Record> {
        self.wait_for(pid, message, |record| matches(&record.message, message))
    }

    /// Like [`SyslogFile::take_records_through`], but returns the whole
    /// messages.
    pub fn take_through(&mut self, pid: u32, message: &str) -> Vec<String> {
        let records = self.take_records_through(pid, message);
        records.into_iter().map(|record| record.message).collect()
    }

    /// Waits like [`SyslogFile::expect_where`] and returns the lines of
    /// `pid` from the cursor through the match, in order.
    pub fn take_through_where(
        &mut self,
        pid: u32,
        description: &str,
        matches: impl Fn(&Record) -> bool,
    ) -> Vec<Record> {
        self.wait_for(pid, description, matches)
    }

    /// Waits for a line from `pid` after the cursor that satisfies
    /// `matches`, described by `description` in the timeout message; returns it
    /// and moves the cursor past it.
    pub fn expect_where(
        &mut self,
        pid: u32,
        description: &str,
        matches: impl Fn(&Record) -> bool,
    ) -> Record {
        let found = self.wait_for(pid, description, matches);
        found.last().cloned().expect("wait_for returns the match last")
    }

    /// Returns the records of `pid` from the cursor through the first match.
    fn wait_for(
        &mut self,
        pid: u32,
        description: &str,
        matches: impl Fn(&Record) -> bool,
    ) -> Vec<Record> {
        let cursor = self.cursor;
        let found = poll_until(|| {
            let records = self.records();
            let offset = records[cursor.min(records.len())..]
                .iter()
                .position(|record| record.pid == pid && matches(record))?;
            let end = cursor + offset + 1;
            let from_pid =
                records[cursor..end].iter().filter(|record| record.pid == pid).cloned().collect();
            Some((end, from_pid))
        });
        match found {
            Some((end, from_pid)) => {
                self.cursor = end;
                from_pid
            }
            None => {
                let records = self.records();
                let unmatched: Vec<String> = records
                    .get(cursor..)
                    .unwrap_or_default()
                    .iter()
                    .map(|record| {
                        format!(
                            "  {} {}[{}]: {}",
                            record.priority, record.tag, record.pid, record.message
                        )
                    })
                    .collect();
                panic!(
                    "timed out after {:?} waiting for the syslog line `{description}` from pid {pid} in {}; lines after \
                     the last match:\n{}",
                    super::WAIT_LIMIT,
                    self.path.display(),
                    unmatched.join("\n")
                );
            }
        }
    }
}
