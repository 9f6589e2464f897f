//! Building a configuration and a trap table from every source: the config
//! file, the kernel command line and the process arguments, in that order,
//! so that each overrides the one before. The same code runs at start-up,
//! for `--check` and on SIGHUP.

use core::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use ttrapd::args::{self, Config, Fanotify, Parsed, UsageError};
use ttrapd::buf::{Buf, Bytes};
use ttrapd::config::{self, LineError, TrapSettings};
use ttrapd::limits::{MAX_TRAPS, PATH_ARENA_BYTES, PATH_MAX};

use crate::rt::Args;
use crate::traps::{AddError, Table};

/// Largest config file.
pub const CONFIG_BYTES: usize = 64 * 1024;
/// Largest kernel command line read (the kernel's own limit is smaller).
const CMDLINE_BYTES: usize = 4096;

/// Text that a configuration borrows its values from while it is built.
pub struct Texts {
    file: Buf<CONFIG_BYTES>,
    cmdline: Buf<CMDLINE_BYTES>,
    /// Absolute path of the config file, kept for reloads after `chdir`.
    path: Buf<PATH_MAX>,
}

static mut TEXTS: Texts = Texts { file: Buf::new(), cmdline: Buf::new(), path: Buf::new() };
static TEXTS_TAKEN: AtomicBool = AtomicBool::new(false);

impl Texts {
    /// Takes the static storage. Called once.
    pub fn take() -> &'static mut Texts {
        if TEXTS_TAKEN.swap(true, Ordering::Relaxed) {
            crate::fatal_bug(b"config texts taken twice");
        }
        // SAFETY: checked: the flag makes this the only reference ever
        // formed to the static; the process has one thread.
        unsafe { &mut *(&raw mut TEXTS) }
    }

    /// The config file's absolute path, once known.
    pub fn config_path(&self) -> &[u8] {
        let bytes = self.path.as_bytes();
        bytes.strip_suffix(b"\0").unwrap_or(bytes)
    }
}

/// Something wrong with the configuration, named for the person who wrote
/// it.
pub enum Problem<'a> {
    /// A command-line problem, or one that no single line shows.
    Usage(UsageError<'a>),
    /// A file that could not be read.
    Read { path: &'a [u8], errno: i32 },
    /// A line of the config file, or a word of the kernel command line.
    Line { source: &'a [u8], error: LineError<'a> },
    /// A file bigger than the buffer.
    TooBig { path: &'a [u8], max: usize },
    /// A FIFO, device, socket or directory where a file was expected.
    NotRegular { path: &'a [u8] },
    /// The config file is a trap or lies in a trapped directory.
    InTrap { path: &'a [u8], trap: &'a [u8] },
}

/// Formats `problem` as one stderr line, newline included.
pub fn format_problem(out: &mut Bytes, problem: &Problem<'_>) {
    match problem {
        Problem::Usage(error) => ttrapd::report::format_usage(out, error),
        Problem::Read { path, errno } => {
            let failure = ttrapd::report::Failure {
                action: "read config",
                object: path,
                errno: *errno,
                hint: "check the path given with --config",
            };
            ttrapd::report::format_failure(out, &failure);
        }
        Problem::Line { source, error } => ttrapd::report::format_line_error(out, source, error),
        Problem::TooBig { path, max } => {
            out.push_bytes(b"ttrapd: config file ");
            ttrapd::escape::push_quoted(out, path, 300);
            out.push_bytes(b" is larger than ");
            out.push_u64(*max as u64);
            out.push_bytes(b" bytes\n");
        }
        Problem::NotRegular { path } => {
            out.push_bytes(b"ttrapd: config file ");
            ttrapd::escape::push_quoted(out, path, 300);
            out.push_bytes(b" is not a regular file; give the path of a plain file\n");
        }
        Problem::InTrap { path, trap } => {
            out.push_bytes(b"ttrapd: config file ");
            ttrapd::escape::push_quoted(out, path, 300);
            out.push_bytes(b" is covered by trap ");
            ttrapd::escape::push_quoted(out, trap, 300);
            out.push_bytes(b", so reading it on SIGHUP would wait on ttrapd itself; keep the config file outside the traps\n");
        }
    }
}

/// Reason a file could not be read whole.
enum ReadError {
    Errno(Errno),
    TooBig,
    NotRegular,
    /// Covered by the trap with this index.
    InTrap(usize),
}

/// Reads `path` into `out`; fails when the file does not fit, is not a
/// regular file, or is covered by a trap of `marked`. Opened without
/// blocking, so a FIFO cannot hold a reload.
fn read_file(
    path: &core::ffi::CStr,
    out: &mut Bytes,
    marked: Option<&Table>,
) -> Result<(), ReadError> {
    out.clear();
    // The check and the read go through one O_PATH descriptor, so the path
    // cannot be pointed elsewhere between them.
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    let found = rustix::fs::open(path, flags, Mode::empty()).map_err(ReadError::Errno)?;
    if let Some(index) = marked.and_then(|marked| marked.covering_file(&found)) {
        return Err(ReadError::InTrap(index));
    }
    let reopen = crate::proc::self_fd_path(&found);
    let reopen = core::ffi::CStr::from_bytes_with_nul(reopen.as_bytes()).unwrap_or(c"/");
    // A trap may still cover the file in a way the check cannot see, such
    // as a file bind mount of a trapped entry: the group ignores permission
    // events on it while ttrapd opens it.
    let fan = marked.and_then(Table::fan);
    let ignored = fan.is_some_and(|fan| fan.ignore_path(reopen, true).is_ok());
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    let opened = rustix::fs::open(reopen, flags, Mode::empty());
    if ignored {
        let _ = fan.map(|fan| fan.ignore_path(reopen, false));
    }
    let file = opened.map_err(ReadError::Errno)?;
    let stat = rustix::fs::fstat(&file).map_err(ReadError::Errno)?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(ReadError::NotRegular);
    }
    let mut chunk = [0u8; 1024];
    loop {
        match rustix::io::read(&file, &mut chunk) {
            Ok(0) => return Ok(()),
            Ok(len) => {
                out.push_bytes(&chunk[..len]);
                if out.overflowed() {
                    return Err(ReadError::TooBig);
                }
            }
            Err(Errno::INTR) => continue,
            Err(errno) => return Err(ReadError::Errno(errno)),
        }
    }
}

fn add_error<'a>(error: AddError, path: &'a [u8]) -> UsageError<'a> {
    match error {
        AddError::TooMany => UsageError::TooManyTraps { max: MAX_TRAPS },
        AddError::ArenaFull => UsageError::PathsTooLong { max: PATH_ARENA_BYTES },
        AddError::NoCwd => UsageError::RelativeWithoutCwd(path),
    }
}

/// Builds the configuration from every source and adds its traps to
/// `table`. Each problem goes to `report`. With any problem, returns as an
/// error what could be built, for `--check` to examine further, or `None`
/// when a file could not even be read. `--help` and `--version` must have
/// been handled before. `marked` is the table whose traps are armed now: a
/// config file among them is not opened, since the open would wait on
/// ttrapd's own answer.
pub fn load<'t>(
    args: Args,
    texts: &'t mut Texts,
    table: &mut Table,
    marked: Option<&Table>,
    report: &mut dyn FnMut(&Problem<'_>),
) -> Result<Config<'t>, Option<Config<'t>>> {
    // A first pass over the arguments finds --config and --cmdline; its
    // errors come again, and are reported, in the last pass.
    let mut meta = Config::default();
    let _ = args::parse_onto(&mut meta, args.options(), |_| Ok(()));
    let mut failed = false;

    if let Some(raw) = meta.config_file {
        // The path stays absolute for reloads after chdir("/").
        texts.path.clear();
        if !ttrapd::path::push_absolute(&mut texts.path, table.cwd(), raw) {
            report(&Problem::Usage(UsageError::InvalidValue {
                option: "--config",
                value: raw,
                expected: "a path shorter than 4096 bytes once made absolute",
            }));
            return Err(None);
        }
        texts.path.push(0);
    }
    if meta.config_file.is_some() {
        let path = core::ffi::CStr::from_bytes_with_nul(texts.path.as_bytes()).unwrap_or(c"/");
        let read = read_file(path, &mut texts.file, marked);
        let path = path.to_bytes();
        let problem = match read {
            Ok(()) => None,
            Err(ReadError::Errno(errno)) => {
                Some(Problem::Read { path, errno: errno.raw_os_error() })
            }
            Err(ReadError::TooBig) => Some(Problem::TooBig { path, max: CONFIG_BYTES }),
            Err(ReadError::NotRegular) => Some(Problem::NotRegular { path }),
            Err(ReadError::InTrap(index)) => {
                let trap = marked.map_or(&b""[..], |marked| marked.path(index));
                Some(Problem::InTrap { path, trap })
            }
        };
        if let Some(problem) = problem {
            report(&problem);
            return Err(None);
        }
    }
    if meta.cmdline {
        if let Err(error) = read_file(c"/proc/cmdline", &mut texts.cmdline, marked) {
            let errno = match error {
                ReadError::Errno(errno) => errno,
                ReadError::TooBig => Errno::NAMETOOLONG,
                ReadError::NotRegular | ReadError::InTrap(_) => Errno::INVAL,
            };
            let errno = errno.raw_os_error();
            report(&Problem::Read { path: b"/proc/cmdline", errno });
            return Err(None);
        }
    }
    let texts: &'t Texts = texts;

    let mut config = Config::default();
    let mut traps = 0;
    let add = |table: &mut Table, path, settings: TrapSettings| {
        table.add(path, settings).map_err(|error| add_error(error, path))
    };
    if meta.config_file.is_some() {
        let source = texts.config_path();
        traps += config::parse_file(
            texts.file.as_bytes(),
            &mut config,
            |path, settings| add(table, path, settings),
            |error| {
                failed = true;
                report(&Problem::Line { source, error });
            },
        );
    }
    if meta.cmdline {
        traps += config::parse_cmdline(
            texts.cmdline.as_bytes(),
            &mut config,
            |path, settings| add(table, path, settings),
            |error| {
                failed = true;
                report(&Problem::Line { source: b"/proc/cmdline", error });
            },
        );
    }
    // Arguments live for the whole process; the items are shortened to the
    // configuration's lifetime.
    let options = args.options().map(|arg| -> &'t [u8] { arg });
    match args::parse_onto(&mut config, options, |path| add(table, path, TrapSettings::default())) {
        Ok(Parsed::Options { traps: count }) => traps += count,
        Ok(Parsed::Special(_)) => {}
        Err(error) => {
            report(&Problem::Usage(error));
            return Err(Some(config));
        }
    }
    if failed {
        return Err(Some(config));
    }
    if let Err(error) = args::validate(&config, traps) {
        report(&Problem::Usage(error));
        return Err(Some(config));
    }
    if meta.config_file.is_some() {
        // The next reload would wait on ttrapd itself.
        let path = core::ffi::CStr::from_bytes_with_nul(texts.path.as_bytes()).unwrap_or(c"/");
        if let Some(index) = table.covering(path) {
            let mut trap = Buf::<{ ttrapd::limits::PATH_MAX }>::new();
            trap.push_bytes(table.path(index));
            report(&Problem::InTrap { path: path.to_bytes(), trap: trap.as_bytes() });
            return Err(Some(config));
        }
    }
    if table.any_denies() && config.fanotify != Fanotify::Permission {
        let other = if config.fanotify == Fanotify::Off { "--no-fanotify" } else { "--no-perm" };
        report(&Problem::Usage(UsageError::Conflict("trap ... deny", other)));
        return Err(Some(config));
    }
    Ok(config)
}
