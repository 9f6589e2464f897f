//! Escaping of field values so that nothing an intruder controls can start
//! a new line or forge a field.
//!
//! A value is written bare unless it is empty or contains a space, `"` or
//! `\`; then it is wrapped in double quotes with `\"` and `\\` inside.
//! Control bytes (C0, DEL, C1), Unicode line and paragraph separators,
//! bidirectional formatting characters and bytes that are not valid UTF-8
//! are written as `\xHH`, one escape per byte. A value longer than its cap
//! is quoted and ends in `\...`, a sequence the escaper never produces
//! otherwise, so a reader can tell a cut value from a whole one.

#[cfg(test)]
use crate::buf::Buf;
use crate::buf::Bytes;

/// Marker that ends a value cut at its cap, inside the closing quote.
pub const CUT_MARKER: &[u8] = b"\\...";

/// One output step of the escaper: a run of bytes passed through, a byte as
/// `\xHH`, or a byte behind a backslash.
#[derive(Clone, Copy)]
enum Unit<'a> {
    Plain(&'a [u8]),
    Hex(u8),
    Backslashed(u8),
}

impl Unit<'_> {
    fn output_len(&self) -> usize {
        match self {
            Unit::Plain(bytes) => bytes.len(),
            Unit::Hex(_) => 4,
            Unit::Backslashed(_) => 2,
        }
    }
}

/// Reports whether a valid Unicode scalar must still be escaped because a
/// terminal or log viewer could treat it as a line break or reorder text
/// around it.
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

/// Calls `emit` with each output unit of `value` in order, stopping early
/// when `emit` returns `false`.
fn for_each_unit<'a>(value: &'a [u8], mut emit: impl FnMut(Unit<'a>) -> bool) {
    for chunk in value.utf8_chunks() {
        let valid = chunk.valid();
        let mut offset = 0;
        for c in valid.chars() {
            let bytes = &valid.as_bytes()[offset..offset + c.len_utf8()];
            offset += c.len_utf8();
            let keep_going = if c == '"' || c == '\\' {
                emit(Unit::Backslashed(bytes[0]))
            } else if c.is_ascii_control() || is_hidden_control(c) {
                bytes.iter().all(|&byte| emit(Unit::Hex(byte)))
            } else {
                emit(Unit::Plain(bytes))
            };
            if !keep_going {
                return;
            }
        }
        for &byte in chunk.invalid() {
            if !emit(Unit::Hex(byte)) {
                return;
            }
        }
    }
}

fn push_unit(out: &mut Bytes, unit: Unit<'_>) {
    match unit {
        Unit::Plain(bytes) => out.push_bytes(bytes),
        Unit::Hex(byte) => {
            out.push_bytes(b"\\x");
            out.push_hex_byte(byte);
        }
        Unit::Backslashed(byte) => {
            out.push(b'\\');
            out.push(byte);
        }
    }
}

/// Returns the length of `value` once escaped, without quotes.
pub fn escaped_len(value: &[u8]) -> usize {
    let mut total = 0;
    for_each_unit(value, |unit| {
        total += unit.output_len();
        true
    });
    total
}

/// Appends `value` escaped and, where needed, quoted; keeps at most `cap`
/// escaped bytes and marks a cut with [`CUT_MARKER`]. Returns `true` when
/// the value was cut.
pub fn push_value(out: &mut Bytes, value: &[u8], cap: usize) -> bool {
    push_escaped(out, value, cap, false)
}

/// Appends `value` like [`push_value`] but always in quotes, for messages
/// meant for people.
pub fn push_quoted(out: &mut Bytes, value: &[u8], cap: usize) -> bool {
    push_escaped(out, value, cap, true)
}

fn push_escaped(out: &mut Bytes, value: &[u8], cap: usize, quote: bool) -> bool {
    let whole = escaped_len(value);
    let cut = whole > cap;
    let quoted = quote
        || cut
        || value.is_empty()
        || value.iter().any(|&b| b == b' ' || b == b'"' || b == b'\\');
    if quoted {
        out.push(b'"');
    }
    if cut {
        let budget = cap.saturating_sub(CUT_MARKER.len());
        let mut used = 0;
        for_each_unit(value, |unit| {
            if used + unit.output_len() > budget {
                return false;
            }
            used += unit.output_len();
            push_unit(out, unit);
            true
        });
        out.push_bytes(CUT_MARKER);
    } else {
        for_each_unit(value, |unit| {
            push_unit(out, unit);
            true
        });
    }
    if quoted {
        out.push(b'"');
    }
    cut
}

/// A value read back from escaped text by [`parse_value`].
pub struct Parsed {
    /// Bytes of `text` that the value took, quotes included.
    pub consumed: usize,
    /// Whether the value ended in the cut marker.
    pub cut: bool,
}

/// Reads one escaped value from the start of `text` into `out`, the inverse
/// of [`push_value`]. A bare value ends at a space or the end of `text`.
/// Returns `None` on text that [`push_value`] cannot have written.
pub fn parse_value(text: &[u8], out: &mut Bytes) -> Option<Parsed> {
    let quoted = text.first() == Some(&b'"');
    let mut pos = usize::from(quoted);
    loop {
        let Some(&byte) = text.get(pos) else {
            return if quoted { None } else { Some(Parsed { consumed: pos, cut: false }) };
        };
        match byte {
            b'"' if quoted => return Some(Parsed { consumed: pos + 1, cut: false }),
            b'"' => return None,
            b' ' if !quoted => return Some(Parsed { consumed: pos, cut: false }),
            b'\\' => {
                let rest = &text[pos..];
                if rest.starts_with(CUT_MARKER) && quoted {
                    if rest.get(CUT_MARKER.len()) != Some(&b'"') {
                        return None;
                    }
                    return Some(Parsed { consumed: pos + CUT_MARKER.len() + 1, cut: true });
                }
                match rest.get(1) {
                    Some(b'x') => {
                        let high = hex_digit(*rest.get(2)?)?;
                        let low = hex_digit(*rest.get(3)?)?;
                        out.push(high << 4 | low);
                        pos += 4;
                    }
                    Some(&escaped @ (b'"' | b'\\')) if quoted => {
                        out.push(escaped);
                        pos += 2;
                    }
                    _ => return None,
                }
            }
            _ if byte < 0x20 || byte == 0x7f => return None,
            _ => {
                out.push(byte);
                pos += 1;
            }
        }
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape(value: &[u8], cap: usize) -> Vec<u8> {
        let mut out = Buf::<4096>::new();
        push_value(&mut out, value, cap);
        out.as_bytes().to_vec()
    }

    fn round_trip(value: &[u8]) -> (Vec<u8>, bool) {
        let text = escape(value, 1000);
        let mut out = Buf::<4096>::new();
        let parsed = parse_value(&text, &mut out).expect("escaped text parses");
        assert_eq!(parsed.consumed, text.len());
        (out.as_bytes().to_vec(), parsed.cut)
    }

    #[test]
    fn plain_value_is_bare() {
        assert_eq!(escape(b"/srv/trap/vpn.key", 100), b"/srv/trap/vpn.key");
    }

    #[test]
    fn space_quote_backslash_force_quotes() {
        assert_eq!(escape(b"a b", 100), b"\"a b\"");
        assert_eq!(escape(b"a\"b", 100), b"\"a\\\"b\"");
        assert_eq!(escape(b"a\\b", 100), b"\"a\\\\b\"");
        assert_eq!(escape(b"", 100), b"\"\"");
    }

    #[test]
    fn controls_and_invalid_utf8_become_hex() {
        assert_eq!(escape(b"a\nb", 100), b"a\\x0ab");
        assert_eq!(escape(b"\x7f\x00", 100), b"\\x7f\\x00");
        assert_eq!(escape(b"x\xffy", 100), b"x\\xffy");
        // A lone continuation byte and a truncated sequence.
        assert_eq!(escape(b"\x80\xe2\x82", 100), b"\\x80\\xe2\\x82");
    }

    #[test]
    fn line_separators_and_bidi_become_hex() {
        assert_eq!(escape("a\u{2028}b".as_bytes(), 100), b"a\\xe2\\x80\\xa8b");
        assert_eq!(escape("\u{85}".as_bytes(), 100), b"\\xc2\\x85");
        assert_eq!(escape("\u{202e}".as_bytes(), 100), b"\\xe2\\x80\\xae");
    }

    #[test]
    fn printable_unicode_passes_through() {
        assert_eq!(escape("clé".as_bytes(), 100), "clé".as_bytes());
    }

    #[test]
    fn forged_field_stays_inside_value() {
        let text = escape(b"x event=delete\ntrap=/etc/shadow", 200);
        assert_eq!(text.first(), Some(&b'"'));
        assert!(!text.contains(&b'\n'));
        assert_eq!(text, b"\"x event=delete\\x0atrap=/etc/shadow\"".to_vec());
    }

    #[test]
    fn long_value_is_cut_and_marked() {
        let text = escape(&[b'a'; 50], 20);
        assert_eq!(text, b"\"aaaaaaaaaaaaaaaa\\...\"");
        let mut out = Buf::<64>::new();
        let parsed = parse_value(&text, &mut out).unwrap();
        assert!(parsed.cut);
        assert_eq!(out.as_bytes(), &[b'a'; 16]);
    }

    #[test]
    fn cut_never_splits_an_escape_or_a_character() {
        let text = escape("ééééé\n\n\n".as_bytes(), 9);
        assert_eq!(text, "\"éé\\...\"".as_bytes());
        let text = escape(b"\n\n\n\n", 10);
        assert_eq!(text, b"\"\\x0a\\...\"");
    }

    #[test]
    fn every_byte_value_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let (back, cut) = round_trip(&all);
        assert!(!cut);
        assert_eq!(back, all);
        for value in [&b"a b"[..], b"\"\\", b"", b"\xff\xfe", "\u{2029}".as_bytes()] {
            assert_eq!(round_trip(value).0, value);
        }
    }

    #[test]
    fn escaped_output_has_no_control_bytes() {
        let all: Vec<u8> = (0..=255).collect();
        let text = escape(&all, 2000);
        assert!(text.iter().all(|&b| (0x20..0x7f).contains(&b) || b >= 0x80));
        assert!(!text.iter().any(|&b| b == b'\n' || b == b'\r'));
    }

    #[test]
    fn parse_rejects_what_escaper_never_writes() {
        let mut out = Buf::<64>::new();
        assert!(parse_value(b"\"open", &mut out).is_none());
        assert!(parse_value(b"a\\zb", &mut out).is_none());
        assert!(parse_value(b"a\\x4", &mut out).is_none());
        assert!(parse_value(b"a\nb", &mut out).is_none());
    }
}
