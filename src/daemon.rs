//! Detaching from the terminal (daemon(7), the SysV steps): fork, `setsid`,
//! fork again so the daemon can never reacquire a terminal, `chdir("/")`,
//! a known umask, and stdio on `/dev/null`.
//!
//! The first process does not exit until the daemon has armed its traps.
//! The daemon's stderr is a pipe to it until then: everything the daemon
//! prints while starting reaches the user's terminal, and a final NUL byte
//! says the start succeeded. EOF without that byte means it failed, and
//! the first process exits 1, leaving no daemon behind.

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::{Pid, WaitOptions};

use crate::sys::{self, Forked};

/// The daemon's end of the start-up pipe.
pub struct StartPipe {
    write: OwnedFd,
}

/// Forks into the background. Returns only in the daemon; the first process
/// exits with the daemon's start-up status, and the middle one at once.
pub fn detach() -> Result<StartPipe, (&'static str, i32)> {
    let (read, write) =
        pipe_with(PipeFlags::CLOEXEC).map_err(|e| ("create start-up pipe", e.raw_os_error()))?;
    match sys::fork().map_err(|errno| ("fork", errno))? {
        Forked::Parent { child } => {
            drop(write);
            wait_for_start(read, child)
        }
        Forked::Child => {}
    }
    drop(read);

    // A new session without a controlling terminal.
    let _ = rustix::process::setsid();

    // The session leader exits, so the daemon is not one and cannot gain a
    // terminal by opening one.
    match sys::fork() {
        Ok(Forked::Parent { .. }) => crate::rt::exit(0),
        Ok(Forked::Child) => {}
        Err(errno) => {
            report_to_parent(&write, b"ttrapd: cannot fork the daemon: ", errno);
            crate::rt::exit(1)
        }
    }

    let _ = rustix::process::chdir(c"/");
    rustix::process::umask(Mode::from_raw_mode(0o022));

    // stdin and stdout go to /dev/null now; stderr carries start-up
    // messages to the first process until `finish`.
    if let Ok(null) = open_null() {
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
    }
    let _ = rustix::stdio::dup2_stderr(&write);
    Ok(StartPipe { write })
}

impl StartPipe {
    /// Tells the first process that the daemon is armed, and moves stderr to
    /// `/dev/null`.
    pub fn finish(self) {
        let _ = rustix::io::write(&self.write, b"\0");
        if let Ok(null) = open_null() {
            let _ = rustix::stdio::dup2_stderr(&null);
        }
    }
}

fn open_null() -> rustix::io::Result<OwnedFd> {
    rustix::fs::open(c"/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
}

fn report_to_parent(pipe: &OwnedFd, text: &[u8], errno: i32) {
    let mut line = ttrapd::buf::Buf::<160>::new();
    line.push_bytes(text);
    ttrapd::report::push_errno(&mut line, errno);
    line.push(b'\n');
    let _ = rustix::io::write(pipe, line.as_bytes());
}

/// Runs in the first process: reaps the middle process, copies the daemon's
/// start-up messages to stderr, and exits 0 when the daemon reported
/// success, 1 otherwise.
fn wait_for_start(read: OwnedFd, child: i32) -> ! {
    if let Some(pid) = Pid::from_raw(child) {
        let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
    }
    // SAFETY: assumed: descriptor 2 is this process's stderr, open or not.
    let stderr = unsafe { rustix::stdio::stderr() };
    let mut buffer = [0u8; 512];
    let mut armed = false;
    let mut said_anything = false;
    loop {
        let len = match rustix::io::read(&read, &mut buffer) {
            Ok(0) => break,
            Ok(len) => len,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        };
        let mut text = &buffer[..len];
        armed = text.last() == Some(&0);
        if armed {
            text = &text[..len - 1];
        }
        said_anything |= !text.is_empty();
        let _ = rustix::io::write(stderr, text);
    }
    if armed {
        crate::rt::exit(0);
    }
    if !said_anything {
        let _ = rustix::io::write(
            stderr,
            b"ttrapd: the daemon exited during start-up without a message; run with --foreground to see why\n",
        );
    }
    crate::rt::exit(1)
}
