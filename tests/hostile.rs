//! Hostile drills against the real binary. The inputs are file names with
//! every byte a name can have, command lines of 100 KiB, SSH_CONNECTION
//! values that are not addresses and openers that exit at once. The
//! daemon also gets 100,000 traps, traps on FIFOs, device nodes, sockets
//! and symbolic links, a burst of 10,000 SIGHUPs and a descriptor limit
//! of 8.
//!
//! After each drill on a running daemon the daemon must still run, hold as
//! many descriptors as before and have grown by at most
//! [`RSS_GROWTH_LIMIT_KIB`], and every line it wrote must be well formed:
//! one line, no control byte, valid UTF-8, and fields that
//! `ttrapd::msg::for_each_field` reads back. The lines are checked in the
//! daemon's stderr copy (it runs with `-f`), because busybox syslogd cuts
//! long lines and turns control bytes into text of its own.
//!
//! Each drill prints what it measured (descriptors, VmRSS, counts) on
//! stderr, so a run shows the numbers behind a pass.

#[allow(dead_code)]
mod common;

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use common::daemon::{self, Daemon, run_to_exit};
use common::syslog::Syslogd;
use common::{Bait, Mode, SECRET, TempDir, Trapped, intrude, poll_until};
use libtest_mimic::Trial;
use ttrapd::limits::{CMD_FIELD_CAP, LINE_BYTES, PATH_FIELD_CAP};

fn main() -> ExitCode {
    let mut trials = common::trials_per_mode("hostile_entry_names", hostile_entry_names);
    trials.extend([
        common::trial("huge_command_line", huge_command_line),
        common::trial("ssh_env_garbage", ssh_env_garbage),
        common::trial("ssh_env_lookalike_addresses", ssh_env_lookalike_addresses),
        common::trial("openers_exit_at_once", openers_exit_at_once),
        common::trial("too_many_traps", too_many_traps),
        common::trial("trap_paths_too_long", trap_paths_too_long),
        common::trial("unix_socket_trap", unix_socket_trap),
        common::trial("symlink_trap", symlink_trap),
        common::trial("symlink_loop_trap", symlink_loop_trap),
        common::trial("sighup_burst", sighup_burst),
        common::trial("inherited_descriptors_closed", inherited_descriptors_closed),
    ]);
    // Below 24 descriptors ttrapd refuses to start with a clear message;
    // from 24 on it starts and names the opener.
    for limits in [3..=7, 8..=8, 9..=9, 10..=23, 24..=26] {
        let name = if limits.start() == limits.end() {
            format!("nofile_{}", limits.start())
        } else {
            format!("nofile_{}_to_{}", limits.start(), limits.end())
        };
        trials.push(Trial::test(name, move || {
            descriptor_limits(limits);
            Ok(())
        }));
    }
    let watches = [Watch::Mode(Mode::Permission), Watch::Notification, Watch::Mode(Mode::Inotify)];
    for (name, case) in [("fifo_trap", fifo_trap as fn(Watch)), ("device_trap", device_trap)] {
        for watch in watches {
            let trial = Trial::test(format!("{}::{name}", watch.label()), move || {
                case(watch);
                Ok(())
            });
            trials.push(trial);
        }
    }
    common::run_trials(trials)
}

/// Options that make every event alert, so no repeat is counted away.
const EVERY_EVENT: [&str; 2] = ["--quiet", "0"];

/// Growth of the daemon's VmRSS allowed across one drill, in KiB. The
/// daemon allocates nothing, but a drill can be the first to touch pages
/// of its static buffers or of its stack.
const RSS_GROWTH_LIMIT_KIB: u64 = 32;

/// Maximum time an intruder may run. With permission events an open waits
/// for ttrapd's response, so a daemon that never responds would hang a
/// drill without this bound. Correct runs take well under a second.
const INTRUDER_LIMIT: Duration = Duration::from_secs(20);

/// The daemon's descriptors and resident memory at one moment.
#[derive(Clone, Copy, Debug)]
struct Usage {
    descriptors: usize,
    rss_kib: u64,
}

fn usage(pid: u32) -> Usage {
    let descriptors = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|error| panic!("list /proc/{pid}/fd: {error}"))
        .count();
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|error| panic!("read /proc/{pid}/status: {error}"));
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().strip_suffix(" kB"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS line in /proc/{pid}/status:\n{status}"));
    Usage { descriptors, rss_kib }
}

/// Waits until the daemon has handled everything before this call, then
/// measures it.
fn settled_usage(t: &mut Trapped) -> Usage {
    t.barrier_records();
    usage(t.daemon.pid)
}

/// Ends a drill on a running daemon: it must still run, hold the same
/// descriptors, have grown by at most [`RSS_GROWTH_LIMIT_KIB`] and have
/// written only well-formed lines. Stops it and returns its lines.
fn finish_drill(t: &mut Trapped, drill: &str, before: Usage) -> Vec<LogLine> {
    let after = settled_usage(t);
    assert!(t.daemon.is_running(), "ttrapd (pid {}) died during {drill}", t.daemon.pid);
    eprintln!(
        "{drill}: descriptors {} -> {}, VmRSS {} -> {} KiB",
        before.descriptors, after.descriptors, before.rss_kib, after.rss_kib
    );
    assert_eq!(after.descriptors, before.descriptors, "descriptors of ttrapd after {drill}");
    assert!(
        after.rss_kib <= before.rss_kib + RSS_GROWTH_LIMIT_KIB,
        "VmRSS of ttrapd grew from {} to {} KiB during {drill}",
        before.rss_kib,
        after.rss_kib
    );
    let lines = well_formed_lines(t);
    let delivered = t.log.records().iter().filter(|record| record.pid == t.daemon.pid).count();
    assert_eq!(delivered, lines.len(), "lines in syslog against lines on stderr after {drill}");
    t.stop();
    lines
}

/// One line of the daemon's stderr copy, read back with the library's
/// own field parser.
#[derive(Debug)]
struct LogLine {
    text: String,
    kind: String,
    /// Key, raw value (escaping undone) and whether the value was cut.
    fields: Vec<(String, Vec<u8>, bool)>,
}

impl LogLine {
    fn get(&self, key: &str) -> Option<&[u8]> {
        self.fields.iter().find(|(name, _, _)| name == key).map(|(_, value, _)| &value[..])
    }

    fn field(&self, key: &str) -> Option<&(String, Vec<u8>, bool)> {
        self.fields.iter().find(|(name, _, _)| name == key)
    }

    fn is(&self, kind: &str, key: &str, value: &[u8]) -> bool {
        self.kind == kind && self.get(key) == Some(value)
    }

    fn pid(&self) -> Option<u32> {
        std::str::from_utf8(self.get("pid")?).ok()?.parse().ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.fields.iter().map(|(key, _, _)| key.as_str()).collect()
    }
}

/// Characters that the escaper must write as `\xHH`: C1 controls, line and
/// paragraph separators, bidirectional formatting characters.
fn is_hidden_control(c: char) -> bool {
    matches!(
        c,
        '\u{80}'..='\u{9f}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// Checks one line of the stderr copy and returns it parsed; panics with
/// the line when it is not well formed.
fn parse_line(raw: &[u8], pid: u32) -> LogLine {
    let shown = String::from_utf8_lossy(raw);
    assert!(
        raw.len() < LINE_BYTES,
        "line of {} bytes, over the {LINE_BYTES}-byte limit: {shown}",
        raw.len()
    );
    if let Some(at) = raw.iter().position(|&b| b < 0x20 || b == 0x7f) {
        panic!("control byte {:#04x} at offset {at} in line {shown:?}", raw[at]);
    }
    let text = std::str::from_utf8(raw)
        .unwrap_or_else(|error| panic!("line is not UTF-8 ({error}): {shown:?}"));
    if let Some(c) = text.chars().find(|&c| is_hidden_control(c)) {
        panic!("unescaped U+{:04X} in line {text:?}", c as u32);
    }
    let prefix = format!("ttrapd[{pid}]: ");
    assert!(text.starts_with(&prefix), "line without {prefix:?}: {text:?}");
    let mut fields = Vec::new();
    let kind = ttrapd::msg::for_each_field(raw, |key, value, cut| {
        fields.push((String::from_utf8_lossy(key).into_owned(), value.to_vec(), cut));
    })
    .unwrap_or_else(|| panic!("fields do not parse: {text:?}"));
    LogLine { text: text.to_string(), kind: String::from_utf8_lossy(kind).into_owned(), fields }
}

/// Returns the daemon's stderr as bytes. `Daemon::stderr` converts it
/// lossily, which would hide invalid UTF-8, so the file is read here. It
/// is the only stderr file that the fixture creates in its directory.
fn raw_stderr(dir: &Path) -> Vec<u8> {
    let files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("list {}: {error}", dir.display()))
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension() == Some(OsStr::new("stderr")))
        .collect();
    assert_eq!(files.len(), 1, "stderr files of the fixture in {}: {files:?}", dir.display());
    fs::read(&files[0]).unwrap_or_else(|error| panic!("read {}: {error}", files[0].display()))
}

/// Checks every line the daemon has written so far and returns them.
fn well_formed_lines(t: &Trapped) -> Vec<LogLine> {
    let stderr = raw_stderr(t.dir.path());
    let complete = match stderr.iter().rposition(|&b| b == b'\n') {
        Some(end) => &stderr[..end],
        None => &[][..],
    };
    complete.split(|&b| b == b'\n').map(|line| parse_line(line, t.daemon.pid)).collect()
}

/// Reports whether the value `written` of a field, cut or not, represents
/// `value`.
fn represents(written: &(String, Vec<u8>, bool), value: &[u8]) -> bool {
    let (_, text, cut) = written;
    if *cut { value.starts_with(text) } else { text == value }
}

/// Spawns `command` with stdout piped and returns it with the pid it
/// prints on its first line.
fn spawn_printing_pid(command: &mut Command) -> (Child, u32) {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let mut first = String::new();
    let stdout = child.stdout.as_mut().expect("stdout is piped");
    BufReader::new(stdout).read_line(&mut first).expect("read the pid line");
    let pid = first.trim().parse().unwrap_or_else(|_| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{command:?} printed {first:?}, not its pid")
    });
    (child, pid)
}

/// Waits for `child` at most [`INTRUDER_LIMIT`]. Kills it and panics when
/// it hangs, which with permission events means ttrapd never responded.
fn wait_bounded(mut child: Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + INTRUDER_LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the intruder") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} timed out after {INTRUDER_LIMIT:?}: ttrapd may never have responded");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `command` to its end within [`INTRUDER_LIMIT`] and expects success.
fn run_bounded(command: &mut Command) {
    let what = format!("{command:?}");
    let child = command
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {what}: {error}"));
    let status = wait_bounded(child, &what);
    assert!(status.success(), "{what} failed with {status}");
}

fn path_bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// Returns the ALERT lines for `event` on `trap`.
fn alerts_for<'a>(lines: &'a [LogLine], trap: &Path, event: &str) -> Vec<&'a LogLine> {
    lines
        .iter()
        .filter(|line| {
            line.is("ALERT", "trap", path_bytes(trap))
                && line.get("event") == Some(event.as_bytes())
        })
        .collect()
}

/// Names for `hostile_entry_names`: each is at most 255 bytes (NAME_MAX),
/// contains no `/` or NUL, and starts differently, so a cut value still
/// tells which name it represents.
fn hostile_names() -> Vec<Vec<u8>> {
    let every_byte: Vec<u8> = (1..=255u8).filter(|&b| b != b'/').collect();
    let mut forward = every_byte.clone();
    forward.push(b'A');
    let mut backward: Vec<u8> = every_byte.iter().rev().copied().collect();
    backward.push(b'B');
    let mut forged = b"\n<81>ttrapd[1]: ALERT trap=shadow event=open pid=1 ".to_vec();
    while forged.len() < 255 {
        forged.extend_from_slice(b"\"\\");
    }
    forged.truncate(255);
    let names = vec![
        forward,
        backward,
        "\u{2028}".repeat(85).into_bytes(),
        forged,
        vec![0x80; 255],
        vec![b'"'; 255],
        ["\u{e9}".repeat(127), "z".to_string()].concat().into_bytes(),
        "\u{202e}gpj.exe".as_bytes().to_vec(),
        b"\x1b[2J\x1b[31mred\x7f".to_vec(),
        b"plain-name".to_vec(),
        b"   ".to_vec(),
    ];
    for name in &names {
        assert!(name.len() <= 255, "name of {} bytes", name.len());
        assert!(!name.contains(&b'/'), "name with a slash: {name:?}");
        assert!(!name.contains(&0), "name with a NUL: {name:?}");
    }
    names
}

fn hostile_entry_names(mode: Mode) {
    let mut t = Trapped::start_with("hostile_entry_names", mode, &[Bait::Dir("d")], &EVERY_EVENT);
    let drill = format!("hostile_entry_names-{}", mode.label());
    let dir = t.path("d");
    let before = settled_usage(&mut t);

    let names = hostile_names();
    for name in &names {
        let path = dir.join(OsStr::from_bytes(name));
        intrude(Command::new("touch").arg(&path));
        intrude(Command::new("cat").arg(&path));
        intrude(Command::new("rm").arg(&path));
    }
    let lines = finish_drill(&mut t, &drill, before);

    let entries: Vec<&LogLine> =
        lines.iter().filter(|line| line.kind == "ALERT" && line.get("entry").is_some()).collect();
    for line in &entries {
        let entry = line.field("entry").expect("filtered on entry");
        let matching = names.iter().filter(|name| represents(entry, name)).count();
        assert_eq!(matching, 1, "names that the entry of this line represents: {}", line.text);
    }
    for name in &names {
        let expect_cut = ttrapd::escape::escaped_len(name) > PATH_FIELD_CAP;
        for event in ["create", "open", "delete"] {
            let found: Vec<&&LogLine> = entries
                .iter()
                .filter(|line| line.get("event") == Some(event.as_bytes()))
                .filter(|line| represents(line.field("entry").unwrap(), name))
                .collect();
            assert!(!found.is_empty(), "no {event} alert for the entry {name:?}");
            if event != "open" {
                assert_eq!(found.len(), 1, "{event} alerts for the entry {name:?}");
            }
            for line in found {
                let (_, _, cut) = line.field("entry").unwrap();
                assert_eq!(*cut, expect_cut, "cut marker of the entry in {}", line.text);
            }
        }
    }
    eprintln!("{drill}: {} entry alerts for {} names", entries.len(), names.len());
}

/// Python program that opens and reads argv[1], prints its pid and waits
/// for its stdin to close, so the test can read its `/proc` entry.
const OPEN_PRINT_WAIT: &str = "\
import os, sys
with open(sys.argv[1]) as trap:
    trap.read()
print(os.getpid(), flush=True)
sys.stdin.read()
";

fn huge_command_line() {
    let mut t = Trapped::start_with(
        "huge_command_line",
        Mode::Permission,
        &[Bait::File("vpn.key", SECRET)],
        &EVERY_EVENT,
    );
    let trap = t.path("vpn.key");
    let before = settled_usage(&mut t);

    // 100 arguments of 1 KiB: spaces, quotes, backslashes, newlines,
    // invalid UTF-8 and line separators, 100 KiB in all.
    let piece = ["a b\"c\\d\ne\u{2028}f".as_bytes(), b"\xff\xfe"].concat();
    let argument: Vec<u8> = piece.iter().copied().cycle().take(1024).collect();
    let mut python = Command::new("python3");
    python.arg("-c").arg(OPEN_PRINT_WAIT).arg(&trap);
    for _ in 0..100 {
        python.arg(OsStr::from_bytes(&argument));
    }
    let (mut child, pid) = spawn_printing_pid(python.stdin(Stdio::piped()));
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).expect("read the intruder's cmdline");
    drop(child.stdin.take());
    let status = wait_bounded(child, "python with a 100 KiB command line");
    assert!(status.success(), "python with a 100 KiB command line failed: {status}");
    assert!(cmdline.len() > 100 * 1024, "cmdline of {} bytes", cmdline.len());
    let joined: Vec<u8> = cmdline
        .strip_suffix(b"\0")
        .unwrap_or(&cmdline)
        .iter()
        .map(|&b| if b == 0 { b' ' } else { b })
        .collect();

    let lines = finish_drill(&mut t, "huge_command_line", before);
    let alerts: Vec<&LogLine> = alerts_for(&lines, &trap, "open")
        .into_iter()
        .filter(|line| line.pid() == Some(pid))
        .collect();
    assert_eq!(alerts.len(), 1, "open alerts of pid {pid}: {alerts:#?}");
    let alert = alerts[0];
    let cmd = alert.field("cmd").unwrap_or_else(|| panic!("no cmd field: {}", alert.text));
    assert!(cmd.2, "cmd of a 100 KiB command line is not marked as cut: {}", alert.text);
    assert!(!cmd.1.is_empty(), "cmd kept nothing: {}", alert.text);
    assert!(joined.starts_with(&cmd.1), "cmd is not a prefix of the command line: {}", alert.text);
    let written = alert.text.split(" cmd=").nth(1).expect("cmd field in the text");
    let written = written.split(" chain=").next().expect("text of the cmd value");
    assert!(written.ends_with("\\...\""), "cmd value without the cut marker: {written}");
    assert!(
        written.len() <= CMD_FIELD_CAP + 2,
        "cmd value of {} bytes, over the cap of {CMD_FIELD_CAP} and its quotes",
        written.len()
    );
}

/// Runs cat on `trap` with an environment of PATH and `variables` only.
/// Returns cat's pid.
fn cat_with_env(trap: &Path, variables: &[(&str, &[u8])]) -> u32 {
    let mut cat = Command::new("cat");
    cat.arg(trap).env_clear().stdout(Stdio::null()).stdin(Stdio::null());
    if let Some(path) = std::env::var_os("PATH") {
        cat.env("PATH", path);
    }
    for (name, value) in variables {
        cat.env(name, OsStr::from_bytes(value));
    }
    let child = cat.spawn().unwrap_or_else(|error| panic!("cannot run cat: {error}"));
    let pid = child.id();
    let status = wait_bounded(child, "cat with a hostile environment");
    assert!(status.success(), "cat with a hostile environment failed: {status}");
    pid
}

/// Opens the trap with each environment in turn and checks the `from` and
/// `from_src` fields of each open alert.
fn check_ssh_values(drill: &str, cases: &[(&str, &[u8], &str)]) {
    let mut t = Trapped::start_with(
        drill,
        Mode::Permission,
        &[Bait::File("vpn.key", SECRET)],
        &EVERY_EVENT,
    );
    let trap = t.path("vpn.key");
    let before = settled_usage(&mut t);

    let pids: Vec<u32> =
        cases.iter().map(|(name, value, _)| cat_with_env(&trap, &[(name, value)])).collect();
    let lines = finish_drill(&mut t, drill, before);

    let opens = alerts_for(&lines, &trap, "open");
    for ((name, value, expected), pid) in cases.iter().zip(pids) {
        let alert = opens
            .iter()
            .find(|line| line.pid() == Some(pid))
            .unwrap_or_else(|| panic!("no open alert of cat (pid {pid}) with {name}={value:?}"));
        let from = alert.get("from").map(String::from_utf8_lossy);
        assert_eq!(from.as_deref(), Some(*expected), "from for {name}={value:?}: {}", alert.text);
        assert_eq!(
            alert.get("from_src"),
            Some(&b"ssh-env"[..]),
            "from_src for {name}={value:?}: {}",
            alert.text
        );
    }
}

fn ssh_env_garbage() {
    let huge = vec![b'7'; 100 * 1024];
    let cases: [(&str, &[u8], &str); 11] = [
        ("SSH_CONNECTION", b"203.0.113.7 51234 192.0.2.1 22", "203.0.113.7"),
        ("SSH_CONNECTION", b"2001:db8::1 5 ::1 22", "2001:db8::1"),
        ("SSH_CONNECTION", b"", "invalid"),
        ("SSH_CONNECTION", b" 203.0.113.7 1 2 3", "invalid"),
        ("SSH_CONNECTION", b"x;rm -rf / 1 2 3", "invalid"),
        ("SSH_CONNECTION", b"203.0.113.7\n<81>ttrapd[1]: ALERT trap=/x 1 2", "invalid"),
        ("SSH_CONNECTION", b"\x1b]0;owned\x07 1 2 3", "invalid"),
        ("SSH_CONNECTION", b"\xff\xfe\xfd 1 2 3", "invalid"),
        ("SSH_CONNECTION", "203.0.113.7\u{2028}x 1 2".as_bytes(), "invalid"),
        ("SSH_CONNECTION", &huge, "invalid"),
        ("SSH_CLIENT", b"not-an-address 4000 22", "invalid"),
    ];
    check_ssh_values("ssh_env_garbage", &cases);
}

fn ssh_env_lookalike_addresses() {
    // Words of hex digits, dots and colons that are no IP address: the
    // daemon checks only the characters.
    let cases: [(&str, &[u8], &str); 5] = [
        ("SSH_CONNECTION", b"... 1 2 3", "invalid"),
        ("SSH_CONNECTION", b": 1 2 3", "invalid"),
        ("SSH_CONNECTION", b"999.999.999.999 1 2 3", "invalid"),
        ("SSH_CONNECTION", b"1.2.3.4.5.6.7.8 1 2 3", "invalid"),
        ("SSH_CONNECTION", b"deadbeef.cafe 1 2 3", "invalid"),
    ];
    check_ssh_values("ssh_env_lookalike_addresses", &cases);
}

/// Python program that forks argv[2] children, each of which opens argv[1]
/// and exits at once. Prints each child's pid, then reaps them all.
const FORK_OPEN_EXIT: &str = "\
import os, sys
pids = []
for _ in range(int(sys.argv[2])):
    pid = os.fork()
    if pid == 0:
        os.open(sys.argv[1], os.O_RDONLY)
        os._exit(0)
    pids.append(pid)
for pid in pids:
    print(pid)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        sys.exit('child %d failed with status %d' % (pid, status))
";

/// Openers started by `openers_exit_at_once`.
const SHORT_LIVED_OPENERS: usize = 200;

fn openers_exit_at_once() {
    let mut options = EVERY_EVENT.to_vec();
    options.push("--no-perm");
    let mut t = Trapped::start_with(
        "openers_exit_at_once",
        Mode::Permission,
        &[Bait::File("vpn.key", SECRET)],
        &options,
    );
    let trap = t.path("vpn.key");
    let before = settled_usage(&mut t);

    let output = intrude(
        Command::new("python3")
            .arg("-c")
            .arg(FORK_OPEN_EXIT)
            .arg(&trap)
            .arg(SHORT_LIVED_OPENERS.to_string()),
    );
    let parent_pids: Vec<u32> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.parse().expect("python printed a pid"))
        .collect();
    assert_eq!(parent_pids.len(), SHORT_LIVED_OPENERS, "pids printed by python");
    let lines = finish_drill(&mut t, "openers_exit_at_once", before);

    let opens = alerts_for(&lines, &trap, "open");
    let (mut exited, mut described, mut reused) = (0, 0, 0);
    for pid in parent_pids {
        let found: Vec<&&LogLine> = opens.iter().filter(|line| line.pid() == Some(pid)).collect();
        assert_eq!(found.len(), 1, "open alerts of the short-lived pid {pid}");
        let alert = found[0];
        match alert.get("proc") {
            Some(b"exited") => {
                assert_eq!(alert.keys(), ["trap", "event", "pid", "proc"], "{}", alert.text);
                exited += 1;
            }
            Some(b"pid-reused") => reused += 1,
            Some(other) => {
                panic!("unexpected proc={:?}: {}", String::from_utf8_lossy(other), alert.text)
            }
            None => {
                for key in ["ppid", "uid", "exe", "comm", "cmd"] {
                    assert!(alert.get(key).is_some(), "no {key} in {}", alert.text);
                }
                described += 1;
            }
        }
    }
    eprintln!(
        "openers_exit_at_once: {SHORT_LIVED_OPENERS} openers: {exited} proc=exited, \
         {described} with full fields, {reused} proc=pid-reused"
    );
}

/// Raises the stack limit of the child to 64 MiB where the hard limit
/// allows, because the room for arguments is a quarter of it.
fn raise_stack_limit(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and calls
    // only getrlimit and setrlimit, which are async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            if libc::getrlimit(libc::RLIMIT_STACK, &mut limit) == 0 {
                let wanted = 64 << 20;
                if limit.rlim_cur != libc::RLIM_INFINITY && limit.rlim_cur < wanted {
                    limit.rlim_cur = wanted.min(limit.rlim_max);
                    libc::setrlimit(libc::RLIMIT_STACK, &limit);
                }
            }
            Ok(())
        });
    }
}

/// Runs ttrapd with `traps` relative paths in a fresh directory and
/// expects exit status 2 with `message` on stderr and nothing left behind.
fn expect_limit_error(name: &str, traps: &[String], message: &str) {
    let dir = TempDir::new(name);
    let syslogd = Syslogd::start(dir.join("syslog.out"));
    let log = syslogd.log();
    let mut command = daemon::command(&["-f"]);
    command.args(traps).current_dir(dir.path());
    raise_stack_limit(&mut command);
    let started = Instant::now();
    let finished = run_to_exit(&dir, &mut command);
    eprintln!("{name}: exit {:?} after {:?}", finished.code, started.elapsed());
    assert_eq!(finished.code, Some(2), "exit status with {} traps: {finished:?}", traps.len());
    assert!(
        finished.stderr.contains(message),
        "stderr with {} traps lacks {message:?}: {:?}",
        traps.len(),
        finished.stderr
    );
    assert_eq!(finished.stdout, "", "stdout with {} traps", traps.len());
    let lines = log.records();
    assert!(
        lines.iter().all(|record| record.pid != finished.pid),
        "a usage error reached syslog: {lines:?}"
    );
    assert_eq!(ttrapd_processes_in(dir.path()), Vec::<u32>::new(), "processes left behind");
}

/// Returns the pids of live ttrapd processes whose working directory is
/// `dir`.
fn ttrapd_processes_in(dir: &Path) -> Vec<u32> {
    let binary = fs::canonicalize(daemon::BINARY).expect("resolve the ttrapd binary");
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").expect("list /proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        let exe = fs::read_link(entry.path().join("exe"));
        let cwd = fs::read_link(entry.path().join("cwd"));
        let is_ttrapd = exe.is_ok_and(|exe| exe == binary);
        if is_ttrapd && cwd.is_ok_and(|cwd| cwd == dir) && daemon::process_is_live(pid) {
            found.push(pid);
        }
    }
    found
}

fn too_many_traps() {
    let traps: Vec<String> = (0..100_000).map(|index| format!("t{index}")).collect();
    expect_limit_error("too_many_traps", &traps, "too many traps: at most 1024 fit");
}

fn trap_paths_too_long() {
    // 1000 traps of about 250 bytes each exceed the 64 KiB of path text
    // long before the 1024-trap limit.
    let stem = "p".repeat(240);
    let traps: Vec<String> = (0..1000).map(|index| format!("{stem}{index}")).collect();
    expect_limit_error("trap_paths_too_long", &traps, "trap paths are too long together");
}

/// Python program that opens argv[1] read-write without blocking, writes a
/// byte, reads it back and closes it: an open, a write and a read of a
/// FIFO or a device, with no partner needed.
const OPEN_WRITE_READ: &str = "\
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK)
os.write(fd, b'x')
try:
    os.read(fd, 1)
except BlockingIOError:
    pass
os.close(fd)
";

/// How `drill_special_file` runs ttrapd: a harness mode, and `--no-perm`
/// for fanotify notification events.
#[derive(Clone, Copy, Debug)]
enum Watch {
    Mode(Mode),
    Notification,
}

impl Watch {
    fn label(self) -> &'static str {
        match self {
            Watch::Mode(mode) => mode.label(),
            Watch::Notification => "notif",
        }
    }
}

/// Traps `special`, opens, writes and reads it, changes its mode, and
/// requires an alert for the open, the write and the mode change.
fn drill_special_file(drill: &str, watch: Watch, special: &Path) {
    let mut options = EVERY_EVENT.to_vec();
    let mode = match watch {
        Watch::Mode(mode) => mode,
        Watch::Notification => {
            options.push("--no-perm");
            Mode::Permission
        }
    };
    options.push(special.to_str().expect("temporary paths are UTF-8"));
    let mut t = Trapped::start_with(drill, mode, &[], &options);
    let before = settled_usage(&mut t);

    run_bounded(Command::new("python3").arg("-c").arg(OPEN_WRITE_READ).arg(special));
    fs::set_permissions(special, fs::Permissions::from_mode(0o600))
        .expect("chmod the special file");
    let lines = finish_drill(&mut t, drill, before);

    let start = lines.iter().find(|line| line.kind == "START").expect("a START line");
    assert_eq!(start.get("traps"), Some(&b"2"[..]), "traps armed: {}", start.text);
    let reported: Vec<&str> = lines
        .iter()
        .filter(|line| line.is("ALERT", "trap", path_bytes(special)))
        .filter_map(|line| std::str::from_utf8(line.get("event")?).ok())
        .collect();
    eprintln!("{drill}: events reported for {}: {reported:?}", special.display());
    for event in ["open", "write", "attrib"] {
        assert!(
            reported.contains(&event),
            "no {event} alert for {} with {watch:?}; events: {reported:?}",
            special.display()
        );
    }
}

fn fifo_trap(watch: Watch) {
    let dir = TempDir::new(&format!("fifo_trap-{}-special", watch.label()));
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo");
    assert!(made.success(), "mkfifo {}", fifo.display());
    drill_special_file(&format!("fifo_trap-{}", watch.label()), watch, &fifo);
}

fn device_trap(watch: Watch) {
    // A second /dev/null in the private /dev of the test process.
    let node = format!("/dev/ttrapd-hostile-{}-{}", watch.label(), std::process::id());
    let node = PathBuf::from(node);
    let _ = fs::remove_file(&node);
    let path = std::ffi::CString::new(node.as_os_str().as_bytes()).expect("no NUL in the path");
    // SAFETY: `path` is NUL-terminated; mknod takes no other pointer.
    let made = unsafe { libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    assert_eq!(made, 0, "mknod {}: {}", node.display(), std::io::Error::last_os_error());
    fs::set_permissions(&node, fs::Permissions::from_mode(0o666)).expect("chmod the device");
    let result = std::panic::catch_unwind(|| {
        drill_special_file(&format!("device_trap-{}", watch.label()), watch, &node)
    });
    let _ = fs::remove_file(&node);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Python program that connects to the unix socket argv[1] and closes.
const CONNECT_UNIX: &str = "\
import socket, sys
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.connect(sys.argv[1])
client.close()
";

fn unix_socket_trap() {
    let dir = TempDir::new("unix_socket_trap-special");
    let path = dir.join("sock");
    let listener = UnixListener::bind(&path).expect("bind the trapped socket");
    let mut options = EVERY_EVENT.to_vec();
    options.push(path.to_str().expect("temporary paths are UTF-8"));
    let mut t = Trapped::start_with("unix_socket_trap", Mode::Permission, &[], &options);
    let before = settled_usage(&mut t);

    run_bounded(Command::new("python3").arg("-c").arg(CONNECT_UNIX).arg(&path));
    let (connection, _) = listener.accept().expect("accept the intruder's connection");
    drop(connection);
    let after_connect = t.barrier_records();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod the socket");
    let lines = finish_drill(&mut t, "unix_socket_trap", before);

    let start = lines.iter().find(|line| line.kind == "START").expect("a START line");
    assert_eq!(start.get("traps"), Some(&b"2"[..]), "traps armed: {}", start.text);
    // connect(2) opens nothing, so no alert is expected for it. The lines
    // are printed for the record.
    let messages: Vec<&str> = after_connect.iter().map(|record| record.message.as_str()).collect();
    eprintln!("unix_socket_trap: lines after connect: {messages:?}");
    assert_eq!(alerts_for(&lines, &path, "attrib").len(), 1, "attrib alerts for the socket");
}

fn symlink_trap() {
    let dir = TempDir::new("symlink_trap-special");
    let target = dir.join("target.key");
    fs::write(&target, SECRET).expect("create the link's target");
    let link = dir.join("link.key");
    symlink(&target, &link).expect("create the symbolic link");
    let mut options = EVERY_EVENT.to_vec();
    options.push(link.to_str().expect("temporary paths are UTF-8"));
    let mut t = Trapped::start_with("symlink_trap", Mode::Permission, &[], &options);
    let before = settled_usage(&mut t);

    intrude(Command::new("cat").arg(&link));
    intrude(Command::new("cat").arg(&target));
    let lines = finish_drill(&mut t, "symlink_trap", before);
    // Both opens reach the link's target, which the trap watches. Alerts
    // name the trap by the path it was given.
    assert_eq!(alerts_for(&lines, &link, "open").len(), 2, "open alerts for the link trap");
}

fn symlink_loop_trap() {
    let dir = TempDir::new("symlink_loop_trap");
    let first = dir.join("a");
    symlink(dir.join("b"), &first).expect("create link a");
    symlink(&first, dir.join("b")).expect("create link b");
    let dangling = dir.join("dangling");
    symlink(dir.join("missing"), &dangling).expect("create the dangling link");
    let _syslogd = Syslogd::start(dir.join("syslog.out"));

    for (link, reason) in [(&first, "(ELOOP)"), (&dangling, "(ENOENT)")] {
        let finished = run_to_exit(&dir, &mut daemon::command(&[Path::new("-f"), link]));
        eprintln!(
            "symlink_loop_trap: {}: exit {:?}, {:?}",
            link.display(),
            finished.code,
            finished.stderr
        );
        assert_eq!(finished.code, Some(1), "exit status for {}: {finished:?}", link.display());
        let quoted = format!("\"{}\"", link.display());
        assert!(finished.stderr.contains(&quoted), "stderr lacks {quoted}: {:?}", finished.stderr);
        assert!(finished.stderr.contains(reason), "stderr lacks {reason}: {:?}", finished.stderr);
    }
}

/// SIGHUPs sent by `sighup_burst`.
const HUP_BURST: usize = 10_000;

fn sighup_burst() {
    let mut t = Trapped::start_with(
        "sighup_burst",
        Mode::Permission,
        &[Bait::File("vpn.key", SECRET)],
        &EVERY_EVENT,
    );
    let trap = t.path("vpn.key");
    let before = settled_usage(&mut t);

    for sent in 0..HUP_BURST {
        // SAFETY: kill takes no pointers.
        let result = unsafe { libc::kill(t.daemon.pid as i32, libc::SIGHUP) };
        assert_eq!(result, 0, "SIGHUP {sent} failed: {}", std::io::Error::last_os_error());
    }
    assert!(t.daemon.is_running(), "ttrapd died during the SIGHUP burst");
    intrude(Command::new("cat").arg(&trap));
    let lines = finish_drill(&mut t, "sighup_burst", before);

    let hups = lines.iter().filter(|line| line.kind == "HUP").count();
    eprintln!("sighup_burst: {HUP_BURST} SIGHUPs gave {hups} HUP lines");
    assert!((1..=HUP_BURST).contains(&hups), "{hups} HUP lines for {HUP_BURST} SIGHUPs");
    assert_eq!(alerts_for(&lines, &trap, "open").len(), 1, "open alerts after the burst");
    let rechecks: Vec<&str> = lines
        .iter()
        .filter(|line| line.kind == "ALERT" && line.get("via").is_some())
        .map(|line| line.text.as_str())
        .collect();
    assert!(rechecks.is_empty(), "rechecks after SIGHUP reported changes: {rechecks:#?}");
}

/// How a start of ttrapd under a descriptor limit went.
#[derive(Debug)]
enum LimitedStart {
    /// Exited by itself with this status and stderr.
    Exited(Option<i32>, String),
    /// Wrote its START line and runs.
    Started,
}

/// Starts `ttrapd -f` on `trap` with RLIMIT_NOFILE set to `limit` and
/// waits until it exits or starts.
fn start_limited(dir: &TempDir, trap: &Path, limit: u64) -> (Daemon, LimitedStart) {
    let mut command = daemon::command(&["-f", "--quiet", "0"]);
    command.arg(trap);
    // SAFETY: the closure runs in the forked child before exec and calls
    // only setrlimit, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut daemon = Daemon::spawn(dir, &mut command);
    let outcome = poll_until(|| {
        if !daemon.is_running() {
            return Some(false);
        }
        daemon.stderr().contains("]: START ").then_some(true)
    });
    match outcome {
        Some(true) => (daemon, LimitedStart::Started),
        Some(false) => {
            let code = daemon.wait();
            let stderr = daemon.stderr();
            (daemon, LimitedStart::Exited(code, stderr))
        }
        None => panic!("ttrapd with RLIMIT_NOFILE={limit} neither started nor exited: a hang"),
    }
}

/// Python program that opens argv[1], prints its pid (or the error) and
/// keeps the trap open until its stdin closes.
const OPEN_AND_HOLD: &str = "\
import os, sys
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
except OSError as error:
    print('error', error.errno, flush=True)
    sys.exit(0)
print(os.getpid(), flush=True)
sys.stdin.read()
";

/// Checks a daemon that started under a descriptor limit: an open of the
/// trap must succeed and raise an alert that names the live opener.
/// Returns a description of what went wrong, if anything.
fn check_limited_daemon(daemon: &Daemon, trap: &Path) -> Option<String> {
    let mut python = Command::new("python3");
    python.arg("-c").arg(OPEN_AND_HOLD).arg(trap).stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = python.spawn().expect("run python");
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout is piped"))
        .read_line(&mut first)
        .expect("read python's first line");
    let outcome = match first.trim().parse::<u32>() {
        Err(_) => Some(format!("the opener's open failed: {}", first.trim())),
        Ok(pid) => {
            let needle = format!("ALERT trap={} event=open pid={pid}", trap.display());
            let alert = poll_until(|| {
                daemon.stderr().lines().find(|l| l.contains(&needle)).map(String::from)
            });
            match alert {
                None => Some(format!("no open alert for the live opener {pid}")),
                Some(line) if line.contains(" proc=exited") => {
                    Some(format!("the live opener is reported as exited: {line}"))
                }
                Some(line) if !line.contains(" ppid=") => {
                    Some(format!("no process fields: {line}"))
                }
                Some(_) => None,
            }
        }
    };
    drop(child.stdin.take());
    let status = wait_bounded(child, "the opener under a descriptor limit");
    assert!(status.success(), "the opener failed: {status}");
    outcome
}

/// Starts ttrapd under each RLIMIT_NOFILE in `limits`: it must exit 1
/// with a clear message, or start and name the opener of a trap.
fn descriptor_limits(limits: std::ops::RangeInclusive<u64>) {
    let dir = TempDir::new(&format!("nofile-{}", limits.start()));
    let trap = dir.join("vpn.key");
    fs::write(&trap, SECRET).expect("create the trap");
    let _syslogd = Syslogd::start(dir.join("syslog.out"));

    let mut problems = Vec::new();
    for limit in limits {
        let (mut daemon, start) = start_limited(&dir, &trap, limit);
        let problem = match &start {
            LimitedStart::Exited(Some(1), stderr) => {
                let clear = stderr.contains("ttrapd: cannot ") && stderr.contains("(EMFILE)");
                (!clear).then(|| format!("exit 1 without a clear EMFILE message: {stderr:?}"))
            }
            LimitedStart::Exited(code, stderr) => {
                Some(format!("exit {code:?} (None means a signal) with stderr {stderr:?}"))
            }
            LimitedStart::Started => {
                let problem = check_limited_daemon(&daemon, &trap);
                let code = daemon.stop();
                // Lossy text is enough here because these lines are ASCII only.
                for line in daemon.stderr().lines().filter(|line| line.starts_with("ttrapd[")) {
                    parse_line(line.as_bytes(), daemon.pid);
                }
                let errors: Vec<String> = daemon
                    .stderr()
                    .lines()
                    .filter(|line| line.contains("]: ERROR "))
                    .map(String::from)
                    .collect();
                eprintln!("descriptor_limits: {limit}: started, ERROR lines {errors:?}");
                match (problem, code) {
                    (Some(problem), _) => Some(problem),
                    (None, Some(0)) => None,
                    (None, code) => Some(format!("exit {code:?} after SIGTERM")),
                }
            }
        };
        eprintln!("descriptor_limits: RLIMIT_NOFILE={limit}: {start:?}: {problem:?}");
        if let Some(problem) = problem {
            problems.push(format!("RLIMIT_NOFILE={limit}: {problem}"));
        }
    }
    assert!(problems.is_empty(), "ttrapd under descriptor limits:\n{}", problems.join("\n"));
}

/// Descriptor number at which `inherited_descriptors_closed` hands ttrapd
/// an open file.
const INHERITED_FD: i32 = 9;

fn inherited_descriptors_closed() {
    let dir = TempDir::new("inherited_descriptors_closed");
    let trap = dir.join("vpn.key");
    fs::write(&trap, SECRET).expect("create the trap");
    let inherited = dir.join("inherited.txt");
    let file = fs::File::create(&inherited).expect("create the inherited file");
    let _syslogd = Syslogd::start(dir.join("syslog.out"));
    let mut command = daemon::command(&["-f"]);
    command.arg(&trap);
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    // SAFETY: the closure runs in the forked child before exec and calls
    // only dup2, which is async-signal-safe. dup2 leaves close-on-exec off.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(raw, INHERITED_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut daemon = Daemon::spawn(&dir, &mut command);
    let started = poll_until(|| daemon.stderr().contains("]: START ").then_some(()));
    assert!(started.is_some(), "ttrapd did not start: {}", daemon.stderr());
    let fd_dir = format!("/proc/{}/fd", daemon.pid);
    let held: Vec<PathBuf> = fs::read_dir(&fd_dir)
        .expect("list the daemon's descriptors")
        .filter_map(|entry| fs::read_link(entry.ok()?.path()).ok())
        .collect();
    assert!(
        !held.contains(&inherited),
        "ttrapd still holds the inherited {}: {held:?}",
        inherited.display()
    );
    assert_eq!(daemon.stop(), Some(0), "exit status after SIGTERM");
}
