//! Alerts end to end: real programs touch trapped files and directories
//! while a foreground ttrapd runs, and each test checks the exact lines
//! that reach a real busybox syslogd, in order and with nothing extra.
//!
//! Each case runs twice: in the default mode, where fanotify names the
//! process, and with `--no-fanotify`. The event fields must be the same in
//! both; the process fields are checked in `culprit.rs`.

#[allow(dead_code)]
mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, ExitCode};

use common::fields::{Message, event_part};
use common::{Bait, Mode, ModeCase, SECRET, Trapped, alert, entry_alert, intrude};

fn main() -> ExitCode {
    let per_mode: [ModeCase; 18] = [
        ("file_read_by_cat", file_read_by_cat),
        ("file_opened_by_head_c0", file_opened_by_head_c0),
        ("file_copied_by_cp", file_copied_by_cp),
        ("file_read_by_dd", file_read_by_dd),
        ("file_written_by_dd", file_written_by_dd),
        ("file_appended_by_shell", file_appended_by_shell),
        ("file_mapped_by_python", file_mapped_by_python),
        ("file_chmod", file_chmod),
        ("file_touch", file_touch),
        ("file_mtime_set_by_touch", file_mtime_set_by_touch),
        ("file_truncated_by_path", file_truncated_by_path),
        ("file_replaced_by_rename", file_replaced_by_rename),
        ("file_deleted_and_recreated", file_deleted_and_recreated),
        ("file_moved_away_and_back", file_moved_away_and_back),
        ("dir_listed_by_ls", dir_listed_by_ls),
        ("dir_entry_created", dir_entry_created),
        ("dir_entry_changed", dir_entry_changed),
        ("dir_hostile_entry_names", dir_hostile_entry_names),
    ];
    let mut trials = Vec::new();
    for (name, case) in per_mode {
        trials.extend(common::trials_per_mode(name, case));
    }
    trials.push(common::trial("relative_trap_path", relative_trap_path));
    trials.push(common::trial("flood_repeats_counted", flood_repeats_counted));
    trials.push(common::trial("default_priorities", default_priorities));
    trials.push(common::trial("facility_severity_tag_options", facility_severity_tag_options));
    common::run_trials(trials)
}

/// Returns the ALERT messages for `events` on `trap`, in order.
fn alerts(trap: &str, events: &[&str]) -> Vec<String> {
    events.iter().map(|event| alert(trap, event)).collect()
}

fn file_read_by_cat(mode: Mode) {
    let mut t = Trapped::start("file_read_by_cat", mode, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");

    let output = intrude(Command::new("cat").arg(&trap));
    assert_eq!(output.stdout, SECRET.as_bytes(), "cat output");
    assert_eq!(t.barrier(), alerts(&trap, &["open", "read"]), "lines after cat");
    t.stop();
}

fn file_opened_by_head_c0(mode: Mode) {
    let mut t = Trapped::start("file_opened_by_head_c0", mode, &[Bait::File("empty.key", "")]);
    let trap = t.trap("empty.key");

    // Reads nothing, so only the open can give it away.
    intrude(Command::new("head").arg("-c0").arg(&trap));
    assert_eq!(t.barrier(), alerts(&trap, &["open"]), "lines after head -c0");
    t.stop();
}

fn file_copied_by_cp(mode: Mode) {
    let mut t = Trapped::start("file_copied_by_cp", mode, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");
    let copy = t.path("loot");

    intrude(Command::new("cp").arg(&trap).arg(&copy));
    assert_eq!(fs::read_to_string(&copy).expect("read the copy"), SECRET, "copied content");
    assert_eq!(t.barrier(), alerts(&trap, &["open", "read"]), "lines after cp");
    t.stop();
}

fn file_read_by_dd(mode: Mode) {
    let mut t = Trapped::start("file_read_by_dd", mode, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");

    let output = intrude(Command::new("dd").arg(format!("if={trap}")).arg("status=none"));
    assert_eq!(output.stdout, SECRET.as_bytes(), "dd output");
    assert_eq!(t.barrier(), alerts(&trap, &["open", "read"]), "lines after dd if=");
    t.stop();
}

fn file_written_by_dd(mode: Mode) {
    let mut t = Trapped::start("file_written_by_dd", mode, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");

    intrude(Command::new("dd").arg("if=/dev/zero").arg(format!("of={trap}")).args([
        "bs=1",
        "count=1",
        "conv=notrunc",
        "status=none",
    ]));
    assert_eq!(t.barrier(), alerts(&trap, &["open", "write"]), "lines after dd of=");
    t.stop();
}

fn file_appended_by_shell(mode: Mode) {
    let mut t = Trapped::start("file_appended_by_shell", mode, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");

    intrude(Command::new("sh").arg("-c").arg("echo more >> \"$1\"").arg("sh").arg(&trap));
    assert_eq!(t.barrier(), alerts(&trap, &["open", "write"]), "lines after >>");
    t.stop();
}

/// Reads the file named by argv[1] through a read-only mapping, which makes
/// no read(2) call.
const MMAP_READER: &str = "\
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as m:
    sys.stdout.buffer.write(m[:])
";

fn file_mapped_by_python(mode: Mode) {
    let mut t = Trapped::start("file_mapped_by_python", mode, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");

    let output = intrude(Command::new("python3").arg("-c").arg(MMAP_READER).arg(&trap));
    assert_eq!(output.stdout, SECRET.as_bytes(), "bytes the mapping returned");
    assert_eq!(t.barrier(), alerts(&trap, &["open"]), "lines after the mmap reader");
    t.stop();
}

fn file_chmod(mode: Mode) {
    let mut t = Trapped::start("file_chmod", mode, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");

    intrude(Command::new("chmod").arg("600").arg(&trap));
    assert_eq!(t.barrier(), alerts(&trap, &["attrib"]), "lines after chmod");
    t.stop();
}

fn file_touch(mode: Mode) {
    let mut t = Trapped::start("file_touch", mode, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");

    intrude(Command::new("touch").arg(&trap));
    assert_eq!(t.barrier(), alerts(&trap, &["open", "attrib"]), "lines after touch");
    t.stop();
}

fn file_mtime_set_by_touch(mode: Mode) {
    let mut t = Trapped::start("file_mtime_set_by_touch", mode, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");

    // Backdating the modification time hides a change from a later look.
    intrude(Command::new("touch").args(["-m", "-d", "@0"]).arg(&trap));
    let lines = t.barrier();
    let change = format!("ALERT trap={trap} event=");
    assert_eq!(lines.len(), 2, "lines after touch -m: {lines:?}");
    assert_eq!(lines[0], alert(&trap, "open"), "first line after touch -m");
    assert!(lines[1].starts_with(&change), "second line after touch -m: {:?}", lines[1]);
    t.stop();
}

fn file_truncated_by_path(mode: Mode) {
    let mut t = Trapped::start("file_truncated_by_path", mode, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");

    // truncate(2) takes a path, so nothing opens the file.
    let script = "import os, sys; os.truncate(sys.argv[1], 0)";
    intrude(Command::new("python3").arg("-c").arg(script).arg(&trap));
    assert_eq!(fs::metadata(&trap).expect("stat the trap").len(), 0, "size after truncate");
    assert_eq!(t.barrier(), alerts(&trap, &["write"]), "lines after truncate(2)");
    t.stop();
}

fn file_replaced_by_rename(mode: Mode) {
    let mut t = Trapped::start("file_replaced_by_rename", mode, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");
    let staged = t.path("vpn.key.new");

    // An editor's save: write a new file, then rename it over the old one.
    intrude(Command::new("sh").arg("-c").arg("echo edited > \"$1\"").arg("sh").arg(&staged));
    let ino = fs::metadata(&staged).expect("stat the new file").ino();
    intrude(Command::new("mv").arg(&staged).arg(&trap));
    let rearm = format!("REARM trap={trap} ino={ino}");
    assert_eq!(
        t.take_through(&rearm),
        [alert(&trap, "replace"), rearm],
        "lines after mv over the trap"
    );

    intrude(Command::new("cat").arg(&trap));
    assert_eq!(t.barrier(), alerts(&trap, &["open", "read"]), "lines after cat of the new file");
    t.stop();
}

fn file_deleted_and_recreated(mode: Mode) {
    let mut t =
        Trapped::start("file_deleted_and_recreated", mode, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");

    intrude(Command::new("rm").arg(&trap));
    let disarm = format!("DISARM trap={trap} reason=deleted state=waiting-for-path");
    assert_eq!(t.take_through(&disarm), [alert(&trap, "delete"), disarm], "lines after rm");

    intrude(Command::new("sh").arg("-c").arg("echo again > \"$1\"").arg("sh").arg(&trap));
    let ino = fs::metadata(&trap).expect("stat the new file").ino();
    let rearm = format!("REARM trap={trap} ino={ino}");
    assert_eq!(t.take_through(&rearm), [rearm], "lines after re-creating the file");
    // The writer's own open and write race with the re-arming, so whether
    // they are reported depends on timing; the barrier skips them.
    t.barrier();

    intrude(Command::new("cat").arg(&trap));
    assert_eq!(t.barrier(), alerts(&trap, &["open", "read"]), "lines after cat of the new file");
    t.stop();
}

fn file_moved_away_and_back(mode: Mode) {
    let mut t = Trapped::start("file_moved_away_and_back", mode, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");
    let ino = fs::metadata(&trap).expect("stat the trap").ino();
    let away = t.path("elsewhere");

    intrude(Command::new("mv").arg(&trap).arg(&away));
    let disarm = format!("DISARM trap={trap} reason=moved state=waiting-for-path");
    assert_eq!(t.take_through(&disarm), [alert(&trap, "move"), disarm], "lines after mv away");

    intrude(Command::new("mv").arg(&away).arg(&trap));
    let rearm = format!("REARM trap={trap} ino={ino}");
    assert_eq!(t.take_through(&rearm), [rearm], "lines after mv back");

    intrude(Command::new("cat").arg(&trap));
    assert_eq!(
        t.barrier(),
        alerts(&trap, &["open", "read"]),
        "lines after cat of the returned file"
    );
    t.stop();
}

fn dir_listed_by_ls(mode: Mode) {
    let mut t = Trapped::start("dir_listed_by_ls", mode, &[Bait::Dir("keys")]);
    let trap = t.trap("keys");

    intrude(Command::new("ls").arg("-la").arg(&trap));
    assert_eq!(t.barrier(), alerts(&trap, &["list"]), "lines after ls");
    t.stop();
}

/// Puts `lines` in the order that `expected` uses when fanotify is on. In
/// that mode one action can give events on two queues (fanotify for opens
/// and writes, inotify for creation and attributes) and the daemon reads
/// the fanotify queue first, so only the set of lines is fixed.
fn in_expected_order(mode: Mode, mut lines: Vec<String>, expected: &[String]) -> Vec<String> {
    if mode == Mode::Permission {
        lines.sort_by_key(|line| expected.iter().position(|e| e == line).unwrap_or(usize::MAX));
    }
    lines
}

fn dir_entry_created(mode: Mode) {
    let mut t = Trapped::start("dir_entry_created", mode, &[Bait::Dir("keys")]);
    let trap = t.trap("keys");

    intrude(Command::new("touch").arg(t.path("keys/new")));
    let expected: Vec<String> =
        ["create", "open", "attrib"].iter().map(|event| entry_alert(&trap, event, "new")).collect();
    let lines = in_expected_order(mode, t.barrier(), &expected);
    assert_eq!(lines, expected, "lines after touch of a new entry");

    intrude(Command::new("mkdir").arg(t.path("keys/sub")));
    assert_eq!(t.barrier(), [entry_alert(&trap, "create", "sub")], "lines after mkdir");
    t.stop();
}

fn dir_entry_changed(mode: Mode) {
    let mut t = Trapped::start("dir_entry_changed", mode, &[Bait::Dir("keys")]);
    let trap = t.trap("keys");
    let entry = t.path("keys/id_rsa");
    fs::write(&entry, SECRET).expect("create an entry");
    let expected = ["create", "open", "write"].map(|event| entry_alert(&trap, event, "id_rsa"));
    let lines = in_expected_order(mode, t.barrier(), &expected);
    assert_eq!(lines, expected, "lines after the test created the entry");

    intrude(Command::new("sh").arg("-c").arg("echo more >> \"$1\"").arg("sh").arg(&entry));
    assert_eq!(
        t.barrier(),
        ["open", "write"].map(|event| entry_alert(&trap, event, "id_rsa")),
        "lines after >> to an entry"
    );

    intrude(Command::new("chmod").arg("600").arg(&entry));
    assert_eq!(
        t.barrier(),
        [entry_alert(&trap, "attrib", "id_rsa")],
        "lines after chmod of an entry"
    );

    let outside = t.path("outside");
    intrude(Command::new("mv").arg(&entry).arg(&outside));
    assert_eq!(t.barrier(), [entry_alert(&trap, "move_out", "id_rsa")], "lines after mv out");

    intrude(Command::new("mv").arg(&outside).arg(t.path("keys/back")));
    assert_eq!(t.barrier(), [entry_alert(&trap, "move_in", "back")], "lines after mv in");

    intrude(Command::new("rm").arg(t.path("keys/back")));
    assert_eq!(t.barrier(), [entry_alert(&trap, "delete", "back")], "lines after rm of an entry");
    t.stop();
}

fn dir_hostile_entry_names(mode: Mode) {
    let mut t = Trapped::start("dir_hostile_entry_names", mode, &[Bait::Dir("d")]);
    let trap = t.trap("d");
    // Each name with the value ttrapd must write for it.
    let names: [(&[u8], &str); 3] = [
        (b"a\n\"\xff", r#""a\x0a\"\xff""#),
        ("b\u{2028}\u{202e}\\".as_bytes(), r#""b\xe2\x80\xa8\xe2\x80\xae\\""#),
        (b"x\n<81>ttrapd[1]: ALERT trap=shadow", r#""x\x0a<81>ttrapd[1]: ALERT trap=shadow""#),
    ];

    for (name, written) in names {
        let path = t.path("d").join(OsStr::from_bytes(name));
        intrude(Command::new("touch").arg(&path));
        let mut expected =
            ["create", "open", "attrib"].map(|event| entry_alert(&trap, event, written));
        let records = t.barrier_records();
        let mut lines: Vec<String> =
            records.iter().map(|record| event_part(&record.message)).collect();
        // Sorted because this test is about escaping; dir_entry_created
        // checks the order.
        expected.sort();
        lines.sort();
        assert_eq!(lines, expected, "lines after touch of the entry {name:?}");

        if mode == Mode::Permission {
            // The name is escaped the same way inside the opener's command
            // line, which is quoted as a whole because it has a space.
            let inner = &written[1..written.len() - 1];
            let cmd = format!("\"touch {trap}/{inner}\"");
            let open = records
                .iter()
                .map(|record| Message::parse(&record.message))
                .find(|message| message.get("event") == Some("open"));
            let open = open.unwrap_or_else(|| panic!("no open alert for {name:?}"));
            assert_eq!(open.get("cmd"), Some(cmd.as_str()), "cmd of the open alert for {name:?}");
        }
    }

    // syslogd would turn a raw newline into a space, so only the stderr
    // copy shows whether a name could start a line of its own.
    let stderr = t.daemon.stderr();
    let prefix = format!("ttrapd[{}]: ", t.daemon.pid);
    for line in stderr.lines() {
        assert!(line.starts_with(&prefix), "stderr line without the ttrapd prefix: {line:?}");
    }
    let first = format!("{prefix}{}\n", entry_alert(&trap, "create", names[0].1));
    assert!(stderr.contains(&first), "stderr lacks {first:?}:\n{stderr}");
    t.stop();
}

fn relative_trap_path() {
    let dir = common::TempDir::new("relative_trap_path");
    fs::write(dir.join("vpn.key"), SECRET).expect("create the trap");
    let syslogd = common::syslog::Syslogd::start(dir.join("syslog.out"));
    let mut log = syslogd.log();
    let mut command = common::daemon::command(&["-f", "vpn.key"]);
    command.current_dir(dir.path());
    let mut daemon = common::daemon::Daemon::spawn(&dir, &mut command);
    let pid = daemon.pid;
    log.expect(pid, &common::start_line(1, Mode::Permission));

    let trap = dir.join("vpn.key").to_str().expect("UTF-8 path").to_string();
    intrude(Command::new("cat").arg(&trap));
    log.expect(pid, &alert(&trap, "open"));
    assert_eq!(daemon.stop(), Some(0), "exit status after SIGTERM");
}

fn flood_repeats_counted() {
    let bait = [Bait::File("vpn.key", SECRET)];
    let options = ["--quiet", "60"];
    let mut t = Trapped::start_with("flood_repeats_counted", Mode::Permission, &bait, &options);
    let trap = t.trap("vpn.key");

    for _ in 0..3 {
        intrude(Command::new("cat").arg(&trap));
    }
    assert_eq!(t.daemon.stop(), Some(0), "exit status after SIGTERM");
    // The window is still open at the stop, so its REPEAT line comes first.
    let stop = format!("STOP signal=SIGTERM {}", common::sender_fields());
    let lines = t.take_through(&stop);
    let repeat = format!("REPEAT trap={trap} count=4 open=2 read=2 window=60");
    let counted = format!("{stop} events=6 alerts=2 repeated=4");
    assert_eq!(
        lines,
        [alert(&trap, "open"), alert(&trap, "read"), repeat, counted],
        "lines of three cats within one window"
    );
}

fn default_priorities() {
    let mut t =
        Trapped::start("default_priorities", Mode::Permission, &[Bait::File("vpn.key", SECRET)]);
    let trap = t.trap("vpn.key");
    let records = t.log.records();
    let start =
        records.iter().find(|record| record.message.starts_with("START ")).expect("START line");
    assert_eq!(start.priority, "authpriv.notice", "priority of START");
    assert_eq!(start.tag, "ttrapd", "tag of START");

    intrude(Command::new("rm").arg(&trap));
    let alert_record = t.expect(&alert(&trap, "delete"));
    assert_eq!(alert_record.priority, "authpriv.alert", "priority of ALERT");
    let disarm = t.expect(&format!("DISARM trap={trap} reason=deleted state=waiting-for-path"));
    assert_eq!(disarm.priority, "authpriv.warn", "priority of DISARM");
    t.stop();
}

fn facility_severity_tag_options() {
    let options = ["--facility", "local3", "--severity", "crit", "-t", "honey.pot"];
    let mut t = Trapped::start_with(
        "facility_severity_tag_options",
        Mode::Permission,
        &[Bait::File("vpn.key", SECRET)],
        &options,
    );
    let trap = t.trap("vpn.key");

    intrude(Command::new("chmod").arg("600").arg(&trap));
    let record = t.expect(&alert(&trap, "attrib"));
    assert_eq!(record.priority, "local3.crit", "priority of ALERT");
    assert_eq!(record.tag, "honey.pot", "tag of ALERT");
    let records = t.log.records();
    let start =
        records.iter().find(|record| record.message.starts_with("START ")).expect("START line");
    assert_eq!(start.priority, "local3.notice", "priority of START");
    t.stop();
}
