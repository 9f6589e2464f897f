//! `procfs::push_cmdline` on arbitrary bytes into the daemon's 512-byte
//! buffer, then into a `cmd` field: the join is exact while it fits, a cut
//! is reported, and the field reads back as a prefix of the joined text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::buf::Buf;
use ttrapd::limits::CMD_FIELD_CAP;
use ttrapd::msg::{self, Kind, Line};
use ttrapd::procfs;

fuzz_target!(|data: &[u8]| {
    let mut cmd = Buf::<512>::new();
    let whole = procfs::push_cmdline(&mut cmd, data);
    assert_eq!(whole, !cmd.overflowed());
    let raw = data.strip_suffix(b"\0").unwrap_or(data);
    let joined: Vec<u8> = raw.iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
    if whole {
        assert_eq!(cmd.as_bytes(), &joined[..]);
    } else {
        assert_eq!(cmd.as_bytes(), &joined[..512]);
    }

    let mut line = Line::new();
    line.begin(10, 1, b"ttrapd", 1, Kind::Alert);
    line.field("cmd", cmd.as_bytes(), CMD_FIELD_CAP);
    let text = line.finish().to_vec();
    ttrapd_fuzz::assert_one_safe_line(&text);
    let mut fields = 0;
    let kind = msg::for_each_field(line.body(), |key, value, cut| {
        fields += 1;
        assert_eq!(key, b"cmd");
        if cut {
            assert!(cmd.as_bytes().starts_with(value), "cut value is no prefix");
        } else {
            assert_eq!(value, cmd.as_bytes());
        }
    });
    assert_eq!(kind, Some(&b"ALERT"[..]), "line does not parse: {:?}", ttrapd_fuzz::show(&text));
    assert_eq!(fields, 1);
});
