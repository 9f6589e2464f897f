//! Command-line parsing: `ttrapd [OPTION]... PATH...`.
//!
//! Options follow GNU conventions: long names with `--name value` or
//! `--name=value`, short forms that can be bundled (`-fp FILE`, `-pFILE`),
//! options and paths in any order, and `--` to end the options. The parser
//! borrows every value from the argument strings and allocates nothing;
//! trap paths go to a caller-supplied callback as they are found.

use crate::limits::{MAX_ALLOW, MAX_REMOTES, PATH_MAX, TAG_MAX};
use crate::names;
use crate::rfc5424::{self, Destination, UrlError};

/// Text printed by `--help`.
pub const HELP: &str = "\
Usage: ttrapd [OPTION]... PATH...
Turn each PATH into a trap: opening, reading, writing, changing the
attributes of, moving or deleting a trapped file, or listing a trapped
directory or changing its entries, raises an alert in syslog.

  -f, --foreground        stay in the foreground and copy every line to
                          stderr (default: detach as a daemon)
  -p, --pidfile FILE      write the daemon's pid to FILE and hold a lock on
                          it while running; a second start fails
  -l, --log-socket PATH   syslog socket to write to (default /dev/log)
      --facility NAME     syslog facility: authpriv (default), auth,
                          daemon, user, local0 ... local7, and the other
                          syslog(3) names
      --severity NAME     severity of ALERT and REPEAT lines: alert
                          (default), emerg, crit, err, warning, notice,
                          info, debug
  -t, --tag NAME          syslog tag (default ttrapd): 1 to 32 letters,
                          digits, '.', '_' or '-'
      --no-perm           use fanotify notification events: nothing waits
                          on ttrapd, but a process that exits at once is
                          named by pid only
      --no-fanotify       watch with inotify only; alerts then list the
                          processes holding the trap open instead
      --no-holders        without fanotify, do not list the processes holding
                          a trap open (a scan of every process's
                          descriptors that delays each open alert)
      --deny              refuse every open of a trap (the opener gets
                          EPERM); needs fanotify permission events
      --allow EXE         opens, reads and writes by the executable at
                          the absolute path EXE are logged at notice
                          severity, not alerted, and never denied;
                          repeatable, up to 16
  -r, --remote URL        also send every line to a remote collector as
                          RFC 5424: udp://IP:PORT or tcp://IP:PORT, IPv6
                          as udp://[ADDR]:PORT or tcp://[ADDR]:PORT;
                          repeatable, up to 4
      --heartbeat SECONDS send a HEARTBEAT line every SECONDS (1 to 86400)
                          so a collector can notice silence
  -x, --exec PROGRAM      run PROGRAM (an absolute path) on each alert,
                          with the alert's fields in TTRAPD_* variables
      --exec-timeout SECONDS
                          kill a hook still running after SECONDS (default
                          30, 1 to 3600)
      --quiet SECONDS     after an alert, count further events of the same
                          kind on the same trap for SECONDS and then report
                          the count in one REPEAT line (default 10, 0 to
                          3600; 0 alerts on every event)
  -c, --config FILE       read options and traps from FILE (see ttrapd(8));
                          options on the command line override it
  -n, --check             check options, config and traps, print the plan
                          and exit: 0 if all is well, 1 naming each problem
      --cmdline           also take ttrapd.NAME=VALUE words, such as
                          ttrapd.trap=/etc/shadow, from /proc/cmdline
  -h, --help              print this help and exit
  -V, --version           print the version and exit

Exit status: 0 stopped by a signal, or --help, --version or a passed
--check; 1 could not start or keep running, or --check found problems;
2 usage error.
";

/// Action requested by the command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Run(Config<'a>),
    Help,
    Version,
}

/// Use of fanotify to name the process behind an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fanotify {
    /// Permission events: the opener waits until ttrapd has read `/proc`.
    Permission,
    /// Notification events: nothing waits (`--no-perm`).
    Notification,
    /// inotify only (`--no-fanotify`).
    Off,
}

/// Settings for a run. Trap paths are not stored here; the parser hands
/// them to its callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config<'a> {
    pub foreground: bool,
    pub pidfile: Option<&'a [u8]>,
    pub log_socket: &'a [u8],
    pub facility: u8,
    /// Severity of `ALERT` lines.
    pub severity: u8,
    pub tag: &'a [u8],
    pub fanotify: Fanotify,
    /// Answer permission events with a refusal.
    pub deny: bool,
    /// Without fanotify, list the processes holding a trap open.
    pub holders: bool,
    /// Executables whose accesses are logged, not alerted; the first
    /// `allow_count` entries are set.
    pub allow: [&'a [u8]; MAX_ALLOW],
    pub allow_count: usize,
    /// Remote collectors; the first `remote_count` entries are set.
    pub remotes: [Destination; MAX_REMOTES],
    pub remote_count: usize,
    /// Seconds between HEARTBEAT lines; 0 for none.
    pub heartbeat: u32,
    /// Program to run on each alert.
    pub exec: Option<&'a [u8]>,
    /// Seconds a hook may run before it is killed.
    pub exec_timeout: u32,
    /// Seconds of the flood-control window; 0 turns it off.
    pub quiet: u32,
    /// Config file given with `--config`.
    pub config_file: Option<&'a [u8]>,
    /// `--check`: validate and print the plan, then exit.
    pub check: bool,
    /// `--cmdline`: also read `ttrapd.*` words from `/proc/cmdline`.
    pub cmdline: bool,
}

impl<'a> Config<'a> {
    /// Returns the collectors given with `--remote`.
    pub fn remotes(&self) -> &[Destination] {
        &self.remotes[..self.remote_count]
    }

    /// Returns the executables given with `--allow`.
    pub fn allowed(&self) -> &[&'a [u8]] {
        &self.allow[..self.allow_count]
    }
}

impl Default for Config<'_> {
    fn default() -> Self {
        Self {
            foreground: false,
            pidfile: None,
            log_socket: b"/dev/log",
            facility: 10,
            severity: names::SEVERITY_ALERT,
            tag: b"ttrapd",
            fanotify: Fanotify::Permission,
            deny: false,
            holders: true,
            allow: [b""; MAX_ALLOW],
            allow_count: 0,
            remotes: [NO_DESTINATION; MAX_REMOTES],
            remote_count: 0,
            heartbeat: 0,
            exec: None,
            exec_timeout: 30,
            quiet: 10,
            config_file: None,
            check: false,
            cmdline: false,
        }
    }
}

const NO_DESTINATION: Destination =
    Destination { transport: rfc5424::Transport::Udp, address: [0; 16], is_ipv6: false, port: 0 };

/// A command line that cannot be run; each variant names the fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageError<'a> {
    /// An argument starting with `-` that is no known option.
    UnknownOption(&'a [u8]),
    /// A letter in a bundle of short options that is no known option.
    UnknownShortOption(u8),
    /// An option that needs a value came last.
    MissingValue(&'static str),
    /// A flag was given a value with `=`.
    UnexpectedValue(&'static str),
    /// An option value that is not allowed.
    InvalidValue { option: &'static str, value: &'a [u8], expected: &'static str },
    /// No PATH was given.
    NoTrap,
    /// An empty string was given as PATH.
    EmptyPath,
    /// A PATH at or over `PATH_MAX` bytes.
    PathTooLong(&'a [u8]),
    /// More traps than the fixed table holds.
    TooManyTraps { max: usize },
    /// All trap paths together exceed the path arena.
    PathsTooLong { max: usize },
    /// More `--allow` options than the table holds.
    TooManyAllowed { max: usize },
    /// More `--remote` options than the table holds.
    TooManyRemotes { max: usize },
    /// A relative PATH while the working directory cannot be read.
    RelativeWithoutCwd(&'a [u8]),
    /// An option such as `--help` in a config file or on the kernel
    /// command line.
    CommandLineOnly(&'static str),
    /// Two options that cannot be used together.
    Conflict(&'static str, &'static str),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Opt {
    Foreground,
    Pidfile,
    LogSocket,
    Facility,
    Severity,
    Tag,
    Help,
    Version,
    NoPerm,
    NoFanotify,
    NoHolders,
    Deny,
    Allow,
    Remote,
    Heartbeat,
    Exec,
    ExecTimeout,
    Quiet,
    Config,
    Check,
    Cmdline,
}

struct Spec {
    long: &'static str,
    short: Option<u8>,
    takes_value: bool,
    opt: Opt,
}

const SPECS: &[Spec] = &[
    Spec { long: "--foreground", short: Some(b'f'), takes_value: false, opt: Opt::Foreground },
    Spec { long: "--pidfile", short: Some(b'p'), takes_value: true, opt: Opt::Pidfile },
    Spec { long: "--log-socket", short: Some(b'l'), takes_value: true, opt: Opt::LogSocket },
    Spec { long: "--facility", short: None, takes_value: true, opt: Opt::Facility },
    Spec { long: "--severity", short: None, takes_value: true, opt: Opt::Severity },
    Spec { long: "--tag", short: Some(b't'), takes_value: true, opt: Opt::Tag },
    Spec { long: "--no-perm", short: None, takes_value: false, opt: Opt::NoPerm },
    Spec { long: "--no-fanotify", short: None, takes_value: false, opt: Opt::NoFanotify },
    Spec { long: "--no-holders", short: None, takes_value: false, opt: Opt::NoHolders },
    Spec { long: "--deny", short: None, takes_value: false, opt: Opt::Deny },
    Spec { long: "--allow", short: None, takes_value: true, opt: Opt::Allow },
    Spec { long: "--remote", short: Some(b'r'), takes_value: true, opt: Opt::Remote },
    Spec { long: "--heartbeat", short: None, takes_value: true, opt: Opt::Heartbeat },
    Spec { long: "--exec", short: Some(b'x'), takes_value: true, opt: Opt::Exec },
    Spec { long: "--exec-timeout", short: None, takes_value: true, opt: Opt::ExecTimeout },
    Spec { long: "--quiet", short: None, takes_value: true, opt: Opt::Quiet },
    Spec { long: "--config", short: Some(b'c'), takes_value: true, opt: Opt::Config },
    Spec { long: "--check", short: Some(b'n'), takes_value: false, opt: Opt::Check },
    Spec { long: "--cmdline", short: None, takes_value: false, opt: Opt::Cmdline },
    Spec { long: "--help", short: Some(b'h'), takes_value: false, opt: Opt::Help },
    Spec { long: "--version", short: Some(b'V'), takes_value: false, opt: Opt::Version },
];

/// Longest socket path that fits `sockaddr_un.sun_path` with its NUL.
const SUN_PATH_MAX: usize = 107;

/// Parses `args` (without the program name) into a fresh configuration.
/// Every trap path is passed to `on_trap` in command-line order; an error
/// from `on_trap` ends parsing. `--help` and `--version` return at once,
/// before any later argument is checked.
pub fn parse<'a, I, F>(args: I, on_trap: F) -> Result<Command<'a>, UsageError<'a>>
where
    I: IntoIterator<Item = &'a [u8]>,
    F: FnMut(&'a [u8]) -> Result<(), UsageError<'a>>,
{
    let mut config = Config::default();
    match parse_onto(&mut config, args, on_trap)? {
        Parsed::Special(command) => Ok(command),
        Parsed::Options { traps } => {
            validate(&config, traps)?;
            Ok(Command::Run(config))
        }
    }
}

/// Result of [`parse_onto`].
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// `--help` or `--version`.
    Special(Command<'a>),
    /// Options applied to the configuration, and this many trap paths.
    Options { traps: usize },
}

/// Parses `args` on top of `config`, so that they override what a config
/// file set. Checks that need every source, such as "no trap at all", are
/// left to [`validate`].
pub fn parse_onto<'a, I, F>(
    config: &mut Config<'a>,
    args: I,
    mut on_trap: F,
) -> Result<Parsed<'a>, UsageError<'a>>
where
    I: IntoIterator<Item = &'a [u8]>,
    F: FnMut(&'a [u8]) -> Result<(), UsageError<'a>>,
{
    let mut traps = 0usize;
    let mut args = args.into_iter();
    let mut only_paths = false;
    let mut trap = |path: &'a [u8], traps: &mut usize| -> Result<(), UsageError<'a>> {
        check_trap_path(path)?;
        *traps += 1;
        on_trap(path)
    };

    while let Some(arg) = args.next() {
        if only_paths || arg == b"-" || arg.first() != Some(&b'-') {
            trap(arg, &mut traps)?;
        } else if arg == b"--" {
            only_paths = true;
        } else if arg.starts_with(b"--") {
            let (name, inline) = match arg.iter().position(|&b| b == b'=') {
                Some(eq) => (&arg[..eq], Some(&arg[eq + 1..])),
                None => (arg, None),
            };
            let spec = SPECS
                .iter()
                .find(|spec| spec.long.as_bytes() == name)
                .ok_or(UsageError::UnknownOption(name))?;
            let value = if spec.takes_value {
                match inline {
                    Some(value) => Some(value),
                    None => Some(args.next().ok_or(UsageError::MissingValue(spec.long))?),
                }
            } else if inline.is_some() {
                return Err(UsageError::UnexpectedValue(spec.long));
            } else {
                None
            };
            if let Some(done) = apply(config, spec, value)? {
                return Ok(Parsed::Special(done));
            }
        } else {
            // A bundle of short options; one that takes a value uses the rest
            // of the bundle, or the next argument when the bundle ends.
            let mut index = 1;
            while index < arg.len() {
                let letter = arg[index];
                let spec = SPECS
                    .iter()
                    .find(|spec| spec.short == Some(letter))
                    .ok_or(UsageError::UnknownShortOption(letter))?;
                index += 1;
                let value = if !spec.takes_value {
                    None
                } else if index < arg.len() {
                    let rest = &arg[index..];
                    index = arg.len();
                    Some(rest)
                } else {
                    Some(args.next().ok_or(UsageError::MissingValue(spec.long))?)
                };
                if let Some(done) = apply(config, spec, value)? {
                    return Ok(Parsed::Special(done));
                }
            }
        }
    }
    Ok(Parsed::Options { traps })
}

/// Checks a trap path from any source.
pub fn check_trap_path(path: &[u8]) -> Result<(), UsageError<'_>> {
    if path.is_empty() {
        return Err(UsageError::EmptyPath);
    }
    if path.len() >= PATH_MAX || path.contains(&0) {
        return Err(UsageError::PathTooLong(path));
    }
    Ok(())
}

/// Checks what only the merged configuration shows: at least one trap,
/// and no options that contradict each other.
pub fn validate<'a>(config: &Config<'a>, traps: usize) -> Result<(), UsageError<'a>> {
    if traps == 0 {
        return Err(UsageError::NoTrap);
    }
    if config.deny && config.fanotify == Fanotify::Notification {
        return Err(UsageError::Conflict("--deny", "--no-perm"));
    }
    if config.deny && config.fanotify == Fanotify::Off {
        return Err(UsageError::Conflict("--deny", "--no-fanotify"));
    }
    Ok(())
}

/// Applies an option named without its dashes (`pidfile`, `no-perm`), as
/// a config file or the kernel command line gives it. Options that only
/// make sense on the command line are rejected.
pub fn apply_named<'a>(
    config: &mut Config<'a>,
    name: &'a [u8],
    value: Option<&'a [u8]>,
) -> Result<(), UsageError<'a>> {
    let spec = SPECS
        .iter()
        .find(|spec| &spec.long.as_bytes()[2..] == name)
        .ok_or(UsageError::UnknownOption(name))?;
    if matches!(spec.opt, Opt::Help | Opt::Version | Opt::Config | Opt::Check | Opt::Cmdline) {
        return Err(UsageError::CommandLineOnly(spec.long));
    }
    match (spec.takes_value, value) {
        (true, None) => return Err(UsageError::MissingValue(spec.long)),
        (false, Some(_)) => return Err(UsageError::UnexpectedValue(spec.long)),
        _ => {}
    }
    apply(config, spec, value).map(|_| ())
}

/// Stores one option in `config`; returns a command for `--help` and
/// `--version`, which end parsing.
fn apply<'a>(
    config: &mut Config<'a>,
    spec: &Spec,
    value: Option<&'a [u8]>,
) -> Result<Option<Command<'a>>, UsageError<'a>> {
    let value = value.unwrap_or(b"");
    let invalid = |expected| UsageError::InvalidValue { option: spec.long, value, expected };
    match spec.opt {
        Opt::Foreground => config.foreground = true,
        Opt::Help => return Ok(Some(Command::Help)),
        Opt::Version => return Ok(Some(Command::Version)),
        Opt::Pidfile => {
            if value.is_empty() || value.len() >= PATH_MAX || value.contains(&0) {
                return Err(invalid("a file path"));
            }
            config.pidfile = Some(value);
        }
        Opt::LogSocket => {
            if value.is_empty() || value.len() > SUN_PATH_MAX || value.contains(&0) {
                return Err(invalid("a socket path of 1 to 107 bytes"));
            }
            config.log_socket = value;
        }
        Opt::Facility => {
            config.facility = names::lookup(names::FACILITIES, value)
                .ok_or(invalid("a syslog facility such as authpriv, daemon or local0"))?;
        }
        Opt::Severity => {
            config.severity = names::lookup(names::SEVERITIES, value)
                .ok_or(invalid("a syslog severity such as alert, crit or warning"))?;
        }
        Opt::NoPerm => {
            if config.fanotify == Fanotify::Permission {
                config.fanotify = Fanotify::Notification;
            }
        }
        Opt::NoFanotify => config.fanotify = Fanotify::Off,
        Opt::NoHolders => config.holders = false,
        Opt::Deny => config.deny = true,
        Opt::Allow => {
            if value.first() != Some(&b'/') || value.len() >= PATH_MAX || value.contains(&0) {
                return Err(invalid("an absolute path to an executable"));
            }
            if config.allow_count == MAX_ALLOW {
                return Err(UsageError::TooManyAllowed { max: MAX_ALLOW });
            }
            config.allow[config.allow_count] = value;
            config.allow_count += 1;
        }
        Opt::Remote => {
            let destination = rfc5424::parse_url(value).map_err(|error| {
                invalid(match error {
                    UrlError::Scheme => "udp://IP:PORT or tcp://IP:PORT",
                    UrlError::Address => {
                        "an IP address, not a host name (there is no resolver): \
                         udp://192.0.2.1:514 or tcp://[2001:db8::1]:514"
                    }
                    UrlError::Port => "a port from 1 to 65535 after the address",
                })
            })?;
            if config.remote_count == MAX_REMOTES {
                return Err(UsageError::TooManyRemotes { max: MAX_REMOTES });
            }
            config.remotes[config.remote_count] = destination;
            config.remote_count += 1;
        }
        Opt::Heartbeat => {
            config.heartbeat =
                seconds(value, 1, 86_400).ok_or(invalid("whole seconds from 1 to 86400"))?;
        }
        Opt::Exec => {
            if value.first() != Some(&b'/') || value.len() >= PATH_MAX || value.contains(&0) {
                return Err(invalid("an absolute path to a program"));
            }
            config.exec = Some(value);
        }
        Opt::ExecTimeout => {
            config.exec_timeout =
                seconds(value, 1, 3600).ok_or(invalid("whole seconds from 1 to 3600"))?;
        }
        Opt::Quiet => {
            config.quiet =
                seconds(value, 0, 3600).ok_or(invalid("whole seconds from 0 to 3600"))?;
        }
        Opt::Config => {
            if value.is_empty() || value.len() >= PATH_MAX || value.contains(&0) {
                return Err(invalid("a file path"));
            }
            config.config_file = Some(value);
        }
        Opt::Check => config.check = true,
        Opt::Cmdline => config.cmdline = true,
        Opt::Tag => {
            let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
            if value.is_empty() || value.len() > TAG_MAX || !value.iter().all(allowed) {
                return Err(invalid("1 to 32 letters, digits, '.', '_' or '-'"));
            }
            config.tag = value;
        }
    }
    Ok(None)
}

fn seconds(text: &[u8], min: u32, max: u32) -> Option<u32> {
    crate::buf::parse_u64(text)
        .filter(|&n| n >= u64::from(min) && n <= u64::from(max))
        .map(|n| n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> Result<(Command<'_>, Vec<&[u8]>), UsageError<'_>> {
        let mut traps = Vec::new();
        let command = parse(line.split_whitespace().map(str::as_bytes), |path| {
            traps.push(path);
            Ok(())
        })?;
        Ok((command, traps))
    }

    fn config(line: &str) -> Config<'_> {
        match run(line) {
            Ok((Command::Run(config), _)) => config,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn help_lists_every_option() {
        for spec in SPECS {
            assert!(HELP.contains(spec.long), "{} missing from --help", spec.long);
            if let Some(short) = spec.short {
                let form = format!("-{}, {}", short as char, spec.long);
                assert!(HELP.contains(&form), "{form} missing from --help");
            }
        }
    }

    #[test]
    fn defaults() {
        let (command, traps) = run("/srv/trap").unwrap();
        assert_eq!(command, Command::Run(Config::default()));
        assert_eq!(traps, vec![&b"/srv/trap"[..]]);
        let defaults = Config::default();
        assert_eq!(defaults.log_socket, b"/dev/log");
        assert_eq!(defaults.facility, 10);
        assert_eq!(defaults.tag, b"ttrapd");
        assert!(!defaults.foreground);
    }

    #[test]
    fn long_options_with_space_and_equals() {
        let config = config("--pidfile /run/t.pid --log-socket=/tmp/log --facility local3 a");
        assert_eq!(config.pidfile, Some(&b"/run/t.pid"[..]));
        assert_eq!(config.log_socket, b"/tmp/log");
        assert_eq!(config.facility, 19);
    }

    #[test]
    fn short_options_bundle() {
        let first = config("-fp/run/x.pid -t trapper -l /s a b");
        assert!(first.foreground);
        assert_eq!(first.pidfile, Some(&b"/run/x.pid"[..]));
        assert_eq!(first.tag, b"trapper");
        assert_eq!(first.log_socket, b"/s");
        let bundled = config("-fp /run/y.pid a");
        assert_eq!(bundled.pidfile, Some(&b"/run/y.pid"[..]));
    }

    #[test]
    fn paths_and_options_mix_and_double_dash() {
        let (_, traps) = run("a -f b -- -c --help").unwrap();
        assert_eq!(traps, vec![&b"a"[..], b"b", b"-c", b"--help"]);
    }

    #[test]
    fn help_and_version_win() {
        assert_eq!(run("--help").unwrap().0, Command::Help);
        assert_eq!(run("-V --bogus").unwrap().0, Command::Version);
        assert_eq!(run("a -h").unwrap().0, Command::Help);
    }

    #[test]
    fn no_trap_is_an_error() {
        assert_eq!(run("-f").unwrap_err(), UsageError::NoTrap);
        assert_eq!(run("").unwrap_err(), UsageError::NoTrap);
    }

    #[test]
    fn unknown_options() {
        assert_eq!(run("--frob a").unwrap_err(), UsageError::UnknownOption(b"--frob"));
        assert_eq!(run("--frob=1 a").unwrap_err(), UsageError::UnknownOption(b"--frob"));
        assert_eq!(run("-fz a").unwrap_err(), UsageError::UnknownShortOption(b'z'));
    }

    #[test]
    fn missing_and_unexpected_values() {
        assert_eq!(run("a --pidfile").unwrap_err(), UsageError::MissingValue("--pidfile"));
        assert_eq!(run("a -l").unwrap_err(), UsageError::MissingValue("--log-socket"));
        assert_eq!(
            run("--foreground=yes a").unwrap_err(),
            UsageError::UnexpectedValue("--foreground")
        );
    }

    #[test]
    fn invalid_values() {
        for line in
            ["--facility nope a", "--severity loud a", "--tag bad[tag] a", "--tag=", "--pidfile= a"]
        {
            assert!(
                matches!(run(line), Err(UsageError::InvalidValue { .. })),
                "{line:?} gave {:?}",
                run(line)
            );
        }
        let long_socket = format!("-l /{} a", "s".repeat(107));
        assert!(matches!(
            run(&long_socket),
            Err(UsageError::InvalidValue { option: "--log-socket", .. })
        ));
    }

    #[test]
    fn fanotify_modes() {
        assert_eq!(config("a").fanotify, Fanotify::Permission);
        assert_eq!(config("--no-perm a").fanotify, Fanotify::Notification);
        assert_eq!(config("--no-fanotify a").fanotify, Fanotify::Off);
        assert_eq!(config("--no-fanotify --no-perm a").fanotify, Fanotify::Off);
    }

    #[test]
    fn deny_conflicts_with_weaker_modes() {
        assert!(config("--deny a").deny);
        assert_eq!(
            run("--deny --no-perm a").unwrap_err(),
            UsageError::Conflict("--deny", "--no-perm")
        );
        assert_eq!(
            run("--no-fanotify --deny a").unwrap_err(),
            UsageError::Conflict("--deny", "--no-fanotify")
        );
    }

    #[test]
    fn allow_collects_absolute_paths() {
        let config = config("--allow /usr/bin/backup --allow=/bin/cat a");
        assert_eq!(config.allowed(), &[&b"/usr/bin/backup"[..], b"/bin/cat"]);
        assert!(matches!(run("--allow cat a"), Err(UsageError::InvalidValue { .. })));
        let many = "--allow /x ".repeat(MAX_ALLOW + 1) + "a";
        assert_eq!(run(&many).unwrap_err(), UsageError::TooManyAllowed { max: MAX_ALLOW });
    }

    #[test]
    fn remotes_heartbeat_exec_quiet() {
        let config = config(
            "-r udp://127.0.0.1:5514 --remote=tcp://[::1]:6514 --heartbeat 30 \
             -x /usr/local/bin/hook --exec-timeout 5 --quiet 0 a",
        );
        assert_eq!(config.remotes().len(), 2);
        assert_eq!(config.remotes()[0].port, 5514);
        assert!(config.remotes()[1].is_ipv6);
        assert_eq!(config.heartbeat, 30);
        assert_eq!(config.exec, Some(&b"/usr/local/bin/hook"[..]));
        assert_eq!(config.exec_timeout, 5);
        assert_eq!(config.quiet, 0);
        let defaults = super::Config::default();
        assert_eq!((defaults.heartbeat, defaults.exec_timeout, defaults.quiet), (0, 30, 10));
    }

    #[test]
    fn remote_host_name_is_rejected_with_reason() {
        match run("-r udp://loghost:514 a") {
            Err(UsageError::InvalidValue { option: "--remote", expected, .. }) => {
                assert!(expected.contains("not a host name"), "{expected}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let many = "-r udp://127.0.0.1:1 ".repeat(MAX_REMOTES + 1) + "a";
        assert_eq!(run(&many).unwrap_err(), UsageError::TooManyRemotes { max: MAX_REMOTES });
    }

    #[test]
    fn numeric_ranges() {
        for line in [
            "--heartbeat 0 a",
            "--heartbeat 86401 a",
            "--exec-timeout 0 a",
            "--quiet 3601 a",
            "--quiet -1 a",
            "-x hook a",
        ] {
            assert!(matches!(run(line), Err(UsageError::InvalidValue { .. })), "{line}");
        }
    }

    #[test]
    fn severity_sets_alert_priority() {
        assert_eq!(config("--severity crit a").severity, 2);
    }

    #[test]
    fn empty_and_overlong_paths() {
        let args: [&[u8]; 1] = [b""];
        assert_eq!(parse(args, |_| Ok(())).unwrap_err(), UsageError::EmptyPath);
        let long = vec![b'a'; PATH_MAX];
        let args = [&long[..]];
        assert!(matches!(parse(args, |_| Ok(())), Err(UsageError::PathTooLong(_))));
    }

    #[test]
    fn callback_error_stops_parsing() {
        let args: [&[u8]; 3] = [b"a", b"b", b"c"];
        let mut seen = 0;
        let result = parse(args, |_| {
            seen += 1;
            if seen == 2 { Err(UsageError::TooManyTraps { max: 1 }) } else { Ok(()) }
        });
        assert_eq!(result.unwrap_err(), UsageError::TooManyTraps { max: 1 });
        assert_eq!(seen, 2);
    }
}
