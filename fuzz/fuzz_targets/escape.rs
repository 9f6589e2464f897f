//! The escaper on arbitrary values and caps: the output is one safe line,
//! it reads back with `parse_value` to the value or, when cut, to a prefix
//! of it, it keeps to the cap, and `parse_value` survives any input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::buf::Buf;
use ttrapd::escape::{self, CUT_MARKER};

/// Maximum value length tried, the same as libFuzzer's default `-max_len`.
const VALUE_MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    // No caller passes a cap below the marker's length, which alone takes
    // four bytes.
    let cap = CUT_MARKER.len() + usize::from(u16::from_ne_bytes([data[0], data[1]]) % 2048);
    let quote = data[2] & 1 == 1;
    let value = &data[3..data.len().min(3 + VALUE_MAX)];

    let mut out = Buf::<{ 4 * VALUE_MAX + 16 }>::new();
    let cut = if quote {
        escape::push_quoted(&mut out, value, cap)
    } else {
        escape::push_value(&mut out, value, cap)
    };
    assert!(!out.overflowed());
    let text = out.as_bytes();
    ttrapd_fuzz::assert_one_safe_line(text);
    let quoted = text.first() == Some(&b'"');
    assert!(quoted || !(quote || cut || value.is_empty()), "value should be quoted");
    let inner = if quoted { text.len() - 2 } else { text.len() };
    assert!(inner <= cap, "{inner} escaped bytes for a cap of {cap}");
    assert_eq!(cut, escape::escaped_len(value) > cap);

    let mut back = Buf::<{ VALUE_MAX + 16 }>::new();
    let parsed = escape::parse_value(text, &mut back)
        .unwrap_or_else(|| panic!("escaped text does not parse: {:?}", ttrapd_fuzz::show(text)));
    assert_eq!(parsed.consumed, text.len(), "parse stopped early");
    assert_eq!(parsed.cut, cut);
    if cut {
        assert!(value.starts_with(back.as_bytes()), "cut value is no prefix");
    } else {
        assert_eq!(back.as_bytes(), value);
    }

    // Text that the escaper did not write must be rejected or read without
    // running past its end.
    let mut any = Buf::<{ VALUE_MAX + 16 }>::new();
    if let Some(parsed) = escape::parse_value(&data[2..], &mut any) {
        assert!(parsed.consumed <= data.len() - 2);
    }
});
