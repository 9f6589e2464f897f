//! `procfs::parse_number_file` (`loginuid`, `sessionid`) on arbitrary
//! bytes: a number comes only from decimal digits, with at most one
//! newline after them, that fit in 32 bits.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::procfs;

fuzz_target!(|data: &[u8]| {
    let Some(number) = procfs::parse_number_file(data) else { return };
    let digits = data.strip_suffix(b"\n").unwrap_or(data);
    assert!(!digits.is_empty(), "a number from {data:?}");
    assert!(digits.iter().all(u8::is_ascii_digit), "a number from {data:?}");
    let value: u64 = digits
        .iter()
        .fold(0u64, |acc, &d| acc.saturating_mul(10).saturating_add(u64::from(d - b'0')));
    assert_eq!(value, u64::from(number));
});
