//! The inotify read-buffer parser on arbitrary bytes: every record it
//! returns lies inside the buffer, records follow each other without gaps,
//! and an error ends the iteration at the offset of the bad record.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::inotify::{self, HEADER_LEN};

fn word(data: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(data[at..at + 4].try_into().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let mut offset = 0;
    let mut failed = false;
    for item in inotify::events(data) {
        assert!(!failed, "a record came after an error");
        match item {
            Ok(event) => {
                let name_len = word(data, offset + 12) as usize;
                let end = offset + HEADER_LEN + name_len;
                assert!(end <= data.len(), "record at {offset} runs past the buffer");
                assert_eq!(event.wd, word(data, offset) as i32);
                assert_eq!(event.mask, word(data, offset + 4));
                assert_eq!(event.cookie, word(data, offset + 8));
                assert!(event.name.len() <= name_len);
                assert!(!event.name.contains(&0), "name keeps a NUL");
                let start = offset + HEADER_LEN;
                assert_eq!(event.name, &data[start..start + event.name.len()]);
                if event.name.len() < name_len {
                    assert_eq!(data[start + event.name.len()], 0, "name cut before a NUL");
                }
                offset = end;
            }
            Err(truncated) => {
                assert_eq!(truncated.offset, offset, "error at the wrong offset");
                failed = true;
            }
        }
    }
    assert!(failed || offset == data.len(), "bytes after the last record were skipped");
});
