//! Getting alerts off the box: RFC 5424 messages to a real rsyslogd over
//! UDP and TCP, queueing and reconnection while the collector is away,
//! heartbeats, hooks (`--exec`) and flood control (`--quiet`).
//!
//! Each remote case starts its own rsyslogd (Debian package `rsyslog`)
//! with a config file of its own. The config sets up imudp and imtcp on
//! free loopback ports and an omfile action that writes the parsed RFC 5424
//! parts of each message, tab-separated, to a file the test reads back. The config loads
//! no imuxsock or imklog, so rsyslogd touches neither `/dev/log` nor the
//! kernel log.

#[allow(dead_code)]
mod common;

use std::ffi::OsStr;
use std::fs::{self, File};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::daemon::{self, Daemon, process_is_live, run_to_exit};
use common::fields::Message;
use common::syslog::Syslogd;
use common::{Bait, Mode, SECRET, TempDir, Trapped, WAIT_LIMIT, intrude, poll_until};

fn main() -> ExitCode {
    common::run_cases(&[
        ("fields_udp_tcp", fields_udp_tcp),
        ("hostile_names_escaped", hostile_names_escaped),
        ("tcp_queue_while_down", tcp_queue_while_down),
        ("tcp_queue_overflow", tcp_queue_overflow),
        ("tcp_collector_late", tcp_collector_late),
        ("tcp_stalled_collector", tcp_stalled_collector),
        ("idle_while_collector_down", idle_while_collector_down),
        ("udp_collector_absent", udp_collector_absent),
        ("heartbeat_interval", heartbeat_interval),
        ("hook_environment", hook_environment),
        ("hook_timeout_kills_group", hook_timeout_kills_group),
        ("hook_limit_four", hook_limit_four),
        ("hook_not_executable", hook_not_executable),
        ("hook_in_trapped_dir", hook_in_trapped_dir),
        ("hook_starting_when_stopped", hook_starting_when_stopped),
        ("hook_orphans_not_reported", hook_orphans_not_reported),
        ("hook_pid_taken_over", hook_pid_taken_over),
        ("hook_unusable_after_start", hook_unusable_after_start),
        ("flood_counts", flood_counts),
        ("usage_errors", usage_errors),
    ])
}

/// Maximum wait for a TCP collector that came back: the reconnection
/// backoff doubles from 1 s up to 60 s, so after a few seconds of downtime
/// the next attempt can be 8 or 16 s away.
const RECONNECT_LIMIT: Duration = Duration::from_secs(90);

/// The SD-ID of the structured-data element that carries the fields.
const SD_ID: &str = "ttrapd@32473";

/// Syslog facility `authpriv`, ttrapd's default.
const FACILITY: u32 = 10;

/// Calls `probe` every 10 ms until it returns a value or `limit` passes.
fn wait_until<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Returns a loopback TCP port that nothing listened on a moment ago.
fn free_tcp_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port on 127.0.0.1");
    listener.local_addr().expect("local address of the TCP listener").port()
}

/// Returns a loopback UDP port that nothing was bound to a moment ago.
fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port on 127.0.0.1");
    socket.local_addr().expect("local address of the UDP socket").port()
}

/// One socket from `/proc/net/tcp` or `/proc/net/udp`.
struct SocketEntry {
    local: (u32, u16),
    remote: (u32, u16),
    /// Kernel TCP state: 0x01 established, 0x08 close-wait, 0x0A listen;
    /// UDP sockets show 0x07.
    state: u8,
}

/// 127.0.0.1 as `/proc/net/tcp` writes it: the four address bytes read as
/// one native-endian number.
const LOOPBACK: u32 = u32::from_ne_bytes([127, 0, 0, 1]);

fn socket_table(path: &str) -> Vec<SocketEntry> {
    let text = fs::read_to_string(path).unwrap_or_else(|error| panic!("read {path}: {error}"));
    let address = |text: &str| -> Option<(u32, u16)> {
        let (ip, port) = text.split_once(':')?;
        Some((u32::from_str_radix(ip, 16).ok()?, u16::from_str_radix(port, 16).ok()?))
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut columns = line.split_whitespace().skip(1);
            let local = address(columns.next()?)?;
            let remote = address(columns.next()?)?;
            let state = u8::from_str_radix(columns.next()?, 16).ok()?;
            Some(SocketEntry { local, remote, state })
        })
        .collect()
}

/// Reports whether something listens on 127.0.0.1:`port` over TCP.
fn tcp_listening(port: u16) -> bool {
    socket_table("/proc/net/tcp")
        .iter()
        .any(|entry| entry.local == (LOOPBACK, port) && entry.state == 0x0A)
}

/// Reports whether a UDP socket is bound to 127.0.0.1:`port`.
fn udp_bound(port: u16) -> bool {
    socket_table("/proc/net/udp").iter().any(|entry| entry.local == (LOOPBACK, port))
}

/// Reports whether a client still has a connection to 127.0.0.1:`port`
/// (established, or closed by the server and not yet by the client).
fn client_connected(port: u16) -> bool {
    socket_table("/proc/net/tcp").iter().any(|entry| {
        entry.remote == (LOOPBACK, port) && (entry.state == 0x01 || entry.state == 0x08)
    })
}

/// Numbers the rsyslogd instances of this process, for their file names.
static COLLECTORS: AtomicUsize = AtomicUsize::new(0);

/// A running `rsyslogd -n` listening on 127.0.0.1 over UDP and TCP,
/// stopped on drop.
struct Rsyslogd {
    child: Option<Child>,
    output: PathBuf,
    stderr: PathBuf,
    udp_port: u16,
    tcp_port: u16,
}

impl Rsyslogd {
    /// Starts rsyslogd with a config of its own in `dir`; returns once both
    /// ports are bound.
    fn start(dir: &TempDir, udp_port: u16, tcp_port: u16) -> Rsyslogd {
        let number = COLLECTORS.fetch_add(1, Ordering::Relaxed);
        let work = dir.join(format!("rsyslog-{number}.work"));
        fs::create_dir(&work).unwrap_or_else(|error| panic!("mkdir {}: {error}", work.display()));
        let output = dir.join(format!("rsyslog-{number}.out"));
        let config = dir.join(format!("rsyslog-{number}.conf"));
        let pidfile = dir.join(format!("rsyslog-{number}.pid"));
        let stderr = dir.join(format!("rsyslog-{number}.stderr"));

        // One line per message: the RFC 5424 parts as rsyslog parsed them,
        // then the message as it arrived. ttrapd escapes every control
        // byte, so a tab can only be a separator.
        let text = format!(
            "global(workDirectory=\"{work}\")\n\
             module(load=\"imudp\")\n\
             module(load=\"imtcp\")\n\
             input(type=\"imudp\" address=\"127.0.0.1\" port=\"{udp_port}\")\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{tcp_port}\")\n\
             template(name=\"parts\" type=\"string\" string=\"%inputname%\\t%hostname%\\t\
             %app-name%\\t%procid%\\t%msgid%\\t%structured-data%\\t%msg%\\t\
             %timereported:::date-unixtimestamp%\\t%rawmsg%\\n\")\n\
             action(type=\"omfile\" file=\"{output}\" template=\"parts\")\n",
            work = work.display(),
            output = output.display(),
        );
        fs::write(&config, text).expect("write the rsyslogd config");

        let stderr_file = File::create(&stderr).expect("create the rsyslogd stderr file");
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&config)
            .arg("-i")
            .arg(&pidfile)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr_file)
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start rsyslogd (Debian package rsyslog): {error}")
            });
        let mut collector = Rsyslogd { child: Some(child), output, stderr, udp_port, tcp_port };

        let ready = poll_until(|| (tcp_listening(tcp_port) && udp_bound(udp_port)).then_some(()));
        if ready.is_none() {
            let stderr = fs::read_to_string(&collector.stderr).unwrap_or_default();
            collector.stop();
            panic!(
                "rsyslogd did not bind udp/{udp_port} and tcp/{tcp_port} on 127.0.0.1 within \
                 {WAIT_LIMIT:?}; its stderr:\n{stderr}"
            );
        }
        collector
    }

    fn udp_url(&self) -> String {
        format!("udp://127.0.0.1:{}", self.udp_port)
    }

    fn tcp_url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.tcp_port)
    }

    /// Returns the complete lines received so far from the ttrapd with
    /// `pid`, in the order rsyslogd wrote them.
    fn received(&self, pid: u32) -> Vec<Received> {
        let bytes = fs::read(&self.output).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        let procid = pid.to_string();
        complete
            .lines()
            .filter_map(Received::parse)
            .filter(|received| received.app_name == "ttrapd" && received.procid == procid)
            .collect()
    }

    /// Waits up to `limit` for a message from `pid` that satisfies
    /// `matches`; returns the messages from `pid` through the first match.
    fn wait_through(
        &self,
        limit: Duration,
        pid: u32,
        what: &str,
        matches: impl Fn(&Received) -> bool,
    ) -> Vec<Received> {
        let found = wait_until(limit, || {
            let received = self.received(pid);
            let end = received.iter().position(&matches)?;
            Some(received[..=end].to_vec())
        });
        found.unwrap_or_else(|| {
            let seen: Vec<String> = self
                .received(pid)
                .iter()
                .map(|received| format!("  {} {}", received.input, received.msg))
                .collect();
            panic!(
                "rsyslogd did not receive `{what}` from pid {pid} within {limit:?}; received \
                 from that pid in {}:\n{}",
                self.output.display(),
                seen.join("\n")
            )
        })
    }

    /// Waits for a message from `pid` over `input` (`imudp` or `imtcp`)
    /// whose MSG is `msg`.
    fn expect(&self, pid: u32, input: &str, msg: &str) -> Received {
        let what = format!("{input}: {msg}");
        let through =
            self.wait_through(WAIT_LIMIT, pid, &what, |r| r.input == input && r.msg == msg);
        through.last().cloned().expect("wait_through returns the match last")
    }

    /// Stops rsyslogd with SIGTERM, or SIGKILL if that does not end it,
    /// and reaps it.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // SAFETY: kill takes no pointers; the pid is our unreaped child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        if poll_until(|| child.try_wait().ok().flatten()).is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One message as rsyslogd parsed it.
#[derive(Clone, Debug)]
struct Received {
    /// `imudp` or `imtcp`.
    input: String,
    hostname: String,
    app_name: String,
    procid: String,
    msgid: String,
    structured_data: String,
    msg: String,
    /// The TIMESTAMP in seconds since the epoch, as rsyslogd read it.
    unix_time: i64,
    /// The message as it arrived, without the TCP frame header.
    raw: String,
}

impl Received {
    fn parse(line: &str) -> Option<Received> {
        let parts: Vec<&str> = line.splitn(9, '\t').collect();
        let [input, hostname, app_name, procid, msgid, sd, msg, unix_time, raw] = parts[..] else {
            return None;
        };
        Some(Received {
            input: input.to_string(),
            hostname: hostname.to_string(),
            app_name: app_name.to_string(),
            procid: procid.to_string(),
            msgid: msgid.to_string(),
            structured_data: sd.to_string(),
            msg: msg.to_string(),
            unix_time: unix_time.parse().ok()?,
            raw: raw.to_string(),
        })
    }
}

/// The inputs of the collector: one per transport.
const INPUTS: [&str; 2] = ["imudp", "imtcp"];

/// Returns the messages ttrapd wrote to stderr so far, complete lines
/// only, without the `ttrapd[PID]: ` prefix. In the foreground every line
/// is copied to stderr before it is sent anywhere, and unlike syslogd's
/// copy it is never cut.
fn local_lines(daemon: &Daemon) -> Vec<String> {
    let stderr = daemon.stderr();
    let complete = match stderr.rfind('\n') {
        Some(end) => &stderr[..end],
        None => "",
    };
    let prefix = format!("ttrapd[{}]: ", daemon.pid);
    complete.lines().filter_map(|line| line.strip_prefix(&prefix)).map(str::to_string).collect()
}

/// Reads back the raw bytes of a field value as ttrapd writes it: bare,
/// or quoted with `\"` and `\\`, and `\xHH` for escaped bytes.
fn raw_value(written: &str) -> Vec<u8> {
    let bytes = written.as_bytes();
    let quoted = bytes.len() >= 2 && bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"';
    let inner = if quoted { &bytes[1..bytes.len() - 1] } else { bytes };
    let mut raw = Vec::new();
    let mut index = 0;
    while index < inner.len() {
        if inner[index] != b'\\' {
            raw.push(inner[index]);
            index += 1;
            continue;
        }
        match inner.get(index + 1) {
            Some(b'x') => {
                let hex = std::str::from_utf8(&inner[index + 2..index + 4]).expect("hex digits");
                raw.push(u8::from_str_radix(hex, 16).expect("an \\xHH escape"));
                index += 4;
            }
            Some(&escaped) => {
                raw.push(escaped);
                index += 2;
            }
            None => panic!("value {written:?} ends in a lone backslash"),
        }
    }
    raw
}

/// Writes `raw` as an RFC 5424 SD-PARAM value as ttrapd's contract specifies:
/// `"`, `\` and `]` behind a backslash, control characters and invalid
/// UTF-8 as `\xHH` per byte, everything else as it is.
fn sd_value(raw: &[u8]) -> String {
    let mut out = String::new();
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' | '\\' | ']' => {
                    out.push('\\');
                    out.push(c);
                }
                _ if c.is_control() => {
                    let mut buffer = [0u8; 4];
                    for byte in c.encode_utf8(&mut buffer).bytes() {
                        out.push_str(&format!("\\x{byte:02x}"));
                    }
                }
                _ => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// Returns the STRUCTURED-DATA ttrapd must send for the local message
/// `line`: one element with every field of the line, in order.
fn expected_sd(line: &str) -> String {
    let message = Message::parse(line);
    if message.fields.is_empty() {
        return "-".to_string();
    }
    let mut sd = format!("[{SD_ID}");
    for (key, written) in &message.fields {
        sd.push_str(&format!(" {key}=\"{}\"", sd_value(&raw_value(written))));
    }
    sd.push(']');
    sd
}

/// Returns the kernel's host name, which ttrapd sends as HOSTNAME.
fn hostname() -> String {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").expect("read the host name");
    name.trim_end_matches('\n').to_string()
}

/// Reports whether `text` reads `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn is_utc_microsecond_timestamp(text: &str) -> bool {
    let pattern = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    text.len() == pattern.len()
        && text.bytes().zip(pattern.bytes()).all(|(byte, expected)| match expected {
            b'd' => byte.is_ascii_digit(),
            _ => byte == expected,
        })
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs() as i64
}

/// Checks every part of `received`, which carried the local message
/// `line` from the ttrapd with `pid` at syslog severity `severity`.
fn check_received(received: &Received, line: &str, pid: u32, severity: u32) {
    let input = &received.input;
    let kind = line.split(' ').next().expect("a line starts with its kind");
    let sd = expected_sd(line);
    assert_eq!(received.hostname, hostname(), "HOSTNAME over {input} of {line:?}");
    assert_eq!(received.app_name, "ttrapd", "APP-NAME over {input} of {line:?}");
    assert_eq!(received.procid, pid.to_string(), "PROCID over {input} of {line:?}");
    assert_eq!(received.msgid, kind, "MSGID over {input} of {line:?}");
    assert_eq!(received.structured_data, sd, "STRUCTURED-DATA over {input} of {line:?}");
    assert_eq!(received.msg, line, "MSG over {input}");

    let timestamp = received.raw.split(' ').nth(1).unwrap_or("");
    assert!(
        is_utc_microsecond_timestamp(timestamp),
        "TIMESTAMP {timestamp:?} over {input} is not YYYY-MM-DDTHH:MM:SS.ffffffZ"
    );
    let skew = (received.unix_time - unix_now()).abs();
    assert!(skew <= 60, "TIMESTAMP {timestamp:?} over {input} is {skew} s away from UTC now");
    let priority = FACILITY * 8 + severity;
    let whole = format!("<{priority}>1 {timestamp} {} ttrapd {pid} {kind} {sd} {line}", hostname());
    assert_eq!(received.raw, whole, "whole message over {input}");
}

/// Returns `-r URL` options for `urls`.
fn remote_options(urls: &[String]) -> Vec<String> {
    urls.iter().flat_map(|url| ["-r".to_string(), url.clone()]).collect()
}

/// Starts the fixture with `options` given as owned strings.
fn start_trapped(name: &str, baits: &[Bait<'_>], options: &[String]) -> Trapped {
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    Trapped::start_with(name, Mode::Permission, baits, &options)
}

/// Stops the daemon with SIGTERM and returns its STOP line, which also
/// counts events, alerts and repeated events.
fn stop_daemon(t: &mut Trapped) -> String {
    let code = t.daemon.stop();
    assert_eq!(code, Some(0), "ttrapd exit status after SIGTERM");
    let head = format!("STOP signal=SIGTERM {} ", common::sender_fields());
    let record =
        t.log.expect_where(t.daemon.pid, &head, |record| record.message.starts_with(&head));
    record.message
}

/// Returns the value of `key` in `line` as a number.
fn number(line: &str, key: &str) -> u64 {
    let message = Message::parse(line);
    let value = message.get(key).unwrap_or_else(|| panic!("no {key}= in {line:?}"));
    value.parse().unwrap_or_else(|error| panic!("{key}={value} in {line:?}: {error}"))
}

/// Reports whether `line` is an ALERT for `event` on `trap`, the path as
/// written in the line.
fn is_alert(line: &str, trap: &str, event: &str) -> bool {
    let message = Message::parse(line);
    message.kind == "ALERT"
        && message.get("trap") == Some(trap)
        && message.get("event") == Some(event)
}

/// Returns the keys of the fields of `line`, in order.
fn keys(line: &str) -> Vec<String> {
    Message::parse(line).fields.into_iter().map(|(key, _)| key).collect()
}

fn fields_udp_tcp() {
    let collector_dir = TempDir::new("fields_udp_tcp-collector");
    let collector = Rsyslogd::start(&collector_dir, free_udp_port(), free_tcp_port());
    let options = remote_options(&[collector.udp_url(), collector.tcp_url()]);
    let mut t = start_trapped("fields_udp_tcp", &[Bait::File("vpn.key", SECRET)], &options);
    let pid = t.daemon.pid;
    let trap = t.trap("vpn.key");

    intrude(Command::new("cat").arg(&trap));
    t.barrier();
    let lines = local_lines(&t.daemon);
    let start = lines.iter().find(|line| line.starts_with("START ")).expect("START on stderr");
    let alerts: Vec<&String> = lines
        .iter()
        .filter(|line| {
            line.starts_with("ALERT ") && Message::parse(line).get("trap") == Some(&trap)
        })
        .collect();
    assert_eq!(alerts.len(), 2, "alerts for cat on stderr (open and read): {alerts:?}");

    for input in INPUTS {
        let received = collector.expect(pid, input, start);
        check_received(&received, start, pid, 5);
        for line in &alerts {
            let received = collector.expect(pid, input, line);
            check_received(&received, line, pid, 1);
        }
    }
    // Each line goes once to each collector.
    let received = collector.received(pid);
    for line in std::iter::once(start).chain(alerts) {
        for input in INPUTS {
            let copies = received.iter().filter(|r| r.input == input && &r.msg == line).count();
            assert_eq!(copies, 1, "copies of {line:?} received over {input}");
        }
    }
    stop_daemon(&mut t);
}

fn hostile_names_escaped() {
    let collector_dir = TempDir::new("hostile_names_escaped-collector");
    let collector = Rsyslogd::start(&collector_dir, free_udp_port(), free_tcp_port());
    let mut options = remote_options(&[collector.udp_url(), collector.tcp_url()]);
    options.extend(["--quiet".to_string(), "0".to_string()]);
    let hostile = "a b\"c]d\\e\nf";
    let baits = [Bait::File(hostile, SECRET), Bait::Dir("d")];
    let mut t = start_trapped("hostile_names_escaped", &baits, &options);
    let pid = t.daemon.pid;
    let dir = format!("{}/", t.dir.path().display());
    let trap = t.trap(hostile);

    intrude(Command::new("head").arg("-c0").arg(&trap));
    // An entry name that is not UTF-8, with a `]` and a space.
    let entry = t.path("d").join(OsStr::from_bytes(b"x]\xff y"));
    intrude(Command::new("touch").arg(&entry));
    t.barrier();

    let lines = local_lines(&t.daemon);
    let dir_trap = t.trap("d");
    let hostile_local = format!("trap=\"{dir}a b\\\"c]d\\\\e\\x0af\"");
    let hostile_sd = format!("trap=\"{dir}a b\\\"c\\]d\\\\e\\x0af\"");
    let open = lines
        .iter()
        .find(|line| line.starts_with(&format!("ALERT {hostile_local} event=open ")))
        .unwrap_or_else(|| panic!("no open alert with {hostile_local} on stderr: {lines:#?}"));
    let create = format!("ALERT trap={dir_trap} event=create entry=\"x]\\xff y\"");
    assert!(lines.contains(&create), "no {create:?} on stderr: {lines:#?}");

    for input in INPUTS {
        let received = collector.expect(pid, input, open);
        assert!(
            received.structured_data.contains(&hostile_sd),
            "STRUCTURED-DATA over {input} lacks {hostile_sd}: {}",
            received.structured_data
        );
        check_received(&received, open, pid, 1);

        let received = collector.expect(pid, input, &create);
        let entry_sd = "entry=\"x\\]\\xff y\"]";
        assert!(
            received.structured_data.ends_with(entry_sd),
            "STRUCTURED-DATA over {input} does not end with {entry_sd}: {}",
            received.structured_data
        );
        check_received(&received, &create, pid, 1);
    }
    // Every other alert on the two traps, with process fields that repeat
    // the names (cmd), arrives intact as well.
    let touched: Vec<&String> = lines
        .iter()
        .filter(|line| {
            let message = Message::parse(line);
            let trap_field = message.get("trap").unwrap_or("");
            message.kind == "ALERT" && (trap_field == dir_trap || trap_field.contains("a b"))
        })
        .collect();
    for line in touched {
        for input in INPUTS {
            let received = collector.expect(pid, input, line);
            check_received(&received, line, pid, 1);
        }
    }
    stop_daemon(&mut t);
}

/// Waits until the collector received `line` over TCP, so nothing sent
/// before it is still in flight.
fn wait_delivered(collector: &Rsyslogd, pid: u32, line: &str) {
    collector.expect(pid, "imtcp", line);
}

/// Stops `collector` and waits until ttrapd dropped its connection,
/// because lines sent before ttrapd notices the close are lost with it.
fn stop_collector(collector: &mut Rsyslogd) {
    collector.stop();
    let port = collector.tcp_port;
    let closed = poll_until(|| (!client_connected(port)).then_some(()));
    assert!(
        closed.is_some(),
        "ttrapd still holds its connection to port {port} after rsyslogd stopped"
    );
}

/// Reports whether `part` appears within `whole` in the same order.
fn is_subsequence(part: &[String], whole: &[String]) -> bool {
    let mut rest = whole.iter();
    part.iter().all(|item| rest.any(|candidate| candidate == item))
}

fn tcp_queue_while_down() {
    let collector_dir = TempDir::new("tcp_queue_while_down-collector");
    let (udp_port, tcp_port) = (free_udp_port(), free_tcp_port());
    let mut collector = Rsyslogd::start(&collector_dir, udp_port, tcp_port);
    let mut options = remote_options(&[collector.tcp_url()]);
    options.extend(["--quiet".to_string(), "0".to_string()]);
    let mut t = start_trapped("tcp_queue_while_down", &[Bait::File("vpn.key", SECRET)], &options);
    let pid = t.daemon.pid;
    let trap = t.trap("vpn.key");

    intrude(Command::new("chmod").arg("600").arg(&trap));
    t.barrier();
    let before = local_lines(&t.daemon);
    wait_delivered(&collector, pid, before.last().expect("lines before the stop"));

    stop_collector(&mut collector);
    // A barrier after each change keeps the kernel from merging the
    // identical attrib events in the inotify queue.
    for mode in ["640", "600", "644"] {
        intrude(Command::new("chmod").arg(mode).arg(&trap));
        t.barrier();
    }
    let while_down = local_lines(&t.daemon)[before.len()..].to_vec();
    let alerts = while_down.iter().filter(|line| is_alert(line, &trap, "attrib")).count();
    assert_eq!(alerts, 3, "attrib alerts on stderr while the collector was down: {while_down:#?}");

    collector = Rsyslogd::start(&collector_dir, udp_port, tcp_port);
    let back = format!("WARN what=remote-back dest=tcp://127.0.0.1:{tcp_port} dropped=0");
    let received = collector.wait_through(RECONNECT_LIMIT, pid, &back, |r| r.msg == back);
    let (back_received, queued) = received.split_last().expect("wait_through returns the match");
    let queued: Vec<String> = queued.iter().map(|r| r.msg.clone()).collect();
    assert_eq!(queued, while_down, "lines the collector got after it came back, before {back:?}");
    assert_eq!(back_received.msgid, "WARN", "MSGID of the remote-back line");
    check_received(back_received, &back, pid, 4);
    t.log.expect(pid, &back);
    stop_daemon(&mut t);
}

/// Opens argv[1] argv[2] times without reading it.
const OPENER: &str = "\
import sys
for _ in range(int(sys.argv[2])):
    open(sys.argv[1]).close()
";

fn tcp_queue_overflow() {
    let collector_dir = TempDir::new("tcp_queue_overflow-collector");
    let (udp_port, tcp_port) = (free_udp_port(), free_tcp_port());
    let mut collector = Rsyslogd::start(&collector_dir, udp_port, tcp_port);
    let mut options = remote_options(&[collector.tcp_url()]);
    options.extend(["--quiet".to_string(), "0".to_string()]);
    let mut t = start_trapped("tcp_queue_overflow", &[Bait::File("vpn.key", SECRET)], &options);
    let pid = t.daemon.pid;
    let trap = t.trap("vpn.key");
    let before = local_lines(&t.daemon);
    wait_delivered(&collector, pid, before.last().expect("lines before the stop"));

    stop_collector(&mut collector);
    // 300 alerts of 400 bytes or more exceed the 32 KiB queue.
    let opens = 300;
    intrude(Command::new("python3").arg("-c").arg(OPENER).arg(&trap).arg(opens.to_string()));
    t.barrier();
    let while_down = local_lines(&t.daemon)[before.len()..].to_vec();
    let alerts = while_down.iter().filter(|line| is_alert(line, &trap, "open")).count();
    assert_eq!(alerts, opens, "open alerts on stderr while the collector was down");

    collector = Rsyslogd::start(&collector_dir, udp_port, tcp_port);
    let back_head = format!("LOST what=remote-back dest=tcp://127.0.0.1:{tcp_port} dropped=");
    let received = collector
        .wait_through(RECONNECT_LIMIT, pid, &back_head, |r| r.msg.contains("what=remote-back"));
    let (back, queued) = received.split_last().expect("wait_through returns the match");
    assert!(back.msg.starts_with(&back_head), "remote-back line {:?} after an overflow", back.msg);
    assert_eq!(back.msgid, "LOST", "MSGID of the remote-back line after an overflow");
    check_received(back, &back.msg, pid, 4);
    let dropped = number(&back.msg, "dropped");
    assert!(dropped > 0, "dropped= in {:?} after {opens} alerts", back.msg);

    // Every line written from the stop of the collector to the remote-back
    // line was either delivered or dropped. A line written after the
    // barrier (a remote-unreachable warning) counts as well.
    let all = local_lines(&t.daemon);
    let back_at = all.iter().rposition(|line| *line == back.msg).expect("remote-back on stderr");
    let while_down = all[before.len()..back_at].to_vec();
    let queued: Vec<String> = queued.iter().map(|r| r.msg.clone()).collect();
    assert!(
        is_subsequence(&queued, &while_down),
        "lines the collector got after it came back are not lines sent while it was down: \
         {queued:#?}"
    );
    assert_eq!(
        queued.len() as u64 + dropped,
        while_down.len() as u64,
        "lines delivered after the return ({}) plus dropped ({dropped}) against lines sent \
         while down",
        queued.len()
    );
    t.log.expect(pid, &back.msg);
    stop_daemon(&mut t);
}

fn tcp_collector_late() {
    let collector_dir = TempDir::new("tcp_collector_late-collector");
    let (udp_port, tcp_port) = (free_udp_port(), free_tcp_port());
    let url = format!("tcp://127.0.0.1:{tcp_port}");
    let options = ["-r".to_string(), url.clone(), "--quiet".to_string(), "0".to_string()];
    let mut t = start_trapped("tcp_collector_late", &[Bait::File("vpn.key", SECRET)], &options);
    let pid = t.daemon.pid;
    let trap = t.trap("vpn.key");
    intrude(Command::new("chmod").arg("600").arg(&trap));
    t.barrier();
    let sent = local_lines(&t.daemon);
    assert!(sent.iter().any(|line| is_alert(line, &trap, "attrib")), "no attrib alert: {sent:#?}");

    // The collector starts only now, on the port ttrapd has been trying.
    let collector = Rsyslogd::start(&collector_dir, udp_port, tcp_port);
    let back = format!("WARN what=remote-back dest={url} dropped=0");
    let received = collector.wait_through(RECONNECT_LIMIT, pid, &back, |r| r.msg == back);
    let (back_received, queued) = received.split_last().expect("wait_through returns the match");
    let queued: Vec<String> = queued.iter().map(|r| r.msg.clone()).collect();
    assert_eq!(queued, sent, "lines the late collector got before {back:?}");
    check_received(back_received, &back, pid, 4);
    stop_daemon(&mut t);
}

/// Splits RFC 6587 octet-counted frames (`LEN SP MSG`) off the front of
/// `bytes`; returns the messages and leaves an incomplete frame in place.
fn take_frames(bytes: &mut Vec<u8>) -> Vec<String> {
    let mut messages = Vec::new();
    loop {
        let Some(space) = bytes.iter().position(|&byte| byte == b' ') else { break };
        let length: usize = std::str::from_utf8(&bytes[..space])
            .ok()
            .and_then(|digits| digits.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "invalid frame header {:?}: expected a decimal length",
                    String::from_utf8_lossy(&bytes[..space])
                )
            });
        if bytes.len() < space + 1 + length {
            break;
        }
        let message = String::from_utf8_lossy(&bytes[space + 1..space + 1 + length]).into_owned();
        messages.push(message);
        bytes.drain(..space + 1 + length);
    }
    messages
}

/// Returns the MSG part of an RFC 5424 message from ttrapd, whose
/// structured data ends in `] ` unless it is `-`.
fn rfc5424_msg(message: &str) -> String {
    // <PRI>1 TIMESTAMP HOSTNAME APP PROCID MSGID SD MSG
    let after_msgid = message.splitn(7, ' ').nth(6).expect("seven header parts");
    if let Some(rest) = after_msgid.strip_prefix("- ") {
        return rest.to_string();
    }
    let msgid = message.splitn(7, ' ').nth(5).expect("a MSGID");
    // MSG starts with the kind, which is the MSGID.
    let start = after_msgid.rfind(&format!("] {msgid}")).expect("MSG after the structured data");
    after_msgid[start + 2..].to_string()
}

/// Reads what arrived on `stream` into `pending` and returns the complete
/// messages.
fn read_frames(stream: &mut std::net::TcpStream, pending: &mut Vec<u8>) -> Vec<String> {
    use std::io::{ErrorKind, Read};
    let mut buffer = [0u8; 65536];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(len) => pending.extend_from_slice(&buffer[..len]),
            Err(error) if error.kind() == ErrorKind::WouldBlock => break,
            Err(error) => panic!("read from ttrapd's connection: {error}"),
        }
    }
    take_frames(pending).iter().map(|message| rfc5424_msg(message)).collect()
}

/// Returns the largest send buffer the kernel gives a TCP socket, in
/// bytes.
fn max_send_buffer() -> usize {
    let text = fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").expect("read tcp_wmem");
    let max = text.split_whitespace().last().expect("three values in tcp_wmem");
    max.parse().expect("tcp_wmem holds numbers")
}

fn tcp_stalled_collector() {
    use std::os::fd::AsRawFd;
    // A collector of this test's own that accepts the connection and then
    // reads nothing for a while. A small receive buffer, which accepted
    // connections inherit, makes the kernel stop taking data early.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port on 127.0.0.1");
    let size: libc::c_int = 4096;
    // SAFETY: the option value points to a c_int of the given length.
    let set = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "setsockopt(SO_RCVBUF): {}", std::io::Error::last_os_error());
    listener.set_nonblocking(true).expect("make the listener non-blocking");
    let port = listener.local_addr().expect("listener address").port();
    let url = format!("tcp://127.0.0.1:{port}");
    let options = ["-r".to_string(), url.clone(), "--quiet".to_string(), "0".to_string()];
    let mut t = start_trapped("tcp_stalled_collector", &[Bait::File("vpn.key", SECRET)], &options);
    let trap = t.trap("vpn.key");
    let accepted = poll_until(|| listener.accept().ok());
    let (mut stream, _) = accepted.expect("ttrapd did not connect to the collector");
    stream.set_nonblocking(true).expect("make the connection non-blocking");

    // More than the socket's send buffer, which the kernel grows up to the
    // last value of net.ipv4.tcp_wmem, and the 32 KiB queue hold together:
    // an alert frame here is over 1 KB (about 1.2 KB measured). Each open
    // waits for ttrapd's permission response, so this also shows that a
    // stalled collector does not hold up the daemon.
    let opens = (max_send_buffer() / 500).max(2000);
    intrude(Command::new("python3").arg("-c").arg(OPENER).arg(&trap).arg(opens.to_string()));
    t.barrier();
    let alerts = local_lines(&t.daemon).iter().filter(|line| is_alert(line, &trap, "open")).count();
    assert_eq!(alerts, opens, "local open alerts while the collector stalled");

    // The collector reads again. A later line is sent once the queue has
    // drained; whatever was dropped must have been reported by then.
    let mut pending = Vec::new();
    let mut received = Vec::new();
    let drained = wait_until(Duration::from_secs(30), || {
        let before = received.len();
        received.extend(read_frames(&mut stream, &mut pending));
        std::thread::sleep(Duration::from_millis(200));
        (received.len() == before && pending.is_empty()).then_some(())
    });
    assert!(drained.is_some(), "the connection did not go quiet within 30 s");
    intrude(Command::new("chmod").arg("600").arg(&trap));
    let marker = wait_until(WAIT_LIMIT, || {
        received.extend(read_frames(&mut stream, &mut pending));
        received.iter().any(|line| is_alert(line, &trap, "attrib")).then_some(())
    });
    assert!(marker.is_some(), "the attrib alert after the drain did not arrive");

    let sent = local_lines(&t.daemon);
    assert!(
        is_subsequence(&received, &sent),
        "lines the collector got are not lines ttrapd sent, in order: {received:#?}"
    );
    let missing = (sent.len() - received.len()) as u64;
    assert!(missing > 0, "every line arrived, so the queue never overflowed; raise the load");
    let reported: u64 = received
        .iter()
        .filter(|line| line.contains(" dropped="))
        .map(|line| number(line, "dropped"))
        .sum();
    let reports: Vec<&String> = received.iter().filter(|line| line.contains(" dropped=")).collect();
    assert_eq!(
        reported, missing,
        "dropped= counts received against lines that never arrived; lines with dropped=: \
         {reports:#?}"
    );
    stop_daemon(&mut t);
}

/// Returns the CPU time `pid` has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    let (_, rest) = stat.rsplit_once(") ").expect("stat has a command name in parentheses");
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let fields: Vec<&str> = rest.split(' ').collect();
    let user: u64 = fields[11].parse().expect("utime");
    let system: u64 = fields[12].parse().expect("stime");
    user + system
}

fn idle_while_collector_down() {
    let collector_dir = TempDir::new("idle_while_collector_down-collector");
    let mut collector = Rsyslogd::start(&collector_dir, free_udp_port(), free_tcp_port());
    let options = remote_options(&[collector.tcp_url()]);
    let mut t =
        start_trapped("idle_while_collector_down", &[Bait::File("vpn.key", SECRET)], &options);
    let pid = t.daemon.pid;
    let start = local_lines(&t.daemon).into_iter().find(|line| line.starts_with("START "));
    wait_delivered(&collector, pid, &start.expect("START on stderr"));

    stop_collector(&mut collector);
    // The first reconnection is due 1 s after the close; with nothing
    // queued there is nothing to send, so the daemon should sleep in poll.
    std::thread::sleep(Duration::from_millis(1500));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    // SAFETY: sysconf takes no pointers.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    assert!(
        used * 4 < ticks_per_second,
        "ttrapd used {used} clock ticks (of {ticks_per_second} per second) of CPU in 2 s with \
         nothing to do while its TCP collector was down"
    );
    stop_daemon(&mut t);
}

fn udp_collector_absent() {
    // Nothing listens on this port, so each datagram draws an ICMP error.
    let port = free_udp_port();
    let options = vec![
        "-r".to_string(),
        format!("udp://127.0.0.1:{port}"),
        "--quiet".to_string(),
        "0".to_string(),
    ];
    let mut t = start_trapped("udp_collector_absent", &[Bait::File("vpn.key", SECRET)], &options);
    let trap = t.trap("vpn.key");
    let modes = ["600", "640", "600", "644", "600", "640"];
    // A barrier after each change keeps the kernel from merging the
    // identical attrib events in the inotify queue.
    for mode in modes {
        intrude(Command::new("chmod").arg(mode).arg(&trap));
        t.barrier();
    }
    let lines = local_lines(&t.daemon);
    let alerts = lines.iter().filter(|line| is_alert(line, &trap, "attrib")).count();
    assert_eq!(alerts, modes.len(), "local attrib alerts with the UDP collector absent");
    let back: Vec<&String> =
        lines.iter().filter(|line| line.contains("what=remote-back")).collect();
    assert!(back.is_empty(), "remote-back lines while nothing listened on udp/{port}: {back:#?}");
    stop_daemon(&mut t);
}

fn heartbeat_interval() {
    let collector_dir = TempDir::new("heartbeat_interval-collector");
    let collector = Rsyslogd::start(&collector_dir, free_udp_port(), free_tcp_port());
    let mut options = remote_options(&[collector.udp_url()]);
    options.extend(["--heartbeat".to_string(), "1".to_string()]);
    let mut t = start_trapped("heartbeat_interval", &[Bait::File("vpn.key", SECRET)], &options);
    let pid = t.daemon.pid;
    collector.wait_through(WAIT_LIMIT, pid, "START", |r| r.msgid == "START");

    std::thread::sleep(Duration::from_secs(5));
    let received = collector.received(pid);
    let beats: Vec<&Received> = received.iter().filter(|r| r.msgid == "HEARTBEAT").collect();
    assert!(beats.len() >= 2, "HEARTBEAT messages within 5 s at --heartbeat 1: {}", beats.len());
    assert!(beats.len() < 10, "HEARTBEAT messages within 5 s at --heartbeat 1: {}", beats.len());
    // The fixture traps a sentinel file besides vpn.key.
    let heartbeat = "HEARTBEAT traps=2 armed=2";
    for beat in beats {
        check_received(beat, heartbeat, pid, 6);
    }
    let local = t.log.expect(pid, heartbeat);
    assert_eq!(local.priority, "authpriv.info", "priority of the local HEARTBEAT line");
    stop_daemon(&mut t);
}

/// Writes an executable shell script to `path`.
fn write_script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}")).expect("write the hook script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod the hook script");
}

/// Parses `env` output into name and value pairs.
fn parse_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn env_value<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

/// Waits for the file `path` and returns its content.
fn wait_for_file(path: &Path) -> String {
    let text = poll_until(|| fs::read_to_string(path).ok());
    text.unwrap_or_else(|| panic!("{} did not appear within {WAIT_LIMIT:?}", path.display()))
}

/// Runs `program` with `args` to its end and returns its pid.
fn run_intruder(program: &str, args: &[&OsStr]) -> u32 {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
    let status = child.wait().unwrap_or_else(|error| panic!("wait for {program}: {error}"));
    assert!(status.success(), "{program} failed with {status}");
    child.id()
}

fn hook_environment() {
    let hook_dir = TempDir::new("hook_environment-hook");
    let script = hook_dir.join("hook.sh");
    // The hook reads the trap too: as a descendant of ttrapd it must not
    // raise an alert (and so start another hook).
    let body = format!(
        "cat \"$TTRAPD_TRAP\" > /dev/null\n\
         out=\"{dir}/env-$TTRAPD_PID-$TTRAPD_EVENT\"\n\
         {{\n\
           env\n\
           echo \"HOOK_PID=$$\"\n\
           echo \"HOOK_PGRP=$(cut -d' ' -f5 /proc/$$/stat)\"\n\
           echo \"HOOK_STDIN=$(readlink /proc/self/fd/0)\"\n\
         }} > \"$out.tmp\"\n\
         mv \"$out.tmp\" \"$out\"\n",
        dir = hook_dir.path().display()
    );
    write_script(&script, &body);
    let script_text = script.to_str().expect("temporary paths are UTF-8");
    let options = ["-x", script_text, "--quiet", "0"].map(str::to_string);
    let mut t = start_trapped("hook_environment", &[Bait::File("vpn key", SECRET)], &options);
    let pid = t.daemon.pid;
    let trap = t.trap("vpn key");

    let intruder = run_intruder("head", &[OsStr::new("-c0"), t.path("vpn key").as_os_str()]);
    let hook_record = t.log.expect_where(pid, "HOOK", |record| record.message.starts_with("HOOK "));
    let env_text = wait_for_file(&hook_dir.join(format!("env-{intruder}-open")));
    let env = parse_env(&env_text);

    let lines = local_lines(&t.daemon);
    let hook_at = lines.iter().position(|line| line.starts_with("HOOK ")).expect("HOOK on stderr");
    let alerts: Vec<&String> = lines[..hook_at]
        .iter()
        .filter(|line| line.starts_with("ALERT ") && line.contains("vpn key"))
        .collect();
    assert_eq!(alerts.len(), 1, "alerts before the HOOK line (the hook's own read must not alert)");
    let alert = alerts[0];
    assert_eq!(number(alert, "pid"), u64::from(intruder), "pid= of the alert for head");

    assert_eq!(env_value(&env, "TTRAPD_KIND"), Some("ALERT"), "TTRAPD_KIND");
    assert_eq!(env_value(&env, "TTRAPD_EVENT"), Some("open"), "TTRAPD_EVENT");
    assert_eq!(env_value(&env, "TTRAPD_TRAP"), Some(trap.as_str()), "TTRAPD_TRAP (raw, unquoted)");
    let intruder_text = intruder.to_string();
    assert_eq!(env_value(&env, "TTRAPD_PID"), Some(intruder_text.as_str()), "TTRAPD_PID");
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() }.to_string();
    assert_eq!(env_value(&env, "TTRAPD_UID"), Some(uid.as_str()), "TTRAPD_UID");
    let whole_line = format!("ttrapd[{pid}]: {alert}");
    assert_eq!(env_value(&env, "TTRAPD_LINE"), Some(whole_line.as_str()), "TTRAPD_LINE");
    for (key, written) in Message::parse(alert).fields {
        let name = format!("TTRAPD_{}", key.to_ascii_uppercase());
        let raw = String::from_utf8(raw_value(&written)).expect("field values here are UTF-8");
        assert_eq!(
            env_value(&env, &name),
            Some(raw.as_str()),
            "{name} for the field {key}={written}"
        );
    }
    let path = env_value(&env, "PATH").unwrap_or("");
    assert!(path.split(':').any(|dir| dir == "/usr/bin"), "PATH of the hook: {path:?}");
    assert_eq!(env_value(&env, "HOOK_STDIN"), Some("/dev/null"), "stdin of the hook");
    let hook_pid = env_value(&env, "HOOK_PID").expect("HOOK_PID in the hook's record");
    assert_eq!(env_value(&env, "HOOK_PGRP"), Some(hook_pid), "process group of the hook");

    let hook_line = &hook_record.message;
    assert_eq!(keys(hook_line), ["pid", "exit", "ms"], "fields of {hook_line:?}");
    assert_eq!(number(hook_line, "pid").to_string(), hook_pid, "pid= of {hook_line:?}");
    assert_eq!(number(hook_line, "exit"), 0, "exit= of {hook_line:?}");
    stop_daemon(&mut t);
}

/// Kills, on drop, the process with `pid` if it still runs `sleep 100`,
/// the one command this guard is for, and reaps it.
struct SleepGuard {
    pid: u32,
}

impl Drop for SleepGuard {
    fn drop(&mut self) {
        let pid = self.pid;
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline == b"sleep\0100\0" && process_is_live(pid) {
            // SAFETY: kill takes no pointers.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        // SAFETY: waitpid with a null status pointer is allowed; the sleep
        // became our child when its shell died (the harness is a subreaper).
        unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), libc::WNOHANG) };
    }
}

fn hook_timeout_kills_group() {
    let hook_dir = TempDir::new("hook_timeout_kills_group-hook");
    let script = hook_dir.join("hang.sh");
    let body = format!(
        "sleep 100 &\n\
         echo \"$! $$\" > \"{dir}/pids.tmp\"\n\
         mv \"{dir}/pids.tmp\" \"{dir}/pids\"\n\
         wait\n",
        dir = hook_dir.path().display()
    );
    write_script(&script, &body);
    let script_text = script.to_str().expect("temporary paths are UTF-8");
    let options = ["-x", script_text, "--exec-timeout", "1"].map(str::to_string);
    let mut t =
        start_trapped("hook_timeout_kills_group", &[Bait::File("vpn.key", SECRET)], &options);
    let pid = t.daemon.pid;

    intrude(Command::new("head").arg("-c0").arg(t.path("vpn.key")));
    let pids = wait_for_file(&hook_dir.join("pids"));
    let (sleep_pid, hook_pid) = pids.trim_end().split_once(' ').expect("two pids");
    let sleep_pid: u32 = sleep_pid.parse().expect("the sleep's pid");
    let _guard = SleepGuard { pid: sleep_pid };

    let record = t.log.expect_where(pid, "HOOK", |record| record.message.starts_with("HOOK "));
    let line = &record.message;
    assert_eq!(keys(line), ["pid", "signal", "reason", "ms"], "fields of {line:?}");
    assert_eq!(number(line, "pid").to_string(), hook_pid, "pid= of {line:?}");
    let message = Message::parse(line);
    assert_eq!(message.get("signal"), Some("SIGKILL"), "signal= of {line:?}");
    assert_eq!(message.get("reason"), Some("timeout"), "reason= of {line:?}");
    assert!(number(line, "ms") >= 1000, "ms= of {line:?} with --exec-timeout 1");

    let gone = poll_until(|| (!process_is_live(sleep_pid)).then_some(()));
    assert!(gone.is_some(), "the hook's sleep (pid {sleep_pid}) outlived the hook's timeout");
    stop_daemon(&mut t);
}

/// Creates `path` on drop, which lets waiting hooks end.
struct Release {
    path: PathBuf,
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = fs::write(&self.path, "");
    }
}

fn hook_limit_four() {
    let hook_dir = TempDir::new("hook_limit_four-hook");
    let script = hook_dir.join("wait.sh");
    let release = Release { path: hook_dir.join("release") };
    let body = format!(
        "touch \"{dir}/ran-$$\"\n\
         while [ ! -e \"{release}\" ]; do sleep 0.05; done\n",
        dir = hook_dir.path().display(),
        release = release.path.display()
    );
    write_script(&script, &body);
    let script_text = script.to_str().expect("temporary paths are UTF-8");
    let options = ["-x", script_text, "--quiet", "0"].map(str::to_string);
    let mut t = start_trapped("hook_limit_four", &[Bait::File("vpn.key", SECRET)], &options);
    let pid = t.daemon.pid;
    let trap = t.trap("vpn.key");

    let intruders = 6;
    for _ in 0..intruders {
        intrude(Command::new("head").arg("-c0").arg(&trap));
    }
    let all_alerted = poll_until(|| {
        let lines = local_lines(&t.daemon);
        let alerts = lines.iter().filter(|line| is_alert(line, &trap, "open")).count();
        (alerts == intruders).then_some(())
    });
    assert!(all_alerted.is_some(), "{intruders} open alerts did not all arrive");
    let ran = || {
        let entries = fs::read_dir(hook_dir.path()).expect("list the hook directory");
        entries
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().starts_with("ran-"))
            .count()
    };
    assert!(poll_until(|| (ran() >= 4).then_some(())).is_some(), "4 hooks did not start");
    drop(release);

    let mut hook_lines = Vec::new();
    for _ in 0..4 {
        let record = t.log.expect_where(pid, "HOOK", |record| record.message.starts_with("HOOK "));
        hook_lines.push(record.message);
    }
    assert_eq!(ran(), 4, "hooks that ran for {intruders} alerts at once");
    for line in &hook_lines {
        assert_eq!(number(line, "exit"), 0, "exit= of {line:?}");
    }
    let skipped: u64 = hook_lines
        .iter()
        .map(|line| Message::parse(line).get("skipped").map_or(0, |value| value.parse().unwrap()))
        .sum();
    assert_eq!(skipped, 2, "skipped= over the HOOK lines {hook_lines:#?}");
    stop_daemon(&mut t);
}

fn hook_in_trapped_dir() {
    // The hook script lies in a trapped directory, so its execve waits on
    // a permission answer from ttrapd, which must not be waiting for the
    // hook in turn.
    let hook_dir = TempDir::new("hook_in_trapped_dir-hook");
    let out_dir = TempDir::new("hook_in_trapped_dir-out");
    let script = hook_dir.join("hook.sh");
    // The hook lists its descriptors: none of the daemon's may be among them.
    let body = format!(
        "out=\"{}/ran-$TTRAPD_PID\"\nls -l /proc/$$/fd/ > \"$out.tmp\"\nmv \"$out.tmp\" \"$out\"\n",
        out_dir.path().display()
    );
    write_script(&script, &body);
    let script_text = script.to_str().expect("temporary paths are UTF-8");
    let hook_dir_text = hook_dir.path().to_str().expect("temporary paths are UTF-8");
    let options = ["-x", script_text, "--quiet", "0", hook_dir_text].map(str::to_string);
    let mut t = start_trapped("hook_in_trapped_dir", &[Bait::File("vpn.key", SECRET)], &options);
    let pid = t.daemon.pid;

    let intruder = run_intruder("head", &[OsStr::new("-c0"), t.path("vpn.key").as_os_str()]);
    let record = t.log.expect_where(pid, "HOOK", |record| record.message.starts_with("HOOK "));
    assert_eq!(number(&record.message, "exit"), 0, "exit= of the hook: {}", record.message);
    let listing = wait_for_file(&out_dir.join(format!("ran-{intruder}")));
    for held in ["fanotify", "inotify", "signalfd", "socket:", "kmsg"] {
        assert!(!listing.contains(held), "the hook inherited {held}:\n{listing}");
    }
    // The daemon still answers: a second read alerts.
    let second = run_intruder("head", &[OsStr::new("-c0"), t.path("vpn.key").as_os_str()]);
    let second_text = format!("pid={second} ");
    t.log.expect_where(pid, "ALERT of the second read", |record| {
        record.message.starts_with("ALERT ") && record.message.contains(&second_text)
    });
    let lines = local_lines(&t.daemon);
    let about_hook: Vec<&String> = lines
        .iter()
        .filter(|line| line.starts_with("ALERT ") && line.contains(hook_dir_text))
        .collect();
    assert!(about_hook.is_empty(), "the hook's own start was reported: {about_hook:#?}");
    stop_daemon(&mut t);
}

fn hook_starting_when_stopped() {
    // The daemon stops right after an alert, while its hook, which lies in
    // a trapped directory, may still wait in execve for the daemon's
    // answer. Once the daemon is gone the kernel must let the hook go: no
    // process of the daemon's may stay behind, holding its fanotify group.
    let hook_dir = TempDir::new("hook_starting_when_stopped-hook");
    let script = hook_dir.join("hook.sh");
    write_script(&script, "exit 0\n");
    let script_text = script.to_str().expect("temporary paths are UTF-8");
    let hook_dir_text = hook_dir.path().to_str().expect("temporary paths are UTF-8");
    for round in 0..5 {
        let options = ["-x", script_text, hook_dir_text].map(str::to_string);
        let name = format!("hook_starting_when_stopped-{round}");
        let mut t = start_trapped(&name, &[Bait::File("vpn.key", SECRET)], &options);
        run_intruder("cat", &[t.path("vpn.key").as_os_str()]);
        t.daemon.signal(libc::SIGTERM);
        assert_eq!(t.daemon.wait(), Some(0), "exit status after SIGTERM");
        let left = poll_until(|| {
            let left = daemon::processes_mentioning(script_text);
            left.is_empty().then_some(())
        });
        let stuck = daemon::processes_mentioning(script_text);
        for &pid in &stuck {
            // SAFETY: kill takes no pointers; these are the daemon's own
            // children, started by this test.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        assert!(left.is_some(), "round {round}: processes left after the daemon ended: {stuck:?}");
    }
}

fn hook_orphans_not_reported() {
    // The hook starts a reader of the trap in the background and exits.
    // The reader is no longer below ttrapd but was in the hook's session,
    // so its read must not alert (and start another hook).
    let hook_dir = TempDir::new("hook_orphans_not_reported-hook");
    let out_dir = TempDir::new("hook_orphans_not_reported-out");
    let script = hook_dir.join("hook.sh");
    let done = out_dir.join("done");
    let body = format!(
        "( sleep 0.3; cat \"$TTRAPD_TRAP\" > /dev/null; touch \"{}\" ) &\nexit 0\n",
        done.display()
    );
    write_script(&script, &body);
    let script_text = script.to_str().expect("temporary paths are UTF-8");
    let options = ["-x", script_text, "--quiet", "0"].map(str::to_string);
    let mut t =
        start_trapped("hook_orphans_not_reported", &[Bait::File("vpn.key", SECRET)], &options);
    let pid = t.daemon.pid;

    let intruder = run_intruder("head", &[OsStr::new("-c0"), t.path("vpn.key").as_os_str()]);
    t.log.expect_where(pid, "HOOK", |record| record.message.starts_with("HOOK "));
    wait_for_file(&done);
    t.barrier();
    let lines = local_lines(&t.daemon);
    let intruder_text = intruder.to_string();
    let others: Vec<&String> = lines
        .iter()
        .filter(|line| line.starts_with("ALERT ") && line.contains("vpn.key"))
        .filter(|line| Message::parse(line).get("pid") != Some(intruder_text.as_str()))
        .collect();
    assert!(others.is_empty(), "alerts for the hook's background reader: {others:#?}");
    stop_daemon(&mut t);
}

/// Python program that takes over the pid argv[1] of an ended hook. It
/// sets the kernel's last pid so that its next child gets that pid. The
/// child leads a new session, forks a grandchild and exits, and the
/// grandchild opens argv[2]. Prints "pid-missed" when another process took
/// the pid first.
const PID_TAKER: &str = "
import os, sys
target = int(sys.argv[1])
with open('/proc/sys/kernel/ns_last_pid', 'w') as f:
    f.write(str(target - 1))
child = os.fork()
if child == 0:
    if os.getpid() != target:
        os._exit(3)
    os.setsid()
    grandchild = os.fork()
    if grandchild == 0:
        import time
        time.sleep(0.2)
        try:
            os.close(os.open(sys.argv[2], os.O_RDONLY))
            os._exit(0)
        except PermissionError:
            os._exit(1)
    os._exit(4)
_, status = os.waitpid(child, 0)
if os.waitstatus_to_exitcode(status) == 3:
    print('pid-missed')
";

fn hook_pid_taken_over() {
    // Once a hook has ended, its pid, and with it its session and group
    // number, can be taken by anyone. Such a process must not pass for the
    // hook's.
    let hook_dir = TempDir::new("hook_pid_taken_over-hook");
    let script = hook_dir.join("hook.sh");
    write_script(&script, "exit 0\n");
    let script_text = script.to_str().expect("temporary paths are UTF-8");
    let options = ["-x", script_text, "--deny", "--quiet", "0"].map(str::to_string);
    let mut t = start_trapped("hook_pid_taken_over", &[Bait::File("vpn.key", SECRET)], &options);
    let pid = t.daemon.pid;
    let trap = t.path("vpn.key");
    let first = Command::new("cat").arg(&trap).stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(!first.expect("run cat").success(), "the first cat should be refused");
    let record = t.log.expect_where(pid, "HOOK", |record| record.message.starts_with("HOOK "));
    let hook = number(&record.message, "pid");

    let mut verdict = None;
    for _ in 0..20 {
        let output = Command::new("python3")
            .args(["-c", PID_TAKER])
            .arg(hook.to_string())
            .arg(&trap)
            .output()
            .expect("run the pid taker");
        if String::from_utf8_lossy(&output.stdout).contains("pid-missed") {
            continue;
        }
        // The grandchild reports through the log: wait for its open.
        let line = t.log.expect_where(pid, "ALERT of the taken-over pid", |record| {
            record.message.starts_with("ALERT ") && record.message.contains(" comm=python3 ")
        });
        verdict = Some(line.message);
        break;
    }
    let line = verdict.expect("the pid of the ended hook could not be taken in 20 tries");
    let message = Message::parse(&line);
    assert_eq!(message.get("action"), Some("denied"), "the open by the taken-over pid: {line}");
    stop_daemon(&mut t);
}

fn hook_unusable_after_start() {
    // The hook can be executed at start and not when an alert comes.
    let hook_dir = TempDir::new("hook_unusable_after_start-hook");
    let script = hook_dir.join("hook.sh");
    write_script(&script, "exit 0\n");
    let script_text = script.to_str().expect("temporary paths are UTF-8");
    let options = ["-x", script_text, "--quiet", "0"].map(str::to_string);
    let mut t =
        start_trapped("hook_unusable_after_start", &[Bait::File("vpn.key", SECRET)], &options);
    let pid = t.daemon.pid;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).expect("chmod the hook");

    run_intruder("head", &[OsStr::new("-c0"), t.path("vpn.key").as_os_str()]);
    let record = t.log.expect_where(pid, "ERROR what=hook-failed", |record| {
        record.message.starts_with("ERROR what=hook-failed ")
    });
    let message = Message::parse(&record.message);
    assert_eq!(message.get("action"), Some("execute-hook"), "action= in {}", record.message);
    assert_eq!(message.get("errno"), Some("EACCES"), "errno= in {}", record.message);
    stop_daemon(&mut t);
}

fn hook_not_executable() {
    let dir = TempDir::new("hook_not_executable");
    let trap = dir.join("vpn.key");
    fs::write(&trap, SECRET).expect("create the trap");
    let syslogd = Syslogd::start(dir.join("syslog.out"));
    let mut log = syslogd.log();
    let plain = dir.join("plain.sh");
    fs::write(&plain, "#!/bin/sh\n").expect("write the hook");
    fs::set_permissions(&plain, fs::Permissions::from_mode(0o644)).expect("chmod the hook");
    let missing = dir.join("missing.sh");

    for hook in [&plain, &missing] {
        let hook_text = hook.to_str().expect("temporary paths are UTF-8");
        let mut command = daemon::command(&[
            OsStr::new("-f"),
            OsStr::new("-x"),
            hook.as_os_str(),
            trap.as_os_str(),
        ]);
        let finished = run_to_exit(&dir, &mut command);
        assert_eq!(finished.code, Some(1), "exit status with the hook {hook_text}: {finished:?}");
        assert!(
            finished.stderr.contains(hook_text),
            "stderr does not name the hook {hook_text}: {:?}",
            finished.stderr
        );
        // syslogd writes the line after ttrapd has exited, so wait for it.
        let error = log.expect_where(finished.pid, "ERROR what=start-failed", |record| {
            record.message.starts_with("ERROR what=start-failed ")
        });
        assert!(
            error.message.contains(hook_text),
            "ERROR line does not name the hook {hook_text}: {:?}",
            error.message
        );
        let started = log
            .records()
            .iter()
            .any(|record| record.pid == finished.pid && record.message.starts_with("START "));
        assert!(!started, "START logged with the hook {hook_text}");
    }
}

/// Opens argv[1] once and reads its first byte 100,000 times.
const PREADER: &str = "\
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for _ in range(100000):
    os.pread(fd, 1, 0)
os.close(fd)
";

fn flood_counts() {
    let options = ["--quiet", "1"].map(str::to_string);
    let mut t = start_trapped("flood_counts", &[Bait::File("vpn.key", SECRET)], &options);
    let trap = t.trap("vpn.key");

    intrude(Command::new("python3").arg("-c").arg(PREADER).arg(&trap));
    t.barrier();
    let stop = stop_daemon(&mut t);
    let lines = local_lines(&t.daemon);
    let alerts = lines.iter().filter(|line| line.starts_with("ALERT ")).count() as u64;
    let repeats: Vec<&String> = lines.iter().filter(|line| line.starts_with("REPEAT ")).collect();
    assert!(
        alerts + (repeats.len() as u64) < 50,
        "{alerts} ALERT and {} REPEAT lines for 100,000 reads at --quiet 1",
        repeats.len()
    );

    let events = number(&stop, "events");
    let alerted = number(&stop, "alerts");
    let repeated = number(&stop, "repeated");
    assert_eq!(events, alerted + repeated, "events= against alerts= plus repeated= in {stop:?}");
    assert_eq!(alerted, alerts, "alerts= in {stop:?} against the ALERT lines logged");
    assert!(repeated > 0, "repeated= in {stop:?} after 100,000 reads");

    let mut summed = 0;
    let repeat_trap = common::field_value(&trap);
    for line in &repeats {
        let message = Message::parse(line);
        assert_eq!(message.get("window"), Some("1"), "window= of {line:?}");
        let count = number(line, "count");
        let per_event: u64 = message
            .fields
            .iter()
            .filter(|(key, _)| !matches!(key.as_str(), "trap" | "count" | "window"))
            .map(|(key, _)| number(line, key))
            .sum();
        assert_eq!(per_event, count, "per-event counts against count= in {line:?}");
        summed += count;
    }
    assert_eq!(summed, repeated, "count= summed over the REPEAT lines against repeated=");
    let on_trap = repeats.iter().any(|line| Message::parse(line).get("trap") == Some(&repeat_trap));
    assert!(on_trap, "no REPEAT line for {trap}: {repeats:#?}");
}

fn usage_errors() {
    let dir = TempDir::new("usage_errors");
    let trap = dir.join("vpn.key");
    fs::write(&trap, SECRET).expect("create the trap");
    // Catches the lines of a daemon that starts by mistake, which would
    // otherwise go to the kernel log.
    let _syslogd = Syslogd::start(dir.join("syslog.out"));
    let trap_text = trap.to_str().expect("temporary paths are UTF-8");
    let five_remotes: Vec<String> =
        (1..=5).flat_map(|port| ["-r".to_string(), format!("udp://127.0.0.1:{port}")]).collect();
    let cases: Vec<(Vec<String>, Option<&str>)> = vec![
        (vec!["-r".into(), "udp://loghost:514".into()], Some("host name")),
        (vec!["-r".into(), "ftp://1.2.3.4:5".into()], None),
        (vec!["-r".into(), "udp://127.0.0.1".into()], None),
        (vec!["--heartbeat".into(), "0".into()], None),
        (vec!["-x".into(), "hook.sh".into()], None),
        (five_remotes, None),
    ];
    for (options, expected_text) in cases {
        let mut args = vec!["-f".to_string()];
        args.extend(options.iter().cloned());
        args.push(trap_text.to_string());
        let finished = run_to_exit(&dir, &mut daemon::command(&args));
        assert_eq!(finished.code, Some(2), "exit status for {options:?}: {finished:?}");
        assert!(!finished.stderr.is_empty(), "no message on stderr for {options:?}");
        if let Some(text) = expected_text {
            assert!(
                finished.stderr.contains(text),
                "stderr for {options:?} does not mention {text:?}: {:?}",
                finished.stderr
            );
        }
    }
}
