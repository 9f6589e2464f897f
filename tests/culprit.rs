//! Naming the culprit end to end: real programs touch traps while a
//! foreground ttrapd with fanotify runs, and each test checks the process
//! fields of the lines that reach a real busybox syslogd.
//!
//! Fields are compared exactly where they are deterministic: pids, ids,
//! executable, command line, working directory, remote address and the
//! start of the parent chain. Nothing is assumed about the processes above
//! the test itself; the cases that depend on them print why and skip.
//!
//! ttrapd's flood control (`--quiet`, 10 s by default) turns repeats of an
//! event kind on one trap into a count. The harness's fixture turns it off
//! with `--quiet 0`, and the tests that start ttrapd themselves do the same.

#[allow(dead_code)]
mod common;

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::daemon::{self, Daemon, process_is_live};
use common::fields::Message;
use common::syslog::Record;
use common::{Bait, Mode, SECRET, TempDir, Trapped, field_value, poll_until};

fn main() -> ExitCode {
    common::run_cases(&[
        ("shell_chain", shell_chain),
        ("other_uid", other_uid),
        ("login_uid_set", login_uid_set),
        ("login_uid_inherited", login_uid_inherited),
        ("ssh_env_of_ancestor", ssh_env_of_ancestor),
        ("ssh_env_invalid", ssh_env_invalid),
        ("tcp_peer_of_ancestor", tcp_peer_of_ancestor),
        ("tcp_peer_while_running", tcp_peer_while_running),
        ("exec_of_decoy", exec_of_decoy),
        ("deny_open", deny_open),
        ("deny_entry_via_foreign_mount", deny_entry_via_foreign_mount),
        ("deny_entry_with_unreadable_path", deny_entry_with_unreadable_path),
        ("moved_away_directory_released", moved_away_directory_released),
        ("foreign_mount_charged_to_its_trap", foreign_mount_charged_to_its_trap),
        ("dropped_directory_no_way_in", dropped_directory_no_way_in),
        ("allow_exe", allow_exe),
        ("allow_exe_flood_control", allow_exe_flood_control),
        ("allow_exe_not_borrowed", allow_exe_not_borrowed),
        ("own_hook_not_reported", own_hook_not_reported),
        ("fd_count_after_opens", fd_count_after_opens),
        ("stalled_syslog", stalled_syslog),
        ("holders_without_fanotify", holders_without_fanotify),
        ("notification_mode", notification_mode),
        ("notification_exited", notification_exited),
        ("notification_zombie", notification_zombie),
    ])
}

/// Name of the trapped file that the tests read.
const KEY: &str = "vpn.key";

/// Options that make every event alert, so repeats are not counted away.
const EVERY_EVENT: [&str; 2] = ["--quiet", "0"];

/// Options that turn flood control back on with its default window.
const DEFAULT_QUIET: [&str; 2] = ["--quiet", "10"];

/// Maximum time an intruder program may run. With permission events an
/// open of a trap waits for ttrapd, so a daemon that never responds to the event would
/// hang the test without this bound. Correct runs take well under it.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Shell script that prints its own pid on a line and then executes its
/// arguments in the same process, so a test learns the pid of a program
/// that a shell or another wrapper starts.
const PRINT_PID_THEN_EXEC: &str = "echo $$ && exec \"$@\"";

/// Field keys of ALERT and ALLOWED lines in the order ttrapd writes them.
const FIELD_ORDER: [&str; 24] = [
    "trap", "event", "entry", "path", "action", "changed", "via", "holders", "pid", "proc", "ppid",
    "uid", "euid", "gid", "auid", "ses", "tty", "from", "from_src", "exe", "comm", "cwd", "cmd",
    "chain",
];

/// Login uid and session id that mean "never set" (`(uid_t)-1`).
const UNSET_ID: &str = "4294967295";

/// Starts a fixture in `mode` with `options` trapping [`KEY`], and checks
/// that the START line reads `START traps=2 SETTINGS version=V
/// run=foreground`.
fn start(name: &str, mode: Mode, options: &[&str], settings: &str) -> Trapped {
    start_with_baits(name, mode, &[Bait::File(KEY, SECRET)], options, settings)
}

/// Like [`start`] with other baits.
fn start_with_baits(
    name: &str,
    mode: Mode,
    baits: &[Bait<'_>],
    options: &[&str],
    settings: &str,
) -> Trapped {
    let t = Trapped::start_with(name, mode, baits, options);
    let records = t.log.records();
    let start = records
        .iter()
        .find(|record| record.pid == t.daemon.pid && record.message.starts_with("START "))
        .expect("the START line that start_with waited for");
    let expected = format!(
        "START traps={} {settings} version={} run=foreground",
        baits.len() + 1,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(start.message, expected, "START line of ttrapd {}", options.join(" "));
    t
}

/// Stops the daemon with SIGTERM and checks its exit status.
fn stop(t: &mut Trapped) {
    assert_eq!(t.daemon.stop(), Some(0), "ttrapd exit status after SIGTERM");
}

/// An ALERT or ALLOWED line from syslog with its fields.
struct Line {
    text: String,
    /// Facility and severity as syslogd names them.
    priority: String,
    message: Message,
}

impl Line {
    fn new(record: &Record) -> Line {
        Line {
            text: record.message.clone(),
            priority: record.priority.clone(),
            message: Message::parse(&record.message),
        }
    }

    /// Returns the value of `key` as written, or `None` when absent.
    fn get(&self, key: &str) -> Option<&str> {
        self.message.get(key)
    }

    /// Checks that field `key` is written as `expected`. `description`
    /// names the expected value in the failure message.
    fn assert_field(&self, key: &str, expected: &str, description: &str) {
        let text = &self.text;
        assert_eq!(self.get(key), Some(expected), "{key}= should be {description}, in: {text}");
    }

    fn keys(&self) -> Vec<&str> {
        self.message.fields.iter().map(|(key, _)| key.as_str()).collect()
    }

    /// Checks that every key is a documented one and that the keys come in
    /// the documented order.
    fn assert_field_order(&self) {
        let mut last = 0;
        for key in self.keys() {
            let position = FIELD_ORDER
                .iter()
                .position(|known| *known == key)
                .unwrap_or_else(|| panic!("undocumented field {key:?} in: {}", self.text));
            assert!(
                position >= last,
                "field {key:?} is out of the documented order {FIELD_ORDER:?} in: {}",
                self.text
            );
            last = position;
        }
    }
}

/// Finds the line of `kind` for `event` by process `pid`, and panics
/// listing every line when there is none.
fn find(records: &[Record], kind: &str, event: &str, pid: u32) -> Line {
    let pid = pid.to_string();
    records
        .iter()
        .map(Line::new)
        .find(|line| {
            line.message.kind == kind
                && line.get("event") == Some(event)
                && line.get("pid") == Some(pid.as_str())
        })
        .unwrap_or_else(|| {
            let texts: Vec<&str> = records.iter().map(|record| record.message.as_str()).collect();
            panic!("no {kind} line for event={event} pid={pid} among:\n{}", texts.join("\n"))
        })
}

/// How a bounded run of a program ended.
struct Ran {
    pid: u32,
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

impl Ran {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Returns the pid that [`PRINT_PID_THEN_EXEC`] printed on the first
    /// line of stdout, and the output after that line.
    fn printed_pid(&self) -> (u32, &[u8]) {
        split_pid_line(&self.stdout)
    }
}

/// Splits `stdout` into the pid on its first line and the rest.
fn split_pid_line(stdout: &[u8]) -> (u32, &[u8]) {
    let newline = stdout.iter().position(|&byte| byte == b'\n').expect("a pid line on stdout");
    let text = std::str::from_utf8(&stdout[..newline]).expect("the pid line is ASCII");
    let pid = text
        .parse()
        .unwrap_or_else(|error| panic!("first stdout line {text:?} is not a pid: {error}"));
    (pid, &stdout[newline + 1..])
}

/// Numbers the output files of runs within one process.
static RUNS: AtomicUsize = AtomicUsize::new(0);

/// A child process that is killed by its pid and reaped on drop.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `command` with stdin on /dev/null and stdout and stderr in files
/// under `dir`. Past `limit` it kills the program and fails the test.
fn run_within(dir: &TempDir, command: &mut Command, limit: Duration) -> Ran {
    let program = format!("{command:?}");
    let (ran, finished) = run_bounded(dir, command, limit);
    assert!(finished, "{program} did not finish within {limit:?}; stdout: {:?}", ran.stdout_text());
    ran
}

/// Runs `command` like [`run_within`], but returns after killing it at
/// `limit`, with whether it finished by itself.
fn run_bounded(dir: &TempDir, command: &mut Command, limit: Duration) -> (Ran, bool) {
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let stdout_path = dir.join(format!("run-{run}.stdout"));
    let stderr_path = dir.join(format!("run-{run}.stderr"));
    let stdout = File::create(&stdout_path).expect("create a stdout file");
    let stderr = File::create(&stderr_path).expect("create a stderr file");
    let program = format!("{command:?}");
    let child = command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
    let mut child = Guard(child);
    let pid = child.0.id();
    let deadline = Instant::now() + limit;
    let (status, finished) = loop {
        if let Some(status) = child.0.try_wait().expect("wait for the intruder") {
            break (status, true);
        }
        if Instant::now() >= deadline {
            child.0.kill().unwrap_or_else(|error| panic!("kill {program}: {error}"));
            break (child.0.wait().expect("reap the killed intruder"), false);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = fs::read(&stdout_path).expect("read the stdout file");
    let stderr = fs::read(&stderr_path).expect("read the stderr file");
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    (Ran { pid, status, stdout, stderr }, finished)
}

/// Runs `command` like [`run_within`] with [`RUN_LIMIT`] and checks that
/// it succeeded, because the alert it should cause would prove nothing
/// otherwise.
fn run(dir: &TempDir, command: &mut Command) -> Ran {
    let ran = run_within(dir, command, RUN_LIMIT);
    assert!(ran.status.success(), "{command:?} failed with {}: {}", ran.status, ran.stderr);
    ran
}

/// Returns a command that runs `program` through [`PRINT_PID_THEN_EXEC`].
fn printing_pid(program: &str) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(PRINT_PID_THEN_EXEC).arg("sh").arg(program);
    command
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("test paths are UTF-8").to_string()
}

/// Returns the canonical path of `program` found in PATH, as the kernel
/// reports it in `/proc/PID/exe` (`/bin` may be a link to `/usr/bin`).
fn real_exe(program: &str) -> String {
    let search = std::env::var_os("PATH").expect("PATH is set");
    let found = std::env::split_paths(&search)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{program} not found in PATH"));
    let real = fs::canonicalize(&found)
        .unwrap_or_else(|error| panic!("realpath {}: {error}", found.display()));
    path_text(&real)
}

fn read_stat(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|error| panic!("read /proc/{pid}/stat: {error}"))
}

/// Returns the command name of `pid` as ttrapd writes it in `chain=` and
/// `holders=`, with the separators `,` and `:` replaced by `_`.
fn listed_name(pid: u32) -> String {
    let stat = read_stat(pid);
    let open = stat.find('(').expect("stat has the name in parentheses");
    let close = stat.rfind(')').expect("stat has the name in parentheses");
    stat[open + 1..close].replace([',', ':'], "_")
}

fn parent_of(pid: u32) -> u32 {
    let stat = read_stat(pid);
    let after_name = &stat[stat.rfind(')').expect("stat has the name in parentheses") + 2..];
    let ppid = after_name.split(' ').nth(1).and_then(|ppid| ppid.parse().ok());
    ppid.expect("stat has the parent pid")
}

fn read_pid_file(path: &Path) -> u32 {
    let text =
        fs::read_to_string(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|error| panic!("{} holds {text:?}, not a pid: {error}", path.display()))
}

/// Returns the real uid, effective uid and real gid of this test process,
/// which the intruders inherit.
fn own_ids() -> (u32, u32, u32) {
    // SAFETY: getuid, geteuid and getgid have no preconditions.
    unsafe { (libc::getuid(), libc::geteuid(), libc::getgid()) }
}

/// Returns the first process among this one and its ancestors whose
/// environment names an SSH client, with the variable found.
fn ancestor_with_ssh_env() -> Option<(u32, String)> {
    let mut pid = std::process::id();
    while pid != 0 {
        // An environment this test cannot read, ttrapd as root cannot either.
        if let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) {
            for entry in environ.split(|&byte| byte == 0) {
                if entry.starts_with(b"SSH_CONNECTION=") || entry.starts_with(b"SSH_CLIENT=") {
                    return Some((pid, String::from_utf8_lossy(entry).into_owned()));
                }
            }
        }
        if pid == 1 {
            break;
        }
        pid = parent_of(pid);
    }
    None
}

fn count_fds(pid: u32) -> usize {
    let entries = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|error| panic!("list /proc/{pid}/fd: {error}"));
    entries.count()
}

// The scripts of `shell_chain`: bash runs sh, which runs cat in the
// background so that it can print cat's pid.
const OUTER_SCRIPT: &str = "sh \"$2/inner.sh\" \"$1\" \"$2\"\nexit $?\n";
const INNER_SCRIPT: &str =
    "echo $$ > \"$2/sh.pid\"\ncat \"$1\" &\necho $! > \"$2/cat.pid\"\nwait $!\n";

fn shell_chain() {
    let mut t = start("shell_chain", Mode::Permission, &[], "mode=fanotify-perm");
    let trap = t.trap(KEY);
    fs::write(t.path("outer.sh"), OUTER_SCRIPT).expect("write outer.sh");
    fs::write(t.path("inner.sh"), INNER_SCRIPT).expect("write inner.sh");
    let cwd = fs::canonicalize(t.dir.path()).expect("realpath of the test directory");

    let mut bash = Command::new("bash");
    bash.arg(t.path("outer.sh")).arg(&trap).arg(t.dir.path()).current_dir(t.dir.path());
    let ran = run(&t.dir, &mut bash);
    assert_eq!(ran.stdout, SECRET.as_bytes(), "output of cat");
    let bash = ran.pid;
    let sh = read_pid_file(&t.path("sh.pid"));
    let cat = read_pid_file(&t.path("cat.pid"));

    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", cat);
    let (uid, euid, gid) = own_ids();
    alert.assert_field_order();
    alert.assert_field("trap", &trap, "the trapped path");
    alert.assert_field("ppid", &sh.to_string(), "the pid of the sh that ran cat");
    alert.assert_field("uid", &uid.to_string(), "the test's uid");
    alert.assert_field("euid", &euid.to_string(), "the test's effective uid");
    alert.assert_field("gid", &gid.to_string(), "the test's gid");
    alert.assert_field("exe", &field_value(&real_exe("cat")), "the real path of cat");
    alert.assert_field("comm", "cat", "cat's command name");
    alert.assert_field("cwd", &field_value(&path_text(&cwd)), "the directory cat ran in");
    alert.assert_field("cmd", &field_value(&format!("cat {trap}")), "cat's command line");

    let chain = alert.get("chain").expect("the alert has chain=");
    let chain = chain.strip_prefix('"').unwrap_or(chain);
    let me = std::process::id();
    let first = format!("{sh}:sh,{bash}:bash,{me}:{}", listed_name(me));
    assert!(
        chain.starts_with(&first),
        "chain= {chain:?} should start with the two shells and the test: {first:?}"
    );
    // A chain longer than its cap is cut and ends in the cut marker.
    if !chain.ends_with("\\...\"") {
        let last = chain.rsplit(',').next().unwrap_or("");
        assert!(last.starts_with("1:"), "chain= {chain:?} should end at pid 1");
    }
    stop(&mut t);
}

fn other_uid() {
    let mut t = start("other_uid", Mode::Permission, &[], "mode=fanotify-perm");
    let trap = t.trap(KEY);

    // setpriv changes the ids and then executes cat in the same process;
    // the trap is world-readable.
    let mut setpriv = Command::new("setpriv");
    setpriv.args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"]).arg(&trap);
    let ran = run(&t.dir, &mut setpriv);
    assert_eq!(ran.stdout, SECRET.as_bytes(), "output of cat as uid 65534");

    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", ran.pid);
    alert.assert_field_order();
    alert.assert_field("ppid", &std::process::id().to_string(), "the test's pid");
    alert.assert_field("uid", "65534", "the uid setpriv set");
    alert.assert_field("euid", "65534", "the uid setpriv set");
    alert.assert_field("gid", "65534", "the gid setpriv set");
    alert.assert_field("exe", &field_value(&real_exe("cat")), "the real path of cat");
    stop(&mut t);
}

/// Shell script that sets its login uid to 1000, exiting 97 when the write
/// fails, then executes cat on the trap and its own session id.
const SET_LOGIN_UID: &str =
    "echo 1000 > /proc/self/loginuid || exit 97\nexec cat \"$1\" /proc/self/sessionid\n";

fn login_uid_set() {
    let mut t = start("login_uid_set", Mode::Permission, &[], "mode=fanotify-perm");
    let trap = t.trap(KEY);

    let mut sh = Command::new("sh");
    sh.arg("-c").arg(SET_LOGIN_UID).arg("sh").arg(&trap);
    let ran = run_within(&t.dir, &mut sh, RUN_LIMIT);
    if ran.status.code() == Some(97) {
        // A kernel without audit support (CONFIG_AUDIT) has no loginuid
        // file, and a login uid that is already set can only be changed
        // with CAP_AUDIT_CONTROL.
        eprintln!("login_uid_set skipped: cannot write /proc/self/loginuid: {}", ran.stderr.trim());
        return;
    }
    assert!(ran.status.success(), "the login uid script failed: {}: {}", ran.status, ran.stderr);
    let session = ran.stdout.strip_prefix(SECRET.as_bytes()).expect("cat printed the trap first");
    let session = String::from_utf8_lossy(session).trim().to_string();
    assert_ne!(session, UNSET_ID, "setting the login uid should start a session");

    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", ran.pid);
    alert.assert_field_order();
    alert.assert_field("auid", "1000", "the login uid written to /proc/self/loginuid");
    alert.assert_field("ses", &session, "the session id that cat printed");
    stop(&mut t);
}

fn login_uid_inherited() {
    let mut t = start("login_uid_inherited", Mode::Permission, &[], "mode=fanotify-perm");
    let trap = t.trap(KEY);
    // cat inherits the login uid and session of the test, usually unset.
    let own_auid = fs::read_to_string("/proc/self/loginuid").expect("read /proc/self/loginuid");
    let own_session =
        fs::read_to_string("/proc/self/sessionid").expect("read /proc/self/sessionid");
    let (own_auid, own_session) = (own_auid.trim(), own_session.trim());

    let ran = run(&t.dir, Command::new("cat").arg(&trap));
    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", ran.pid);
    alert.assert_field_order();
    let auid = if own_auid == UNSET_ID { "unset" } else { own_auid };
    alert.assert_field("auid", auid, "the login uid inherited from the test");
    let session = (own_session != UNSET_ID).then_some(own_session);
    assert_eq!(
        alert.get("ses"),
        session,
        "ses= should be absent exactly when the session id is unset, in: {}",
        alert.text
    );
    stop(&mut t);
}

/// Bash script: runs `sh -c PRINT_PID_THEN_EXEC cat TRAP
/// /proc/self/environ` without the SSH variables, so that only bash has
/// them.
const WITHOUT_SSH_ENV: &str =
    "env -u SSH_CONNECTION -u SSH_CLIENT sh -c \"$1\" sh cat \"$2\" /proc/self/environ\nexit $?\n";

/// Runs cat under a bash whose environment has `SSH_CONNECTION=value` and
/// returns cat's open alert.
fn alert_under_ssh_env(name: &str, value: &str) -> Line {
    let mut t = start(name, Mode::Permission, &[], "mode=fanotify-perm");
    let trap = t.trap(KEY);

    let mut bash = Command::new("bash");
    bash.arg("-c").arg(WITHOUT_SSH_ENV).arg("bash").arg(PRINT_PID_THEN_EXEC).arg(&trap);
    bash.env("SSH_CONNECTION", value).env_remove("SSH_CLIENT");
    let ran = run(&t.dir, &mut bash);
    let (cat, output) = ran.printed_pid();
    let environ = output.strip_prefix(SECRET.as_bytes()).expect("cat printed the trap first");
    let has_ssh = environ.split(|&byte| byte == 0).any(|entry| entry.starts_with(b"SSH_"));
    assert!(!has_ssh, "cat's own environment should have no SSH_ variables");

    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", cat);
    alert.assert_field_order();
    alert.assert_field("ppid", &ran.pid.to_string(), "the pid of the bash with SSH_CONNECTION");
    stop(&mut t);
    alert
}

fn ssh_env_of_ancestor() {
    let alert = alert_under_ssh_env("ssh_env_of_ancestor", "203.0.113.7 51234 192.0.2.1 22");
    alert.assert_field("from", "203.0.113.7", "the first word of the parent's SSH_CONNECTION");
    alert.assert_field("from_src", "ssh-env", "the source of an address from SSH_CONNECTION");
}

fn ssh_env_invalid() {
    let alert = alert_under_ssh_env("ssh_env_invalid", "x;y 1 2 3");
    alert.assert_field("from", "invalid", "the mark of an SSH_CONNECTION without an address");
    alert.assert_field("from_src", "ssh-env", "the source of a value from SSH_CONNECTION");
}

/// Python program that connects to 127.0.0.1 port argv[2], keeps the
/// connection open and runs cat on argv[1] through PRINT_PID_THEN_EXEC.
/// Connects, runs cat, then keeps the connection a second longer, as the
/// shell of a reverse shell outlives the commands it runs. ttrapd looks up
/// the peer after it answered the open, and a connection closed by then
/// has left the kernel's table of established sockets.
const CONNECT_THEN_CAT: &str = "\
import socket, subprocess, sys, time
connection = socket.create_connection(('127.0.0.1', int(sys.argv[2])))
script = 'echo $$ && exec \"$@\"'
status = subprocess.run(['sh', '-c', script, 'sh', 'cat', sys.argv[1]]).returncode
time.sleep(1)
sys.exit(status)
";

fn tcp_peer_of_ancestor() {
    // An SSH client address in the environment takes precedence over TCP.
    if let Some((pid, variable)) = ancestor_with_ssh_env() {
        eprintln!("tcp_peer_of_ancestor skipped: process {pid} above the test has {variable:?}");
        return;
    }
    let mut t = start("tcp_peer_of_ancestor", Mode::Permission, &[], "mode=fanotify-perm");
    let trap = t.trap(KEY);
    // The connection stays in the listen queue: accepting it would give the
    // test, also an ancestor of cat, an established socket of its own.
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    let port = listener.local_addr().expect("listener address").port();

    let mut python = Command::new("python3");
    python.arg("-c").arg(CONNECT_THEN_CAT).arg(&trap).arg(port.to_string());
    python.env_remove("SSH_CONNECTION").env_remove("SSH_CLIENT");
    let ran = run(&t.dir, &mut python);
    let (cat, output) = ran.printed_pid();
    assert_eq!(output, SECRET.as_bytes(), "output of cat");

    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", cat);
    alert.assert_field_order();
    alert.assert_field("ppid", &ran.pid.to_string(), "the pid of the connected python");
    let from = format!("127.0.0.1:{port}");
    alert.assert_field("from", &from, "the peer of the parent's TCP connection");
    alert.assert_field("from_src", "tcp", "the source of an address from a TCP connection");
    drop(listener);
    stop(&mut t);
}

fn exec_of_decoy() {
    let baits = [Bait::File("backup-tool", "#!/bin/sh\nexit 0\n")];
    let mut t =
        start_with_baits("exec_of_decoy", Mode::Permission, &baits, &[], "mode=fanotify-perm");
    let trap = t.trap("backup-tool");
    fs::set_permissions(&trap, fs::Permissions::from_mode(0o755)).expect("chmod 755 the decoy");

    let ran = run(&t.dir, &mut Command::new(&trap));
    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "exec", ran.pid);
    alert.assert_field_order();
    alert.assert_field("trap", &trap, "the executed decoy");
    stop(&mut t);
}

fn deny_open() {
    let settings = "mode=fanotify-perm deny=yes";
    let mut t = start("deny_open", Mode::Permission, &["--deny"], settings);
    let trap = t.trap(KEY);

    let ran = run_within(&t.dir, printing_pid("cat").arg(&trap), RUN_LIMIT);
    assert!(!ran.status.success(), "cat of a trap under --deny should fail");
    // FAN_DENY makes open(2) fail with EPERM, whose message this is.
    assert!(
        ran.stderr.contains("Operation not permitted"),
        "cat should report EPERM (Operation not permitted), not: {:?}",
        ran.stderr
    );
    let (cat, output) = ran.printed_pid();
    assert!(
        output.is_empty(),
        "cat printed {:?} from a denied trap",
        String::from_utf8_lossy(output)
    );

    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", cat);
    alert.assert_field_order();
    alert.assert_field("action", "denied", "the mark of a refused open");
    alert.assert_field("comm", "cat", "the command name of the refused cat");
    stop(&mut t);
}

/// Name of the trapped directory in the tests of entries reached by paths
/// that lead elsewhere in ttrapd's mount namespace.
const VAULT: &str = "vault";

/// Starts ttrapd with `--deny` on [`VAULT`], which contains `secret`.
fn start_vault(name: &str) -> Trapped {
    let settings = "mode=fanotify-perm deny=yes";
    let baits = [Bait::DirWith(VAULT, "secret", SECRET)];
    start_with_baits(name, Mode::Permission, &baits, &["--deny"], settings)
}

/// Runs `intruder`, which exits 97 when its mount fails, and checks that
/// its open was refused; returns the pid it printed.
fn run_refused(t: &Trapped, intruder: &mut Command) -> u32 {
    let ran = run_within(&t.dir, intruder, RUN_LIMIT);
    assert_ne!(ran.status.code(), Some(97), "bind mount failed: {}", ran.stderr);
    assert_refused(&ran)
}

/// Checks that the run was refused with EPERM and nothing was read.
fn assert_refused(ran: &Ran) -> u32 {
    assert!(!ran.status.success(), "the open should have been refused: {}", ran.stderr);
    assert!(
        ran.stderr.contains("Operation not permitted") || ran.stderr.contains("Errno 1]"),
        "the open should fail with EPERM, not: {:?}",
        ran.stderr
    );
    let (pid, output) = ran.printed_pid();
    assert!(
        !output.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "the secret leaked: {:?}",
        String::from_utf8_lossy(output)
    );
    pid
}

fn deny_entry_via_foreign_mount() {
    let mut t = start_vault("deny_entry_via_foreign_mount");
    // In a mount namespace of its own, the intruder binds the trapped
    // directory onto an empty one and reads the secret through it. In
    // ttrapd's namespace that path leads to the empty directory.
    let elsewhere = t.path("elsewhere");
    fs::create_dir(&elsewhere).expect("create the mount point");
    let script = "mount --bind \"$1\" \"$2\" || exit 97; echo $$; exec cat \"$2/secret\"";
    let mut intruder = Command::new("unshare");
    intruder.args(["--mount", "sh", "-c", script, "sh"]).arg(t.path(VAULT)).arg(&elsewhere);
    let cat = run_refused(&t, &mut intruder);

    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", cat);
    alert.assert_field_order();
    alert.assert_field("trap", &field_value(&t.trap(VAULT)), "the trapped directory");
    alert.assert_field("entry", "secret", "the entry opened");
    let seen = format!("{}/secret", path_text(&elsewhere));
    alert.assert_field("path", &field_value(&seen), "the path the intruder used");
    alert.assert_field("action", "denied", "the mark of a refused open");
    stop(&mut t);
}

/// Python program that prints its pid, climbs down a chain of directories
/// longer than PATH_MAX, binds the trapped directory (argv[1]) there, and
/// reads the secret. The kernel cannot name the file's path then.
const DEEP_READER: &str = "
import os, subprocess, sys
print(os.getpid(), flush=True)
os.chdir(sys.argv[2])
for _ in range(22):
    os.mkdir('d' * 200)
    os.chdir('d' * 200)
os.mkdir('b')
if subprocess.call(['mount', '--bind', sys.argv[1], 'b']) != 0:
    sys.exit(97)
sys.stdout.write(open('b/secret').read())
";

fn deny_entry_with_unreadable_path() {
    let mut t = start_vault("deny_entry_with_unreadable_path");
    let deep = t.path("deep");
    fs::create_dir(&deep).expect("create the root of the deep chain");
    let mut intruder = Command::new("unshare");
    intruder.args(["--mount", "python3", "-c", DEEP_READER]).arg(t.path(VAULT)).arg(&deep);
    let reader = run_refused(&t, &mut intruder);

    // ttrapd cannot tell which entry it was, and refuses and reports the
    // open rather than let it pass.
    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", reader);
    alert.assert_field_order();
    alert.assert_field("trap", &field_value(&t.trap(VAULT)), "the trapped directory");
    alert.assert_field("path", "unreadable", "a path longer than PATH_MAX");
    alert.assert_field("action", "denied", "the mark of a refused open");
    stop(&mut t);
}

/// Times the trapped directory is moved away in
/// `moved_away_directory_released`, each time re-created.
const MOVES: usize = 12;

fn moved_away_directory_released() {
    // Two trapped directories; the first is moved away, re-created and
    // moved away again, and each old one is read. Their entries are no
    // traps any more, and must not be charged to the other directory.
    let settings = "mode=fanotify-perm deny=yes";
    let baits = [Bait::DirWith(VAULT, "secret", SECRET), Bait::Dir("other")];
    let mut t = start_with_baits(
        "moved_away_directory_released",
        Mode::Permission,
        &baits,
        &["--deny"],
        settings,
    );
    let vault = t.trap(VAULT);
    for round in 0..MOVES {
        fs::rename(t.path(VAULT), t.path(format!("vault.{round}")))
            .expect("move the trapped directory away");
        t.expect(&common::alert(&vault, "move"));
        fs::create_dir(t.path(VAULT)).expect("re-create the trapped directory");
        t.log.expect_where(t.daemon.pid, "REARM", |record| {
            record.message.starts_with(&format!("REARM trap={vault} "))
        });
        // The new directory gets a secret without opening it: a rename.
        let staged = t.path(format!("secret.{round}"));
        fs::write(&staged, SECRET).expect("stage a secret");
        fs::rename(&staged, t.path(VAULT).join("secret")).expect("move the secret in");
    }
    for round in [0, MOVES / 2, MOVES - 1] {
        let old = t.path(format!("vault.{round}")).join("secret");
        for _ in 0..2 {
            let ran = run(&t.dir, printing_pid("cat").arg(&old));
            let (_, output) = ran.printed_pid();
            assert_eq!(output, SECRET.as_bytes(), "output of cat in moved directory {round}");
        }
    }
    let records = t.barrier_records();
    let charged: Vec<&str> = records
        .iter()
        .map(|record| record.message.as_str())
        .filter(|message| message.contains(" event=open ") || message.contains(" event=read "))
        .collect();
    assert!(charged.is_empty(), "reads in the moved directories were reported: {charged:?}");
    stop(&mut t);
}

/// Writes a configuration file in `dir` with `lines`; returns its path.
fn config_file(dir: &TempDir, lines: &str) -> String {
    let path = dir.join("ttrapd.conf");
    fs::write(&path, lines).expect("write the configuration file");
    path_text(&path)
}

fn foreign_mount_charged_to_its_trap() {
    // Trapped directory A, whose opens are refused, is bound over trapped
    // directory B in another mount namespace. Reading B/secret there reads
    // A's secret, which must be charged to A, under A's settings.
    let files = TempDir::new("foreign_mount_charged_to_its_trap-files");
    let a = files.join("a");
    let b = files.join("b");
    for (dir, content) in [(&a, SECRET), (&b, "other secret\n")] {
        fs::create_dir(dir).expect("create a trapped directory");
        fs::write(dir.join("secret"), content).expect("write a secret");
    }
    let lines = format!("trap {} deny\ntrap {} events=delete\n", path_text(&a), path_text(&b));
    let config = config_file(&files, &lines);
    let name = "foreign_mount_charged_to_its_trap";
    let mut t = Trapped::start_with(name, Mode::Permission, &[], &["-c", &config]);
    let script = "mount --bind \"$1\" \"$2\" || exit 97; echo $$; exec cat \"$2/secret\"";
    let mut intruder = Command::new("unshare");
    intruder.args(["--mount", "sh", "-c", script, "sh"]).arg(&a).arg(&b);
    let cat = run_refused(&t, &mut intruder);

    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", cat);
    alert.assert_field_order();
    alert.assert_field("trap", &field_value(&path_text(&a)), "the directory really opened");
    alert.assert_field("entry", "secret", "the entry opened");
    let seen = format!("{}/secret", path_text(&b));
    alert.assert_field("path", &field_value(&seen), "the path the intruder used");
    alert.assert_field("action", "denied", "the refusal of A's deny");
    stop(&mut t);
}

fn dropped_directory_no_way_in() {
    // A reload drops trapped directory OLD. In its own namespaces, an
    // unprivileged user binds a secret of the still trapped VAULT onto a
    // file in OLD and reads it there.
    let files = TempDir::new("dropped_directory_no_way_in-files");
    fs::set_permissions(files.path(), fs::Permissions::from_mode(0o755))
        .expect("open the directory to all");
    let vault = files.join("vault");
    let old = files.join("old");
    for dir in [&vault, &old] {
        fs::create_dir(dir).expect("create a trapped directory");
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod a directory");
    }
    let secret = vault.join("secret");
    fs::write(&secret, SECRET).expect("write the secret");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).expect("chmod the secret");
    fs::write(old.join("plain"), "plain\n").expect("write a plain file");
    let both = format!("trap {}\ntrap {}\n", path_text(&vault), path_text(&old));
    let config = config_file(&files, &both);
    let name = "dropped_directory_no_way_in";
    let mut t = Trapped::start_with(name, Mode::Permission, &[], &["--deny", "-c", &config]);
    config_file(&files, &format!("trap {}\n", path_text(&vault)));
    t.daemon.signal(libc::SIGHUP);
    t.expect("HUP action=reloaded traps=2 added=0 removed=1");

    let script = "mount --bind \"$1\" \"$2\" || exit 97; echo $$; exec cat \"$2\"";
    let mut intruder = Command::new("setpriv");
    intruder.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    intruder.args(["unshare", "-Urm", "sh", "-c", script, "sh"]);
    intruder.arg(&secret).arg(old.join("plain"));
    let cat = run_refused(&t, &mut intruder);

    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", cat);
    alert.assert_field_order();
    alert.assert_field("trap", &field_value(&path_text(&vault)), "the trapped directory");
    let seen = format!("{}/plain", path_text(&old));
    alert.assert_field("path", &field_value(&seen), "the path the intruder used");
    alert.assert_field("action", "denied", "the mark of a refused open");
    stop(&mut t);
}

/// Runs the allowed cat and then head on the trap, and checks the ALLOWED
/// line for cat. Returns the barrier's records and the pid of head.
fn allowed_cat_then_head(t: &mut Trapped, cat_exe: &str) -> (Vec<Record>, u32) {
    let trap = t.trap(KEY);
    let ran = run(&t.dir, printing_pid("cat").arg(&trap));
    let (cat, output) = ran.printed_pid();
    assert_eq!(output, SECRET.as_bytes(), "output of the allowed cat");
    let ran = run(&t.dir, printing_pid("head").arg("-c").arg("100").arg(&trap));
    let (head, output) = ran.printed_pid();
    assert_eq!(output, SECRET.as_bytes(), "output of head");

    let records = t.barrier_records();
    let allowed = find(&records, "ALLOWED", "open", cat);
    allowed.assert_field_order();
    allowed.assert_field("exe", &field_value(cat_exe), "the allowed executable");
    assert_eq!(
        allowed.priority, "authpriv.notice",
        "an ALLOWED line should have priority <85> (authpriv.notice): {}",
        allowed.text
    );
    let cat = cat.to_string();
    let cat_alerts: Vec<&str> = records
        .iter()
        .filter(|record| {
            let message = Message::parse(&record.message);
            message.kind == "ALERT" && message.get("pid") == Some(cat.as_str())
        })
        .map(|record| record.message.as_str())
        .collect();
    assert!(cat_alerts.is_empty(), "the allowed cat should cause no ALERT line: {cat_alerts:?}");
    (records, head)
}

fn allow_exe() {
    let cat_exe = real_exe("cat");
    let options = ["--allow", cat_exe.as_str()];
    let settings = "mode=fanotify-perm allowed_exes=1";
    let mut t = start("allow_exe", Mode::Permission, &options, settings);

    let (records, head) = allowed_cat_then_head(&mut t, &cat_exe);
    let alert = find(&records, "ALERT", "open", head);
    alert.assert_field("comm", "head", "the command name of head, which is not allowed");
    stop(&mut t);
}

fn allow_exe_not_borrowed() {
    // tac is allowed. In a mount namespace of its own, an unprivileged
    // intruder binds cat over tac and runs it: the process's exe link still
    // names tac, but the file it runs is cat.
    let tac_exe = real_exe("tac");
    let cat_exe = real_exe("cat");
    let options = ["--deny", "--allow", tac_exe.as_str()];
    let settings = "mode=fanotify-perm deny=yes allowed_exes=1";
    let mut t = start("allow_exe_not_borrowed", Mode::Permission, &options, settings);
    fs::set_permissions(t.dir.path(), fs::Permissions::from_mode(0o755))
        .expect("let other users into the directory");
    fs::set_permissions(t.path(KEY), fs::Permissions::from_mode(0o644))
        .expect("let other users read the trap");
    let script = "mount --bind \"$1\" \"$2\" || exit 97; echo $$; exec \"$2\" \"$3\"";
    let mut intruder = Command::new("setpriv");
    intruder.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    intruder.args(["unshare", "-Urm", "sh", "-c", script, "sh", &cat_exe, &tac_exe]);
    intruder.arg(t.path(KEY));
    let pid = run_refused(&t, &mut intruder);

    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", pid);
    alert.assert_field("exe", &field_value(&tac_exe), "the name the process gives");
    alert.assert_field("action", "denied", "the refusal of --deny");
    stop(&mut t);
}

/// With flood control on, as by default, an allowed program's access must
/// not turn an intruder's access that follows into a mere count.
fn allow_exe_flood_control() {
    let cat_exe = real_exe("cat");
    let options = ["--allow", cat_exe.as_str(), DEFAULT_QUIET[0], DEFAULT_QUIET[1]];
    let settings = "mode=fanotify-perm allowed_exes=1";
    let mut t = start("allow_exe_flood_control", Mode::Permission, &options, settings);

    let (records, head) = allowed_cat_then_head(&mut t, &cat_exe);
    let alert = find(&records, "ALERT", "open", head);
    alert.assert_field("comm", "head", "the command name of head, which is not allowed");
    stop(&mut t);
}

/// Hook script that records its pid, then reads the trap that alerted
/// into a file, in the same process.
const READING_HOOK: &str =
    "#!/bin/sh\necho $$ >> \"$0.pids\"\nexec cat \"$TTRAPD_TRAP\" >> \"$0.out\"\n";

fn own_hook_not_reported() {
    let hook_dir = TempDir::new("own_hook_not_reported-hook");
    let hook = hook_dir.join("hook");
    fs::write(&hook, READING_HOOK).expect("write the hook");
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).expect("chmod the hook");
    let hook_text = path_text(&hook);
    let options = ["--exec", hook_text.as_str()];
    let mut t = start("own_hook_not_reported", Mode::Permission, &options, "mode=fanotify-perm");
    let trap = t.trap(KEY);

    run(&t.dir, Command::new("cat").arg(&trap));
    let mut records = t.barrier_records();
    // Wait for the hooks that the alerts started, then let a second
    // barrier collect whatever their reads of the traps caused.
    let pids_file = hook_dir.join("hook.pids");
    let hooks_done = poll_until(|| {
        let text = fs::read_to_string(&pids_file).ok()?;
        let pids: Vec<u32> = text.lines().filter_map(|line| line.parse().ok()).collect();
        (!pids.is_empty() && !pids.iter().any(|&pid| process_is_live(pid))).then_some(pids)
    });
    let hooks = hooks_done.expect("the hook should run on the alerts and finish");
    let read = fs::read_to_string(hook_dir.join("hook.out")).unwrap_or_default();
    assert!(read.contains(SECRET), "the hook should have read a trap, but read {read:?}");
    records.extend(t.barrier_records());

    let daemon = t.daemon.pid.to_string();
    for record in &records {
        let line = Line::new(record);
        if line.message.kind != "ALERT" && line.message.kind != "ALLOWED" {
            continue;
        }
        let pid = line.get("pid").unwrap_or_default();
        let by_hook = hooks.iter().any(|hook| hook.to_string() == pid);
        assert!(!by_hook, "a hook's read of a trap was reported: {}", line.text);
        let chain = line.get("chain").unwrap_or_default().trim_matches('"');
        let below_daemon = chain.split(',').any(|entry| entry.split(':').next() == Some(&daemon));
        assert!(!below_daemon, "a descendant of ttrapd was reported: {}", line.text);
    }
    stop(&mut t);
}

/// Python program that opens and closes the file argv[1] argv[2] times in
/// one process. It prints how many opens returned after every 100 and at
/// the end, so the last line is the progress even when it is killed.
const OPEN_LOOP: &str = "\
import os, sys
count = 0
for _ in range(int(sys.argv[2])):
    os.close(os.open(sys.argv[1], os.O_RDONLY))
    count += 1
    if count % 100 == 0:
        print(count, flush=True)
print(count, flush=True)
";

/// Returns the last line that [`OPEN_LOOP`] printed.
fn opens_returned(ran: &Ran) -> String {
    ran.stdout_text().lines().last().unwrap_or("0").to_string()
}

fn fd_count_after_opens() {
    let mut t = start("fd_count_after_opens", Mode::Permission, &[], "mode=fanotify-perm");
    let trap = t.trap(KEY);
    let opens = 10_000;
    let before = count_fds(t.daemon.pid);

    let mut python = Command::new("python3");
    python.arg("-c").arg(OPEN_LOOP).arg(&trap).arg(opens.to_string());
    let ran = run(&t.dir, &mut python);
    assert_eq!(opens_returned(&ran), opens.to_string(), "opens that returned");
    let records = t.barrier_records();
    let after = count_fds(t.daemon.pid);
    assert!(
        after <= before,
        "ttrapd had {before} descriptors before {opens} opens of a trap and {after} after"
    );

    let prefix = format!("ALERT trap={trap} event=open pid={} ", ran.pid);
    let alerts = records.iter().filter(|record| record.message.starts_with(&prefix)).count();
    assert_eq!(alerts, opens, "open alerts for the {opens} opens");
    stop(&mut t);
}

fn stalled_syslog() {
    let dir = TempDir::new("stalled_syslog");
    let trap = dir.join(KEY);
    fs::write(&trap, SECRET).expect("create the trap");
    // A syslog receiver that never reads, with the smallest receive buffer.
    let socket_path = dir.join("stalled.sock");
    let receiver = UnixDatagram::bind(&socket_path).expect("bind the stalled syslog socket");
    let size: libc::c_int = 1;
    // SAFETY: the pointer and length describe `size`, a c_int that lives
    // through the call.
    let set = unsafe {
        libc::setsockopt(
            receiver.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "setsockopt(SO_RCVBUF): {}", std::io::Error::last_os_error());

    let mut command = daemon::command(&["-f", "-l"]);
    command.arg(&socket_path).args(EVERY_EVENT).arg(&trap);
    let mut daemon = Daemon::spawn(&dir, &mut command);
    let start = format!("START traps=1 mode=fanotify-perm version={}", env!("CARGO_PKG_VERSION"));
    let started = poll_until(|| daemon.stderr().contains(&start).then_some(()));
    assert!(started.is_some(), "ttrapd did not write {start:?} to stderr:\n{}", daemon.stderr());

    // Every open must return although no line can be delivered. The bound
    // only catches a deadlock and is far above a correct run.
    let opens = 2_000;
    let mut python = Command::new("python3");
    python.arg("-c").arg(OPEN_LOOP).arg(&trap).arg(opens.to_string());
    let limit = Duration::from_secs(60);
    let (ran, finished) = run_bounded(&dir, &mut python, limit);
    assert!(
        finished,
        "{opens} opens of a trap should return within {limit:?} while syslog is stalled, but only \
         {} did",
        opens_returned(&ran)
    );
    assert!(ran.status.success(), "the open loop failed with {}: {}", ran.status, ran.stderr);
    assert_eq!(opens_returned(&ran), opens.to_string(), "opens that returned");

    assert!(daemon.is_running(), "ttrapd should survive a syslog receiver that never reads");
    let code = daemon.stop();
    assert_eq!(code, Some(0), "ttrapd exit status after SIGTERM with a stalled syslog receiver");
    drop(receiver);
}

/// Python program that opens argv[1], prints "ready" and keeps it open.
const HOLD_OPEN: &str = "\
import sys, time
opened = open(sys.argv[1])
print('ready', flush=True)
time.sleep(30)
";

fn holders_without_fanotify() {
    let mut t = start("holders_without_fanotify", Mode::Inotify, &[], "mode=inotify");
    let trap = t.trap(KEY);

    let mut holder = Command::new("python3");
    holder.arg("-c").arg(HOLD_OPEN).arg(&trap).stdin(Stdio::null()).stdout(Stdio::piped());
    let mut holder = Guard(holder.spawn().expect("start the holder"));
    let holder_pid = holder.0.id();
    let mut ready = String::new();
    let stdout = holder.0.stdout.take().expect("the holder's stdout");
    BufReader::new(stdout).read_line(&mut ready).expect("read the holder's ready line");
    assert_eq!(ready, "ready\n", "the holder should say it opened the trap");
    let holder_entry = format!("{holder_pid}:{}", listed_name(holder_pid));

    // The holder's own open: the trap is already open in the holder when
    // ttrapd scans the processes.
    let records = t.barrier_records();
    let own = Line::new(records.first().expect("an alert for the holder's open"));
    own.assert_field("event", "open", "the holder's open");
    let holders = own.get("holders").unwrap_or_default();
    assert!(
        holders.split(',').any(|entry| entry == holder_entry),
        "holders= of the holder's own open should list {holder_entry}, in: {}",
        own.text
    );

    run(&t.dir, Command::new("cat").arg(&trap));
    let records = t.barrier_records();
    let open = Line::new(records.first().expect("an alert for cat's open"));
    open.assert_field_order();
    open.assert_field("event", "open", "cat's open");
    assert_eq!(open.get("pid"), None, "inotify cannot name the process, in: {}", open.text);
    let holders = open.get("holders").unwrap_or_default();
    assert!(
        holders.split(',').any(|entry| entry == holder_entry),
        "holders= of cat's open should list {holder_entry}, in: {}",
        open.text
    );
    drop(holder);
    stop(&mut t);
}

/// Checks that `alert` is the short form for a process that exited
/// before ttrapd read `/proc`.
fn assert_exited_form(alert: &Line) {
    let keys = ["trap", "event", "pid", "proc"];
    assert_eq!(alert.keys(), keys, "fields of an alert for an exited process: {}", alert.text);
    alert.assert_field("proc", "exited", "the mark of a process that is gone");
}

fn notification_mode() {
    let mut t = start("notification_mode", Mode::Permission, &["--no-perm"], "mode=fanotify");
    let trap = t.trap(KEY);

    // Nothing waits for ttrapd in this mode, so a plain blocking run is
    // safe, and it reaps cat as soon as it exits.
    let output = common::intrude(printing_pid("cat").arg(&trap));
    let (cat, output) = split_pid_line(&output.stdout);
    assert_eq!(output, SECRET.as_bytes(), "output of cat");

    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", cat);
    alert.assert_field_order();
    // cat may be gone before ttrapd reads /proc.
    if alert.get("proc").is_some() {
        assert_exited_form(&alert);
    } else {
        alert.assert_field("ppid", &std::process::id().to_string(), "the test's pid");
        alert.assert_field("exe", &field_value(&real_exe("cat")), "the real path of cat");
        alert.assert_field("comm", "cat", "cat's command name");
    }
    stop(&mut t);
}

/// A daemon stopped with SIGSTOP, continued with SIGCONT on drop.
struct Paused<'a>(&'a Daemon);

impl<'a> Paused<'a> {
    fn new(daemon: &'a Daemon) -> Paused<'a> {
        daemon.signal(libc::SIGSTOP);
        Paused(daemon)
    }
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        // Not Daemon::signal, which panics on failure: a panic while the
        // test unwinds would abort it.
        // SAFETY: kill takes no pointers.
        unsafe { libc::kill(self.0.pid as i32, libc::SIGCONT) };
    }
}

fn notification_exited() {
    let mut t = start("notification_exited", Mode::Permission, &["--no-perm"], "mode=fanotify");
    let trap = t.trap(KEY);

    // cat runs and is reaped while ttrapd is stopped, so it is gone when
    // ttrapd reads the event.
    let paused = Paused::new(&t.daemon);
    let ran = run(&t.dir, printing_pid("cat").arg(&trap));
    drop(paused);
    let (cat, output) = ran.printed_pid();
    assert_eq!(output, SECRET.as_bytes(), "output of cat");

    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", cat);
    assert_exited_form(&alert);
    stop(&mut t);
}

/// Python program that runs cat on argv[1] through PRINT_PID_THEN_EXEC,
/// waits until cat has exited without reaping it, prints "zombie" and
/// reaps it only once its own stdin closes.
const KEEP_ZOMBIE: &str = "\
import subprocess, sys, time
script = 'echo $$ && exec \"$@\"'
cat = subprocess.Popen(['sh', '-c', script, 'sh', 'cat', sys.argv[1]])
while True:
    with open('/proc/%d/stat' % cat.pid) as stat:
        state = stat.read().rsplit(')', 1)[1].split()[0]
    if state == 'Z':
        break
    time.sleep(0.01)
print('zombie', flush=True)
sys.stdin.read()
sys.exit(cat.wait())
";

fn notification_zombie() {
    let mut t = start("notification_zombie", Mode::Permission, &["--no-perm"], "mode=fanotify");
    let trap = t.trap(KEY);

    // cat exits while ttrapd is stopped, and its parent leaves it a zombie
    // until ttrapd has reported it.
    let paused = Paused::new(&t.daemon);
    let mut python = Command::new("python3");
    python.arg("-c").arg(KEEP_ZOMBIE).arg(&trap);
    python.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut parent = Guard(python.spawn().expect("start the python parent"));
    let stdout = parent.0.stdout.take().expect("the parent's stdout");
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .map(|line| line.expect("read the parent's output"))
        .take_while(|line| line != "zombie")
        .collect();
    assert_eq!(lines.len(), 2, "the parent's output should be cat's pid and the trap: {lines:?}");
    let cat: u32 = lines[0].parse().expect("cat's pid on the first line");
    drop(paused);

    let records = t.barrier_records();
    let alert = find(&records, "ALERT", "open", cat);
    // A zombie has no executable, working directory or command line left,
    // so it cannot be described in full.
    assert_exited_form(&alert);
    drop(parent.0.stdin.take());
    stop(&mut t);
}

/// Python program that connects to 127.0.0.1 port argv[2] and runs
/// `cat argv[1] -` through PRINT_PID_THEN_EXEC, which keeps cat running
/// until the test closes the program's stdin.
const CONNECT_THEN_CAT_AND_WAIT: &str = "\
import socket, subprocess, sys
connection = socket.create_connection(('127.0.0.1', int(sys.argv[2])))
script = 'echo $$ && exec \"$@\"'
cat = subprocess.Popen(['sh', '-c', script, 'sh', 'cat', sys.argv[1], '-'], stdin=subprocess.PIPE)
sys.stdin.read()
cat.stdin.close()
sys.exit(cat.wait())
";

fn tcp_peer_while_running() {
    if let Some((pid, variable)) = ancestor_with_ssh_env() {
        eprintln!("tcp_peer_while_running skipped: process {pid} above the test has {variable:?}");
        return;
    }
    let mut t = start("tcp_peer_while_running", Mode::Permission, &[], "mode=fanotify-perm");
    let trap = t.trap(KEY);
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    let port = listener.local_addr().expect("listener address").port();

    let mut python = Command::new("python3");
    python.arg("-c").arg(CONNECT_THEN_CAT_AND_WAIT).arg(&trap).arg(port.to_string());
    python.env_remove("SSH_CONNECTION").env_remove("SSH_CLIENT");
    python.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut parent = Guard(python.spawn().expect("start the python parent"));
    let mut pid_line = String::new();
    // The reader stays open until the end: cat writes the trap to this
    // pipe and would die of SIGPIPE if it were closed.
    let mut stdout = BufReader::new(parent.0.stdout.take().expect("the parent's stdout"));
    stdout.read_line(&mut pid_line).expect("read cat's pid");
    let cat: u32 = pid_line.trim().parse().expect("cat's pid on the first line");

    // cat still runs when ttrapd looks for its connections.
    let cat_text = cat.to_string();
    let record = t.log.expect_where(t.daemon.pid, "cat's open alert", |record| {
        let message = Message::parse(&record.message);
        message.get("event") == Some("open") && message.get("pid") == Some(cat_text.as_str())
    });
    drop(parent.0.stdin.take());
    let mut rest = String::new();
    stdout.read_line(&mut rest).expect("read cat's output");
    assert_eq!(rest, SECRET, "output of cat");
    let alert = Line::new(&record);
    let from = format!("127.0.0.1:{port}");
    alert.assert_field("from", &from, "the peer of the parent's TCP connection");
    alert.assert_field("from_src", "tcp", "the source of an address from a TCP connection");
    drop(listener);
    stop(&mut t);
}
