//! Syslog line formatting: one event, one RFC 3164 line.
//!
//! A line reads `<PRI>TAG[PID]: KIND key=value ...` with no timestamp or
//! host name, which every syslog daemon accepts and stamps on arrival. The
//! caller adds fields in the documented order: short identifying fields
//! first, long free text last, so a receiver that keeps only 256 bytes
//! still gets who and what.

use crate::buf::Buf;
use crate::escape;
use crate::limits::{LINE_BYTES, PATH_FIELD_CAP, TEXT_FIELD_CAP};
use crate::names;

/// The first word of a line: what the line reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Something touched a trap.
    Alert,
    /// An executable given with `--allow` touched a trap.
    Allowed,
    /// The count of events that flood control held back on one trap.
    Repeat,
    /// The daemon is alive, sent every `--heartbeat` seconds.
    Heartbeat,
    /// A hook ended.
    Hook,
    /// The daemon armed its traps and is running.
    Start,
    /// The daemon is stopping.
    Stop,
    /// A trap that had gone is watched again.
    Rearm,
    /// A trap is gone and will be armed again when its path reappears.
    Disarm,
    /// The kernel dropped events, or lines could not be delivered.
    Lost,
    /// SIGHUP was handled.
    Hup,
    /// A handled failure that needs attention.
    Error,
    /// Something degraded but the daemon keeps working.
    Warn,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Alert => "ALERT",
            Kind::Allowed => "ALLOWED",
            Kind::Repeat => "REPEAT",
            Kind::Heartbeat => "HEARTBEAT",
            Kind::Hook => "HOOK",
            Kind::Start => "START",
            Kind::Stop => "STOP",
            Kind::Rearm => "REARM",
            Kind::Disarm => "DISARM",
            Kind::Lost => "LOST",
            Kind::Hup => "HUP",
            Kind::Error => "ERROR",
            Kind::Warn => "WARN",
        }
    }

    /// Returns the severity a line of this kind gets, with `alert` being
    /// the one set by `--severity`.
    pub fn severity(self, alert: u8) -> u8 {
        match self {
            Kind::Alert | Kind::Repeat => alert,
            Kind::Heartbeat => names::SEVERITY_INFO,
            Kind::Error => names::SEVERITY_ERR,
            Kind::Lost | Kind::Warn | Kind::Disarm => names::SEVERITY_WARNING,
            Kind::Start | Kind::Stop | Kind::Rearm | Kind::Hup | Kind::Allowed | Kind::Hook => {
                names::SEVERITY_NOTICE
            }
        }
    }
}

/// Room kept free at the end of a line for the `cut=fields` marker.
const RESERVE: usize = 12;

/// A syslog line being built.
pub struct Line {
    buf: Buf<LINE_BYTES>,
    /// Offset just past `<PRI>`, where the text for stderr starts.
    body_start: usize,
    /// Whether a field had to be left out because the line was full.
    dropped: bool,
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Line {
    pub const fn new() -> Self {
        Self { buf: Buf::new(), body_start: 0, dropped: false }
    }

    /// Starts a new line with its priority, tag, process id and kind.
    pub fn begin(&mut self, facility: u8, severity: u8, tag: &[u8], pid: u32, kind: Kind) {
        self.buf.clear();
        self.dropped = false;
        self.buf.push(b'<');
        self.buf.push_u64(u64::from(facility) * 8 + u64::from(severity & 7));
        self.buf.push(b'>');
        self.body_start = self.buf.len();
        self.buf.push_bytes(tag);
        self.buf.push(b'[');
        self.buf.push_u64(u64::from(pid));
        self.buf.push_bytes(b"]: ");
        self.buf.push_str(kind.as_str());
    }

    /// Adds ` key=value` with `value` escaped and cut at `cap` bytes, or
    /// less if the line is nearly full.
    pub fn field(&mut self, key: &str, value: &[u8], cap: usize) {
        let room = self.buf.remaining().saturating_sub(RESERVE + key.len() + 4);
        let cap = if cap < room { cap } else { room };
        if cap < 8 {
            self.dropped = true;
            return;
        }
        self.buf.push(b' ');
        self.buf.push_str(key);
        self.buf.push(b'=');
        escape::push_value(&mut self.buf, value, cap);
    }

    /// Adds a path-like field: a trap, an entry name, an executable.
    pub fn path(&mut self, key: &str, value: &[u8]) {
        self.field(key, value, PATH_FIELD_CAP);
    }

    /// Adds a free-text field such as a command line or an error.
    pub fn text(&mut self, key: &str, value: &[u8]) {
        self.field(key, value, TEXT_FIELD_CAP);
    }

    /// Adds a numeric field.
    pub fn num(&mut self, key: &str, value: u64) {
        let mut digits = [0u8; 20];
        let text = crate::buf::format_u64(value, &mut digits);
        self.field(key, text, 24);
    }

    /// Adds a field whose value is a fixed word chosen by ttrapd.
    pub fn word(&mut self, key: &str, value: &str) {
        self.field(key, value.as_bytes(), TEXT_FIELD_CAP);
    }

    /// Adds the errno of a failed call as its name, or its number when the
    /// name is not known.
    pub fn errno(&mut self, code: i32) {
        match names::errno_text(code) {
            Some((name, _)) => self.word("errno", name),
            None => self.num("errno", code.unsigned_abs().into()),
        }
    }

    /// Closes the line and returns it whole, with `<PRI>`, for a syslog
    /// socket or `/dev/kmsg`.
    pub fn finish(&mut self) -> &[u8] {
        if self.dropped {
            self.buf.push_bytes(b" cut=fields");
        }
        self.buf.as_bytes()
    }

    /// Appends the newline that frames a line on a stream socket; the room
    /// for it is always kept free.
    pub fn push_newline(&mut self) {
        self.buf.push(b'\n');
    }

    /// Removes the newline added by [`Line::push_newline`].
    pub fn pop_newline(&mut self) {
        if self.buf.as_bytes().last() == Some(&b'\n') {
            let len = self.buf.len() - 1;
            self.buf.truncate(len);
        }
    }

    /// Returns the line without `<PRI>`, for stderr.
    pub fn body(&self) -> &[u8] {
        &self.buf.as_bytes()[self.body_start..]
    }

    /// Returns the line with `<PRI>`, as [`Line::finish`] left it.
    pub fn bytes(&self) -> &[u8] {
        self.buf.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_line_matches_documented_shape() {
        let mut line = Line::new();
        line.begin(10, 1, b"ttrapd", 812, Kind::Alert);
        line.path("trap", b"/srv/trap/vpn.key");
        line.word("event", "read");
        assert_eq!(line.finish(), b"<81>ttrapd[812]: ALERT trap=/srv/trap/vpn.key event=read");
        assert_eq!(line.body(), b"ttrapd[812]: ALERT trap=/srv/trap/vpn.key event=read");
    }

    #[test]
    fn hostile_name_stays_on_one_line() {
        let mut line = Line::new();
        line.begin(10, 1, b"ttrapd", 1, Kind::Alert);
        line.path("trap", b"/d");
        line.word("event", "create");
        line.path("entry", b"x\n<81>ttrapd[1]: ALERT trap=/etc/shadow \"\xff");
        let bytes = line.finish().to_vec();
        assert!(!bytes.contains(&b'\n'));
        assert_eq!(
            bytes,
            b"<81>ttrapd[1]: ALERT trap=/d event=create entry=\"x\\x0a<81>ttrapd[1]: ALERT \
              trap=/etc/shadow \\\"\\xff\""
                .to_vec()
        );
    }

    #[test]
    fn severity_follows_kind() {
        assert_eq!(Kind::Alert.severity(2), 2);
        assert_eq!(Kind::Start.severity(1), names::SEVERITY_NOTICE);
        assert_eq!(Kind::Error.severity(1), names::SEVERITY_ERR);
        assert_eq!(Kind::Lost.severity(1), names::SEVERITY_WARNING);
    }

    #[test]
    fn numbers_and_errnos() {
        let mut line = Line::new();
        line.begin(3, 5, b"t", 7, Kind::Start);
        line.num("traps", 3);
        line.errno(2);
        line.errno(4095);
        assert_eq!(line.finish(), b"<29>t[7]: START traps=3 errno=ENOENT errno=4095");
    }

    #[test]
    fn full_line_drops_fields_and_says_so() {
        let mut line = Line::new();
        line.begin(10, 1, b"ttrapd", 1, Kind::Alert);
        let long = [b'a'; 1000];
        for _ in 0..10 {
            line.path("entry", &long);
        }
        let bytes = line.finish().to_vec();
        assert!(bytes.len() <= LINE_BYTES);
        assert!(bytes.ends_with(b" cut=fields"));
        // Every field that made it in is whole: it ends with the cut marker
        // and a closing quote.
        let text = String::from_utf8(bytes).unwrap();
        for field in text.split(" entry=").skip(1) {
            let field = field.trim_end_matches(" cut=fields");
            assert!(field.ends_with("\\...\""), "{field}");
        }
    }
}

/// Splits the body of a line built by [`Line`] (after `<PRI>`) into its
/// kind and fields, calling `field` with each key and its raw value (the
/// escaping undone). Returns the kind, or `None` for text that [`Line`]
/// cannot have written.
pub fn for_each_field<'a>(
    body: &'a [u8],
    mut field: impl FnMut(&'a [u8], &[u8], bool),
) -> Option<&'a [u8]> {
    // "TAG[PID]: KIND key=value ..."
    let header_end = body.windows(3).position(|w| w == b"]: ")? + 3;
    let rest = &body[header_end..];
    let kind_end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    let kind = &rest[..kind_end];
    let mut pos = kind_end;
    let mut value = crate::buf::Buf::<{ LINE_BYTES }>::new();
    while pos < rest.len() {
        if rest[pos] != b' ' {
            return None;
        }
        pos += 1;
        let eq = rest[pos..].iter().position(|&b| b == b'=')?;
        let key = &rest[pos..pos + eq];
        if key.is_empty() || !key.iter().all(|b| b.is_ascii_lowercase() || *b == b'_') {
            return None;
        }
        pos += eq + 1;
        value.clear();
        let parsed = crate::escape::parse_value(&rest[pos..], &mut value)?;
        pos += parsed.consumed;
        field(key, value.as_bytes(), parsed.cut);
    }
    Some(kind)
}

#[cfg(test)]
mod field_tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let mut line = Line::new();
        line.begin(10, 1, b"ttrapd", 5, Kind::Alert);
        line.path("trap", b"/d");
        line.path("entry", b"a \"b\"\n\xff");
        line.num("pid", 42);
        line.finish();
        let mut seen = Vec::new();
        let kind = for_each_field(line.body(), |key, value, cut| {
            seen.push((key.to_vec(), value.to_vec(), cut));
        });
        assert_eq!(kind, Some(&b"ALERT"[..]));
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], (b"trap".to_vec(), b"/d".to_vec(), false));
        assert_eq!(seen[1], (b"entry".to_vec(), b"a \"b\"\n\xff".to_vec(), false));
        assert_eq!(seen[2], (b"pid".to_vec(), b"42".to_vec(), false));
    }

    #[test]
    fn field_parser_rejects_garbage() {
        assert!(for_each_field(b"no header", |_, _, _| {}).is_none());
        assert!(for_each_field(b"t[1]: ALERT key", |_, _, _| {}).is_none());
        assert!(for_each_field(b"t[1]: ALERT  x=1", |_, _, _| {}).is_none());
        assert_eq!(for_each_field(b"t[1]: START", |_, _, _| {}), Some(&b"START"[..]));
    }
}
