//! The line formatter on arbitrary fields. The finished line must be one
//! safe line of at most `LINE_BYTES`. `for_each_field` must read back every
//! field that fit, in order, with its value or a prefix of it when cut, and
//! a field left out must be announced by `cut=fields`. The RFC 5424 form of
//! the line must be one safe line as well.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::buf::Buf;
use ttrapd::limits::{CMD_FIELD_CAP, LINE_BYTES};
use ttrapd::msg::{self, Kind, Line};
use ttrapd::rfc5424::{self, Origin};

const KINDS: [Kind; 13] = [
    Kind::Alert,
    Kind::Allowed,
    Kind::Repeat,
    Kind::Heartbeat,
    Kind::Hook,
    Kind::Start,
    Kind::Stop,
    Kind::Rearm,
    Kind::Disarm,
    Kind::Lost,
    Kind::Hup,
    Kind::Error,
    Kind::Warn,
];

/// Keys the daemon uses; `cut` is left out because the formatter itself
/// writes `cut=fields`.
const KEYS: [&str; 12] =
    ["trap", "event", "entry", "pid", "proc", "tty", "from", "exe", "comm", "cwd", "cmd", "chain"];

/// Field kinds as the daemon adds them.
#[derive(Clone, Copy)]
enum Add {
    Path,
    Text,
    Cmd,
    Num(u64),
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let kind = KINDS[usize::from(data[0]) % KINDS.len()];
    let pid = u32::from_ne_bytes(data[1..5].try_into().unwrap());
    let facility = data[5] % 24;
    let mut line = Line::new();
    line.begin(facility, data[5] >> 5, b"ttrapd", pid, kind);

    // Each field: key byte, kind byte, two length bytes, then the value.
    let mut added: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut rest = &data[6..];
    while rest.len() >= 4 {
        let key = KEYS[usize::from(rest[0]) % KEYS.len()];
        let len = usize::from(u16::from_ne_bytes([rest[2], rest[3]])) % 1200;
        let how = match rest[1] % 4 {
            0 => Add::Path,
            1 => Add::Text,
            2 => Add::Cmd,
            _ => Add::Num(u64::from_ne_bytes(
                rest[..8.min(rest.len())]
                    .iter()
                    .copied()
                    .chain([0; 8])
                    .take(8)
                    .collect::<Vec<_>>()
                    .try_into()
                    .unwrap(),
            )),
        };
        rest = &rest[4..];
        let take = len.min(rest.len());
        let value = &rest[..take];
        rest = &rest[take..];
        match how {
            Add::Path => line.path(key, value),
            Add::Text => line.text(key, value),
            Add::Cmd => line.field(key, value, CMD_FIELD_CAP),
            Add::Num(number) => {
                line.num(key, number);
                added.push((key, number.to_string().into_bytes()));
                continue;
            }
        }
        added.push((key, value.to_vec()));
    }

    let text = line.finish().to_vec();
    assert!(text.len() <= LINE_BYTES, "line of {} bytes", text.len());
    ttrapd_fuzz::assert_one_safe_line(&text);
    let priority = format!("<{}>", u32::from(facility) * 8 + u32::from(data[5] >> 5));
    assert!(text.starts_with(priority.as_bytes()));

    let mut parsed: Vec<(Vec<u8>, Vec<u8>, bool)> = Vec::new();
    let read_kind = msg::for_each_field(line.body(), |key, value, cut| {
        parsed.push((key.to_vec(), value.to_vec(), cut));
    });
    assert_eq!(
        read_kind,
        Some(kind.as_str().as_bytes()),
        "line does not parse: {:?}",
        ttrapd_fuzz::show(&text)
    );
    let announced =
        parsed.last().is_some_and(|(key, value, _)| key == b"cut" && value == b"fields");
    if announced {
        parsed.pop();
    }
    // Match the fields read back against the fields added, in order. Fields
    // that did not fit are skipped.
    let mut next = 0;
    for (key, value, cut) in &parsed {
        let found = added[next..].iter().position(|(want_key, want_value)| {
            want_key.as_bytes() == &key[..]
                && if *cut { want_value.starts_with(value) } else { want_value == value }
        });
        let Some(found) = found else {
            panic!(
                "field {:?}={:?} (cut: {cut}) matches no field added after #{next}: {:?}",
                ttrapd_fuzz::show(key),
                ttrapd_fuzz::show(value),
                ttrapd_fuzz::show(&text)
            );
        };
        next += found + 1;
    }
    let dropped = parsed.len() < added.len();
    assert_eq!(
        dropped,
        announced,
        "cut=fields does not match the fields left out: {:?}",
        ttrapd_fuzz::show(&text)
    );

    let origin = Origin { hostname: b"fuzz", app_name: b"ttrapd", pid };
    let mut remote = Buf::<{ LINE_BYTES * 3 }>::new();
    let time = rfc5424::utc(i64::from(pid), 0);
    assert!(
        rfc5424::push_message(&mut remote, line.bytes(), &origin, &time),
        "RFC 5424 form failed"
    );
    ttrapd_fuzz::assert_one_safe_line(remote.as_bytes());
});
