//! `procfs::socket_inode` on arbitrary link targets: an inode comes only
//! from `socket:[DIGITS]`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::procfs;

fuzz_target!(|data: &[u8]| {
    let Some(inode) = procfs::socket_inode(data) else { return };
    let digits = data
        .strip_prefix(b"socket:[")
        .and_then(|rest| rest.strip_suffix(b"]"))
        .expect("an inode from a target that is not socket:[...]");
    assert!(!digits.is_empty(), "inode from socket:[]");
    assert!(digits.iter().all(u8::is_ascii_digit), "inode from {data:?}");
    let text = std::str::from_utf8(digits).unwrap();
    assert_eq!(text.parse::<u64>().ok(), Some(inode));
});
