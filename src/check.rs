//! `--check`: validates the configuration and every trap without starting,
//! prints the plan on stdout and each problem on stderr.

use rustix::fs::{self, FileType};
use ttrapd::args::{Config, Fanotify};
use ttrapd::buf::{Buf, Bytes};

use crate::fan::Fan;
use crate::traps::Table;
use crate::{EXIT_FAILURE, EXIT_OK, write_stderr, write_stdout};

fn file_type(mode: u32) -> &'static str {
    match FileType::from_raw_mode(mode) {
        FileType::RegularFile => "file",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "char-device",
        FileType::BlockDevice => "block-device",
        FileType::Unknown => "unknown",
    }
}

fn push_octal(out: &mut Bytes, value: u32) {
    for shift in [9, 6, 3, 0] {
        out.push(b'0' + ((value >> shift) & 7) as u8);
    }
}

/// Reports one problem on stderr.
fn problem(count: &mut u32, text: &[&[u8]]) {
    *count += 1;
    let mut line = Buf::<1024>::new();
    line.push_bytes(b"ttrapd: problem: ");
    for part in text {
        line.push_bytes(part);
    }
    line.push(b'\n');
    write_stderr(line.as_bytes());
}

/// Runs the check, counting on from the `reported` problems that loading
/// the configuration already named; returns 0 when nothing is wrong, 1
/// otherwise.
pub fn run(config: &Config<'_>, table: &mut Table, reported: u32) -> i32 {
    let mut problems = reported;
    let mut out = Buf::<2048>::new();

    // The watching mode the daemon would get.
    let fan = match config.fanotify {
        Fanotify::Off => None,
        mode => Fan::open(mode).ok(),
    };
    let mode = match &fan {
        Some(fan) if fan.is_permission() => "fanotify-perm",
        Some(_) => "fanotify",
        None => "inotify",
    };
    let permission = fan.as_ref().is_some_and(Fan::is_permission);
    // With --no-perm or --no-fanotify the conflict is a usage error,
    // named already.
    let wanted = config.fanotify == Fanotify::Permission;
    if (config.deny || table.any_denies()) && wanted && !permission {
        problem(&mut problems, &[b"deny needs fanotify permission events, which are unavailable (run as root on a kernel with fanotify)"]);
    }
    out.push_bytes(b"mode ");
    out.push_str(mode);
    out.push(b'\n');
    write_stdout(out.as_bytes());

    let inotify = fs::inotify::init(fs::inotify::CreateFlags::CLOEXEC).ok();
    for index in 0..table.len() {
        out.clear();
        let path = table.path(index);
        out.push_bytes(b"trap ");
        ttrapd::escape::push_value(&mut out, path, 400);
        match table.stat(index) {
            Ok(stat) => {
                let kind = file_type(stat.st_mode);
                out.push(b' ');
                out.push_str(kind);
                out.push_bytes(b" inode=");
                out.push_u64(stat.st_ino);
                out.push_bytes(b" owner=");
                out.push_u64(stat.st_uid.into());
                out.push(b':');
                out.push_u64(stat.st_gid.into());
                out.push_bytes(b" mode=");
                push_octal(&mut out, stat.st_mode & 0o7777);
                let cstr = table.path_cstr(index);
                let is_dir = kind == "directory";
                let watched = inotify
                    .as_ref()
                    .map(|fd| fs::inotify::add_watch(fd, cstr, fs::inotify::WatchFlags::OPEN));
                let marked = fan.as_ref().map(|fan| fan.mark(cstr, is_dir));
                out.push_bytes(b" watch=");
                match (watched, marked) {
                    (Some(Ok(_)), Some(Ok(()))) => out.push_str(if permission {
                        "fanotify-perm+inotify"
                    } else {
                        "fanotify+inotify"
                    }),
                    (Some(Ok(_)), _) => out.push_bytes(b"inotify"),
                    _ => {
                        out.push_bytes(b"none");
                        problem(
                            &mut problems,
                            &[b"trap ", path, b" cannot be watched with inotify"],
                        );
                    }
                }
                let settings = table.settings(index);
                if settings.deny {
                    out.push_bytes(b" deny=yes");
                }
                if let Some(quiet) = settings.quiet {
                    out.push_bytes(b" quiet=");
                    out.push_u64(quiet.into());
                }
                if settings.events != 0 {
                    out.push_bytes(b" events=");
                    let names = ttrapd::flood::EVENTS.iter().enumerate();
                    let mut first = true;
                    for (_, name) in names.filter(|(bit, _)| settings.events & (1 << bit) != 0) {
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        out.push_str(name);
                    }
                }
            }
            Err(errno) => {
                let mut reason = Buf::<128>::new();
                ttrapd::report::push_errno(&mut reason, errno.raw_os_error());
                out.push_bytes(b" missing");
                problem(&mut problems, &[b"trap ", path, b": ", reason.as_bytes()]);
            }
        }
        out.push(b'\n');
        write_stdout(out.as_bytes());
    }

    out.clear();
    out.push_bytes(b"settings quiet=");
    out.push_u64(config.quiet.into());
    out.push_bytes(b" heartbeat=");
    out.push_u64(config.heartbeat.into());
    out.push_bytes(b" deny=");
    out.push_str(if config.deny { "yes" } else { "no" });
    out.push(b'\n');

    // The syslog socket: a missing one is no problem, lines then go to
    // /dev/kmsg, but the plan says so.
    out.push_bytes(b"syslog ");
    out.push_bytes(config.log_socket);
    let socket = ttrapd::path::AbsPath::<108>::new(table.cwd(), config.log_socket);
    match socket.map(|path| crate::logger::connect_socket(path.as_cstr())) {
        Some(Ok((_, stream))) => {
            out.push_str(if stream { " reachable stream\n" } else { " reachable datagram\n" })
        }
        Some(Err(errno)) => {
            out.push_bytes(b" unreachable ");
            ttrapd::report::push_errno(&mut out, errno.raw_os_error());
            out.push_bytes(b"; lines would go to /dev/kmsg\n");
        }
        None => {
            out.push_bytes(b" invalid\n");
            problem(&mut problems, &[b"syslog socket path ", config.log_socket, b" is too long"]);
        }
    }
    for remote in config.remotes() {
        out.push_bytes(b"remote ");
        crate::remote::push_destination(&mut out, remote);
        out.push(b'\n');
    }
    for exe in config.allowed() {
        out.push_bytes(b"allow ");
        out.push_bytes(exe);
        match crate::hooks::check_executable(exe) {
            Ok(()) => out.push_bytes(b" executable\n"),
            Err(_) => out.push_bytes(b" not an executable here\n"),
        }
    }
    if let Some(program) = config.exec {
        out.push_bytes(b"hook ");
        out.push_bytes(program);
        match crate::hooks::check_executable(program) {
            Ok(()) => out.push_bytes(b" executable\n"),
            Err(errno) => {
                out.push_bytes(b" not-executable\n");
                let mut reason = Buf::<128>::new();
                ttrapd::report::push_errno(&mut reason, errno.raw_os_error());
                problem(
                    &mut problems,
                    &[b"hook ", program, b" cannot be executed: ", reason.as_bytes()],
                );
            }
        }
    }
    if let Some(pidfile) = config.pidfile {
        out.push_bytes(b"pidfile ");
        out.push_bytes(pidfile);
        out.push(b'\n');
    }
    write_stdout(out.as_bytes());

    out.clear();
    if problems == 0 {
        out.push_bytes(b"check passed, traps: ");
        out.push_u64(table.len() as u64);
        out.push(b'\n');
        write_stdout(out.as_bytes());
        EXIT_OK
    } else {
        out.push_bytes(b"ttrapd: check failed, problems: ");
        out.push_u64(problems.into());
        out.push(b'\n');
        write_stderr(out.as_bytes());
        EXIT_FAILURE
    }
}
