//! The fanotify read-buffer parser on arbitrary bytes: records follow
//! `event_len`, every field comes from inside the record, and an error
//! ends the iteration at the bad record. Also checks the answer encoding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::fanotify::{self, METADATA_LEN, METADATA_VERSION, ParseError};

fn word(data: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(data[at..at + 4].try_into().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let mut offset = 0;
    let mut failed = false;
    for item in fanotify::events(data) {
        assert!(!failed, "a record came after an error");
        match item {
            Ok(event) => {
                let event_len = word(data, offset) as usize;
                assert!(event_len >= METADATA_LEN);
                assert!(
                    offset + event_len <= data.len(),
                    "record at {offset} runs past the buffer"
                );
                assert_eq!(data[offset + 4], METADATA_VERSION);
                let mask = u64::from_ne_bytes(data[offset + 8..offset + 16].try_into().unwrap());
                assert_eq!(event.mask, mask);
                assert_eq!(event.fd, word(data, offset + 16) as i32);
                assert_eq!(event.pid, word(data, offset + 20) as i32);
                offset += event_len;
            }
            Err(
                ParseError::Truncated { offset: at }
                | ParseError::BadLength { offset: at }
                | ParseError::Version { offset: at, .. },
            ) => {
                assert_eq!(at, offset, "error at the wrong offset");
                failed = true;
            }
        }
    }
    assert!(failed || offset == data.len(), "bytes after the last record were skipped");

    if data.len() >= 5 {
        let fd = word(data, 0) as i32;
        let allow = data[4] & 1 == 1;
        let answer = fanotify::response(fd, allow);
        assert_eq!(word(&answer, 0) as i32, fd);
        let expected = if allow { fanotify::FAN_ALLOW } else { fanotify::FAN_DENY };
        assert_eq!(word(&answer, 4), expected);
    }
});
