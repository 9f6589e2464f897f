//! The latency floor for an inotify-based alert. This process only waits
//! for `IN_OPEN` on one file and sends a fixed message for every read of
//! the inotify descriptor. The message goes as a datagram to a collector
//! socket (as ttrapd sends alerts) or as a line on stdout (as inotifywait
//! reports). The bench times an open() against the arrival of that
//! message, as it does for ttrapd and inotifywait.
//!
//! Usage: inotify_floor FILE SOCKET   (datagrams to the unix socket SOCKET)
//!        inotify_floor FILE -        (lines on stdout)
//!
//! Sends `ready` once the watch is added, then `open` per read. Exits when
//! a send fails (the reader is gone) or on SIGTERM.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::raw::{c_char, c_int};
use std::os::unix::net::UnixDatagram;
use std::process::exit;

const IN_CLOEXEC: c_int = 0o2000000;
const IN_OPEN: u32 = 0x0000_0020;

unsafe extern "C" {
    fn inotify_init1(flags: c_int) -> c_int;
    fn inotify_add_watch(fd: c_int, path: *const c_char, mask: u32) -> c_int;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: inotify_floor FILE SOCKET|-");
        exit(2);
    }
    let path = CString::new(args[1].as_str()).unwrap_or_else(|_| {
        eprintln!("inotify_floor: the file path contains a NUL byte");
        exit(2)
    });

    // SAFETY: inotify_init1 takes no pointers and returns a new descriptor or -1.
    let fd = unsafe { inotify_init1(IN_CLOEXEC) };
    if fd < 0 {
        eprintln!("inotify_floor: inotify_init1 failed: {}", std::io::Error::last_os_error());
        exit(1);
    }
    // SAFETY: fd is a valid inotify descriptor and path a NUL-terminated string.
    if unsafe { inotify_add_watch(fd, path.as_ptr(), IN_OPEN) } < 0 {
        let error = std::io::Error::last_os_error();
        eprintln!("inotify_floor: inotify_add_watch failed for {}: {error}", args[1]);
        exit(1);
    }
    // SAFETY: fd was just created here and nothing else owns it.
    let mut events = unsafe { File::from_raw_fd(fd) };

    let mut output = Output::open(&args[2]);
    if !output.send(b"ready") {
        exit(1);
    }

    let mut buffer = [0u8; 4096];
    loop {
        match events.read(&mut buffer) {
            Ok(0) => exit(1),
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                eprintln!("inotify_floor: read failed: {error}");
                exit(1);
            }
        }
        if !output.send(b"open") {
            exit(0);
        }
    }
}

/// Destination of the messages: a connected datagram socket or stdout.
enum Output {
    Socket(UnixDatagram),
    Stdout(File),
}

impl Output {
    fn open(target: &str) -> Output {
        if target == "-" {
            // SAFETY: descriptor 1 is stdout, which this process owns until
            // it exits; the File is never dropped before that.
            return Output::Stdout(unsafe { File::from_raw_fd(1) });
        }
        let socket = UnixDatagram::unbound().unwrap_or_else(|error| {
            eprintln!("inotify_floor: failed to create a datagram socket: {error}");
            exit(1)
        });
        if let Err(error) = socket.connect(target) {
            eprintln!("inotify_floor: failed to connect to {target}: {error}");
            exit(1);
        }
        Output::Socket(socket)
    }

    /// Sends one message: one datagram, or one line written with a single
    /// write(2). Returns false when the reader is gone.
    fn send(&mut self, message: &[u8]) -> bool {
        match self {
            Output::Socket(socket) => socket.send(message).is_ok(),
            Output::Stdout(stdout) => {
                let mut line = [0u8; 16];
                line[..message.len()].copy_from_slice(message);
                line[message.len()] = b'\n';
                stdout.write_all(&line[..=message.len()]).is_ok()
            }
        }
    }
}
