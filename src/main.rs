//! ttrapd: turn files into traps that alert to syslog when touched.
//!
//! The program runs without libc: `rt` is its runtime, `sys` the few raw
//! system calls rustix lacks. Start-up reads as a list of steps in `run`;
//! the daemon's life is the `poll` loop in `serve`.

#![no_std]
#![no_main]

mod check;
mod daemon;
mod fan;
mod holders;
mod hooks;
mod load;
mod logger;
mod pidfile;
mod proc;
mod reload;
mod remote;
mod rt;
mod sys;
mod traps;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use ttrapd::args::{self, Command, Config, Fanotify, Parsed, UsageError};
use ttrapd::buf::Buf;
use ttrapd::limits::{MAX_REMOTES, PATH_MAX};
use ttrapd::msg::Kind;
use ttrapd::path::AbsPath;
use ttrapd::report::{self, Failure};

use linux_raw_sys::general::{
    SIGALRM, SIGCHLD, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,
};

use crate::fan::Fan;
use crate::hooks::Hooks;
use crate::load::Texts;
use crate::logger::{Logger, write_stderr_line};
use crate::pidfile::{Pidfile, PidfileError};
use crate::sys::SigSet;
use crate::traps::{ArmError, Table};

/// Exit status of a clean stop.
const EXIT_OK: i32 = 0;
/// Exit status when ttrapd could not start or keep running.
const EXIT_FAILURE: i32 = 1;
/// Exit status of a usage error.
const EXIT_USAGE: i32 = 2;

/// Longest syslog socket path, `sun_path` with its NUL.
const SOCKET_PATH_BYTES: usize = 108;

/// How long the loop pauses after a turn in which flood control counted
/// every event: 2 ms.
const FLOOD_PAUSE_NS: i64 = 2_000_000;

/// Bytes read from inotify at once: room for about 600 events with names.
const EVENT_BUFFER_BYTES: usize = 16 * 1024;

/// Called by the runtime with the process arguments; returns the exit
/// status.
pub fn main(args: rt::Args) -> i32 {
    // A write to a closed pipe or socket must fail with EPIPE, not kill the
    // daemon.
    let _ = sys::block_signals(SigSet::default().with(SIGPIPE));

    // --help and --version come before anything touches the system.
    let mut probe = Config::default();
    match args::parse_onto(&mut probe, args.options(), args::check_trap_path) {
        Ok(Parsed::Special(Command::Help)) => return write_stdout(args::HELP.as_bytes()),
        Ok(Parsed::Special(_)) => {
            return write_stdout(concat!("ttrapd ", env!("CARGO_PKG_VERSION"), "\n").as_bytes());
        }
        Ok(Parsed::Options { .. }) => {}
        Err(error) => return usage_error(&error),
    }

    if let Err(status) = ensure_descriptors() {
        return status;
    }
    // Descriptors inherited from the parent process would stay open for
    // ttrapd's whole life and pass to its hooks.
    sys::close_from(3);
    start(args, probe.check)
}

/// Descriptors the daemon may hold at once: stdio, `/dev/kmsg`, the syslog
/// socket, signalfd, inotify, fanotify, the pidfile, four collectors, the
/// pipes of four running hooks, and while it handles an event, the event's
/// descriptor, a `/proc` file and directory, and both ends of a new hook's
/// pipe.
const MIN_DESCRIPTORS: u64 = 24;

/// Raises the soft open-file limit to the hard one, and refuses to start
/// when even that leaves too few: out of descriptors, fanotify could not
/// hand over events and the kernel would refuse the waiting opens.
fn ensure_descriptors() -> Result<(), i32> {
    use rustix::process::{Resource, Rlimit};
    let limit = rustix::process::getrlimit(Resource::Nofile);
    let raised = Rlimit { current: limit.maximum, maximum: limit.maximum };
    if limit.current < limit.maximum {
        // A refusal leaves the soft limit, which the check below judges.
        let _ = rustix::process::setrlimit(Resource::Nofile, raised);
    }
    let now = rustix::process::getrlimit(Resource::Nofile).current;
    match now {
        Some(count) if count < MIN_DESCRIPTORS => {
            let mut value = Buf::<24>::new();
            value.push_u64(count);
            let failure = Failure {
                action: "run with the open-file limit (RLIMIT_NOFILE) of",
                object: value.as_bytes(),
                errno: Errno::MFILE.raw_os_error(),
                hint: "raise it to at least 24, for example with ulimit -n 1024",
            };
            Err(fail_before_log(&failure))
        }
        _ => Ok(()),
    }
}

/// Loads the configuration, then checks it (`--check`) or runs the daemon;
/// returns the exit status.
fn start(args: rt::Args, check_only: bool) -> i32 {
    let Some(mut table) = Table::take() else { fatal_bug(b"no trap table free at start") };
    table.load_cwd();
    let texts = Texts::take();
    let mut status = EXIT_USAGE;
    let mut reported = 0;
    let config = load::load(args, &mut *texts, &mut table, None, &mut |problem| {
        reported += 1;
        if matches!(
            problem,
            load::Problem::Read { .. }
                | load::Problem::TooBig { .. }
                | load::Problem::NotRegular { .. }
        ) {
            status = EXIT_FAILURE;
        }
        let mut text = Buf::<1024>::new();
        load::format_problem(&mut text, problem);
        write_stderr(text.as_bytes());
    });
    let config = match config {
        Ok(config) => config,
        // --check goes on to examine what it can, names every problem and
        // exits 1, whatever the kind.
        Err(Some(partial)) if check_only => {
            check::run(&partial, &mut table, reported);
            return EXIT_FAILURE;
        }
        Err(_) => return if check_only { EXIT_FAILURE } else { status },
    };
    if config.check {
        return check::run(&config, &mut table, reported);
    }

    // Paths that must survive chdir("/") are made absolute first.
    let Some(socket_path) = AbsPath::<SOCKET_PATH_BYTES>::new(table.cwd(), config.log_socket)
    else {
        return usage_problem(
            b"ttrapd: the --log-socket path is longer than 107 bytes once made absolute, \
              or relative while the working directory is unknown; give a shorter absolute path\n",
        );
    };
    let pidfile_path = match config.pidfile {
        Some(raw) => match AbsPath::<PATH_MAX>::new(table.cwd(), raw) {
            Some(path) => Some(path),
            None => {
                return usage_problem(
                    b"ttrapd: the --pidfile path does not fit once made absolute\n",
                );
            }
        },
        None => None,
    };

    // Detach, unless an init or supervisor wants the foreground.
    let start_pipe = if config.foreground {
        None
    } else {
        match daemon::detach() {
            Ok(pipe) => Some(pipe),
            Err((action, errno)) => {
                return fail_before_log(&Failure { action, object: b"", errno, hint: "" });
            }
        }
    };

    // Syslog: a missing socket is not fatal, lines go to /dev/kmsg until it
    // appears.
    let mut log =
        Logger::new(&socket_path, config.foreground, config.facility, config.severity, config.tag);
    // Said once the start has succeeded, so that a failure's own message
    // comes first.
    let syslog_error = log.open().err();
    log.set_now(sys::monotonic_ms());
    log.set_remotes(config.remotes());

    // Signals arrive through a signalfd in the poll loop.
    let handled = SigSet::default()
        .with(SIGHUP)
        .with(SIGINT)
        .with(SIGQUIT)
        .with(SIGTERM)
        .with(SIGUSR1)
        .with(SIGUSR2)
        .with(SIGALRM)
        .with(SIGCHLD);
    let signals =
        match sys::block_signals(handled.with(SIGPIPE)).and_then(|()| sys::signalfd(handled)) {
            Ok(fd) => fd,
            Err(errno) => {
                return fail(
                    &mut log,
                    &Failure { action: "create signalfd", object: b"", errno, hint: "" },
                );
            }
        };

    // One instance per pidfile; dropping it on any return below removes it.
    let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
    let _pidfile = match &pidfile_path {
        Some(path) => match Pidfile::take(path.as_bytes(), pid) {
            Ok(file) => Some(file),
            Err(PidfileError::Locked(holder)) => {
                return fail_locked(&mut log, path.as_bytes(), holder);
            }
            Err(PidfileError::Failed(action, errno)) => {
                let hint = "check that its directory exists and is writable";
                let object = path.as_bytes();
                let failure = Failure { action, object, errno: errno.raw_os_error(), hint };
                return fail(&mut log, &failure);
            }
        },
        None => None,
    };

    // The hook must be executable now, not at the first alert.
    if let Some(program) = config.exec {
        let hooks = Hooks::new(program, config.exec_timeout);
        if let Err(errno) = hooks.check() {
            let hint = "give the absolute path of an executable file";
            let errno = errno.raw_os_error();
            let failure = Failure { action: "execute hook", object: program, errno, hint };
            return fail(&mut log, &failure);
        }
        log.set_hooks(hooks);
    }
    table.set_quiet(config.quiet);
    table.set_holders(config.holders);

    // fanotify names the culprit; without it, inotify alone watches.
    let mode = match choose_fanotify(&config, &mut table, &mut log) {
        Ok(mode) => mode,
        Err(failure) => return fail(&mut log, &failure),
    };

    // Arm every trap; any that cannot be armed stops the start.
    if let Err(error) = table.arm_all() {
        let failure = arm_failure(&table, &error);
        return fail(&mut log, &failure);
    }
    warn_unmarked(&table, &mut log);
    if let Some(errno) = syslog_error {
        let mut text = Buf::<512>::new();
        text.push_bytes(b"ttrapd: warning: cannot connect to syslog socket ");
        ttrapd::escape::push_quoted(&mut text, socket_path.as_bytes(), 200);
        text.push_bytes(b": ");
        report::push_errno(&mut text, errno.raw_os_error());
        if log.has_kmsg() {
            text.push_bytes(b"; lines go to /dev/kmsg until it accepts them\n");
        } else if config.foreground {
            text.push_bytes(b"; /dev/kmsg cannot be written either, so lines go only to stderr until it accepts them\n");
        } else {
            text.push_bytes(
                b"; /dev/kmsg cannot be written either, so lines are lost until it accepts them\n",
            );
        }
        write_stderr(text.as_bytes());
    }

    let line = log.begin(Kind::Start);
    line.num("traps", table.len() as u64);
    line.word("mode", mode);
    if config.deny {
        line.word("deny", "yes");
    }
    if config.allow_count > 0 {
        line.num("allowed_exes", config.allow_count as u64);
    }
    if let Some(file) = config.config_file {
        // The absolute path that reloads read.
        match AbsPath::<PATH_MAX>::new(table.cwd(), file) {
            Some(path) => line.path("config", path.as_bytes()),
            None => line.path("config", file),
        }
    }
    line.word("version", env!("CARGO_PKG_VERSION"));
    line.word("run", if config.foreground { "foreground" } else { "daemon" });
    log.send();

    if let Some(pipe) = start_pipe {
        pipe.finish();
    }
    let mut policy = fan::Policy::new(config.deny, pid);
    policy.set_allowed(config.allowed());
    let settings = Settings::of(&config);
    let pidfile = _pidfile.as_ref().map(Pidfile::path);
    let mut state = State { table, log, policy, settings, args, texts, pidfile };
    serve(&mut state, &signals)
}

/// The settings that outlive the parsed configuration, which borrows the
/// config text and is rebuilt on each reload.
#[derive(Clone, Copy)]
struct Settings {
    /// Whether a config file or the kernel command line gave settings, so
    /// that SIGHUP reads them again.
    reloadable: bool,
    heartbeat: u32,
    foreground: bool,
    fanotify: Fanotify,
}

impl Settings {
    fn of(config: &Config<'_>) -> Settings {
        Settings {
            reloadable: config.config_file.is_some() || config.cmdline,
            heartbeat: config.heartbeat,
            foreground: config.foreground,
            fanotify: config.fanotify,
        }
    }
}

fn usage_error(error: &UsageError<'_>) -> i32 {
    let mut text = Buf::<1024>::new();
    report::format_usage(&mut text, error);
    write_stderr(text.as_bytes());
    EXIT_USAGE
}

/// Everything the event loop changes, and what a reload needs.
struct State {
    table: Table,
    log: Logger,
    policy: fan::Policy,
    settings: Settings,
    args: rt::Args,
    texts: &'static mut Texts,
    /// The pidfile's path, to tell a reload that changes it.
    pidfile: Option<&'static core::ffi::CStr>,
}

fn arm_failure<'a>(table: &'a Table, error: &ArmError) -> Failure<'a> {
    if error.index == usize::MAX {
        Failure {
            action: "create inotify instance",
            object: b"",
            errno: error.errno.raw_os_error(),
            hint: "raise fs.inotify.max_user_instances",
        }
    } else {
        Failure {
            action: "watch trap",
            object: table.path(error.index),
            errno: error.errno.raw_os_error(),
            hint: arm_hint(error.errno),
        }
    }
}

/// Says once how many traps fanotify could not mark.
fn warn_unmarked(table: &Table, log: &mut Logger) {
    let unmarked = if table.fan().is_some() { table.len() - table.fan_marked() } else { 0 };
    if unmarked > 0 {
        let line = log.begin(Kind::Warn);
        line.word("what", "fanotify-mark-failed");
        line.num("traps", unmarked as u64);
        line.word("fallback", "inotify");
        log.send();
    }
}

/// Poll slot of the syslog socket, after inotify, the signalfd, fanotify
/// and the collectors.
const SYSLOG_SLOT: usize = 3 + MAX_REMOTES;

/// Runs the event loop: waits on inotify, fanotify, the signalfd, the
/// collectors and a busy syslog socket, and handles what arrives. Returns the exit status when a
/// stop signal comes.
fn serve(state: &mut State, signals: &OwnedFd) -> i32 {
    let buffer = event_buffer();
    let mut fan_buffer = [0u8; fan::BUFFER_BYTES];
    let mut culprit = proc::Culprit::new();
    let mut next_heartbeat = 0;
    loop {
        let heartbeat_ms = u64::from(state.settings.heartbeat) * 1000;
        if heartbeat_ms == 0 {
            next_heartbeat = 0;
        } else if next_heartbeat == 0 {
            next_heartbeat = sys::monotonic_ms() + heartbeat_ms;
        }
        let State { table, log, policy, .. } = state;
        // Sleep until something arrives or the earliest timed task is due:
        // a heartbeat, a flood window closing, a reconnection, a hook's time
        // limit. With none of those, poll waits without a timeout.
        let now = sys::monotonic_ms();
        let deadlines = [
            if heartbeat_ms > 0 { Some(next_heartbeat) } else { None },
            table.window_deadline(),
            log.deadline(),
        ];
        let timeout = deadlines.iter().flatten().min().map(|&due| {
            let wait = due.saturating_sub(now);
            rustix::time::Timespec {
                tv_sec: (wait / 1000) as i64,
                tv_nsec: ((wait % 1000) * 1_000_000) as i64,
            }
        });

        let mut ready = [false; 3];
        let syslog_ready;
        let mut remote_ready = [(false, false); MAX_REMOTES];
        {
            let mut fds = [
                PollFd::new(table.inotify(), PollFlags::IN),
                PollFd::new(signals, PollFlags::IN),
                // Without fanotify, the signalfd stands in; its readiness in
                // this slot is ignored.
                PollFd::new(table.fan().map_or(signals, Fan::fd), PollFlags::IN),
                PollFd::new(signals, PollFlags::empty()),
                PollFd::new(signals, PollFlags::empty()),
                PollFd::new(signals, PollFlags::empty()),
                PollFd::new(signals, PollFlags::empty()),
                // The syslog socket, while lines wait for it.
                PollFd::new(signals, PollFlags::empty()),
            ];
            if let Some(socket) = log.syslog_interest() {
                fds[SYSLOG_SLOT] = PollFd::from_borrowed_fd(socket, PollFlags::OUT);
            }
            for index in 0..MAX_REMOTES {
                if let Some((socket, wants_write)) = log.remote_interest(index) {
                    let flags =
                        if wants_write { PollFlags::IN | PollFlags::OUT } else { PollFlags::IN };
                    fds[3 + index] = PollFd::from_borrowed_fd(socket, flags);
                }
            }
            match poll(&mut fds, timeout.as_ref()) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(errno) => {
                    let line = log.begin(Kind::Error);
                    line.word("what", "poll-failed");
                    line.errno(errno.raw_os_error());
                    log.send();
                    log.drain();
                    return EXIT_FAILURE;
                }
            }
            for (flag, fd) in ready.iter_mut().zip(&fds) {
                *flag = !fd.revents().is_empty();
            }
            syslog_ready = !fds[SYSLOG_SLOT].revents().is_empty();
            ready[2] &= table.fan().is_some();
            for (index, state) in remote_ready.iter_mut().enumerate() {
                let events = fds[3 + index].revents();
                let trouble = PollFlags::IN | PollFlags::ERR | PollFlags::HUP;
                *state = (events.contains(PollFlags::OUT), events.intersects(trouble));
            }
        }
        let now = sys::monotonic_ms();
        table.set_now(now);
        log.set_now(now);
        let before = table.stats;

        // Permission events first: a process is waiting on each.
        if ready[2] {
            fan::read_events(table, log, policy, &mut fan_buffer, &mut culprit);
            table.refresh_touched();
        }
        if ready[0] {
            if let Some(len) = read_inotify(table, log, buffer) {
                // fanotify queues its event for an access before inotify
                // does, so the fanotify twins of the inotify events just
                // read are queued now: handle them first, so that each
                // access alerts once, with its process.
                if table.fan().is_some() {
                    fan::read_events(table, log, policy, &mut fan_buffer, &mut culprit);
                }
                handle_inotify(table, log, &buffer[..len]);
            }
        }
        let signal = if ready[1] { read_signal(table, log, signals) } else { Signal::None };
        for (index, &(writable, trouble)) in remote_ready.iter().enumerate() {
            if writable || trouble {
                log.remote_ready(index, writable, trouble);
            }
        }
        if syslog_ready {
            log.syslog_ready();
        }
        log.on_timer();
        table.close_windows(false, log);
        if heartbeat_ms > 0 && now >= next_heartbeat {
            let line = log.begin(Kind::Heartbeat);
            line.num("traps", table.len() as u64);
            line.num("armed", table.armed() as u64);
            log.send();
            // Skip beats missed while stopped rather than sending a burst.
            next_heartbeat = now + heartbeat_ms;
        }
        // In a flood, every event of this turn was only counted. Waiting a
        // moment lets the kernel merge the reads and writes that follow into
        // one event, instead of waking up for each; an event that would
        // alert waits at most this long. Not after permission events:
        // those never merge, and each has a process waiting.
        let counted = table.stats.events - before.events;
        let quiet_turn = table.stats.alerts == before.alerts;
        if counted > 0 && quiet_turn && table.stats.answered == before.answered {
            let pause = rustix::time::Timespec { tv_sec: 0, tv_nsec: FLOOD_PAUSE_NS };
            let _ = poll(&mut [], Some(&pause));
        }
        match signal {
            Signal::None => {}
            Signal::Stop(status) => {
                log.drain();
                return status;
            }
            Signal::Reload => {
                // Changes no event showed (a write through a shared mapping,
                // a rename above the parent) come out in the recheck.
                state.table.recheck_all("hup", &mut state.log);
                if state.settings.reloadable {
                    reload::reload(state);
                }
            }
        }
    }
}

/// Reads one batch of inotify events into `buffer`; returns its length.
fn read_inotify(
    table: &mut Table,
    log: &mut Logger,
    buffer: &mut [u8; EVENT_BUFFER_BYTES],
) -> Option<usize> {
    match rustix::io::read(table.inotify(), &mut buffer[..]) {
        Ok(len) => Some(len),
        Err(Errno::AGAIN) | Err(Errno::INTR) => None,
        Err(errno) => {
            let line = log.begin(Kind::Error);
            line.word("what", "inotify-read-failed");
            line.errno(errno.raw_os_error());
            log.send();
            None
        }
    }
}

/// Handles a batch of inotify events.
fn handle_inotify(table: &mut Table, log: &mut Logger, batch: &[u8]) {
    let len = batch.len();
    for event in ttrapd::inotify::events(batch) {
        match event {
            Ok(event) => table.handle(&event, log),
            Err(truncated) => {
                let line = log.begin(Kind::Error);
                line.word("what", "inotify-record-truncated");
                line.num("offset", truncated.offset as u64);
                line.num("length", len as u64);
                log.send();
            }
        }
    }
    table.refresh_touched();
}

/// Action a signal requests from the event loop.
enum Signal {
    None,
    Stop(i32),
    Reload,
}

/// Reads and handles one pending signal.
fn read_signal(table: &mut Table, log: &mut Logger, signals: &OwnedFd) -> Signal {
    let mut record = [0u8; ttrapd::kernel::SIGINFO_LEN];
    loop {
        match rustix::io::read(signals, &mut record) {
            Ok(len) if len == record.len() => break,
            Err(Errno::INTR) => continue,
            _ => return Signal::None,
        }
    }
    let info = ttrapd::kernel::parse_siginfo(&record);
    let name = ttrapd::names::signal_name(info.signo).unwrap_or("unknown");
    match info.signo {
        SIGTERM | SIGINT | SIGQUIT => {
            // Counts held back by flood control are logged before the end.
            table.close_windows(true, log);
            let stats = table.stats;
            let line = log.begin(Kind::Stop);
            line.word("signal", name);
            push_sender(line, info.pid, info.uid);
            line.num("events", stats.events);
            line.num("alerts", stats.alerts);
            line.num("repeated", stats.repeated);
            log.send();
            Signal::Stop(EXIT_OK)
        }
        SIGCHLD => {
            log.reap_hooks();
            Signal::None
        }
        SIGHUP => {
            let reconnect = log.reconnect();
            let line = log.begin(Kind::Hup);
            push_sender(line, info.pid, info.uid);
            match reconnect {
                Ok(()) => line.word("syslog", "connected"),
                Err(errno) => {
                    line.word("syslog", "unavailable");
                    line.errno(errno.raw_os_error());
                }
            }
            line.word("action", "rechecking-all-traps");
            log.send();
            Signal::Reload
        }
        _ => {
            let line = log.begin(Kind::Warn);
            line.word("what", "signal-ignored");
            line.word("signal", name);
            push_sender(line, info.pid, info.uid);
            log.send();
            Signal::None
        }
    }
}

/// Adds the sender of a signal: pid, uid and, while it still runs, its
/// executable.
fn push_sender(line: &mut ttrapd::msg::Line, pid: u32, uid: u32) {
    line.num("pid", pid.into());
    line.num("uid", uid.into());
    if pid == 0 {
        return;
    }
    let mut link = Buf::<32>::new();
    link.push_bytes(b"/proc/");
    link.push_u64(pid.into());
    link.push_bytes(b"/exe\0");
    let Ok(link) = core::ffi::CStr::from_bytes_with_nul(link.as_bytes()) else { return };
    let mut target = [0u8; 512];
    if let Ok(len) = readlink(link, &mut target) {
        line.path("exe", &target[..len]);
    }
}

fn readlink(path: &core::ffi::CStr, buffer: &mut [u8]) -> Result<usize, Errno> {
    rustix::fs::readlinkat_raw(rustix::fs::CWD, path, &mut *buffer)
}

/// Sets up fanotify as `config` asks and returns the mode name for the
/// START line. When fanotify cannot be had, says once why and continues
/// with inotify, unless `--deny` needs it.
fn choose_fanotify(
    config: &Config<'_>,
    table: &mut Table,
    log: &mut Logger,
) -> Result<&'static str, Failure<'static>> {
    if config.fanotify == Fanotify::Off {
        return Ok("inotify");
    }
    let hint = "run as root (CAP_SYS_ADMIN) on a kernel with fanotify, or drop --deny";
    match Fan::open(config.fanotify) {
        Ok(fan) => {
            let permission = fan.is_permission();
            if config.deny && !permission {
                let errno = Errno::INVAL.raw_os_error();
                return Err(Failure {
                    action: "use fanotify permission events for --deny",
                    object: b"",
                    errno,
                    hint,
                });
            }
            if config.fanotify == Fanotify::Permission && !permission {
                let line = log.begin(Kind::Warn);
                line.word("what", "permission-events-unavailable");
                line.word("mode", "fanotify");
                line.word("effect", "short-lived-culprits-named-by-pid-only");
                log.send();
            }
            table.set_fan(fan);
            Ok(if permission { "fanotify-perm" } else { "fanotify" })
        }
        Err(errno) => {
            if config.deny {
                let action = "use fanotify permission events for --deny";
                return Err(Failure { action, object: b"", errno: errno.raw_os_error(), hint });
            }
            let line = log.begin(Kind::Warn);
            line.word("what", "culprit-unavailable");
            line.word(
                "reason",
                if errno == Errno::PERM { "no-cap-sys-admin" } else { "no-fanotify" },
            );
            line.errno(errno.raw_os_error());
            line.word("mode", "inotify");
            log.send();
            Ok("inotify")
        }
    }
}

fn arm_hint(errno: Errno) -> &'static str {
    match errno {
        Errno::NOENT | Errno::NOTDIR => "create the file first, or check the path",
        Errno::ACCESS => "run ttrapd as a user that can read the path",
        Errno::NOSPC => "raise fs.inotify.max_user_watches",
        _ => "",
    }
}

/// Reports a start-up failure on stderr and as an ERROR line; returns the
/// exit status.
fn fail(log: &mut Logger, failure: &Failure<'_>) -> i32 {
    fail_before_log(failure);
    log.set_foreground(false);
    let line = log.begin(Kind::Error);
    line.word("what", "start-failed");
    line.text("action", failure.action.as_bytes());
    if !failure.object.is_empty() {
        line.path("path", failure.object);
    }
    line.errno(failure.errno);
    log.send();
    EXIT_FAILURE
}

fn fail_before_log(failure: &Failure<'_>) -> i32 {
    let mut text = Buf::<1024>::new();
    report::format_failure(&mut text, failure);
    write_stderr(text.as_bytes());
    EXIT_FAILURE
}

fn fail_locked(log: &mut Logger, path: &[u8], holder: Option<u64>) -> i32 {
    let mut text = Buf::<1024>::new();
    text.push_bytes(b"ttrapd: pidfile ");
    ttrapd::escape::push_quoted(&mut text, path, 300);
    text.push_bytes(b" is locked by a running ttrapd");
    if let Some(pid) = holder {
        text.push_bytes(b" (pid ");
        text.push_u64(pid);
        text.push(b')');
    }
    text.push_bytes(b"; stop that one first or choose another --pidfile\n");
    write_stderr(text.as_bytes());
    log.set_foreground(false);
    let line = log.begin(Kind::Error);
    line.word("what", "pidfile-locked");
    line.path("path", path);
    if let Some(pid) = holder {
        line.num("holder", pid);
    }
    log.send();
    EXIT_FAILURE
}

fn usage_problem(text: &[u8]) -> i32 {
    write_stderr(text);
    EXIT_USAGE
}

fn write_stdout(text: &[u8]) -> i32 {
    // SAFETY: assumed: descriptor 1 is this process's stdout, open or not.
    let stdout = unsafe { rustix::stdio::stdout() };
    match rustix::io::write(stdout, text) {
        Ok(_) => EXIT_OK,
        Err(_) => EXIT_FAILURE,
    }
}

fn write_stderr(text: &[u8]) {
    // SAFETY: assumed: descriptor 2 is this process's stderr, open or not.
    let stderr = unsafe { rustix::stdio::stderr() };
    let _ = rustix::io::write(stderr, text);
}

/// Reports a broken internal invariant and exits 1.
pub fn fatal_bug(what: &[u8]) -> ! {
    let mut text = Buf::<128>::new();
    text.push_bytes(b"ttrapd: internal error: ");
    text.push_bytes(what);
    write_stderr_line(text.as_bytes());
    rt::exit(EXIT_FAILURE)
}

static mut EVENT_BUFFER: [u8; EVENT_BUFFER_BYTES] = [0; EVENT_BUFFER_BYTES];
static EVENT_BUFFER_TAKEN: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Takes the inotify read buffer, a static so that it costs no stack.
fn event_buffer() -> &'static mut [u8; EVENT_BUFFER_BYTES] {
    if EVENT_BUFFER_TAKEN.swap(true, core::sync::atomic::Ordering::Relaxed) {
        fatal_bug(b"event buffer taken twice");
    }
    // SAFETY: checked: the flag makes this the only reference ever formed to
    // the static; the process has one thread.
    unsafe { &mut *(&raw mut EVENT_BUFFER) }
}
