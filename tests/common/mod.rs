//! Shared harness for the integration tests, which run the real ttrapd
//! binary against a real busybox syslogd and real intruder programs.
//!
//! busybox syslogd always listens on `/dev/log`, so [`run_trials`] first
//! moves the test process into a private mount namespace with its own
//! tmpfs on `/dev`. The machine's `/dev/log` and `/dev` stay untouched.
//! This needs root (CAP_SYS_ADMIN), and `unshare(CLONE_NEWNS)` needs a
//! single-threaded process, hence test binaries with `harness = false`.
//! The cases of one binary run one at a time because they share that
//! `/dev/log`.

pub mod daemon;
pub mod fields;
pub mod kmsg;
pub mod syslog;

use std::ffi::CStr;
use std::fs::{self, File};
use std::io::{self, ErrorKind};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Trial};

use daemon::Daemon;
use fields::{Message, event_part};
use syslog::{Record, SyslogFile, Syslogd};

/// Maximum time a test waits for the daemon, syslogd or a tool. It is
/// generous so that a slow machine does not fail a correct daemon.
pub const WAIT_LIMIT: Duration = Duration::from_secs(5);

/// Pause between two checks while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Content of the trapped files the fixtures create.
pub const SECRET: &str = "secret\n";

/// Returns a test case named `name` that runs `case`, which panics on
/// failure.
pub fn trial(name: &str, case: fn()) -> Trial {
    Trial::test(name, move || {
        case();
        Ok(())
    })
}

/// A test case run once per [`Mode`]: its name and a function that panics
/// on failure.
pub type ModeCase = (&'static str, fn(Mode));

/// Returns one test case per mode for `case`, named `MODE::NAME`.
pub fn trials_per_mode(name: &str, case: fn(Mode)) -> Vec<Trial> {
    Mode::ALL
        .iter()
        .map(|&mode| {
            Trial::test(format!("{}::{name}", mode.label()), move || {
                case(mode);
                Ok(())
            })
        })
        .collect()
}

/// A test case: its name and a function that panics on failure.
pub type Case = (&'static str, fn());

/// Runs `cases` like [`run_trials`].
pub fn run_cases(cases: &[Case]) -> ExitCode {
    run_trials(cases.iter().map(|&(name, case)| trial(name, case)).collect())
}

/// Enters the private `/dev`, then runs `trials` one at a time with the
/// output, filtering and exit status of cargo's own test harness.
pub fn run_trials(trials: Vec<Trial>) -> ExitCode {
    enter_private_dev();
    let mut arguments = Arguments::from_args();
    // Every case starts its own syslogd on the one /dev/log.
    arguments.test_threads = Some(1);
    libtest_mimic::run(&arguments, trials).exit_code()
}

/// Character devices created in the private `/dev`: name, major, minor.
const DEVICES: [(&CStr, u32, u32); 7] = [
    (c"/dev/null", 1, 3),
    (c"/dev/zero", 1, 5),
    (c"/dev/full", 1, 7),
    (c"/dev/random", 1, 8),
    (c"/dev/urandom", 1, 9),
    (c"/dev/kmsg", 1, 11),
    (c"/dev/tty", 5, 0),
];

/// Moves this process into a new mount namespace whose `/dev` is an empty
/// tmpfs with the few devices that programs expect, and makes the process
/// a child subreaper so that detached daemons become its children.
fn enter_private_dev() {
    // SAFETY: unshare takes no pointers; the process still has one thread.
    check(unsafe { libc::unshare(libc::CLONE_NEWNS) }, "unshare(CLONE_NEWNS)");
    // SAFETY: every pointer is a NUL-terminated string or null, as mount(2)
    // allows for a propagation change.
    let private = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    check(private, "making mounts private (mount --make-rprivate /)");
    // SAFETY: as above; the data argument is a NUL-terminated option string.
    let tmpfs = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c"/dev".as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            c"mode=0755".as_ptr().cast(),
        )
    };
    check(tmpfs, "mounting a tmpfs on /dev");

    for (path, major, minor) in DEVICES {
        let device = libc::makedev(major, minor);
        // SAFETY: `path` is NUL-terminated.
        let status = unsafe { libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o666, device) };
        check(status, &format!("mknod {path:?}"));
        // mknod applies the umask; intruders need the devices writable.
        let opened = fs::Permissions::from_mode(0o666);
        let path = Path::new(path.to_str().expect("device paths are ASCII"));
        fs::set_permissions(path, opened)
            .unwrap_or_else(|error| panic!("chmod {}: {error}", path.display()));
    }
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, link).unwrap_or_else(|error| panic!("symlink {link}: {error}"));
    }
    fs::create_dir("/dev/shm").unwrap_or_else(|error| panic!("mkdir /dev/shm: {error}"));
    fs::set_permissions("/dev/shm", fs::Permissions::from_mode(0o1777))
        .unwrap_or_else(|error| panic!("chmod /dev/shm: {error}"));

    // SAFETY: prctl with integer arguments only.
    let subreaper = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    check(subreaper, "prctl(PR_SET_CHILD_SUBREAPER)");
}

fn check(result: i32, action: &str) {
    if result != 0 {
        let error = io::Error::last_os_error();
        panic!("{action} failed: {error}; the integration tests must run as root");
    }
}

/// A fresh directory under /tmp, removed with everything in it on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `/tmp/ttrapd-NAME-PID`, replacing what an earlier run with the
    /// same pid may have left.
    pub fn new(name: &str) -> TempDir {
        let path = PathBuf::from(format!("/tmp/ttrapd-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Calls `probe` every 10 ms until it returns a value or [`WAIT_LIMIT`]
/// passes; returns `None` on timeout.
pub fn poll_until<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Runs an intruder program to its end and returns its output; panics when
/// it fails, because the alert it should cause would then prove nothing.
pub fn intrude(command: &mut Command) -> Output {
    let program = format!("{:?}", command);
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
    assert!(
        output.status.success(),
        "{program} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Formats a field value the way ttrapd's contract specifies:
/// bare, or in double quotes with `\"` and `\\` when it is empty or
/// contains a space, `"` or `\`. Only for printable ASCII values.
pub fn field_value(value: &str) -> String {
    assert!(
        value.bytes().all(|byte| (0x20..0x7f).contains(&byte)),
        "field_value handles printable ASCII only, not {value:?}"
    );
    if !value.is_empty() && !value.contains([' ', '"', '\\']) {
        return value.to_string();
    }
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// Returns the `pid=.. uid=.. exe=..` fields ttrapd writes for a signal
/// sent by this test process.
pub fn sender_fields() -> String {
    let exe = fs::read_link("/proc/self/exe").expect("read /proc/self/exe");
    let exe = exe.to_str().expect("the test binary path is UTF-8");
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    format!("pid={} uid={uid} exe={}", std::process::id(), field_value(exe))
}

/// Returns the ALERT message for `event` on `trap`.
pub fn alert(trap: &str, event: &str) -> String {
    format!("ALERT trap={trap} event={event}")
}

/// Returns the ALERT message for `event` on the entry `entry` of the
/// trapped directory `trap`; `entry` is given as ttrapd writes it.
pub fn entry_alert(trap: &str, event: &str, entry: &str) -> String {
    format!("ALERT trap={trap} event={event} entry={entry}")
}

/// A trapped file or directory that [`Trapped`] creates before starting
/// ttrapd.
pub enum Bait<'a> {
    /// A file with the given content.
    File(&'a str, &'a str),
    /// An empty directory.
    Dir(&'a str),
    /// A directory holding one file: directory name, file name, content.
    DirWith(&'a str, &'a str, &'a str),
}

/// How ttrapd watches, as chosen by its options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The default: fanotify permission events name the process, inotify
    /// reports the rest.
    Permission,
    /// `--no-fanotify`: inotify only.
    Inotify,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Permission, Mode::Inotify];

    /// Returns the options that select this mode.
    pub fn options(self) -> &'static [&'static str] {
        match self {
            Mode::Permission => &[],
            Mode::Inotify => &["--no-fanotify"],
        }
    }

    /// Returns the `mode=` value of the START line.
    pub fn start_word(self) -> &'static str {
        match self {
            Mode::Permission => "fanotify-perm",
            Mode::Inotify => "inotify",
        }
    }

    /// Returns a short name for test and directory names.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Permission => "perm",
            Mode::Inotify => "inotify",
        }
    }
}

/// Returns the START message of a foreground ttrapd with `traps` traps.
pub fn start_line(traps: usize, mode: Mode) -> String {
    format!(
        "START traps={traps} mode={} version={} run=foreground",
        mode.start_word(),
        env!("CARGO_PKG_VERSION")
    )
}

/// Name of the file that every [`Trapped`] fixture traps in addition, for
/// [`Trapped::barrier`].
const SENTINEL: &str = "sentinel";

/// Options of every [`Trapped`] fixture, before the test's own: flood
/// control off, because each barrier repeats the same events on the
/// sentinel and a test may repeat an intrusion.
const FIXTURE_OPTIONS: [&str; 2] = ["--quiet", "0"];

/// A foreground ttrapd with its own busybox syslogd, trapping files in a
/// fresh temporary directory.
///
/// Besides the test's traps it traps a sentinel file for
/// [`Trapped::barrier`]. ttrapd reads the fanotify and the inotify queue
/// each in order, but not in order with each other, so a barrier touches
/// the sentinel through both.
pub struct Trapped {
    // Fields drop in this order: the daemon stops first, the directory goes
    // last.
    pub daemon: Daemon,
    pub syslogd: Syslogd,
    pub log: SyslogFile,
    pub dir: TempDir,
    pub mode: Mode,
}

impl Trapped {
    /// Creates `baits` and the sentinel in a new directory, then starts
    /// syslogd and `ttrapd -f` in `mode` on them and waits for the exact
    /// START line.
    pub fn start(name: &str, mode: Mode, baits: &[Bait<'_>]) -> Trapped {
        let (trapped, start) = Self::launch(name, mode, baits, &[]);
        assert_eq!(start.message, start_line(baits.len() + 1, mode), "START line");
        trapped
    }

    /// Like [`Trapped::start`] with extra ttrapd options; returns once any
    /// START line arrived.
    pub fn start_with(name: &str, mode: Mode, baits: &[Bait<'_>], options: &[&str]) -> Trapped {
        Self::launch(name, mode, baits, options).0
    }

    /// Starts the fixture; returns it with the START line.
    fn launch(name: &str, mode: Mode, baits: &[Bait<'_>], options: &[&str]) -> (Trapped, Record) {
        let dir = TempDir::new(&format!("{name}-{}", mode.label()));
        let mut traps = vec![dir.join(SENTINEL)];
        fs::write(&traps[0], SECRET).expect("create the sentinel");
        for bait in baits {
            let path = match bait {
                Bait::File(name, content) => {
                    let path = dir.join(name);
                    fs::write(&path, content)
                        .unwrap_or_else(|error| panic!("create {name}: {error}"));
                    path
                }
                Bait::Dir(name) => {
                    let path = dir.join(name);
                    fs::create_dir(&path).unwrap_or_else(|error| panic!("create {name}: {error}"));
                    path
                }
                Bait::DirWith(name, entry, content) => {
                    let path = dir.join(name);
                    fs::create_dir(&path).unwrap_or_else(|error| panic!("create {name}: {error}"));
                    fs::write(path.join(entry), content)
                        .unwrap_or_else(|error| panic!("create {name}/{entry}: {error}"));
                    path
                }
            };
            traps.push(path);
        }
        let syslogd = Syslogd::start(dir.join("syslog.out"));
        let mut log = syslogd.log();

        let mut command = daemon::command(&["-f"]);
        command.args(mode.options()).args(FIXTURE_OPTIONS).args(options).args(&traps);
        let daemon = Daemon::spawn(&dir, &mut command);
        let start =
            log.expect_where(daemon.pid, "START", |record| record.message.starts_with("START "));
        (Trapped { daemon, syslogd, log, dir, mode }, start)
    }

    /// Returns the absolute path of `name` in the fixture's directory.
    pub fn path(&self, name: impl AsRef<Path>) -> PathBuf {
        self.dir.join(name)
    }

    /// Returns the path of `name` as text, for expected lines.
    pub fn trap(&self, name: &str) -> String {
        self.path(name).to_str().expect("temporary paths are UTF-8").to_string()
    }

    /// Opens the sentinel and waits for that alert, then changes its mode
    /// and waits for that one; returns the daemon's lines logged since the
    /// last match, without the sentinel's.
    pub fn barrier_records(&mut self) -> Vec<Record> {
        let sentinel = self.path(SENTINEL);
        let trap = self.trap(SENTINEL);
        // The open goes through the fanotify queue (as a permission event it
        // returns only once ttrapd has answered), the mode change through
        // the inotify queue; each queue is read in order. With --deny the
        // open fails, but is still reported.
        if let Err(error) = File::open(&sentinel) {
            assert_eq!(error.kind(), ErrorKind::PermissionDenied, "open the sentinel: {error}");
        }
        let is_sentinel_open = |record: &Record| {
            let message = Message::parse(&record.message);
            message.kind == "ALERT"
                && message.get("trap") == Some(trap.as_str())
                && message.get("event") == Some("open")
        };
        let mut records =
            self.log.take_through_where(self.daemon.pid, "the sentinel's open", is_sentinel_open);
        fs::set_permissions(&sentinel, fs::Permissions::from_mode(0o600))
            .expect("chmod the sentinel");
        records.extend(self.log.take_records_through(self.daemon.pid, &alert(&trap, "attrib")));
        records.retain(|record| Message::parse(&record.message).get("trap") != Some(&trap));
        records
    }

    /// Like [`Trapped::barrier_records`], but returns only the messages
    /// with alerts reduced to their event fields.
    pub fn barrier(&mut self) -> Vec<String> {
        self.barrier_records().iter().map(|record| event_part(&record.message)).collect()
    }

    /// Waits for the daemon's line `message`; see [`SyslogFile::expect`].
    pub fn expect(&mut self, message: &str) -> Record {
        self.log.expect(self.daemon.pid, message)
    }

    /// Waits for the daemon's line `message` and returns the messages
    /// through it, with alerts reduced to their event fields.
    pub fn take_through(&mut self, message: &str) -> Vec<String> {
        let records = self.log.take_records_through(self.daemon.pid, message);
        records.iter().map(|record| event_part(&record.message)).collect()
    }

    /// Stops the daemon with SIGTERM and checks its STOP line and exit
    /// status.
    pub fn stop(&mut self) {
        let code = self.daemon.stop();
        assert_eq!(code, Some(0), "ttrapd exit status after SIGTERM");
        let stop = format!("STOP signal=SIGTERM {}", sender_fields());
        self.expect(&stop);
    }
}
