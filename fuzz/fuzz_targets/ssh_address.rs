//! `procfs::ssh_client_address` on arbitrary values: an address is the
//! first word, 1 to 45 bytes of hex digits, `.` and `:` with at least one
//! separator.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::procfs;

fuzz_target!(|data: &[u8]| {
    let Some(address) = procfs::ssh_client_address(data) else { return };
    assert!(data.starts_with(address));
    assert!(matches!(data.get(address.len()), None | Some(b' ')), "address is not a whole word");
    assert!((1..=45).contains(&address.len()));
    assert!(address.iter().all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':')));
    assert!(address.iter().any(|b| matches!(b, b'.' | b':')));
});
