//! Starts that must fail: usage errors (exit 2) and traps that cannot be
//! armed (exit 1), in the foreground and detached, with nothing left
//! running afterwards.

#[allow(dead_code)]
mod common;

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use common::TempDir;
use common::daemon::{self, processes_mentioning, run_to_exit};
use common::fields::Message;
use common::syslog::Syslogd;

fn main() -> ExitCode {
    let trials = vec![
        common::trial("no_arguments", no_arguments),
        common::trial("unknown_option", unknown_option),
        common::trial("missing_option_value", missing_option_value),
        common::trial("invalid_option_value", invalid_option_value),
        common::trial("help", help),
        common::trial("version", version),
        common::trial("missing_trap_foreground", missing_trap_foreground),
        common::trial("missing_trap_detached", missing_trap_detached),
    ];
    common::run_trials(trials)
}

fn text(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Runs ttrapd with `args`, expects exit status 2 and `message` on stderr.
fn expect_usage_error(name: &str, args: &[&str], message: &str) {
    let dir = TempDir::new(name);
    let finished = run_to_exit(&dir, &mut daemon::command(args));
    assert_eq!(finished.code, Some(2), "exit status of ttrapd {args:?}: {finished:?}");
    assert!(
        finished.stderr.contains(message),
        "stderr of ttrapd {args:?} lacks {message:?}: {:?}",
        finished.stderr
    );
    assert_eq!(finished.stdout, "", "stdout of ttrapd {args:?}");
}

fn no_arguments() {
    expect_usage_error("no_arguments", &[], "no trap given");
}

fn unknown_option() {
    expect_usage_error("unknown_option", &["--frob", "/tmp"], "unknown option \"--frob\"");
}

fn missing_option_value() {
    expect_usage_error(
        "missing_option_value",
        &["/tmp", "--pidfile"],
        "\"--pidfile\" needs a value",
    );
}

fn invalid_option_value() {
    expect_usage_error(
        "invalid_option_value",
        &["--facility", "nope", "/tmp"],
        "invalid value \"nope\" for \"--facility\"",
    );
}

fn help() {
    let dir = TempDir::new("help");
    let finished = run_to_exit(&dir, &mut daemon::command(&["--help"]));
    assert_eq!(finished.code, Some(0), "exit status of --help: {finished:?}");
    assert!(finished.stdout.starts_with("Usage: ttrapd "), "--help output: {:?}", finished.stdout);
    assert_eq!(finished.stderr, "", "stderr of --help");
}

fn version() {
    let dir = TempDir::new("version");
    let finished = run_to_exit(&dir, &mut daemon::command(&["-V"]));
    assert_eq!(finished.code, Some(0), "exit status of -V: {finished:?}");
    let expected = format!("ttrapd {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(finished.stdout, expected, "-V output");
}

fn missing_trap_foreground() {
    let dir = TempDir::new("missing_trap_foreground");
    let present = dir.join("vpn.key");
    fs::write(&present, "secret\n").expect("create the trap");
    let missing = dir.join("missing.key");
    let pidfile = dir.join("ttrapd.pid");
    let syslogd = Syslogd::start(dir.join("syslog.out"));
    let mut log = syslogd.log();

    let args = ["-f", "-p", text(&pidfile), text(&present), text(&missing)];
    let finished = run_to_exit(&dir, &mut daemon::command(&args));
    assert_eq!(finished.code, Some(1), "exit status: {finished:?}");
    let quoted = format!("\"{}\"", text(&missing));
    assert!(finished.stderr.contains(&quoted), "stderr lacks {quoted}: {:?}", finished.stderr);
    assert!(!pidfile.exists(), "pidfile {} is left after a failed start", pidfile.display());

    let error = format!(
        "ERROR what=start-failed action=\"watch trap\" path={} errno=ENOENT",
        text(&missing)
    );
    log.expect(finished.pid, &error);
    let records = log.records();
    let started = records.iter().any(|record| {
        record.pid == finished.pid && Message::parse(&record.message).kind == "START"
    });
    assert!(!started, "a START line from the failed start in {}", log.path().display());
}

fn missing_trap_detached() {
    let dir = TempDir::new("missing_trap_detached");
    let present = dir.join("vpn.key");
    fs::write(&present, "secret\n").expect("create the trap");
    let missing = dir.join("missing.key");
    let pidfile = dir.join("ttrapd.pid");
    let _syslogd = Syslogd::start(dir.join("syslog.out"));

    let args = ["-p", text(&pidfile), text(&present), text(&missing)];
    let finished = run_to_exit(&dir, &mut daemon::command(&args));
    assert_eq!(finished.code, Some(1), "exit status: {finished:?}");
    let quoted = format!("\"{}\"", text(&missing));
    assert!(finished.stderr.contains(&quoted), "stderr lacks {quoted}: {:?}", finished.stderr);
    // The starting command exits only after the daemon has, so nothing may
    // be left even at once.
    assert_eq!(processes_mentioning(text(&pidfile)), Vec::<u32>::new(), "processes left behind");
    assert!(!pidfile.exists(), "pidfile {} is left after a failed start", pidfile.display());
}
