//! Remote syslog: destination URLs, RFC 5424 messages and RFC 6587
//! octet-counting frames.
//!
//! A message reads `<PRI>1 TIMESTAMP HOSTNAME ttrapd PROCID MSGID [SD] MSG`:
//! the timestamp in UTC with microseconds, the kind (ALERT, START, ...) as
//! MSGID, every field of the local line as one parameter of a single
//! structured-data element, and the local line's text as MSG. The SD-ID
//! `ttrapd@32473` uses the private enterprise number that RFC 5612 sets
//! aside for documentation, because ttrapd has none of its own.

use crate::buf::Bytes;
use crate::msg;

/// The structured-data element that carries the fields.
pub const SD_ID: &[u8] = b"ttrapd@32473";

/// Transport of a remote destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// A remote destination: an IPv4 or IPv6 address and a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    pub transport: Transport,
    /// IPv4 addresses use the first four bytes.
    pub address: [u8; 16],
    pub is_ipv6: bool,
    pub port: u16,
}

/// Reason a destination URL was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// Neither `udp://` nor `tcp://`.
    Scheme,
    /// Not an IPv4 literal or a bracketed IPv6 literal; host names need a
    /// resolver, which a libc-free program does not have.
    Address,
    /// Missing, zero or above 65535.
    Port,
}

/// Parses `udp://IP:PORT` or `tcp://IP:PORT` (IPv6 as `[addr]:PORT`).
pub fn parse_url(url: &[u8]) -> Result<Destination, UrlError> {
    let (transport, rest) = if let Some(rest) = url.strip_prefix(b"udp://") {
        (Transport::Udp, rest)
    } else if let Some(rest) = url.strip_prefix(b"tcp://") {
        (Transport::Tcp, rest)
    } else {
        return Err(UrlError::Scheme);
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix(b"[") {
        let close = inner.iter().position(|&b| b == b']').ok_or(UrlError::Address)?;
        let port = inner[close + 1..].strip_prefix(b":").ok_or(UrlError::Port)?;
        (&inner[..close], port)
    } else {
        let colon = rest.iter().rposition(|&b| b == b':').ok_or(UrlError::Port)?;
        (&rest[..colon], &rest[colon + 1..])
    };
    let port =
        crate::buf::parse_u64(port).filter(|&p| p > 0 && p <= 65535).ok_or(UrlError::Port)? as u16;
    let mut address = [0u8; 16];
    let is_ipv6 = rest.first() == Some(&b'[');
    if is_ipv6 {
        address = parse_ipv6(host).ok_or(UrlError::Address)?;
    } else {
        address[..4].copy_from_slice(&parse_ipv4(host).ok_or(UrlError::Address)?);
    }
    Ok(Destination { transport, address, is_ipv6, port })
}

/// Parses a dotted IPv4 literal of exactly four decimal parts.
pub fn parse_ipv4(text: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = text.split(|&b| b == b'.');
    for byte in &mut out {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 {
            return None;
        }
        *byte = u8::try_from(crate::buf::parse_u64(part)?).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

/// Parses an IPv6 literal of hexadecimal groups, with at most one `::`.
pub fn parse_ipv6(text: &[u8]) -> Option<[u8; 16]> {
    // Groups before and after a "::", each at most eight in all.
    let (head, tail) = match text.windows(2).position(|w| w == b"::") {
        Some(at) => (&text[..at], Some(&text[at + 2..])),
        None => (text, None),
    };
    let mut groups = [0u16; 8];
    let mut head_count = 0;
    if !head.is_empty() {
        for part in head.split(|&b| b == b':') {
            *groups.get_mut(head_count)? = parse_group(part)?;
            head_count += 1;
        }
    }
    match tail {
        None if head_count != 8 => return None,
        None => {}
        Some(tail) => {
            let mut tail_groups = [0u16; 8];
            let mut tail_count = 0;
            if !tail.is_empty() {
                for part in tail.split(|&b| b == b':') {
                    *tail_groups.get_mut(tail_count)? = parse_group(part)?;
                    tail_count += 1;
                }
            }
            if head_count + tail_count > 7 {
                return None;
            }
            groups[8 - tail_count..].copy_from_slice(&tail_groups[..tail_count]);
        }
    }
    let mut out = [0u8; 16];
    for (index, group) in groups.iter().enumerate() {
        out[index * 2..index * 2 + 2].copy_from_slice(&group.to_be_bytes());
    }
    Some(out)
}

fn parse_group(text: &[u8]) -> Option<u16> {
    if text.is_empty() || text.len() > 4 {
        return None;
    }
    let mut value = 0u16;
    for &byte in text {
        value = value << 4 | (byte as char).to_digit(16)? as u16;
    }
    Some(value)
}

/// A calendar date and time in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub microsecond: u32,
}

/// Converts seconds and nanoseconds since the Unix epoch to a UTC date
/// (proleptic Gregorian calendar, no leap seconds, as POSIX time has none).
pub fn utc(seconds: i64, nanoseconds: u32) -> DateTime {
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400) as u32;
    // Count from 0000-03-01 so that the leap day ends each 4-year cycle;
    // 719468 days separate that date from 1970-01-01.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    DateTime {
        year,
        month: month as u32,
        day,
        hour: of_day / 3600,
        minute: of_day / 60 % 60,
        second: of_day % 60,
        microsecond: nanoseconds / 1000 % 1_000_000,
    }
}

fn push_padded(out: &mut Bytes, value: u64, width: usize) {
    let mut digits = [0u8; 20];
    let text = crate::buf::format_u64(value, &mut digits);
    for _ in text.len()..width {
        out.push(b'0');
    }
    out.push_bytes(text);
}

/// Appends an RFC 5424 TIMESTAMP: `2026-12-04T15:38:02.123456Z`.
pub fn push_timestamp(out: &mut Bytes, time: &DateTime) {
    push_padded(out, time.year.clamp(0, 9999) as u64, 4);
    out.push(b'-');
    push_padded(out, time.month.into(), 2);
    out.push(b'-');
    push_padded(out, time.day.into(), 2);
    out.push(b'T');
    push_padded(out, time.hour.into(), 2);
    out.push(b':');
    push_padded(out, time.minute.into(), 2);
    out.push(b':');
    push_padded(out, time.second.into(), 2);
    out.push(b'.');
    push_padded(out, time.microsecond.into(), 6);
    out.push(b'Z');
}

/// Appends an SD-PARAM value: `"`, `\` and `]` get a backslash (RFC 5424
/// section 6.3.3); control bytes, invalid UTF-8 and the other bytes that
/// the local line escapes are written as `\xHH`, which an RFC 5424 reader
/// keeps as four characters.
fn push_sd_value(out: &mut Bytes, value: &[u8]) {
    let mut escaped = crate::buf::Buf::<{ crate::limits::LINE_BYTES }>::new();
    crate::escape::push_value(&mut escaped, value, usize::MAX);
    let mut text = escaped.as_bytes();
    // push_value quotes values with spaces, quotes or backslashes and
    // escapes those two; undo that layer and apply the RFC's instead.
    let quoted = text.first() == Some(&b'"');
    if quoted {
        text = &text[1..text.len() - 1];
    }
    let mut index = 0;
    while index < text.len() {
        let byte = text[index];
        if quoted && byte == b'\\' && matches!(text.get(index + 1), Some(b'"') | Some(b'\\')) {
            out.push(b'\\');
            out.push(text[index + 1]);
            index += 2;
            continue;
        }
        if byte == b']' {
            out.push(b'\\');
        }
        out.push(byte);
        index += 1;
    }
}

/// Identity of the sender, fixed for a run.
pub struct Origin<'a> {
    pub hostname: &'a [u8],
    pub app_name: &'a [u8],
    pub pid: u32,
}

/// Appends the RFC 5424 form of `line`, a whole local line with `<PRI>`.
/// Returns `false` if `line` is not a line that `msg::Line` built.
pub fn push_message(out: &mut Bytes, line: &[u8], origin: &Origin<'_>, time: &DateTime) -> bool {
    let Some(close) = line.iter().position(|&b| b == b'>') else { return false };
    let priority = &line[..=close];
    let body = &line[close + 1..];
    let Some(colon) = body.windows(3).position(|w| w == b"]: ") else { return false };
    let text = &body[colon + 3..];
    out.push_bytes(priority);
    out.push_bytes(b"1 ");
    push_timestamp(out, time);
    out.push(b' ');
    push_header_field(out, origin.hostname, 255);
    out.push(b' ');
    push_header_field(out, origin.app_name, 48);
    out.push(b' ');
    out.push_u64(origin.pid.into());
    out.push(b' ');
    let start = out.len();
    let mut any = false;
    let kind = msg::for_each_field(body, |key, value, _cut| {
        if !any {
            out.push(b'[');
            out.push_bytes(SD_ID);
            any = true;
        }
        out.push(b' ');
        out.push_bytes(key);
        out.push_bytes(b"=\"");
        push_sd_value(out, value);
        out.push(b'"');
    });
    let Some(kind) = kind else { return false };
    // The MSGID goes before the structured data: move what was written.
    let mut sd = crate::buf::Buf::<{ crate::limits::LINE_BYTES * 2 }>::new();
    sd.push_bytes(&out.as_bytes()[start..]);
    out.truncate(start);
    push_header_field(out, kind, 32);
    out.push(b' ');
    if any {
        out.push_bytes(sd.as_bytes());
        out.push(b']');
    } else {
        out.push(b'-');
    }
    out.push(b' ');
    out.push_bytes(text);
    !out.overflowed()
}

/// Appends a header field: printable US-ASCII only (RFC 5424 section 6),
/// at most `max` bytes, `-` when empty.
fn push_header_field(out: &mut Bytes, value: &[u8], max: usize) {
    if value.is_empty() {
        out.push(b'-');
        return;
    }
    for &byte in value.iter().take(max) {
        out.push(if (33..=126).contains(&byte) { byte } else { b'_' });
    }
}

/// Appends the RFC 6587 octet-counting frame for `message`.
pub fn push_frame(out: &mut Bytes, message: &[u8]) {
    out.push_u64(message.len() as u64);
    out.push(b' ');
    out.push_bytes(message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::Buf;
    use crate::msg::{Kind, Line};

    #[test]
    fn urls_parse() {
        let udp = parse_url(b"udp://192.0.2.10:514").unwrap();
        assert_eq!(udp.transport, Transport::Udp);
        assert_eq!(&udp.address[..4], &[192, 0, 2, 10]);
        assert!(!udp.is_ipv6);
        assert_eq!(udp.port, 514);
        let tcp = parse_url(b"tcp://[2001:db8::1]:6514").unwrap();
        assert_eq!(tcp.transport, Transport::Tcp);
        assert!(tcp.is_ipv6);
        assert_eq!(tcp.address[..2], [0x20, 0x01]);
        assert_eq!(tcp.address[15], 1);
        assert_eq!(tcp.port, 6514);
        assert_eq!(parse_url(b"tcp://[::1]:1").unwrap().address[15], 1);
    }

    #[test]
    fn bad_urls_say_why() {
        assert_eq!(parse_url(b"http://1.2.3.4:5"), Err(UrlError::Scheme));
        assert_eq!(parse_url(b"udp://loghost:514"), Err(UrlError::Address));
        assert_eq!(parse_url(b"udp://1.2.3:514"), Err(UrlError::Address));
        assert_eq!(parse_url(b"udp://1.2.3.256:514"), Err(UrlError::Address));
        assert_eq!(parse_url(b"udp://1.2.3.4"), Err(UrlError::Port));
        assert_eq!(parse_url(b"udp://1.2.3.4:0"), Err(UrlError::Port));
        assert_eq!(parse_url(b"udp://1.2.3.4:65536"), Err(UrlError::Port));
        assert_eq!(parse_url(b"tcp://[::1]"), Err(UrlError::Port));
        assert_eq!(parse_url(b"tcp://[1:2:3:4:5:6:7:8:9]:1"), Err(UrlError::Address));
        assert_eq!(parse_url(b"tcp://[1::2::3]:1"), Err(UrlError::Address));
        assert_eq!(parse_url(b"tcp://::1:514"), Err(UrlError::Address));
    }

    #[test]
    fn utc_dates() {
        assert_eq!(
            utc(0, 0),
            DateTime {
                year: 1970,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
                microsecond: 0
            }
        );
        // 2000-02-29T12:34:56.789012Z, a leap day in a century leap year.
        let leap = utc(951_827_696, 789_012_345);
        assert_eq!((leap.year, leap.month, leap.day), (2000, 2, 29));
        assert_eq!((leap.hour, leap.minute, leap.second, leap.microsecond), (12, 34, 56, 789_012));
        // 2026-12-31T23:59:59Z and the second after it.
        let end = utc(1_798_761_599, 0);
        assert_eq!((end.year, end.month, end.day, end.hour), (2026, 12, 31, 23));
        let next = utc(1_798_761_600, 0);
        assert_eq!((next.year, next.month, next.day, next.hour), (2027, 1, 1, 0));
        // 2100 is not a leap year.
        let march = utc(4_107_542_400, 0);
        assert_eq!((march.year, march.month, march.day), (2100, 3, 1));
    }

    #[test]
    fn timestamp_format() {
        let mut out = Buf::<64>::new();
        push_timestamp(&mut out, &utc(951_827_696, 789_012_345));
        assert_eq!(out.as_bytes(), b"2000-02-29T12:34:56.789012Z");
    }

    fn alert_line(entry: &[u8]) -> Line {
        let mut line = Line::new();
        line.begin(10, 1, b"ttrapd", 812, Kind::Alert);
        line.path("trap", b"/srv/trap/vpn.key");
        line.word("event", "read");
        line.path("entry", entry);
        line.finish();
        line
    }

    #[test]
    fn message_has_every_part() {
        let line = alert_line(b"x");
        let origin = Origin { hostname: b"box", app_name: b"ttrapd", pid: 812 };
        let mut out = Buf::<4096>::new();
        assert!(push_message(&mut out, line.bytes(), &origin, &utc(0, 0)));
        assert_eq!(
            std::str::from_utf8(out.as_bytes()).unwrap(),
            "<81>1 1970-01-01T00:00:00.000000Z box ttrapd 812 ALERT \
             [ttrapd@32473 trap=\"/srv/trap/vpn.key\" event=\"read\" entry=\"x\"] \
             ALERT trap=/srv/trap/vpn.key event=read entry=x"
        );
    }

    #[test]
    fn sd_values_escape_quote_backslash_bracket_and_controls() {
        let line = alert_line(b"a\"b\\c]d\ne");
        let origin = Origin { hostname: b"box", app_name: b"ttrapd", pid: 1 };
        let mut out = Buf::<4096>::new();
        assert!(push_message(&mut out, line.bytes(), &origin, &utc(0, 0)));
        let text = std::str::from_utf8(out.as_bytes()).unwrap();
        assert!(text.contains(r#"entry="a\"b\\c\]d\x0ae"]"#), "{text}");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn header_fields_are_printable() {
        let mut line = Line::new();
        line.begin(10, 5, b"ttrapd", 3, Kind::Start);
        line.finish();
        let origin = Origin { hostname: b"bad host\n", app_name: b"ttrapd", pid: 3 };
        let mut out = Buf::<512>::new();
        assert!(push_message(&mut out, line.bytes(), &origin, &utc(0, 0)));
        assert_eq!(
            out.as_bytes(),
            b"<85>1 1970-01-01T00:00:00.000000Z bad_host_ ttrapd 3 START - START"
        );
    }

    #[test]
    fn octet_counting_frame() {
        let mut out = Buf::<64>::new();
        push_frame(&mut out, b"<81>1 x");
        assert_eq!(out.as_bytes(), b"7 <81>1 x");
    }
}
