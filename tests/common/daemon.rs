//! Starting and stopping ttrapd: a guard that stops a daemon by its pid
//! even when a test fails, runs of the binary that must end by themselves,
//! and a scan of /proc for processes left behind.
//!
//! The harness makes the test process a child subreaper, so a daemon that
//! detached (double fork) becomes its child and can be reaped with its exit
//! status like a foreground one.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{TempDir, poll_until};

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_ttrapd");

/// Returns a command running ttrapd with `args`, its stdin on /dev/null.
pub fn command<S: AsRef<OsStr>>(args: &[S]) -> Command {
    let mut command = Command::new(BINARY);
    command.args(args).stdin(Stdio::null());
    command
}

/// Numbers the output files of runs within one process.
static RUNS: AtomicUsize = AtomicUsize::new(0);

/// Creates a new file under `dir` for one stream of one run.
fn output_file(dir: &TempDir, stream: &str) -> (PathBuf, File) {
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("ttrapd-{run}.{stream}"));
    let file = File::create(&path)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
    (path, file)
}

fn read_text(path: &Path) -> String {
    let bytes =
        fs::read(path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// How a run of ttrapd that ended by itself went.
#[derive(Debug)]
pub struct Finished {
    pub pid: u32,
    /// Exit code, or `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to its exit with stdout and stderr in files under `dir`.
/// Panics, after killing it, if it has not exited within the wait limit.
pub fn run_to_exit(dir: &TempDir, command: &mut Command) -> Finished {
    let (stdout_path, stdout) = output_file(dir, "stdout");
    let (stderr_path, stderr) = output_file(dir, "stderr");
    let mut child = command
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let status = poll_until(|| child.try_wait().expect("wait for ttrapd"));
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{command:?} did not exit within {:?}", super::WAIT_LIMIT);
    };
    Finished {
        pid: child.id(),
        code: status.code(),
        stdout: read_text(&stdout_path),
        stderr: read_text(&stderr_path),
    }
}

/// A running ttrapd, known by its pid. On drop it is stopped with SIGTERM,
/// or SIGKILL if that does not end it, and reaped.
pub struct Daemon {
    pub pid: u32,
    /// Exit status from `waitpid` once reaped.
    status: Option<i32>,
    stderr: Option<PathBuf>,
}

impl Daemon {
    /// Spawns `command`, usually with `-f`, with stderr in a file under `dir`.
    // The child is reaped by pid with waitpid in `is_running`, which the
    // lint cannot see.
    #[allow(clippy::zombie_processes)]
    pub fn spawn(dir: &TempDir, command: &mut Command) -> Daemon {
        let (stderr_path, stderr) = output_file(dir, "stderr");
        let child = command
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
        Daemon { pid: child.id(), status: None, stderr: Some(stderr_path) }
    }

    /// Takes charge of a detached daemon by the pid in `pidfile`.
    pub fn from_pidfile(pidfile: &Path) -> Daemon {
        let text = fs::read_to_string(pidfile)
            .unwrap_or_else(|error| panic!("cannot read pidfile {}: {error}", pidfile.display()));
        let pid = text.trim_end_matches('\n').parse().unwrap_or_else(|error| {
            panic!("pidfile {} holds {text:?}, not a pid: {error}", pidfile.display())
        });
        Daemon { pid, status: None, stderr: None }
    }

    /// Returns what the daemon wrote to stderr so far (foreground only).
    pub fn stderr(&self) -> String {
        let path = self.stderr.as_ref().expect("stderr is captured only for spawned daemons");
        read_text(path)
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill takes no pointers.
        let result = unsafe { libc::kill(self.pid as i32, signal) };
        assert_eq!(
            result,
            0,
            "kill({}, {signal}) failed: {}",
            self.pid,
            std::io::Error::last_os_error()
        );
    }

    /// Reaps the daemon if it has exited; returns whether it still runs.
    pub fn is_running(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        let mut status = 0;
        // SAFETY: `status` is a valid place for waitpid to write.
        let result = unsafe { libc::waitpid(self.pid as i32, &mut status, libc::WNOHANG) };
        if result == self.pid as i32 {
            self.status = Some(status);
            return false;
        }
        if result == 0 {
            return true;
        }
        // Not our child after all: fall back on /proc, where a zombie still
        // counts as gone.
        process_is_live(self.pid)
    }

    /// Waits for the daemon to exit by itself; returns the exit code, or
    /// `None` when a signal ended it or it did not exit in time.
    pub fn wait(&mut self) -> Option<i32> {
        poll_until(|| (!self.is_running()).then_some(()))?;
        let status = self.status?;
        libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status))
    }

    /// Sends `signal` and waits for the exit; returns the exit code as
    /// [`Daemon::wait`] does.
    pub fn stop_with(&mut self, signal: i32) -> Option<i32> {
        self.signal(signal);
        let code = self.wait();
        assert!(!self.is_running(), "ttrapd (pid {}) still runs after signal {signal}", self.pid);
        code
    }

    /// Stops the daemon with SIGTERM; returns its exit code.
    pub fn stop(&mut self) -> Option<i32> {
        self.stop_with(libc::SIGTERM)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if !self.is_running() {
            return;
        }
        // SAFETY: kill takes no pointers.
        unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
        if poll_until(|| (!self.is_running()).then_some(())).is_none() {
            // SAFETY: as above.
            unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
            let _ = poll_until(|| (!self.is_running()).then_some(()));
        }
    }
}

/// Reports whether `pid` names a process that runs (a zombie does not).
pub fn process_is_live(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the command name, which is in parentheses and may
    // itself contain them.
    let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
    matches!(state, Some(state) if state != 'Z' && state != 'X')
}

/// Returns the pids of live processes other than this one whose command
/// line contains `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let own = std::process::id();
    let mut found = Vec::new();
    let entries = fs::read_dir("/proc").expect("list /proc");
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        if pid == own {
            continue;
        }
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else { continue };
        let mentions = cmdline.windows(needle.len()).any(|window| window == needle.as_bytes());
        if mentions && process_is_live(pid) {
            found.push(pid);
        }
    }
    found
}
