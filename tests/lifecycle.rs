//! The daemon's life: detaching with a pidfile, stopping on signals,
//! SIGHUP, and delivering lines when syslog is missing, restarted or
//! listening on a stream socket.

#[allow(dead_code)]
mod common;

use std::ffi::CString;
use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use common::daemon::{self, Daemon, processes_mentioning, run_to_exit};
use common::fields::{Message, event_part};
use common::kmsg::Kmsg;
use common::syslog::{Syslogd, matches};
use common::{Bait, Mode, SECRET, TempDir, Trapped, alert, intrude, poll_until, sender_fields};

fn main() -> ExitCode {
    let mut trials = vec![
        common::trial("daemon_start_and_stop", daemon_start_and_stop),
        common::trial("foreground_sigint", foreground_sigint),
        common::trial("pidfile_locked", pidfile_locked),
        common::trial("stale_pidfile_taken_over", stale_pidfile_taken_over),
        common::trial("hup_line", hup_line),
        common::trial("syslog_restarted", syslog_restarted),
        common::trial("syslog_absent_at_start", syslog_absent_at_start),
        common::trial("stream_socket", stream_socket),
        common::trial("reload_adds_and_removes_traps", reload_adds_and_removes_traps),
        common::trial("reload_rejected_releases_new_traps", reload_rejected_releases_new_traps),
        common::trial("reload_storm_keeps_every_open", reload_storm_keeps_every_open),
        common::trial("config_fifo_refused", config_fifo_refused),
        common::trial("config_in_trap_refused", config_in_trap_refused),
        common::trial("config_bound_from_trap_reloads", config_bound_from_trap_reloads),
        common::trial("hup_after_ancestor_renamed", hup_after_ancestor_renamed),
        common::trial("syslog_replaced_while_stalled", syslog_replaced_while_stalled),
    ];
    trials.extend(common::trials_per_mode("hup_finds_mmap_write", hup_finds_mmap_write));
    common::run_trials(trials)
}

/// Returns `path` as text for ttrapd arguments and expected lines.
fn text(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Starts ttrapd without `-f`, checks that the command returned 0, and
/// takes charge of the daemon by its pidfile.
fn start_detached(dir: &TempDir, pidfile: &Path, trap: &Path) -> Daemon {
    let finished = run_to_exit(dir, &mut daemon::command(&["-p", text(pidfile), text(trap)]));
    assert_eq!(finished.code, Some(0), "exit status of the starting command: {finished:?}");
    Daemon::from_pidfile(pidfile)
}

/// Returns the START message of a detached ttrapd with one trap.
fn daemon_start_line() -> String {
    let mode = Mode::Permission.start_word();
    format!("START traps=1 mode={mode} version={} run=daemon", env!("CARGO_PKG_VERSION"))
}

fn daemon_start_and_stop() {
    let dir = TempDir::new("daemon_start_and_stop");
    let trap = dir.join("vpn.key");
    fs::write(&trap, SECRET).expect("create the trap");
    let pidfile = dir.join("ttrapd.pid");
    let syslogd = Syslogd::start(dir.join("syslog.out"));
    let mut log = syslogd.log();

    let mut daemon = start_detached(&dir, &pidfile, &trap);
    // The command returns only once the traps are armed, so an intruder
    // right after it must be caught.
    intrude(Command::new("cat").arg(&trap));
    log.expect(daemon.pid, &daemon_start_line());
    log.expect(daemon.pid, &alert(text(&trap), "open"));

    let pidfile_text = fs::read_to_string(&pidfile).expect("read the pidfile");
    assert_eq!(pidfile_text, format!("{}\n", daemon.pid), "pidfile content");
    assert!(daemon.is_running(), "the daemon runs");
    // SAFETY: getsid takes no pointers.
    let (daemon_session, own_session) =
        unsafe { (libc::getsid(daemon.pid as i32), libc::getsid(0)) };
    assert_ne!(daemon_session, own_session, "the daemon has a session of its own");
    assert_ne!(daemon_session, daemon.pid as i32, "the daemon is not a session leader");

    assert_eq!(daemon.stop(), Some(0), "exit status after SIGTERM");
    log.expect(daemon.pid, &format!("STOP signal=SIGTERM {}", sender_fields()));
    assert!(!pidfile.exists(), "pidfile {} is left after a clean stop", pidfile.display());
}

fn foreground_sigint() {
    let mut t = Trapped::start("foreground_sigint", Mode::Permission, &[]);
    assert_eq!(t.daemon.stop_with(libc::SIGINT), Some(0), "exit status after SIGINT");
    let stop = format!("STOP signal=SIGINT {}", sender_fields());
    t.expect(&stop);

    // In the foreground every line is copied to stderr, without <PRI>.
    let stderr = t.daemon.stderr();
    let last = stderr.lines().last().unwrap_or("");
    let copied = last.strip_prefix(&format!("ttrapd[{}]: ", t.daemon.pid));
    let copied = copied.is_some_and(|message| matches(message, &stop));
    assert!(copied, "the last stderr line is not the STOP line:\n{stderr}");
}

fn pidfile_locked() {
    let dir = TempDir::new("pidfile_locked");
    let trap = dir.join("vpn.key");
    fs::write(&trap, SECRET).expect("create the trap");
    let pidfile = dir.join("ttrapd.pid");
    let _syslogd = Syslogd::start(dir.join("syslog.out"));
    let mut first = start_detached(&dir, &pidfile, &trap);
    let before = fs::read_to_string(&pidfile).expect("read the pidfile");

    let second = run_to_exit(&dir, &mut daemon::command(&["-p", text(&pidfile), text(&trap)]));
    assert_eq!(second.code, Some(1), "exit status of the second start: {second:?}");
    assert!(second.stderr.contains("locked"), "stderr of the second start: {:?}", second.stderr);
    assert!(
        second.stderr.contains(text(&pidfile)),
        "stderr of the second start does not name the pidfile: {:?}",
        second.stderr
    );
    assert!(first.is_running(), "the first daemon stopped");
    let after = fs::read_to_string(&pidfile).expect("read the pidfile");
    assert_eq!(after, before, "pidfile content after the second start");
    assert_eq!(processes_mentioning(text(&pidfile)), [first.pid], "processes using the pidfile");

    assert_eq!(first.stop(), Some(0), "exit status after SIGTERM");
}

fn stale_pidfile_taken_over() {
    let dir = TempDir::new("stale_pidfile_taken_over");
    let trap = dir.join("vpn.key");
    fs::write(&trap, SECRET).expect("create the trap");
    let pidfile = dir.join("ttrapd.pid");
    let syslogd = Syslogd::start(dir.join("syslog.out"));
    let mut log = syslogd.log();

    let mut killed = start_detached(&dir, &pidfile, &trap);
    assert_eq!(killed.stop_with(libc::SIGKILL), None, "exit status after SIGKILL");
    let stale = fs::read_to_string(&pidfile).expect("read the stale pidfile");
    assert_eq!(stale, format!("{}\n", killed.pid), "pidfile left by SIGKILL");

    let mut daemon = start_detached(&dir, &pidfile, &trap);
    assert_ne!(daemon.pid, killed.pid, "pid of the new daemon");
    assert!(daemon.is_running(), "the new daemon runs");
    log.expect(daemon.pid, &daemon_start_line());
    intrude(Command::new("cat").arg(&trap));
    log.expect(daemon.pid, &alert(text(&trap), "open"));

    assert_eq!(daemon.stop(), Some(0), "exit status after SIGTERM");
    assert!(!pidfile.exists(), "pidfile {} is left after a clean stop", pidfile.display());
}

fn hup_line() {
    let mut t = Trapped::start("hup_line", Mode::Permission, &[Bait::File("vpn.key", SECRET)]);
    t.daemon.signal(libc::SIGHUP);
    let lines = t.barrier();
    let hup = lines.first().map(|line| Message::parse(line));
    let hup = hup.unwrap_or_else(|| panic!("no line after SIGHUP"));
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() }.to_string();
    let own_pid = std::process::id().to_string();
    assert_eq!(hup.kind, "HUP", "first line after SIGHUP: {lines:?}");
    assert_eq!(hup.get("pid"), Some(own_pid.as_str()), "sender pid in {lines:?}");
    assert_eq!(hup.get("uid"), Some(uid.as_str()), "sender uid in {lines:?}");
    assert_eq!(hup.get("syslog"), Some("connected"), "syslog state in {lines:?}");
    let alerts: Vec<&String> = lines.iter().filter(|line| line.starts_with("ALERT ")).collect();
    assert!(alerts.is_empty(), "alerts after SIGHUP with nothing changed: {alerts:?}");
    t.stop();
}

/// Sets the access time of `path` an hour ahead without opening it, and
/// the modification time to what it is. With the access time after the
/// other times, relatime leaves it alone, so a later write through a
/// mapping changes only mtime and ctime.
fn set_access_time_ahead(path: &Path) {
    let metadata = fs::metadata(path).expect("stat the trap");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970");
    let ahead = libc::timespec { tv_sec: (now.as_secs() + 3600) as libc::time_t, tv_nsec: 0 };
    let modified = libc::timespec { tv_sec: metadata.mtime(), tv_nsec: metadata.mtime_nsec() };
    let times = [ahead, modified];
    let path = CString::new(path.as_os_str().as_bytes()).expect("path without NUL");
    // SAFETY: `path` is NUL-terminated and `times` contains the two entries
    // utimensat reads.
    let result = unsafe { libc::utimensat(libc::AT_FDCWD, path.as_ptr(), times.as_ptr(), 0) };
    assert_eq!(result, 0, "utimensat failed: {}", std::io::Error::last_os_error());
}

/// Opens argv[1] read-write, says "ready", waits for a line on stdin, then
/// changes the first byte through a shared mapping (which inotify and
/// fanotify do not report) and says "done".
const MMAP_WRITER: &str = "\
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
print('ready', flush=True)
sys.stdin.readline()
with mmap.mmap(fd, 0) as m:
    m[0:1] = b'S'
print('done', flush=True)
";

fn hup_finds_mmap_write(mode: Mode) {
    let mut t = Trapped::start("hup_finds_mmap_write", mode, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");
    set_access_time_ahead(Path::new(&trap));
    assert_eq!(t.barrier(), [alert(&trap, "attrib")], "lines after setting the access time");

    let mut writer = Command::new("python3")
        .arg("-c")
        .arg(MMAP_WRITER)
        .arg(&trap)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the mmap writer");
    let mut stdout = BufReader::new(writer.stdout.take().expect("writer stdout"));
    let mut reply = String::new();
    stdout.read_line(&mut reply).expect("read from the writer");
    assert_eq!(reply, "ready\n", "mmap writer output");
    assert_eq!(t.barrier(), [alert(&trap, "open")], "lines after the writer opened the trap");
    // A second barrier: the snapshot ttrapd takes after the open's batch is
    // certainly taken once a later batch has been handled.
    assert_eq!(t.barrier(), Vec::<String>::new(), "lines after the second barrier");

    writer.stdin.take().expect("writer stdin").write_all(b"go\n").expect("tell the writer to go");
    reply.clear();
    stdout.read_line(&mut reply).expect("read from the writer");
    assert_eq!(reply, "done\n", "mmap writer output");
    assert!(writer.wait().expect("wait for the writer").success(), "mmap writer exit status");
    assert_eq!(t.barrier(), Vec::<String>::new(), "lines after the write through the mapping");

    t.daemon.signal(libc::SIGHUP);
    let lines = t.barrier();
    let hup_first = lines.first().is_some_and(|line| line.starts_with("HUP "));
    assert!(hup_first, "first line after SIGHUP: {lines:?}");
    let alerts: Vec<&String> = lines.iter().filter(|line| line.starts_with("ALERT ")).collect();
    let changed = format!("ALERT trap={trap} event=changed changed=mtime,ctime via=hup");
    assert_eq!(alerts, [&changed], "alerts after SIGHUP, for a change no event reported");
    t.stop();
}

fn syslog_restarted() {
    let mut t =
        Trapped::start("syslog_restarted", Mode::Permission, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");
    let pid = t.daemon.pid;
    let mut kmsg = Kmsg::open_at_end();

    t.syslogd.stop();
    intrude(Command::new("chmod").arg("600").arg(&trap));
    let warning = kmsg.expect_where("WARN what=syslog-unavailable", |record| {
        record.text.starts_with(&format!("ttrapd[{pid}]: WARN what=syslog-unavailable "))
    });
    assert_eq!(warning.priority, 10 * 8 + 4, "priority of the WARN record");
    let fallback = "socket=/dev/log errno=";
    assert!(warning.text.contains(fallback), "WARN record {:?} lacks {fallback:?}", warning.text);
    assert!(warning.text.ends_with(" fallback=/dev/kmsg"), "WARN record {:?}", warning.text);
    kmsg.expect(10 * 8 + 1, &format!("ttrapd[{pid}]: {}", alert(&trap, "attrib")));

    // A new syslogd binds a new socket at the same path.
    t.syslogd = Syslogd::start(t.path("syslog2.out"));
    t.log = t.syslogd.log();
    intrude(Command::new("chmod").arg("640").arg(&trap));
    let back = "WARN what=syslog-back kmsg_lines=1 lost_lines=0";
    assert_eq!(
        t.take_through(back),
        [alert(&trap, "attrib"), back.to_string()],
        "lines at the new syslogd"
    );
    t.stop();
}

fn syslog_absent_at_start() {
    let dir = TempDir::new("syslog_absent_at_start");
    let trap = dir.join("vpn.key");
    fs::write(&trap, SECRET).expect("create the trap");
    let socket = dir.join("absent.sock");
    let mut kmsg = Kmsg::open_at_end();

    let mut command = daemon::command(&["-f", "-l", text(&socket), text(&trap)]);
    let mut daemon = Daemon::spawn(&dir, &mut command);
    let pid = daemon.pid;
    let start = common::start_line(1, Mode::Permission);
    let started = poll_until(|| daemon.stderr().contains(&start).then_some(()));
    assert!(started.is_some(), "no START line on stderr:\n{}", daemon.stderr());

    intrude(Command::new("cat").arg(&trap));
    let open = alert(text(&trap), "open");
    let prefix = format!("ttrapd[{pid}]: ");
    let copied = poll_until(|| {
        let stderr = daemon.stderr();
        let found = stderr.lines().any(|line| {
            line.strip_prefix(&prefix).is_some_and(|message| event_part(message) == open)
        });
        found.then_some(())
    });
    assert!(copied.is_some(), "no {open:?} on stderr:\n{}", daemon.stderr());

    let unavailable = format!("{prefix}WARN what=syslog-unavailable socket={}", text(&socket));
    kmsg.expect_where(&unavailable, |record| record.text.starts_with(&unavailable));
    kmsg.expect(10 * 8 + 5, &format!("{prefix}{start}"));
    kmsg.expect_where(&format!("<81>{prefix}{open}"), |record| {
        let message = record.text.strip_prefix(&prefix);
        record.priority == 81 && message.is_some_and(|message| event_part(message) == open)
    });
    assert_eq!(daemon.stop(), Some(0), "exit status after SIGTERM");
}

/// Reads from `stream` until `done` accepts what arrived; panics on
/// timeout with the bytes received.
fn read_stream_until(stream: &mut UnixStream, done: impl Fn(&str) -> bool) -> String {
    let mut received = Vec::new();
    let found = poll_until(|| {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(len) => received.extend_from_slice(&buffer[..len]),
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) => panic!("cannot read the stream socket: {error}"),
            }
        }
        done(&String::from_utf8_lossy(&received)).then_some(())
    });
    let text = String::from_utf8_lossy(&received).into_owned();
    assert!(found.is_some(), "timed out reading the stream socket; received {text:?}");
    text
}

fn stream_socket() {
    let dir = TempDir::new("stream_socket");
    let trap = dir.join("vpn.key");
    fs::write(&trap, SECRET).expect("create the trap");
    // A stand-in for a syslog daemon on a stream socket: none that is
    // packaged here listens on one.
    let socket = dir.join("stream.sock");
    let listener = UnixListener::bind(&socket).expect("bind the stream socket");
    listener.set_nonblocking(true).expect("make the listener non-blocking");

    let mut command = daemon::command(&["-f", "-l", text(&socket), text(&trap)]);
    let mut daemon = Daemon::spawn(&dir, &mut command);
    let pid = daemon.pid;
    let accepted = poll_until(|| match listener.accept() {
        Ok((stream, _)) => Some(stream),
        Err(error) if error.kind() == ErrorKind::WouldBlock => None,
        Err(error) => panic!("cannot accept on the stream socket: {error}"),
    });
    let mut stream = accepted.expect("ttrapd did not connect to the stream socket");
    stream.set_nonblocking(true).expect("make the stream non-blocking");

    let start = format!("<85>ttrapd[{pid}]: {}\n", common::start_line(1, Mode::Permission));
    let received = read_stream_until(&mut stream, |text| text.contains('\n'));
    assert_eq!(received, start, "first line on the stream");

    intrude(Command::new("cat").arg(&trap));
    let read = alert(text(&trap), "read");
    let prefix = format!("<81>ttrapd[{pid}]: ");
    let received = read_stream_until(&mut stream, |text| {
        text.ends_with('\n')
            && text.lines().any(|line| {
                line.strip_prefix(&prefix).is_some_and(|message| event_part(message) == read)
            })
    });
    let messages: Vec<String> = received
        .lines()
        .map(|line| line.strip_prefix(&prefix).map(event_part).unwrap_or(line.to_string()))
        .collect();
    assert_eq!(messages, [alert(text(&trap), "open"), read], "lines on the stream after cat");
    assert_eq!(daemon.stop(), Some(0), "exit status after SIGTERM");
}

/// Writes a configuration file at `path` that traps each of `traps`.
fn write_config(path: &Path, traps: &[&Path]) {
    let lines: Vec<String> = traps.iter().map(|trap| format!("trap {}\n", text(trap))).collect();
    fs::write(path, lines.concat()).expect("write the configuration file");
}

/// Sends SIGHUP and returns the lines up to the one that ends the reload:
/// `HUP action=reloaded ...` or `ERROR what=reload-rejected ...`.
fn reload(t: &mut Trapped) -> Vec<String> {
    t.daemon.signal(libc::SIGHUP);
    let lines = t.barrier();
    let end = lines.iter().position(|line| {
        line.starts_with("HUP action=reloaded ") || line.starts_with("ERROR what=reload-rejected ")
    });
    assert!(end.is_some(), "no end of the reload among {lines:#?}");
    lines
}

/// Makes a directory `name` under `base` holding `secret`; returns both paths.
fn dir_with_secret(base: &TempDir, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = base.join(name);
    fs::create_dir(&dir).expect("create a directory to trap");
    let secret = dir.join("secret");
    fs::write(&secret, SECRET).expect("write a secret");
    (dir, secret)
}

fn reload_adds_and_removes_traps() {
    let files = TempDir::new("reload_adds_and_removes_traps-files");
    let config = files.join("ttrapd.conf");
    let (old_dir, old_secret) = dir_with_secret(&files, "old-dir");
    let old_file = files.join("old.key");
    fs::write(&old_file, SECRET).expect("write a trap");
    let (new_dir, new_secret) = dir_with_secret(&files, "new-dir");
    write_config(&config, &[&old_dir, &old_file]);
    let options = ["-c", text(&config)];
    let baits = [Bait::File("vpn.key", SECRET)];
    let mut t =
        Trapped::start_with("reload_adds_and_removes_traps", Mode::Permission, &baits, &options);

    write_config(&config, &[&new_dir]);
    let lines = reload(&mut t);
    let summary = "HUP action=reloaded traps=3 added=1 removed=2".to_string();
    assert!(lines.contains(&summary), "no {summary:?} among {lines:#?}");

    // The removed traps are released: reading them raises nothing. The
    // added directory and the command line's trap still alert.
    for path in [&old_secret, &old_file, &new_secret, &t.path("vpn.key")] {
        intrude(Command::new("cat").arg(path));
    }
    let lines = t.barrier();
    let alerts: Vec<&String> = lines.iter().filter(|line| line.starts_with("ALERT ")).collect();
    let expected = [
        common::entry_alert(text(&new_dir), "open", "secret"),
        common::entry_alert(text(&new_dir), "read", "secret"),
        alert(&t.trap("vpn.key"), "open"),
        alert(&t.trap("vpn.key"), "read"),
    ];
    assert_eq!(alerts, expected.iter().collect::<Vec<_>>(), "alerts after the reload");
    t.stop();
}

fn reload_rejected_releases_new_traps() {
    let files = TempDir::new("reload_rejected_releases_new_traps-files");
    let config = files.join("ttrapd.conf");
    let (kept_dir, kept_secret) = dir_with_secret(&files, "kept-dir");
    let (new_dir, new_secret) = dir_with_secret(&files, "new-dir");
    write_config(&config, &[&kept_dir]);
    let options = ["-c", text(&config)];
    let baits = [Bait::File("vpn.key", SECRET)];
    let name = "reload_rejected_releases_new_traps";
    let mut t = Trapped::start_with(name, Mode::Permission, &baits, &options);

    // The new directory is armed before the missing path fails the reload.
    write_config(&config, &[&kept_dir, &new_dir, &files.join("missing")]);
    let lines = reload(&mut t);
    let rejected = lines.iter().find(|line| line.starts_with("ERROR what=reload-rejected "));
    let rejected = rejected.unwrap_or_else(|| panic!("no rejection among {lines:#?}"));
    assert!(rejected.contains("reason=trap-not-armed"), "reason of {rejected:?}");

    for path in [&new_secret, &kept_secret] {
        intrude(Command::new("cat").arg(path));
    }
    let lines = t.barrier();
    let alerts: Vec<&String> = lines.iter().filter(|line| line.starts_with("ALERT ")).collect();
    let expected = [
        common::entry_alert(text(&kept_dir), "open", "secret"),
        common::entry_alert(text(&kept_dir), "read", "secret"),
    ];
    assert_eq!(alerts, expected.iter().collect::<Vec<_>>(), "alerts after the rejected reload");
    t.stop();
}

/// Opens of the trap made by `reload_storm_keeps_every_open`.
const STORM_OPENS: usize = 3000;

/// Python program that prints its pid, then opens and closes argv[1]
/// argv[2] times.
const OPENER: &str = "
import os, sys
print(os.getpid(), flush=True)
for _ in range(int(sys.argv[2])):
    os.close(os.open(sys.argv[1], os.O_RDONLY))
";

fn reload_storm_keeps_every_open() {
    let files = TempDir::new("reload_storm_keeps_every_open-files");
    let config = files.join("ttrapd.conf");
    let (dir, _) = dir_with_secret(&files, "dir");
    write_config(&config, &[&dir]);
    let options = ["-c", text(&config)];
    let baits = [Bait::File("vpn.key", SECRET)];
    let name = "reload_storm_keeps_every_open";
    let mut t = Trapped::start_with(name, Mode::Permission, &baits, &options);

    let mut opener = Command::new("python3")
        .args(["-c", OPENER])
        .arg(t.path("vpn.key"))
        .arg(STORM_OPENS.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the Python opener");
    let mut first = String::new();
    let stdout = opener.stdout.take().expect("the opener's stdout");
    BufReader::new(stdout).read_line(&mut first).expect("read the opener's pid");
    let pid: u32 = first.trim().parse().expect("the opener prints its pid");
    let mut sent = 0;
    let status = loop {
        if let Some(status) = opener.try_wait().expect("wait for the opener") {
            break status;
        }
        t.daemon.signal(libc::SIGHUP);
        sent += 1;
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    assert!(status.success(), "the opener failed: {status}");

    let records = t.barrier_records();
    let pid_text = pid.to_string();
    let opens = records
        .iter()
        .map(|record| Message::parse(&record.message))
        .filter(|line| {
            line.kind == "ALERT"
                && line.get("event") == Some("open")
                && line.get("pid") == Some(pid_text.as_str())
        })
        .count();
    let reloads =
        records.iter().filter(|record| record.message.starts_with("HUP action=reloaded ")).count();
    eprintln!("reload_storm_keeps_every_open: {sent} SIGHUPs, {reloads} reloads, {opens} alerts");
    assert!(reloads > 0, "no reload finished during the storm");
    assert_eq!(opens, STORM_OPENS, "open alerts for {STORM_OPENS} opens during {reloads} reloads");
    t.stop();
}

/// Makes a FIFO at `path`.
fn make_fifo(path: &Path) {
    let c_path = CString::new(path.as_os_str().as_bytes()).expect("path without NUL");
    // SAFETY: `c_path` is NUL-terminated and lives across the call.
    let result = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
    assert_eq!(result, 0, "mkfifo {}: {}", path.display(), std::io::Error::last_os_error());
}

fn config_fifo_refused() {
    // A FIFO as the config file, with no writer, would block a plain open
    // for good: at start, and in a reload, where every opener of a trap
    // would wait too.
    let files = TempDir::new("config_fifo_refused-files");
    let fifo = files.join("fifo.conf");
    make_fifo(&fifo);
    let trap = files.join("vpn.key");
    fs::write(&trap, SECRET).expect("write a trap");
    let mut command = daemon::command(&["-f", "-c", text(&fifo), text(&trap)]);
    let finished = run_to_exit(&files, &mut command);
    assert_eq!(finished.code, Some(1), "exit status with a FIFO as config: {finished:?}");
    let expected = format!("config file \"{}\" is not a regular file", text(&fifo));
    assert!(finished.stderr.contains(&expected), "stderr lacks {expected:?}: {finished:?}");

    let config = files.join("ttrapd.conf");
    write_config(&config, &[&trap]);
    let options = ["-c", text(&config)];
    let baits = [Bait::File("vpn.key", SECRET)];
    let mut t = Trapped::start_with("config_fifo_refused", Mode::Permission, &baits, &options);
    fs::remove_file(&config).expect("remove the config file");
    make_fifo(&config);
    let lines = reload(&mut t);
    let rejected = lines.iter().find(|line| line.starts_with("ERROR what=reload-rejected "));
    let rejected = rejected.unwrap_or_else(|| panic!("no rejection among {lines:#?}"));
    assert!(rejected.contains("not a regular file"), "detail of {rejected:?}");
    intrude(Command::new("cat").arg(&trap));
    t.expect(&alert(text(&trap), "open"));
    t.stop();
}

fn hup_after_ancestor_renamed() {
    // The trap's grandparent is renamed: no watch sees the path change, so
    // a SIGHUP finds it gone, and the trap must be armed again once the
    // path is re-created, without another SIGHUP.
    let files = TempDir::new("hup_after_ancestor_renamed-files");
    let parent = files.join("a").join("b");
    fs::create_dir_all(&parent).expect("create the trap's directories");
    let trap = parent.join("key");
    fs::write(&trap, SECRET).expect("write the trap");
    let baits = [Bait::File("vpn.key", SECRET)];
    let mut t =
        Trapped::start_with("hup_after_ancestor_renamed", Mode::Permission, &baits, &[text(&trap)]);
    fs::rename(files.join("a"), files.join("a2")).expect("rename the grandparent");
    t.daemon.signal(libc::SIGHUP);
    t.expect(&format!("ALERT trap={} event=delete via=hup", text(&trap)));
    t.expect(&format!("DISARM trap={} reason=deleted state=waiting-for-path", text(&trap)));
    fs::create_dir_all(&parent).expect("re-create the trap's directories");
    fs::write(&trap, SECRET).expect("re-create the trap");
    let rearmed = t.log.expect_where(t.daemon.pid, "REARM", |record| {
        record.message.starts_with(&format!("REARM trap={} ", text(&trap)))
    });
    assert!(rearmed.message.contains(" ino="), "REARM line: {}", rearmed.message);
    intrude(Command::new("cat").arg(&trap));
    t.expect(&alert(text(&trap), "open"));
    t.stop();
}

/// Opens of the trap that fill the stalled receiver's queue in
/// `syslog_replaced_while_stalled`.
const FILLING_OPENS: usize = 1500;

fn syslog_replaced_while_stalled() {
    // A syslog daemon that stopped reading while still holding its socket,
    // and a new one bound at the same path: ttrapd must find the new one
    // rather than divert lines for good. Plain datagram sockets stand in
    // for both daemons, since a stalled receiver must be held exactly.
    let dir = TempDir::new("syslog_replaced_while_stalled");
    let trap = dir.join("vpn.key");
    fs::write(&trap, SECRET).expect("create the trap");
    let socket = dir.join("log.sock");
    let old = UnixDatagram::bind(&socket).expect("bind the first receiver");
    let mut command = daemon::command(&["-f", "--quiet", "0", "-l", text(&socket), text(&trap)]);
    let mut daemon = Daemon::spawn(&dir, &mut command);
    let mut first = [0u8; 2048];
    old.set_read_timeout(Some(std::time::Duration::from_secs(5))).expect("set a read timeout");
    let len = old.recv(&mut first).expect("the START line at the first receiver");
    let start = String::from_utf8_lossy(&first[..len]).into_owned();
    assert!(start.contains("]: START "), "first line: {start:?}");

    // The first receiver reads nothing more; its queue fills.
    let mut opener = Command::new("python3");
    opener.args(["-c", "import os, sys\nfor _ in range(int(sys.argv[2])): os.close(os.open(sys.argv[1], os.O_RDONLY))"]);
    opener.arg(&trap).arg(FILLING_OPENS.to_string());
    intrude(&mut opener);

    fs::remove_file(&socket).expect("remove the first receiver's socket");
    let new = UnixDatagram::bind(&socket).expect("bind the second receiver");
    new.set_read_timeout(Some(std::time::Duration::from_millis(50))).expect("set a read timeout");
    let wanted = alert(text(&trap), "attrib");
    let prefix = format!("<81>ttrapd[{}]: ", daemon.pid);
    let mut buffer = [0u8; 4096];
    // Each round changes the trap's mode, which raises an alert, and reads
    // what arrived; lines queued before the change come first. Lines may
    // go to /dev/kmsg until ttrapd next tries the path.
    let mut mode = 0o600;
    let found = poll_until(|| {
        mode ^= 0o040;
        fs::set_permissions(&trap, fs::Permissions::from_mode(mode)).expect("chmod the trap");
        while let Ok(len) = new.recv(&mut buffer) {
            let line = String::from_utf8_lossy(&buffer[..len]).into_owned();
            let message = line.strip_prefix(&prefix).unwrap_or(&line);
            if event_part(message) == wanted {
                return Some(());
            }
        }
        None
    });
    assert!(found.is_some(), "the second receiver never got {wanted:?}");
    drop(old);
    assert_eq!(daemon.stop(), Some(0), "exit status after SIGTERM");
}

fn config_in_trap_refused() {
    // ttrapd reads its config file again on SIGHUP. If that file were a
    // trap, or lay in a trapped directory, the read would wait on ttrapd's
    // own answer for good.
    let files = TempDir::new("config_in_trap_refused-files");
    let vault = files.join("vault");
    fs::create_dir(&vault).expect("create the trapped directory");
    let inside = vault.join("ttrapd.conf");
    write_config(&inside, &[&vault]);
    let mut command = daemon::command(&["-f", "-c", text(&inside)]);
    let finished = run_to_exit(&files, &mut command);
    assert_eq!(finished.code, Some(2), "exit status with the config in a trap: {finished:?}");
    let expected =
        format!("config file \"{}\" is covered by trap \"{}\"", text(&inside), text(&vault));
    assert!(finished.stderr.contains(&expected), "stderr lacks {expected:?}: {finished:?}");

    // Running with a config outside, which a reload then points into the
    // trapped directory through a symbolic link.
    let config = files.join("ttrapd.conf");
    write_config(&config, &[]);
    let options = ["-c", text(&config), text(&vault)];
    let baits = [Bait::File("vpn.key", SECRET)];
    let mut t = Trapped::start_with("config_in_trap_refused", Mode::Permission, &baits, &options);
    fs::remove_file(&config).expect("remove the config file");
    std::os::unix::fs::symlink(&inside, &config).expect("link the config into the trap");
    let lines = reload(&mut t);
    let rejected = lines.iter().find(|line| line.starts_with("ERROR what=reload-rejected "));
    let rejected = rejected.unwrap_or_else(|| panic!("no rejection among {lines:#?}"));
    assert!(rejected.contains("is covered by trap"), "detail of {rejected:?}");
    // The daemon still answers.
    intrude(Command::new("cat").arg(&inside));
    t.expect(&common::entry_alert(text(&vault), "open", "ttrapd.conf"));

    // A reload whose new traps would cover the config is refused too.
    fs::remove_file(&config).expect("remove the link");
    write_config(&config, &[&files.join("ttrapd.conf")]);
    let lines = reload(&mut t);
    let rejected = lines.iter().find(|line| line.starts_with("ERROR what=reload-rejected "));
    let rejected = rejected.unwrap_or_else(|| panic!("no rejection among {lines:#?}"));
    assert!(rejected.contains("is covered by trap"), "detail of {rejected:?}");
    t.stop();
}

fn config_bound_from_trap_reloads() {
    // The config file is a file bind mount of an entry of a trapped
    // directory: its path shows no trap, but opening it raises a
    // permission event for ttrapd. A reload must still read it, and other
    // opens of the entry must still be reported after.
    let files = TempDir::new("config_bound_from_trap_reloads-files");
    let vault = files.join("vault");
    fs::create_dir(&vault).expect("create the trapped directory");
    let entry = vault.join("ttrapd.conf");
    write_config(&entry, &[&vault]);
    let config = files.join("ttrapd.conf");
    fs::write(&config, "").expect("create the mount point");
    let status =
        Command::new("mount").arg("--bind").arg(&entry).arg(&config).status().expect("run mount");
    assert!(status.success(), "mount --bind failed: {status}");
    let options = ["-c", text(&config)];
    let baits = [Bait::File("vpn.key", SECRET)];
    let name = "config_bound_from_trap_reloads";
    let mut t = Trapped::start_with(name, Mode::Permission, &baits, &options);
    let lines = reload(&mut t);
    let summary = "HUP action=reloaded traps=3 added=0 removed=0".to_string();
    assert!(lines.contains(&summary), "no {summary:?} among {lines:#?}");
    intrude(Command::new("cat").arg(&entry));
    t.expect(&common::entry_alert(text(&vault), "open", "ttrapd.conf"));
    t.stop();
    let status = Command::new("umount").arg(&config).status().expect("run umount");
    assert!(status.success(), "umount failed: {status}");
}
