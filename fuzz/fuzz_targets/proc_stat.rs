//! `procfs::parse_stat` on arbitrary bytes, and the terminal name it leads
//! to: the command name is exactly the text between the first `(` and the
//! last `)`, and any `tty_nr` fits the 32-byte buffer the daemon uses.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::buf::Buf;
use ttrapd::procfs;

fuzz_target!(|data: &[u8]| {
    if let Some(stat) = procfs::parse_stat(data) {
        let open = data.iter().position(|&b| b == b'(').expect("parsed without '('");
        let close = data.iter().rposition(|&b| b == b')').expect("parsed without ')'");
        assert_eq!(stat.comm, &data[open + 1..close]);
        let mut tty = Buf::<32>::new();
        procfs::push_tty_name(&mut tty, stat.tty_nr);
        assert!(!tty.overflowed(), "terminal name of {} cut", stat.tty_nr);
    }
    if data.len() >= 4 {
        let tty_nr = u32::from_ne_bytes(data[..4].try_into().unwrap());
        let mut tty = Buf::<32>::new();
        assert_eq!(procfs::push_tty_name(&mut tty, tty_nr), tty_nr != 0);
        assert!(!tty.overflowed(), "terminal name of {tty_nr} cut");
        ttrapd_fuzz::assert_one_safe_line(tty.as_bytes());
    }
});
