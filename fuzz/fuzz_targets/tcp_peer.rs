//! `procfs::push_tcp_peer` on each line of arbitrary text, as read from
//! `/proc/net/tcp` or `tcp6`: a line that does not match adds nothing, and
//! a match adds `a.b.c.d:port` or `[v6]:port` that fits the daemon's
//! 64-byte `from` buffer.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::buf::Buf;
use ttrapd::procfs;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        let filters: [fn(u64) -> bool; 2] = [|_| true, |inode| inode % 2 == 0];
        for wanted in filters {
            let mut out = Buf::<64>::new();
            if !procfs::push_tcp_peer(&mut out, line, wanted) {
                assert!(
                    out.is_empty(),
                    "no match, yet {:?} was added",
                    ttrapd_fuzz::show(out.as_bytes())
                );
                continue;
            }
            assert!(!out.overflowed(), "peer address cut");
            let text = out.as_bytes();
            let colon = text.iter().rposition(|&b| b == b':').expect("no port");
            let (address, port) = (&text[..colon], &text[colon + 1..]);
            assert!(!port.is_empty(), "empty port");
            assert!(port.iter().all(u8::is_ascii_digit), "port {:?}", ttrapd_fuzz::show(port));
            if address.first() == Some(&b'[') {
                assert_eq!(address.last(), Some(&b']'));
                let groups = &address[1..address.len() - 1];
                assert_eq!(groups.split(|&b| b == b':').count(), 8);
                assert!(groups.iter().all(|b| b.is_ascii_hexdigit() || *b == b':'));
            } else {
                let parts: Vec<&[u8]> = address.split(|&b| b == b'.').collect();
                assert_eq!(parts.len(), 4, "{:?}", ttrapd_fuzz::show(text));
                for part in parts {
                    let value: u32 = std::str::from_utf8(part).unwrap().parse().unwrap();
                    assert!(value <= 255);
                }
            }
        }
    }
});
