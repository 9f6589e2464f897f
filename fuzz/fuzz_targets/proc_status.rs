//! `procfs::parse_status_ids` on arbitrary bytes: an id is found only on a
//! line that starts with `Uid:` or `Gid:`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::procfs;

fuzz_target!(|data: &[u8]| {
    let ids = procfs::parse_status_ids(data);
    let has_line = |prefix: &[u8]| data.split(|&b| b == b'\n').any(|line| line.starts_with(prefix));
    if ids.uid.is_some() || ids.euid.is_some() {
        assert!(has_line(b"Uid:"), "uid without a Uid: line");
    }
    if ids.gid.is_some() || ids.egid.is_some() {
        assert!(has_line(b"Gid:"), "gid without a Gid: line");
    }
});
